"""Live scoring: a running session feeds every physics step to a `LiveScorer`, which keeps the HUD figures up to
date and, at the end, builds the same `ScoreReport` as the batch path (DESIGN.md, "Scoring": one stream of samples).

Per physics step `update` is cheap: it keeps one score sample every `sample_interval_s` (default 1/60 s, the rate a
session logs coils at), the tip's progress by walking the shaft's coils from the anal verge (`progress_along`), and
a coverage update every `CoverageConfig.update_interval_s` (0.1 s) of simulated time (the issue's >= 10 Hz). The
report (`report`) is `score_samples` on the kept samples with the coverage accumulated so far and the composites
against the shipped expert cohort (`sim.scoring.cohort`), so a recording of the same samples scored by `colosim
score` (with the ``coverage.npz`` / ``forces.npz`` that `save` writes) gives the same figures.

What is scored: by default what the simulator knows, the rod's tip, its inserted length and the anal verge, with the
colon's rest centreline as the reference path (the simulator's definition, metrics.md §1.2). With `as_recording`
the samples are scored as `colosim score` scores the session's coordinate log: tip = coil 0, anal verge = the tip
at ``Endoscopy started``, inserted length by the CCD rule, reference path from the scope shape at ``Cecum``.
Coverage phase: insertion until the first ``Cecum`` event, withdrawal after it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sim.logs.coordinate_log import EventLabel
from sim.scoring.batch import COVERAGE_FILE, FORCES_FILE, SCORES_JSON
from sim.scoring.cohort import ReferenceCohort, expert_cohort_path, load_cohorts
from sim.scoring.coverage import INSERTION, WITHDRAWAL, CoverageAccumulator, CoverageConfig, CoverageGrid
from sim.scoring.reference_path import progress_along, reference_from_centreline
from sim.scoring.samples import FORCE_FIELDS, ScoreSamples, estimate_anal_verge, inserted_length_from_coils

#: Score samples per second kept by default: the rate a session writes its coordinate log at.
SAMPLE_RATE_HZ = 60.0


class LiveScorer:
    """Scores a session step by step (module doc). scene: `sim.scene.Scene`."""

    def __init__(self, scene, *, coverage_config: CoverageConfig | None = None,
                 sample_interval_s: float = 1.0 / SAMPLE_RATE_HZ, as_recording: bool = False,
                 cohorts: Mapping[str, ReferenceCohort] | None = None):
        self.scene = scene
        # The report's composites are scored against these (by section); by default the shipped expert cohort.
        self.cohorts = load_cohorts(expert_cohort_path()) if cohorts is None else dict(cohorts)
        self.sample_interval_s = float(sample_interval_s)
        self.as_recording = as_recording
        if coverage_config is None:
            coverage_config = CoverageConfig(field_of_view_rad=float(scene.spec.field_of_view_rad))
        self.coverage = CoverageAccumulator(CoverageGrid.from_colon(scene.colon), coverage_config)
        self.centreline_m = np.asarray(scene.asset.centreline_m, dtype=float)
        self._reference = reference_from_centreline(self.centreline_m)
        self.anal_verge_m = np.asarray(scene.world.entry_point_m, dtype=float).copy()
        self._t: list[float] = []
        self._tip: list[np.ndarray] = []
        self._coils: list[np.ndarray] = []
        self._inserted: list[float] = []
        self._forces: dict[str, list[float]] = {name: [] for name in FORCE_FIELDS}
        self.events: list[tuple[float, str]] = []
        self._next_sample_t = -math.inf
        self._next_coverage_t = -math.inf
        self.s_m = math.nan
        self.max_wall_force_N = 0.0
        self._last: dict[str, float] = {}

    @property
    def n_samples(self) -> int:
        """Score samples kept so far (a session logging coils at the same rate writes one line per sample)."""
        return len(self._t)

    @property
    def phase(self) -> int:
        return WITHDRAWAL if any(label == EventLabel.CECUM for _, label in self.events) else INSERTION

    def event(self, t_s: float, label: str) -> None:
        """Log an event (``Cecum``, ``Fleksur L`` ...) at session time `t_s`, as the recording does."""
        self.events.append((float(t_s), str(label)))

    def update(self, t_s: float, outputs, state) -> None:
        """One physics step: `outputs` = `physics.world.world_outputs(model, state)` after the step at time `t_s`."""
        t = float(t_s)
        eps = 1e-9
        rod = outputs.rod
        tip_force = float(np.linalg.norm(outputs.tip_contact_force_N))
        shaft_force = float(np.linalg.norm(outputs.shaft_contact_force_N, axis=1).max())
        if t >= self._next_sample_t - eps:
            # Over the kept samples only, so that the HUD shows what the report will say.
            self.max_wall_force_N = max(self.max_wall_force_N, tip_force, shaft_force)
            self._next_sample_t = (t if self._next_sample_t == -math.inf else self._next_sample_t) + \
                self.sample_interval_s
            tip = np.asarray(rod.tip_position_m, dtype=float).copy()
            coils = np.asarray(rod.coil_positions_m, dtype=float).copy()
            self._t.append(t)
            self._tip.append(tip)
            self._coils.append(coils)
            self._inserted.append(float(rod.inserted_length_m))
            values = (tip_force, shaft_force, float(outputs.max_tether_force_N), float(rod.handle_axial_force_N))
            for name, value in zip(FORCE_FIELDS, values):
                self._forces[name].append(value)
            start = None if math.isnan(self.s_m) else self.s_m
            self.s_m = float(progress_along(self._reference, tip[None, :], s_start_m=start, coils_m=coils[None],
                                            anal_verge_m=self.anal_verge_m,
                                            inserted_length_m=np.array([rod.inserted_length_m]))[0])
            self._last = {"inserted_m": float(rod.inserted_length_m), "tip_force_N": tip_force,
                          "tether_force_N": float(outputs.max_tether_force_N)}
        if t >= self._next_coverage_t - eps:
            interval = self.coverage.config.update_interval_s
            self._next_coverage_t = (t if self._next_coverage_t == -math.inf else self._next_coverage_t) + interval
            self.coverage.update(t, rod.camera_position_m, rod.camera_forward, rod.camera_up, state.colon.position_m,
                                 self.phase)

    def hud_lines(self) -> dict[str, str]:
        """Short HUD lines by name: time, progress, coverage, loop, force."""
        if not self._t:
            return {}
        length = self._reference.length_m
        excess = self._last["inserted_m"] - self.s_m
        view = self.coverage.last_view
        return {
            "time": f"t {self._t[-1]:6.1f} s  {'withdrawal' if self.phase == WITHDRAWAL else 'insertion'}",
            "progress": f"progress {100 * self.s_m / length:5.1f} %  (s {self.s_m:.2f} of {length:.2f} m)",
            "coverage": f"seen {100 * self.coverage.seen_fraction():5.1f} %  inspected "
                        f"{100 * self.coverage.inspected_fraction():5.1f} %" + ("  RED-OUT" if view and view.red_out
                                                                                  else ""),
            "loop": f"excess length {1000 * excess:4.0f} mm",
            "force": f"tip {self._last['tip_force_N']:4.1f} N  max wall {self.max_wall_force_N:4.1f} N  "
                     f"tether {self._last['tether_force_N']:4.1f} N",
        }

    def samples(self) -> ScoreSamples:
        """The score samples kept so far (world frame, SI; module doc for `as_recording`)."""
        if not self._t:
            raise ValueError("no samples yet: call update() at least once")
        t, coils = np.array(self._t), np.array(self._coils)
        forces = {name: np.array(values) for name, values in self._forces.items()}
        if self.as_recording:
            verge = estimate_anal_verge(t, coils[:, 0], self.events)
            inserted = np.full(t.size, np.nan) if verge is None else inserted_length_from_coils(coils, verge)
            return ScoreSamples(t_s=t, tip_m=coils[:, 0], coils_m=coils, inserted_length_m=inserted,
                                events=list(self.events), anal_verge_m=verge, **forces)
        return ScoreSamples(t_s=t, tip_m=np.array(self._tip), coils_m=coils, inserted_length_m=np.array(self._inserted),
                            events=list(self.events), anal_verge_m=self.anal_verge_m, **forces)

    def report(self, **score_options):
        """The `ScoreReport` of the session so far (same code as `colosim score`); options go to `score_samples`."""
        from sim.scoring import score_samples

        centreline = None if self.as_recording else self.centreline_m
        options = {"progression_cohort": self.cohorts.get("progression"),
                   "retraction_cohort": self.cohorts.get("retraction"), **score_options}
        return score_samples(self.samples(), centreline, coverage=self.coverage.result(), **options)

    def save(self, folder: Path | str) -> list[Path]:
        """Write ``coverage.npz`` and ``forces.npz`` into a recording's folder (what `colosim score` reads). Times
        are put on the recording's clock (s since the first sample, as T.txt counts), assuming the recording's first
        sample is this scorer's first one."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = self._t[0] if self._t else 0.0
        forces = folder / FORCES_FILE
        np.savez_compressed(forces, t_s=np.array(self._t) - t0, **{k: np.array(v) for k, v in self._forces.items()})
        coverage = self.coverage.result()
        coverage.lost_view_episodes = [(a - t0, b - t0) for a, b in coverage.lost_view_episodes]
        return [coverage.save(folder / COVERAGE_FILE), forces]

    def save_report(self, folder: Path | str) -> Path:
        """Write the final report as ``scores.json`` into `folder` (next to what `save` writes)."""
        path = Path(folder) / SCORES_JSON
        report = self.report()
        path.write_text(json.dumps(report.to_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")
        return path


def _json_default(value):
    """numpy arrays and scalars, and plain records, as JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dict__"):
        return value.__dict__
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
