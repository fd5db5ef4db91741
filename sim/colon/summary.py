"""Figures that describe a colon asset: total and per-segment lengths, radii, landmarks with their `s`.

`colon_summary` gives plain data (what `colosim colon info --json` prints); `format_summary` the readable text.
"""

from __future__ import annotations

import numpy as np

from sim.colon.asset import ColonAsset


def colon_summary(asset: ColonAsset) -> dict:
    """A JSON-serialisable summary: lengths (m), per-segment radii (m), landmarks (s in m, position in m)."""
    mean_r = asset.mean_radius_m()
    segments = {}
    for name, (a, b) in asset.segment_ranges().items():
        mask = (asset.s_m >= a) & (asset.s_m <= b)
        segments[name] = {
            "s_start_m": round(a, 6),
            "s_end_m": round(b, 6),
            "length_m": round(b - a, 6),
            "mean_radius_m": round(float(mean_r[mask].mean()), 6),
            "min_radius_m": round(float(asset.radius_m[mask].min()), 6),
            "max_radius_m": round(float(asset.radius_m[mask].max()), 6),
        }
    return {
        "length_m": round(asset.length_m, 6),
        "rings": int(len(asset.s_m)),
        "samples_around": int(len(asset.theta_rad)),
        "vertices": int(len(asset.vertices_m)),
        "triangles": int(len(asset.faces)),
        "bounds_min_m": [round(float(v), 6) for v in asset.vertices_m.min(axis=0)],
        "bounds_max_m": [round(float(v), 6) for v in asset.vertices_m.max(axis=0)],
        "segments": segments,
        "landmarks": {k: {"s_m": round(lm.s_m, 6), "position_m": [round(float(v), 6) for v in lm.position_m]}
                      for k, lm in sorted(asset.landmarks.items(), key=lambda kv: kv[1].s_m)},
        "source": asset.source,
    }


def format_summary(summary: dict) -> str:
    """The summary as aligned text (lengths in mm, which is how people read colon figures)."""
    lines = [f"colon: {summary['length_m'] * 1000:.0f} mm from the anal verge to the cecal pole; "
             f"{summary['rings']} rings x {summary['samples_around']}, {summary['vertices']} vertices, "
             f"{summary['triangles']} triangles"]
    src = summary.get("source", {})
    if src.get("kind") == "procedural":
        lines.append(f"source: procedural, seed {src.get('seed')}")
    elif src:
        lines.append(f"source: {src.get('kind', '?')} {src.get('file', '')}".rstrip())
    lines.append("")
    lines.append(f"{'segment':<18}{'from mm':>9}{'to mm':>9}{'length mm':>11}{'mean r mm':>11}{'min r':>8}{'max r':>8}")
    for name, seg in summary["segments"].items():
        lines.append(f"{name:<18}{seg['s_start_m'] * 1000:>9.0f}{seg['s_end_m'] * 1000:>9.0f}"
                     f"{seg['length_m'] * 1000:>11.0f}{seg['mean_radius_m'] * 1000:>11.1f}"
                     f"{seg['min_radius_m'] * 1000:>8.1f}{seg['max_radius_m'] * 1000:>8.1f}")
    lines.append("")
    lines.append(f"{'landmark':<30}{'s mm':>8}   position mm (x left, y posterior, z cranial)")
    for name, lm in summary["landmarks"].items():
        pos = np.asarray(lm["position_m"]) * 1000
        lines.append(f"{name:<30}{lm['s_m'] * 1000:>8.0f}   ({pos[0]:7.1f}, {pos[1]:7.1f}, {pos[2]:7.1f})")
    return "\n".join(lines)
