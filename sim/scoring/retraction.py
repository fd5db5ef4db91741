"""Withdrawal scoring: CoRS-like measures, withdrawal times, and reference-cohort composites (metrics.md §2.2, §5.2).

Our operational definitions (the published CoRS formulas are not public; these are NOT CoRS values):

- withdrawal phase = [t_c, t_end]: first ``Cecum`` event -> last ``Endoscopy ended`` / ``Recording ended`` (the
  last sample if there is none);
- retraction distance ``RD = Σ max(0, -Δs)``: how far the tip went back along the colon, re-inspections included;
  the net reading ``s(t_c) - s(t_end)`` is kept as `net_retraction_m`;
- tip retraction ``TR = Σ‖Δx‖``: all 3-D tip travel (pull-back plus deflection / inspection movements), and
  TR per minute of (net) withdrawal time;
- retraction efficiency ``RE = (s(t_c) - s(t_end)) / TR``: net pull-back per unit tip travel; 1 = straight pull-out.
- withdrawal time ``WT = t_end - t_c``; net WT subtracts the union of windows around interventions (``Polyp``,
  ``Polypectomi``, ``Biopsy``, ``Flush``; ±60 s by default). With `exclude_interventions_from_measures`, RD, TR
  and RE also skip the sample steps inside those windows (the CoRS paper's subgroup "without polypectomy or
  biopsy"), and RE then uses the net pull-back over the kept steps.

Composite (`sim.scoring.cohort`): ``Σ_j w_j (f_j - μ_j) / σ_j`` with each measure's (mean μ, sd σ, loading w) from a
reference cohort (`ReferenceCohort`; colosim's expert driver's is shipped, `cohort.expert_cohort_path`). Without a
cohort the composite is None. The loadings' signs carry the orientation (which direction is "better").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from sim.logs.coordinate_log import EventLabel
from sim.scoring.cohort import ReferenceCohort, cohort_composite
from sim.scoring.samples import ScoreSamples, optional_float

#: Interventions whose surroundings are excluded from the net withdrawal time (exact label match, as in the CCD).
INTERVENTION_LABELS = tuple(
    label.value for label in (EventLabel.POLYP, EventLabel.POLYPECTOMY, EventLabel.BIOPSY, EventLabel.FLUSH)
)

SECONDS_PER_MINUTE = 60.0


# --- intervals -----------------------------------------------------------------------------------------------------


def merge_intervals(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of closed intervals, sorted, overlapping ones merged."""
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def clipped_length(intervals: Sequence[tuple[float, float]], t0_s: float, t1_s: float) -> float:
    """Total length of disjoint `intervals` inside [t0_s, t1_s]."""
    return float(sum(max(0.0, min(b, t1_s) - max(a, t0_s)) for a, b in intervals))


# --- withdrawal ----------------------------------------------------------------------------------------------------


@dataclass
class RetractionConfig:
    """Exclusion windows around interventions (s before / after each event) and which labels count."""

    intervention_labels: tuple[str, ...] = INTERVENTION_LABELS
    exclude_before_s: float = 60.0
    exclude_after_s: float = 60.0
    exclude_interventions_from_measures: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RetractionResult:
    """Withdrawal measures (SI units; None where not computable, e.g. the cecum was never reached)."""

    cecum_reached: bool
    withdrawal_start_s: float | None
    withdrawal_end_s: float | None
    withdrawal_time_s: float | None
    net_withdrawal_time_s: float | None
    excluded_intervals_s: list[tuple[float, float]] = field(default_factory=list)
    retraction_distance_m: float | None = None
    net_retraction_m: float | None = None
    tip_retraction_m: float | None = None
    tip_retraction_per_min_m: float | None = None
    retraction_efficiency: float | None = None
    retraction_composite: float | None = None
    cohort: str | None = None

    def measures(self) -> dict[str, float | None]:
        """The measures a cohort composite can use, by name."""
        return {
            "retraction_distance_m": self.retraction_distance_m,
            "net_retraction_m": self.net_retraction_m,
            "tip_retraction_m": self.tip_retraction_m,
            "tip_retraction_per_min_m": self.tip_retraction_per_min_m,
            "retraction_efficiency": self.retraction_efficiency,
            "withdrawal_time_s": self.withdrawal_time_s,
            "net_withdrawal_time_s": self.net_withdrawal_time_s,
        }

    def to_dict(self) -> dict:
        out = asdict(self)
        out["excluded_intervals_s"] = [list(x) for x in self.excluded_intervals_s]
        return out


def intervention_windows(samples: ScoreSamples, config: RetractionConfig) -> list[tuple[float, float]]:
    """Merged [t - before, t + after] windows around every intervention event (exact label match)."""
    labels = set(config.intervention_labels)
    return merge_intervals(
        [(t - config.exclude_before_s, t + config.exclude_after_s) for t, label in samples.events if label in labels]
    )


def score_retraction(
    samples: ScoreSamples,
    s_m: np.ndarray,
    config: RetractionConfig | None = None,
    cohort: ReferenceCohort | None = None,
    cecum_time_s: float | None = None,
) -> RetractionResult:
    """CoRS-like withdrawal measures. s_m: (N,) progress along the reference path (`progress_along`).

    cecum_time_s: where the withdrawal starts, by default the first ``Cecum`` event; given for samples without one
    (a timed procedure's turn, `score_samples`' turn_time_s), the result says the cecum was not reached. Steps
    between samples are counted when both ends lie in the withdrawal phase (and, with exclusions on, neither end
    lies in an excluded window); steps touching a sample without a tip reading are skipped.
    """
    config = config or RetractionConfig()
    t_c = samples.cecum_time_s() if cecum_time_s is None else cecum_time_s
    if t_c is None:
        return RetractionResult(False, None, None, None, None)
    t_end = samples.end_time_s()
    windows = intervention_windows(samples, config)
    wt = max(0.0, t_end - t_c)
    net_wt = wt - clipped_length(windows, t_c, t_end)

    t = samples.t_s
    s = np.asarray(s_m, dtype=float)
    tip = samples.tip_m
    in_phase = (t >= t_c - 1e-9) & (t <= t_end + 1e-9)
    if config.exclude_interventions_from_measures:
        for a, b in windows:
            in_phase &= ~((t >= a) & (t <= b))
    step = in_phase[:-1] & in_phase[1:]
    ds = np.diff(s)
    dx = np.linalg.norm(np.diff(tip, axis=0), axis=1)
    step &= np.isfinite(ds) & np.isfinite(dx)

    rd = float(np.sum(np.maximum(0.0, -ds[step])))
    net = float(-np.sum(ds[step]))  # = s(t_c) - s(t_end) when no step is excluded
    tr = float(np.sum(dx[step]))
    minutes = (net_wt if config.exclude_interventions_from_measures else wt) / SECONDS_PER_MINUTE
    result = RetractionResult(
        cecum_reached=samples.cecum_time_s() is not None,
        withdrawal_start_s=float(t_c),
        withdrawal_end_s=float(t_end),
        withdrawal_time_s=float(wt),
        net_withdrawal_time_s=float(net_wt),
        excluded_intervals_s=windows,
        retraction_distance_m=rd,
        net_retraction_m=net,
        tip_retraction_m=tr,
        tip_retraction_per_min_m=optional_float(tr / minutes) if minutes > 0 else None,
        retraction_efficiency=optional_float(net / tr) if tr > 0 else None,
    )
    result.retraction_composite = cohort_composite(result.measures(), cohort)
    result.cohort = None if cohort is None else cohort.name
    return result
