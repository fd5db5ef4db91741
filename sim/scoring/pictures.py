"""Pictures of a scored procedure (matplotlib, Agg canvas: headless, no pyplot state shared between cases):

- tip path coloured by time, frontal and lateral projections, events marked (the "CoPS map", metrics.md §1.2);
- progression curve: progress p(t) = s(t) / L along the reference path, events and the cecum marked;
- loop timeline: excess inserted length over time, looped intervals shaded by loop type (metrics.md §5.3);
- coverage map: the unrolled wall, s along x and theta along y, per phase: unseen, seen, inspected (metrics.md §4.2).

Recordings are drawn in their own frame (axes 0, 1, 2 as x, y, z); the simulator's frame is DICOM LPS, so the
frontal view is (x, z) and the lateral (y, z).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from sim.scoring.coverage import INSERTION, PHASE_NAMES, CoverageResult

#: Colours of the coverage map: unseen, seen (<= 100 mm), inspected (<= 50 mm, <= 75°, >= 0.5 s).
COVERAGE_COLOURS = ("#3b3b3b", "#f2c14e", "#2a9d8f")
#: Loop types and their shading on the loop timeline (anything else: grey).
LOOP_COLOURS = {"alpha": "#d62728", "n_loop": "#ff7f0e", "transverse": "#9467bd", "crossing": "#8c564b",
                "near_closed": "#e377c2", "excess_length": "#7f7f7f"}
#: Tip path markers drawn at most (the path is thinned evenly in time beyond this).
MAX_PATH_POINTS = 5000
#: Events worth a label on the pictures (interventions are marked but not labelled, there can be many).
LABELLED_EVENTS = ("Endoscopy started", "Fleksur L", "Fleksur R", "Cecum", "Endoscopy ended", "Recording ended")


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return path


def draw_tip_path(samples, path: Path | str, title: str = "", dpi: int = 100) -> Path:
    """Tip path (mm) coloured by time in two projections, events as labelled markers. samples: ScoreSamples."""
    path = Path(path)
    fig = Figure(figsize=(11, 5.2), layout="constrained")
    axes = fig.subplots(1, 2)
    ok = np.all(np.isfinite(samples.tip_m), axis=1)
    # At most MAX_PATH_POINTS markers: a 20-minute case at 60 Hz has 72,000 samples, which look the same thinned
    # and take seconds to draw.
    stride = max(1, int(np.ceil(ok.sum() / MAX_PATH_POINTS)))
    tip_mm = samples.tip_m[ok][::stride] * 1000.0
    t = samples.t_s[ok][::stride]
    scatter = None
    for ax, (h, v, name) in zip(axes, ((0, 2, "frontal (x, z)"), (1, 2, "lateral (y, z)"))):
        ax.plot(tip_mm[:, h], tip_mm[:, v], color="#cccccc", linewidth=0.5, zorder=1)
        scatter = ax.scatter(tip_mm[:, h], tip_mm[:, v], c=t, s=2, cmap="viridis", zorder=2, linewidths=0)
        for t_event, label in samples.events:
            if not len(t):
                break
            i = int(np.clip(np.searchsorted(t, t_event), 0, len(t) - 1))
            ax.plot(tip_mm[i, h], tip_mm[i, v], marker="o", color="red", markersize=5, zorder=3)
            if label in LABELLED_EVENTS:
                ax.annotate(label, (tip_mm[i, h], tip_mm[i, v]), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes), label="time (s)", shrink=0.8)
    fig.suptitle(f"Tip path coloured by time {title}".strip())
    return _save(fig, path, dpi)


def _event_lines(ax, samples) -> None:
    for t_event, label in samples.events:
        if label in LABELLED_EVENTS:
            ax.axvline(t_event, color="red", linewidth=0.7, linestyle="--")
            ax.text(t_event, 1.0, f" {label}", rotation=90, fontsize=7, va="top", transform=ax.get_xaxis_transform())


def draw_progression_curve(samples, report, path: Path | str, title: str = "", dpi: int = 100) -> Path:
    """p(t) = s(t) / L (report.s_m over the reference length), progression score in the title."""
    path = Path(path)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    s = report.s_m if report.s_m is not None else np.full(samples.n_samples, np.nan)
    ax.plot(samples.t_s, s / report.reference.length_m, color="#1f77b4", linewidth=1.0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("progress s / L")
    _event_lines(ax, samples)
    score = report.progression.progression_score
    fig.suptitle(f"Progression {title}: progression_score {score:.1f} (CoPS-like, 0-100)".replace("  ", " "))
    return _save(fig, path, dpi)


def draw_loop_timeline(samples, report, path: Path | str, title: str = "", dpi: int = 100) -> Path:
    """Excess inserted length (mm) over time, loop episodes shaded by type."""
    path = Path(path)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    loops = report.loops
    ax.plot(loops.t_s, loops.excess_m * 1000.0, color="black", linewidth=0.8, label="excess length")
    for episode in loops.episodes:
        ax.axvspan(episode.start_s, episode.end_s, color=LOOP_COLOURS.get(episode.loop_type, "#aaaaaa"), alpha=0.3,
                   linewidth=0)
    for name, colour in LOOP_COLOURS.items():
        if any(e.loop_type == name for e in loops.episodes):
            ax.axvspan(np.nan, np.nan, color=colour, alpha=0.3, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("inserted length - progress (mm)")
    ax.legend(fontsize=7, loc="upper left")
    _event_lines(ax, samples)
    fig.suptitle(f"Loops {title}: looping time {loops.looping_time_s():.1f} s, {len(loops.episodes)} episodes"
                 .replace("  ", " "))
    return _save(fig, path, dpi)


def coverage_state(coverage: CoverageResult, phase: int | None) -> np.ndarray:
    """(S, T) int: 0 unseen, 1 seen, 2 inspected, for `phase` (None: overall)."""
    return coverage.seen_mask(phase).astype(np.int8) + coverage.inspected_mask(phase).astype(np.int8)


def draw_coverage_map(coverage: CoverageResult, path: Path | str, title: str = "", dpi: int = 100) -> Path:
    """The unrolled wall (s from the anal verge along x, theta along y), overall and per phase, segments marked."""
    path = Path(path)
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    cmap = ListedColormap(COVERAGE_COLOURS)
    s_mm = coverage.s_m * 1000.0
    extent = (s_mm[0], s_mm[-1], 0.0, 360.0)
    boundaries = np.flatnonzero(np.diff(coverage.segment)) + 1
    for ax, phase in zip(axes, (None, INSERTION, INSERTION + 1)):
        state = coverage_state(coverage, phase)
        ax.imshow(state.T, origin="lower", aspect="auto", extent=extent, cmap=cmap, vmin=0, vmax=2,
                  interpolation="nearest")
        for b in boundaries:
            ax.axvline(s_mm[b], color="white", linewidth=0.6)
        starts = np.concatenate(([0], boundaries))
        for k, start in enumerate(starts):
            # Staggered heights: short segments (anal canal, flexures) would otherwise print over their neighbours.
            ax.text(s_mm[start], 362.0 + 22.0 * (k % 2), coverage.segment_names[coverage.segment[start]], fontsize=6,
                    va="bottom")
        name = "overall" if phase is None else PHASE_NAMES[phase]
        seen, inspected = coverage.fraction(coverage.seen_mask(phase)), coverage.fraction(
            coverage.inspected_mask(phase))
        ax.set_title(f"{name}: seen {100 * seen:.1f} %, inspected {100 * inspected:.1f} %", fontsize=9, pad=20)
        ax.set_ylabel("theta (deg)")
        ax.set_ylim(0, 360)
    axes[-1].set_xlabel("s from the anal verge (mm)")
    fig.suptitle(f"Coverage map {title} (grey unseen, yellow seen, green inspected)".replace("  ", " "))
    return _save(fig, path, dpi)


def write_report_pictures(samples, report, folder: Path | str, title: str = "", dpi: int = 100) -> list[Path]:
    """All pictures of one scored procedure into `folder`: tip_path.png, progression.png, loops.png and, when the
    report has coverage, coverage_map.png. Returns the paths written."""
    folder = Path(folder)
    paths = [
        draw_tip_path(samples, folder / "tip_path.png", title, dpi),
        draw_progression_curve(samples, report, folder / "progression.png", title, dpi),
        draw_loop_timeline(samples, report, folder / "loops.png", title, dpi),
    ]
    if report.coverage is not None:
        paths.append(draw_coverage_map(report.coverage, folder / "coverage_map.png", title, dpi))
    return paths
