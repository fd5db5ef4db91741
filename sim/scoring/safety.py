"""Safety and pain proxies (reference/metrics.md §5.4 spec [P]; §4.1 GI Mentor "% time in pain", "episodes of
excessive pressure").

Inputs per sample: the wall contact force (the larger of the tip's and the largest shaft segment's force), the
largest mesentery tether force, the handle's axial force (all optional: a recording has none of them) and the loop
excess length from `analyse_loops`.

- max_wall_force_N and p95_wall_force_N (tip and shaft separately too).
- excessive-pressure episodes: runs with wall force > `excessive_wall_force_N` lasting >= 0.5 s.
- pain_index(t) = max(0, excess - 50 mm) / 50 mm + max(0, F_wall - F0) / F0 + max(0, F_tether - T0) / T0:
  the spec's sum with w1 = 1 / 50 mm, w2 = 1 / F0 and, for its strain-energy term, the mesentery tether force (the
  physics' stretch proxy; strain energy is not reported) with w3 = 1 / T0. Each term is 1 at twice its threshold
  (a loop 100 mm long, the metrics.md §5.3 loop flag), so "in pain" is pain_index >= 1. The thresholds are
  uncalibrated proposals (the spec: "to be calibrated against CCD pain-free/expert cases"); `SafetyConfig` holds them.
- percent_time_in_pain: time with pain_index >= 1 over the procedure (each sample's value held until the next).
Terms whose input is missing are left out and `pain_index_terms` says which were used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.scoring.loops import LoopAnalysis
from sim.scoring.samples import ScoreSamples, optional_float

#: metrics.md §5.4: loop excess above which a loop hurts (the spec's "loop_excess - 50 mm").
PAIN_LOOP_EXCESS_M = 0.050
#: [P] wall contact force F0 above which pressure is "excessive" (uncalibrated; metrics.md §5.4 leaves F0 open).
EXCESSIVE_WALL_FORCE_N = 5.0
#: [P] mesentery tether force above which the stretch hurts (uncalibrated, stands in for the strain-energy term).
PAIN_TETHER_FORCE_N = 2.0
#: metrics.md §5.4: an excessive-pressure episode lasts at least 0.5 s.
EXCESSIVE_PRESSURE_MIN_S = 0.5
#: pain_index at or above which the patient is "in pain" (each term reaches 1 at twice its threshold).
PAIN_INDEX_THRESHOLD = 1.0


@dataclass(frozen=True)
class SafetyConfig:
    """Thresholds of the safety scores (see the module doc)."""

    excessive_wall_force_N: float = EXCESSIVE_WALL_FORCE_N
    excessive_pressure_min_s: float = EXCESSIVE_PRESSURE_MIN_S
    pain_loop_excess_m: float = PAIN_LOOP_EXCESS_M
    pain_tether_force_N: float = PAIN_TETHER_FORCE_N
    pain_index_threshold: float = PAIN_INDEX_THRESHOLD


@dataclass(frozen=True)
class Episode:
    """A run of samples above a threshold: start = its first sample, end = the first sample after it."""

    start_s: float
    end_s: float
    peak: float

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "peak": self.peak}


@dataclass
class SafetyResult:
    """Safety scores of one procedure; forces in N, None where the input was not measured.

    pain_index (N,) is kept for pictures and the live HUD (not written to JSON).
    """

    max_wall_force_N: float | None
    p95_wall_force_N: float | None
    max_tip_force_N: float | None
    p95_tip_force_N: float | None
    max_shaft_force_N: float | None
    max_tether_force_N: float | None
    max_handle_force_N: float | None
    excessive_pressure_episodes: list[Episode]
    pain_index_terms: list[str]
    max_pain_index: float | None
    pain_index_integral_s: float | None
    percent_time_in_pain: float | None
    pain_index: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        return {
            "max_wall_force_N": self.max_wall_force_N,
            "p95_wall_force_N": self.p95_wall_force_N,
            "max_tip_force_N": self.max_tip_force_N,
            "p95_tip_force_N": self.p95_tip_force_N,
            "max_shaft_force_N": self.max_shaft_force_N,
            "max_tether_force_N": self.max_tether_force_N,
            "max_handle_force_N": self.max_handle_force_N,
            "n_excessive_pressure_episodes": len(self.excessive_pressure_episodes),
            "excessive_pressure_episodes": [e.to_dict() for e in self.excessive_pressure_episodes],
            "pain_index_terms": list(self.pain_index_terms),
            "max_pain_index": self.max_pain_index,
            "pain_index_integral_s": self.pain_index_integral_s,
            "percent_time_in_pain": self.percent_time_in_pain,
        }


def _max(values: np.ndarray | None) -> float | None:
    if values is None or not np.isfinite(values).any():
        return None
    return float(np.nanmax(values))


def _p95(values: np.ndarray | None) -> float | None:
    if values is None or not np.isfinite(values).any():
        return None
    return float(np.nanpercentile(values, 95))


def held_durations(t_s: np.ndarray) -> np.ndarray:
    """(N,) time each sample's value is held: until the next sample, 0 for the last one."""
    return np.append(np.diff(t_s), 0.0)


