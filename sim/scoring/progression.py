"""Insertion scoring: the CoPS-like `progression_score`, cecal intubation time, segment times, regressions and the
five 3D-CoPS-style measures (reference/metrics.md §1.2, §5.2).

These are our documented operational definitions: the published CoPS / 3D-CoPS formulas are not public, so the
values are NOT comparable with CoPS points or 3D-CoPS scores (hence the names).

- Progress p(t) = clip(s(t) / L, 0, 1) before the cecum time t_c and p = 1 from t_c on (s from `progress_along`,
  L the reference path's length).
- ``progression_score = 100 / T_ref · ∫_{t0}^{t0+T_ref} p(t) dt`` with t0 = ``Endoscopy started`` (else the first
  sample). p is linear between samples; after the last sample of a procedure that never reached the cecum p stays
  at its last value (the scope stayed where it was). 0-100, higher = faster and smoother; backsliding lowers it.
- Cecal intubation time CIT = t_c - t0; insertion phase = [t0, t_c] (or to the end if the cecum was not reached).
- Segment times between ``Fleksur L``, ``Fleksur R`` and ``Cecum`` (flexure lines count only before the first
  ``Cecum``; the last one wins, as in the CCD code), or between the times s first reaches given landmark arc
  lengths (the simulator's centreline landmarks).
- Regressions: drops of s by more than 20 mm from a local maximum during the insertion (reversals of 20 mm or less
  do not end a drop).
- Travel length ``TL = Σ‖Δx‖`` (tip, sample to sample); tip progression ``TP = Σ max(0, Δs)``; chase efficiency
  ``CE = Σ|Δℓ_ins| / Σ|Δs|`` (1 = 1:1 transmission); shaft movement without tip progression
  ``SM0 = Σ|Δℓ_ins| · 1[|Δs| < 1 mm]``; looping time = time integral of the loop indicator (`loops`), all over the
  insertion phase. TP, CE and SM0 take increments on a fixed time grid (`increment_step_s`, default 0.5 s) rather
  than sample to sample: "|Δs| < 1 mm" per sample would mean "always" at 60 Hz and "rarely" at 5 Hz.
- Composite (`progression_composite`): a reference cohort's z-scores and loadings (`sim.scoring.cohort`);
  None without a cohort (metrics.md: expert cohort, signs so that expert-like is positive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from sim.logs.coordinate_log import EventLabel
from sim.scoring.cohort import ReferenceCohort, cohort_composite
from sim.scoring.loops import LoopAnalysis, LoopConfig, analyse_loops
from sim.scoring.reference_path import ReferencePath
from sim.scoring.samples import ScoreSamples, increment_grid, interpolate_finite, optional_float, zigzag_swings

#: T_ref defaults of metrics.md §1.2: clinical-like cases 1200 s (a phantom task would use e.g. 600 s).
T_REF_CLINICAL_S = 1200.0


@dataclass
class ProgressionConfig:
    t_ref_s: float = T_REF_CLINICAL_S
    regression_drop_m: float = 0.020
    stationary_tip_m: float = 0.001
    increment_step_s: float | None = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Regression:
    """A drop of progress from `s_from_m` (at `start_s`) to `s_to_m` (at `end_s`)."""

    start_s: float
    end_s: float
    s_from_m: float
    s_to_m: float

    @property
    def drop_m(self) -> float:
        return self.s_from_m - self.s_to_m

    def to_dict(self) -> dict:
        return {**asdict(self), "drop_m": self.drop_m}


@dataclass
class ProgressionResult:
    """Insertion measures, SI units; None where not computable (e.g. CE without an inserted length)."""

    progression_score: float
    t_ref_s: float
    start_time_s: float
    cecum_reached: bool
    cecum_time_s: float | None
    cecal_intubation_time_s: float | None
    reference_length_m: float
    reference_source: str
    progress_at_end_of_insertion: float | None
    segment_times_s: dict[str, float | None] = field(default_factory=dict)
    regressions: list[Regression] = field(default_factory=list)
    travel_length_m: float | None = None
    tip_progression_m: float | None = None
    chase_efficiency: float | None = None
    shaft_movement_without_tip_progression_m: float | None = None
    looping_time_s: float | None = None
    progression_composite: float | None = None
    cohort: str | None = None

    @property
    def n_regressions(self) -> int:
        return len(self.regressions)

    def measures(self) -> dict[str, float | None]:
        """The five 3D-CoPS-style measures by name (what a cohort composite uses)."""
        return {
            "travel_length_m": self.travel_length_m,
            "tip_progression_m": self.tip_progression_m,
            "chase_efficiency": self.chase_efficiency,
            "shaft_movement_without_tip_progression_m": self.shaft_movement_without_tip_progression_m,
            "looping_time_s": self.looping_time_s,
        }

    def to_dict(self) -> dict:
        out = asdict(self)
        out["regressions"] = [r.to_dict() for r in self.regressions]
        out["n_regressions"] = self.n_regressions
        return out


def _area(t_s: np.ndarray, p: np.ndarray, a: float, b: float) -> float:
    """∫_a^b of p linearly interpolated between samples (held constant beyond the first / last sample)."""
    if b <= a:
        return 0.0
    inner = t_s[(t_s > a) & (t_s < b)]
    tt = np.concatenate(([a], inner, [b]))
    return float(np.trapezoid(interpolate_finite(tt, t_s, p), tt))


def _flexure_time(samples: ScoreSamples, label: str, t_cecum: float | None) -> float | None:
    times = [t for t in samples.event_times(label) if t_cecum is None or t <= t_cecum]
    return times[-1] if times else None


def segment_times(boundaries: list[tuple[str, float | None]]) -> dict[str, float | None]:
    """``{"a_to_b_s": t_b - t_a}`` for consecutive named boundary times (None where either is unknown)."""
    out = {}
    for (name_a, t_a), (name_b, t_b) in zip(boundaries[:-1], boundaries[1:]):
        out[f"{name_a}_to_{name_b}_s"] = None if t_a is None or t_b is None else float(t_b - t_a)
    return out


def first_reach_time(t_s: np.ndarray, s_m: np.ndarray, target_m: float) -> float | None:
    """First time s reaches `target_m` (linear between samples), None if never. t_s, s_m: (N,)."""
    ok = np.isfinite(s_m)
    t, s = t_s[ok], s_m[ok]
    hit = np.flatnonzero(s >= target_m)
    if hit.size == 0:
        return None
    k = int(hit[0])
    if k == 0 or s[k] == s[k - 1]:
        return float(t[k])
    return float(t[k - 1] + (target_m - s[k - 1]) / (s[k] - s[k - 1]) * (t[k] - t[k - 1]))


def score_progression(
    samples: ScoreSamples,
    reference: ReferencePath,
    s_m: np.ndarray,
    config: ProgressionConfig | None = None,
    loops: LoopAnalysis | None = None,
    loop_config: LoopConfig | None = None,
    cohort: ReferenceCohort | None = None,
    landmark_s_m: Mapping[str, float] | None = None,
    cecum_time_s: float | None = None,
    insertion_end_s: float | None = None,
) -> ProgressionResult:
    """Insertion measures of `samples` against `reference`. s_m: (N,) progress (`progress_along`).

    loops: a precomputed `analyse_loops` result (computed here with `loop_config` if None). landmark_s_m: ordered
    name -> arc length (m) of centreline landmarks for segment times (used instead of the flexure events).
    cecum_time_s: overrides the first ``Cecum`` event (a live session's own cecum detection). insertion_end_s: where
    the insertion ends when the cecum was not reached (a timed procedure's turn to the withdrawal; default the last
    sample, everything counting as insertion).
    """
    config = config or ProgressionConfig()
    t = samples.t_s
    s = np.asarray(s_m, dtype=float)
    length = reference.length_m
    t0 = samples.start_time_s()
    t_c = samples.cecum_time_s() if cecum_time_s is None else cecum_time_s
    reached = t_c is not None
    t_ins_end = t_c if reached else float(t[-1] if insertion_end_s is None else insertion_end_s)

    with np.errstate(invalid="ignore"):
        p = np.clip(s / length, 0.0, 1.0)
    t_window_end = t0 + config.t_ref_s
    area = _area(t, p, t0, min(t_c, t_window_end) if reached else t_window_end)
    if reached and t_c < t_window_end:
        area += t_window_end - max(t_c, t0)  # p = 1 from the cecum on
    score = 100.0 * area / config.t_ref_s

    if landmark_s_m:
        boundaries = [("start", t0)]
        boundaries += [(name, first_reach_time(t, s, value)) for name, value in landmark_s_m.items()]
        boundaries.append(("cecum", t_c))
    else:
        boundaries = [
            ("start", t0),
            ("left_flexure", _flexure_time(samples, EventLabel.FLEXURE_LEFT, t_c)),
            ("right_flexure", _flexure_time(samples, EventLabel.FLEXURE_RIGHT, t_c)),
            ("cecum", t_c),
        ]

    # Insertion phase samples with a progress reading.
    phase = (t >= t0 - 1e-9) & (t <= t_ins_end + 1e-9)
    idx = np.flatnonzero(phase & np.isfinite(s))
    regressions = [
        Regression(float(t[idx[w.start]]), float(t[idx[w.end]]), float(s[idx[w.start]]), float(s[idx[w.end]]))
        for w in zigzag_swings(s[idx], config.regression_drop_m)
        if -w.change > config.regression_drop_m
    ]

    step = phase[:-1] & phase[1:]
    dx = np.linalg.norm(np.diff(samples.tip_m, axis=0), axis=1)
    step &= np.isfinite(dx)
    travel = float(np.sum(dx[step]))

    grid = increment_grid(t0, t_ins_end, config.increment_step_s, t)
    ds = np.diff(interpolate_finite(grid, t, s))
    ell = samples.inserted_length_m
    has_ell = bool(np.isfinite(ell[phase]).any())
    tip_progression = float(np.sum(np.maximum(0.0, ds))) if ds.size and np.isfinite(ds).all() else None
    chase = sm0 = None
    if has_ell and tip_progression is not None:
        dl = np.abs(np.diff(interpolate_finite(grid, t, ell)))
        total_ds = float(np.sum(np.abs(ds)))
        chase = float(np.sum(dl)) / total_ds if total_ds > 0 else None
        sm0 = float(np.sum(dl[np.abs(ds) < config.stationary_tip_m]))

    if loops is None:
        loops = analyse_loops(samples, s, loop_config)
    p_end = interpolate_finite(np.array([t_ins_end]), t, p)[0]
    result = ProgressionResult(
        progression_score=score,
        t_ref_s=config.t_ref_s,
        start_time_s=t0,
        cecum_reached=reached,
        cecum_time_s=optional_float(t_c),
        cecal_intubation_time_s=optional_float(t_c - t0) if reached else None,
        reference_length_m=length,
        reference_source=reference.source,
        progress_at_end_of_insertion=optional_float(p_end),
        segment_times_s=segment_times(boundaries),
        regressions=regressions,
        travel_length_m=travel,
        tip_progression_m=tip_progression,
        chase_efficiency=chase,
        shaft_movement_without_tip_progression_m=sm0,
        looping_time_s=loops.looping_time_s(t0, t_ins_end),
    )
    result.progression_composite = cohort_composite(result.measures(), cohort)
    result.cohort = None if cohort is None else cohort.name
    if not math.isfinite(result.progression_score):
        raise ValueError("progression score is not finite: no sample has a progress reading")
    return result
