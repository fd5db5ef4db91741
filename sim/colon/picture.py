"""A picture of a colon asset: frontal and lateral projections of its surface and centreline, segments in colour,
landmarks labelled, as a scope-guide reader would see it. Matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.colon.asset import SEGMENT_NAMES, ColonAsset

#: One colour per segment (SEGMENT_NAMES order), chosen to be distinguishable in print and for colour-blind readers.
SEGMENT_COLOURS = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
                   "#e377c2")


def draw_colon_picture(asset: ColonAsset, out_path: str | Path, title: str | None = None, dpi: int = 130) -> Path:
    """Write a PNG with two views of the colon (frontal: patient's left on the image right, as on a scope guide;
    lateral: anterior on the left). Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 7.2), gridspec_kw={"width_ratios": [1.25, 1.0]})
    views = (
        ("Frontal (patient's left on the right)", 0, 2, "x: patient's left (mm)"),
        ("Lateral (anterior on the left)", 1, 2, "y: posterior (mm)"),
    )
    verts_mm = asset.vertices_m * 1000.0
    centre_mm = asset.centreline_m * 1000.0
    for ax, (name, h, v, xlabel) in zip(axes, views):
        # The surface as a faint point cloud coloured by segment: cheap and shows the lumen width and the folds.
        step = max(1, len(verts_mm) // 30000)
        colours = np.array(SEGMENT_COLOURS)[asset.vertex_segment[::step]]
        ax.scatter(verts_mm[::step, h], verts_mm[::step, v], s=0.4, c=colours, alpha=0.08, linewidths=0)
        for idx, seg in enumerate(SEGMENT_NAMES):
            mask = asset.ring_segment == idx
            if not mask.any():
                continue
            pts = np.where(mask[:, None], centre_mm, np.nan)  # NaN breaks the line between separate runs
            ax.plot(pts[:, h], pts[:, v], color=SEGMENT_COLOURS[idx], lw=2.4, label=seg.replace("_", " "))
        for lm in asset.landmarks.values():
            p = lm.position_m * 1000.0
            ax.plot(p[h], p[v], "k.", ms=5)
            ax.annotate(lm.name.replace("_", " "), (p[h], p[v]), fontsize=6.5, xytext=(3, 2),
                        textcoords="offset points")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("z: cranial (mm)")
        ax.set_aspect("equal")
        ax.grid(alpha=0.25)
    # Lateral: anterior (negative y) on the left, as if seen from the patient's right side.
    axes[0].legend(loc="upper left", fontsize=7, framealpha=0.8)
    lengths = asset.segment_lengths()
    summary = f"length {asset.length_m * 1000:.0f} mm; " + ", ".join(
        f"{k.replace('_', ' ')} {v * 1000:.0f}" for k, v in lengths.items())
    fig.suptitle((title or "colon") + "\n" + summary, fontsize=9)
    fig.tight_layout()
    tmp = out_path.with_name(out_path.name + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
