"""Scoring from one stream of samples (DESIGN.md, "Scoring"; definitions in reference/metrics.md).

The same code scores a live session, a replay and a recorded case with no anatomy: everything starts from a
`ScoreSamples` (`samples_from_log` for a coordinate log), a `ReferencePath` (`build_reference_path`) and the tip's
progress along it (`samples_progress`: the shaft walked from the anal verge to the tip). Modules:

- `samples`: the sample stream, the CCD inserted-length rule, shared signal helpers;
- `reference_path`: reference colon path and the tip's progress along it;
- `progression`: `progression_score` (CoPS-like), CIT, segment times, regressions, 3D-CoPS-style measures;
- `retraction`: CoRS-like withdrawal measures, WT / net WT;
- `cohort`: reference cohorts (fitting, the shipped expert cohort) and the composites scored against them;
- `loops`: excess length, frontal self-crossings, alpha / N / transverse loops, episodes, paradoxical motion;
- `safety`: wall forces, excessive-pressure episodes, pain index and percent of time in pain;
- `coverage`: seen / inspected mucosa by ray casting against the deformed wall (needs the anatomy; its result is
  passed in, since a recording without anatomy has none);
- `live`: the same report built step by step in a running session; `batch`: many recorded folders in parallel;
  `pictures`: the figures of a report.

Names say what the numbers are: our definitions, not the published CoPS / 3D-CoPS / CoRS values.
Pure numpy / scipy (numba, cached, for the per-sample geometry loops); no rendering, no anatomy required.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scoring.cohort import MeasureReference, ReferenceCohort, cohort_composite, fit_cohort, load_cohorts
from sim.scoring.coverage import CoverageConfig, CoverageResult
from sim.scoring.loops import LoopAnalysis, LoopConfig, LoopEpisode, analyse_loops
from sim.scoring.progression import ProgressionConfig, ProgressionResult, score_progression
from sim.scoring.reference_path import (
    ReferencePath,
    build_reference_path,
    progress_along,
    reference_from_centreline,
    reference_from_scope_shape,
    reference_from_withdrawal,
    samples_progress,
)
from sim.scoring.retraction import RetractionConfig, RetractionResult, score_retraction
from sim.scoring.safety import SafetyConfig, SafetyResult, score_safety
from sim.scoring.samples import ScoreSamples, inserted_length_from_coils, samples_from_log

#: Guideline badges (metrics.md §5.1): CIT under 16 min, withdrawal time of at least 6 min.
CIT_TARGET_S = 16 * 60.0
WT_TARGET_S = 6 * 60.0


@dataclass
class ScoreReport:
    """All scores of one procedure (the metrics.md §6 payload). s_m (N,): the tip's progress along the reference
    path per sample (for pictures; not in `to_dict`). coverage is None without anatomy."""

    reference: ReferencePath
    progression: ProgressionResult
    retraction: RetractionResult
    loops: LoopAnalysis
    safety: SafetyResult | None = None
    coverage: CoverageResult | None = None
    s_m: np.ndarray | None = None

    def to_dict(self) -> dict:
        cit = self.progression.cecal_intubation_time_s
        wt = self.retraction.withdrawal_time_s
        return {
            "reference_path": self.reference.to_dict(),
            "insertion": self.progression.to_dict(),
            "withdrawal": self.retraction.to_dict(),
            "loops": self.loops.to_dict(),
            "safety": None if self.safety is None else self.safety.to_dict(),
            "coverage": None if self.coverage is None else self.coverage.to_dict(),
            "badges": {
                "cecum_reached": self.progression.cecum_reached,
                "cit_under_16_min": None if cit is None else cit < CIT_TARGET_S,
                "wt_at_least_6_min": None if wt is None else wt >= WT_TARGET_S,
            },
        }


def score_samples(
    samples: ScoreSamples,
    centreline_m: np.ndarray | None = None,
    progression_config: ProgressionConfig | None = None,
    retraction_config: RetractionConfig | None = None,
    loop_config: LoopConfig | None = None,
    progression_cohort: ReferenceCohort | None = None,
    retraction_cohort: ReferenceCohort | None = None,
    safety_config: SafetyConfig | None = None,
    coverage: CoverageResult | None = None,
    turn_time_s: float | None = None,
) -> ScoreReport:
    """Score a whole procedure: reference path (centreline if given, else from the recording), progress, loops,
    insertion and withdrawal measures, safety. centreline_m: (M, 3) anal verge -> cecum in the samples' frame.
    coverage: the procedure's coverage (from a `CoverageAccumulator`), carried into the report as it is.
    turn_time_s: a timed procedure that did not reach the cecum (`AutopilotConfig.insertion_limit_s`): the insertion
    ends and the withdrawal begins here, as they would at a ``Cecum`` event (ignored when there is one).

    Raises ValueError for a recording with neither a centreline nor a ``Cecum`` event (no reference path)."""
    reference = build_reference_path(samples, centreline_m)
    s_m = samples_progress(reference, samples)
    loops = analyse_loops(samples, s_m, loop_config)
    turn = None if samples.cecum_time_s() is not None else turn_time_s
    progression = score_progression(
        samples, reference, s_m, progression_config, loops=loops, cohort=progression_cohort, insertion_end_s=turn
    )
    retraction = score_retraction(samples, s_m, retraction_config, cohort=retraction_cohort, cecum_time_s=turn)
    safety = score_safety(samples, loops, safety_config)
    return ScoreReport(reference, progression, retraction, loops, safety, coverage, s_m)


__all__ = [
    "CoverageConfig",
    "CoverageResult",
    "SafetyConfig",
    "SafetyResult",
    "score_safety",
    "LoopAnalysis",
    "LoopConfig",
    "LoopEpisode",
    "MeasureReference",
    "ProgressionConfig",
    "ProgressionResult",
    "ReferenceCohort",
    "ReferencePath",
    "RetractionConfig",
    "RetractionResult",
    "ScoreReport",
    "ScoreSamples",
    "analyse_loops",
    "build_reference_path",
    "cohort_composite",
    "fit_cohort",
    "load_cohorts",
    "inserted_length_from_coils",
    "progress_along",
    "reference_from_centreline",
    "reference_from_scope_shape",
    "reference_from_withdrawal",
    "samples_from_log",
    "samples_progress",
    "score_progression",
    "score_retraction",
    "score_samples",
]