def runs_above(t_s: np.ndarray, values: np.ndarray, threshold: float, min_duration_s: float) -> list[Episode]:
    """Runs of `values` (N,) > `threshold` lasting at least `min_duration_s` (start = first sample of the run,
    end = first sample after it, or the last sample for a run reaching the end). NaN counts as below."""
    above = np.nan_to_num(values, nan=-np.inf) > threshold
    episodes = []
    edges = np.diff(np.concatenate(([0], above.astype(np.int8), [0])))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        end_index = min(stop, t_s.size - 1)
        t0, t1 = float(t_s[start]), float(t_s[end_index])
        if t1 - t0 >= min_duration_s - 1e-9:
            episodes.append(Episode(t0, t1, float(np.nanmax(values[start:stop]))))
    return episodes


def wall_force(samples: ScoreSamples) -> np.ndarray | None:
    """(N,) the larger of the tip and the largest shaft segment wall force, None if neither was measured."""
    parts = [f for f in (samples.tip_force_N, samples.shaft_force_N) if f is not None]
    if not parts:
        return None
    return np.fmax.reduce(parts) if len(parts) > 1 else parts[0]


def pain_index(excess_m: np.ndarray | None, wall_force_N: np.ndarray | None, tether_force_N: np.ndarray | None,
               config: SafetyConfig) -> tuple[np.ndarray | None, list[str]]:
    """The pain index (N,) (module doc) from whichever inputs are given (each (N,) or None; NaN counts 0) and the
    names of the terms used. None if no input is given."""
    terms, used = [], []
    if excess_m is not None:
        terms.append(np.maximum(np.nan_to_num(excess_m) - config.pain_loop_excess_m, 0.0) / config.pain_loop_excess_m)
        used.append("loop_excess")
    if wall_force_N is not None:
        f0 = config.excessive_wall_force_N
        terms.append(np.maximum(np.nan_to_num(wall_force_N) - f0, 0.0) / f0)
        used.append("wall_force")
    if tether_force_N is not None:
        t0 = config.pain_tether_force_N
        terms.append(np.maximum(np.nan_to_num(tether_force_N) - t0, 0.0) / t0)
        used.append("tether_force")
    return (np.sum(terms, axis=0) if terms else None), used


def score_safety(samples: ScoreSamples, loops: LoopAnalysis | None = None,
                 config: SafetyConfig | None = None) -> SafetyResult:
    """Safety scores of `samples` (forces optional) with the loop excess of `loops` (None: no loop term)."""
    config = config or SafetyConfig()
    t = samples.t_s
    wall = wall_force(samples)
    excess = None if loops is None else loops.excess_m
    index, used = pain_index(excess, wall, samples.tether_force_N, config)
    episodes = [] if wall is None else runs_above(t, wall, config.excessive_wall_force_N,
                                                  config.excessive_pressure_min_s)
    integral = percent = max_index = None
    if index is not None:
        held = held_durations(t)
        duration = float(t[-1] - t[0])
        integral = float(np.sum(index * held))
        in_pain = index >= config.pain_index_threshold
        percent = None if duration <= 0 else 100.0 * float(np.sum(held[in_pain])) / duration
        max_index = float(index.max())
    handle = samples.handle_force_N
    return SafetyResult(
        max_wall_force_N=_max(wall), p95_wall_force_N=_p95(wall),
        max_tip_force_N=_max(samples.tip_force_N), p95_tip_force_N=_p95(samples.tip_force_N),
        max_shaft_force_N=_max(samples.shaft_force_N), max_tether_force_N=_max(samples.tether_force_N),
        max_handle_force_N=None if handle is None else _max(np.abs(handle)),
        excessive_pressure_episodes=episodes, pain_index_terms=used, max_pain_index=optional_float(max_index),
        pain_index_integral_s=integral, percent_time_in_pain=percent,
        pain_index=np.zeros(0) if index is None else index,
    )
