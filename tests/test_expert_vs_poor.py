"""Expert versus poor (issue 5): on several procedural colons, the autopilot's runs score better than a deliberately
poor driver's (pushing through loops, fast withdrawal) on progression, retraction and coverage, through the real
physics (`sim.drivers.drive`) and the live scorer (`sim.scoring.live`, coverage included).

The autopilot does not reach the cecum yet (README, "Autopilot"), so no run here has a ``Cecum`` event. Both drivers
insert for the same time (`AutopilotConfig.insertion_limit_s`) and then withdraw from wherever the tip got to, to
the autopilot's end depth. Each score is taken the way the scoring modules define it for that situation:

- progression over the insertion (`score_samples` with the turn as `turn_time_s`): the CoPS-like
  `progression_score` (metrics.md §1.2 with T_ref = the insertion time, this scenario's fixed window; without a
  cecum p(t) = s(t) / L, so the score is 100 x the mean fraction of the colon's length the tip was along), higher
  is better; the 3D-CoPS-style chase efficiency (shaft moved per unit of tip progress; 1 = 1:1, lower is
  expert-like, metrics.md §1.2). The 3D-CoPS-style composite against the shipped expert cohort (`sim.scoring.cohort`,
  fitted on the autopilot's runs on seeds 10-15) is printed, not compared: two of its measures, travel length and
  tip progression, count against the driver, which over a fixed time without a cecum rewards getting less far.
- retraction: the shaft's mean withdrawal speed (inserted length withdrawn / withdrawal time, from the rod's exact
  inserted length), lower is better (the guideline's "withdrawal time >= 6 min" is a speed limit on a whole colon);
  the CoRS-like measures the publication names, tip retraction (more is better) and retraction efficiency (lower
  is better, metrics.md §2.2's assumed orientation), and their composite against the expert cohort. They rest on
  the tip's progress s, which walks the shaft from the anal verge (`sim/scoring/reference_path.py`, "Shaft walk"):
  projecting the tip alone followed the wrong limb of the sigmoid down from its apex on the expert's withdrawal
  (seed 0: s climbed from 0.40 to 0.52 m while the shaft came out from 0.36 to 0.03 m), which made its net
  retraction far too small (retraction efficiency 0.09-0.10, measured before the contact's shaft continuity);
  the premise test on the tip's lead over the shaft holds that line.
- coverage: the fraction of the wall's rest area inspected during the withdrawal (`sim.scoring.coverage`: within
  50 mm, at most 75° incidence, 0.5 s of dwell, counting only dwell after the withdrawal began), over the wall both
  drivers' tips reached on that colon (arc length up to the lesser of their deepest progress during the insertion,
  where the projection follows the tip), higher is better. The live scorer files coverage under "withdrawal" only
  after a ``Cecum`` event, so the withdrawal's dwell is the dwell at the end minus the dwell at the turn. Dwell
  counts only until the camera first leaves the lumen (`camera_outside_wall`): rays cast from outside the wall would
  count its outer face as inspected. A scope point a millimetre or two into the wall does not blind the camera: on
  a machine whose compiled kernels round differently, the expert's bending section on seed 2 pressed 1.6-2.7 mm into
  a pleated sigmoid from 47.5 s on with the camera inside (before it let go of a colon coming out with the tip),
  and a cut-off at any scope point beyond 1.25 mm left it 8.4 % inspected against the poor driver's 21.1 % (`Run`
  doc).

One simulation per colon serves all its tests (`seed_comparison`, cached in the worker); each colon's tests form
one xdist group so that `--dist loadgroup` runs them on one worker and the colons on both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from physics.world import scope_clearance
from sim.drivers.autopilot import Autopilot, AutopilotConfig
from sim.drivers.drive import drive
from sim.scene import build_scene
from sim.scoring import ProgressionConfig, ScoreReport, ScoreSamples
from sim.scoring.coverage import CoverageResult
from sim.scoring.live import LiveScorer

#: Procedural colon seeds: three, as "over several seeds" asks, within the CI's time budget.
SEEDS = (0, 1, 2)
#: Insertion time (s) of both drivers: the poor-pushing sample's push (scripts/make_sample_replays.py), long enough
#: for the unsteered push to loop the sigmoid; the autopilot passes the splenic flexure only at 29-37 s.
INSERTION_S = 24.0
#: The poor driver's hurried withdrawal (m/s): the poor-pushing sample's, four times the autopilot's 2 cm/s.
HURRIED_WITHDRAWAL_M_S = 0.08
#: Loop excess (m) the poor driver's push must exceed: the loop flag of sim.scoring.loops (LoopConfig).
LOOP_FLAG_M = 0.100
#: Most the tip's progress along the colon may exceed the inserted length (m): the shaft cuts the inside of the
#: bends (measured up to 0.065 m, the expert on seed 1).
TIP_AHEAD_OF_SHAFT_M = 0.08


def expert_config() -> AutopilotConfig:
    """The autopilot as it is (steers, reduces loops past 0.25 m, circles the tip on withdrawal), turned at
    INSERTION_S."""
    return AutopilotConfig(insertion_limit_s=INSERTION_S)


def poor_config() -> AutopilotConfig:
    """The poor-pushing sample's driver: no steering, no loop reduction, then an 8 cm/s withdrawal with the wheels
    neutral (no survey circle)."""
    return AutopilotConfig(steer=False, reduce_loops=False, withdrawal_speed_m_s=HURRIED_WITHDRAWAL_M_S,
                           insertion_limit_s=INSERTION_S)


@dataclass
class Run:
    """One driver on one colon.

    samples: the live scorer's (N samples at 60 Hz); report: `score_samples` of them as a timed procedure (turn at
    withdrawal_start_s, T_ref = INSERTION_S, composites against the shipped expert cohort), with the colon's rest
    centreline as the reference path and the tip's progress along it (`report.s_m`, (N,) m, the shaft walked from
    the anal verge); withdrawal_start_s: first sample after the driver turned; coverage_at_turn: the coverage
    rasters then; left_wall_s: first sample with the camera outside the wall (`camera_outside_wall`; None:
    never); coverage_counted: the rasters then (at the end if never); finite: no NaN in the physics;
    worst_outside_m: largest distance of a scope point outside the wall (every step); phase: the driver's last phase
    ("done" once the withdrawal reached its end depth); least_withdrawal_excess_m: the least loop excess the driver
    saw on its withdrawal (its own inserted length minus the tip's ring position along the deformed colon, m:
    negative when the colon has come out with the tip).

    Measured: the expert's runs stay within 1.12, 0.54 and 1.73 mm of the wall on seeds 0, 1, 2, the poor driver's
    within 0.32, 0.43 and 0.38 mm, over the issue's 1 mm on two of the expert's withdrawals (one-off traces with the
    hand 0.15 m out, 1.48 mm on seed 2: a single step at 42.8 s, one sample in a ring's plane where neither piece
    beside it covers it); 0.41 and 0.72 mm (expert, seeds 0 and 2) while the hand clamped the scope at the verge,
    and 0.36, 0.79, 0.27 and 0.30, 0.46, 0.30 mm before that (0.42, 1.22, 0.84 and 0.54, 1.21, 0.74 mm with each
    piece's chord as the contact section's normal, physics/contact.py; 1.25, 1.94, 1.03 and 1.06, 1.21, 0.88 mm
    before the colon's self-contact was solved among the contact iterations, physics/world.py); neither camera
    leaves the lumen. Before the expert
    let go of a colon that came out with the tip (AutopilotConfig.drag_release_m), its bending section went 2.73 mm
    into the wall on seed 2. Before the contact's shaft continuity (physics/contact.py) the expert's withdrawal left
    the lumen by 11.8, 26.0 and 31.3 mm, and on seed 0 the autopilot's own locator, like the scorer's projection,
    had followed the wrong limb of the sigmoid before that (from 44 s on it put the tip 0.4-0.5 m along the colon
    with 0.39-0.03 m of shaft in).
    """

    samples: ScoreSamples
    report: ScoreReport
    withdrawal_start_s: float
    coverage_at_turn: CoverageResult
    left_wall_s: float | None
    coverage_counted: CoverageResult
    finite: bool
    worst_outside_m: float
    phase: str
    least_withdrawal_excess_m: float

    @property
    def s_m(self) -> np.ndarray:
        """(N,) the tip's progress along the colon (m)."""
        return self.report.s_m

    @property
    def insertion(self) -> np.ndarray:
        """(N,) bool: the samples of the insertion."""
        return self.samples.t_s < self.withdrawal_start_s

    @property
    def deepest_m(self) -> float:
        """Deepest tip progress along the colon during the insertion (m)."""
        return float(np.nanmax(self.s_m[self.insertion]))


def camera_outside_wall(scene, state) -> bool:
    """Whether the camera (the axis point of the tip's distal face, the contact's last sample) lies outside the
    deformed wall: its capsule's surface is more than the scope's radius outside."""
    clearance, _ = scope_clearance(scene.world, state)
    return bool(clearance[-1] < -scene.world.contact.scope_radius_m)


def run_procedure(scene, config: AutopilotConfig) -> Run:
    """Drive `scene` with the autopilot under `config` through insertion and withdrawal, scored live at the live
    scorer's rates (samples 60 Hz, coverage 10 Hz)."""
    pilot = Autopilot(scene, config)
    scorer = LiveScorer(scene)
    turn: dict = {}
    left: dict = {}

    def on_sample(t_s, outputs, state):
        # Snapshots before this sample's coverage update.
        if "t_s" not in turn and pilot.phase != "insertion":
            turn["t_s"], turn["coverage"] = t_s, scorer.coverage.result()
        if "t_s" not in left and camera_outside_wall(scene, state):
            left["t_s"], left["coverage"] = t_s, scorer.coverage.result()
        scorer.update(t_s, outputs, state)

    # Long enough to withdraw from the full working length at the driver's speed.
    limit_s = INSERTION_S + scene.rod.max_insertion_m / config.withdrawal_speed_m_s + 5.0
    _, trace = drive(scene, pilot, limit_s, on_sample=on_sample)
    for t_s, label in pilot.events:  # drive() steps the world without a session: the events come over here
        scorer.event(t_s, label)
    # The live scorer's report: its rest centreline, its samples and the shipped expert cohort.
    report = scorer.report(progression_config=ProgressionConfig(t_ref_s=INSERTION_S), turn_time_s=turn["t_s"])
    withdrawal_excess = [row["excess_m"] for row in trace.status if row["phase"] == "withdrawal"]
    return Run(scorer.samples(), report, turn["t_s"], turn["coverage"], left.get("t_s"),
               left.get("coverage", scorer.coverage.result()), trace.finite, trace.worst_outside_m, pilot.phase,
               min(withdrawal_excess, default=np.nan))


@dataclass
class Scores:
    """What is compared and printed for one run; SI units as named.

    Insertion: progression_score (CoPS-like, 0-100); chase_efficiency (shaft moved per unit of tip progress);
    progression_composite (the 3D-CoPS-style measures against the expert cohort, expert-like positive);
    deepest_m (deepest tip progress); max_loop_excess_m (largest inserted length minus tip progress).
    Withdrawal: shaft_withdrawal_speed_m_s (inserted length withdrawn / withdrawal time); the CoRS-like
    retraction_efficiency (net retraction along the colon / tip travel), tip_retraction_m (tip travel) and
    tip_retraction_per_min_m (per minute), retraction_speed_along_colon_m_s (net retraction / withdrawal time) and
    retraction_composite (against the expert cohort, its PC1 oriented so that a more exploratory withdrawal scores
    higher); withdrawal_time_s; withdrawal_inspected_fraction (of the wall both drivers reached, module doc).
    """

    progression_score: float
    chase_efficiency: float
    progression_composite: float
    deepest_m: float
    max_loop_excess_m: float
    shaft_withdrawal_speed_m_s: float
    retraction_efficiency: float
    tip_retraction_m: float
    tip_retraction_per_min_m: float
    retraction_speed_along_colon_m_s: float
    retraction_composite: float
    withdrawal_time_s: float
    withdrawal_inspected_fraction: float

    def line(self) -> str:
        return " | ".join((
            f"progression_score {self.progression_score:5.2f}, chase efficiency {self.chase_efficiency:.3f}, "
            f"composite {self.progression_composite:+.2f}, deepest {self.deepest_m:.3f} m, max loop excess "
            f"{1e3 * self.max_loop_excess_m:3.0f} mm",
            f"withdrawal {self.withdrawal_time_s:4.1f} s, shaft out at {1e3 * self.shaft_withdrawal_speed_m_s:4.1f} "
            f"mm/s, CoRS-like: {1e3 * self.retraction_speed_along_colon_m_s:4.1f} mm/s along the colon, retraction "
            f"efficiency {self.retraction_efficiency:.3f}, tip travel {self.tip_retraction_m:.2f} m "
            f"({self.tip_retraction_per_min_m:.2f} m/min), "
            f"composite {self.retraction_composite:+.2f}",
            f"inspected on withdrawal {100 * self.withdrawal_inspected_fraction:4.1f} %"))


def withdrawal_inspected_fraction(run: Run, s_max_m: float) -> float:
    """Fraction of the wall's rest area at arc length <= s_max_m inspected during the withdrawal: its dwell from
    the turn until the scope left the wall or the end (both phase rasters added; without a cecum everything is
    filed as insertion) reached the inspection dwell."""
    end, turn = run.coverage_counted, run.coverage_at_turn
    dwell_s = end.dwell_s.sum(axis=0) - turn.dwell_s.sum(axis=0)
    inspected = dwell_s >= end.inspect_dwell_s - 1e-9
    rows = end.s_m <= s_max_m
    area = end.area_m2[rows]
    return float(area[inspected[rows]].sum() / area.sum())


def run_scores(run: Run, common_m: float) -> Scores:
    """The scores of one run (module doc); common_m: arc length (m) up to which both drivers' tips reached."""
    progression, retraction = run.report.progression, run.report.retraction
    inserted = run.samples.inserted_length_m
    withdrawn_m = float(inserted[~run.insertion][0] - inserted[-1])
    return Scores(
        progression_score=progression.progression_score,
        chase_efficiency=progression.chase_efficiency,
        progression_composite=progression.progression_composite,
        deepest_m=run.deepest_m,
        max_loop_excess_m=float(np.nanmax(inserted[run.insertion] - run.s_m[run.insertion])),
        shaft_withdrawal_speed_m_s=withdrawn_m / retraction.withdrawal_time_s,
        retraction_efficiency=retraction.retraction_efficiency,
        tip_retraction_m=retraction.tip_retraction_m,
        tip_retraction_per_min_m=retraction.tip_retraction_per_min_m,
        retraction_speed_along_colon_m_s=retraction.net_retraction_m / retraction.withdrawal_time_s,
        retraction_composite=retraction.retraction_composite,
        withdrawal_time_s=retraction.withdrawal_time_s,
        withdrawal_inspected_fraction=withdrawal_inspected_fraction(run, common_m),
    )


@dataclass
class SeedComparison:
    """Both drivers on one colon: their runs and scores, and the arc length (m) both tips reached."""

    seed: int
    runs: dict[str, Run]
    scores: dict[str, Scores]
    common_m: float


@functools.cache
def seed_comparison(seed: int) -> SeedComparison:
    """Run both drivers on the procedural colon of `seed` and score them (once per worker process)."""
    scene = build_scene(seed=seed)
    runs = {"expert": run_procedure(scene, expert_config()), "poor": run_procedure(scene, poor_config())}
    common_m = min(run.deepest_m for run in runs.values())
    scores = {name: run_scores(run, common_m) for name, run in runs.items()}
    print(f"\nseed {seed} (coverage over the wall up to s = {common_m:.3f} m):")
    for name, run in runs.items():
        left = "never" if run.left_wall_s is None else f"at {run.left_wall_s:.1f} s of {run.samples.t_s[-1]:.1f} s"
        print(f"  {name:6s} {scores[name].line()} | worst scope point outside the wall "
              f"{1e3 * run.worst_outside_m:.2f} mm, camera out of the lumen {left}")
    return SeedComparison(seed, runs, scores, common_m)


def compared(seed: int, field: str) -> tuple[float, float]:
    """(expert, poor) values of score `field` on `seed`, printed."""
    scores = seed_comparison(seed).scores
    expert, poor = getattr(scores["expert"], field), getattr(scores["poor"], field)
    print(f"seed {seed}: {field} expert {expert:.4f} vs poor {poor:.4f}")
    return expert, poor


def seed_params(known_failures: dict[int, str] | None = None) -> list:
    """SEEDS as parameters, each colon's tests in one xdist group (module doc); `known_failures`: seed -> why its
    comparison fails today (a strict xfail: it fails the run once the comparison holds, so that the mark goes)."""
    known_failures = known_failures or {}
    return [pytest.param(seed, id=f"seed{seed}", marks=[pytest.mark.xdist_group(f"expert_vs_poor_seed{seed}")] + (
        [pytest.mark.xfail(strict=True, reason=known_failures[seed])] if seed in known_failures else []))
        for seed in SEEDS]


#: Why comparisons fail today (measured; the tests' docstrings have the figures).
SLOWER_INSERTION = ("in 24 s the unsteered push gets further along than the steering autopilot: progression_score "
                    "expert 25.25, 27.18, 24.39 vs poor 27.23, 28.99, 26.62 on seeds 0, 1, 2")
LATE_LET_GO = ("on seed 1 the colon comes 93 mm out with the expert's tip before the released tip slips back "
               "(its excess -93 mm against the -80 mm line)")


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_both_drivers_withdraw_to_the_end_and_the_poor_push_loops_the_sigmoid(seed):
    """The premises: both runs finish their withdrawal with finite physics, and the poor driver's push loops the
    sigmoid (excess over the loop flag). Measured (seeds 0, 1, 2): the poor's largest loop excess 188, 195 and
    194 mm (the expert's 177, 183 and 182 mm: it also pushes through loops, reducing only past 0.25 m)."""
    comparison = seed_comparison(seed)
    for name, run in comparison.runs.items():
        assert run.finite, f"{name}: the physics went non-finite"
        assert run.phase == "done", f"{name}: the withdrawal did not finish ({run.phase})"
    assert comparison.scores["poor"].max_loop_excess_m > LOOP_FLAG_M


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_the_tip_is_never_further_along_the_colon_than_the_shaft_reaches(seed):
    """What the withdrawal scores rest on: the tip's progress s follows the shaft out. The tip cannot be further
    along the colon than the inserted length by more than the shaft's corner-cutting (the shaft is shorter than
    the centreline round a bend), so inserted length - s stays above -TIP_AHEAD_OF_SHAFT_M throughout, insertion
    and withdrawal, for both drivers. Projecting the tip alone (+-40 mm window, no shaft) broke this on the
    expert's withdrawal: -0.50 and -0.51 m on seeds 0 and 1 (s 0.52 m with 0.03 m of shaft in). With the shaft walk
    (sim/scoring/reference_path.py) the tip leads the shaft by at most 62, 65 and 54 mm on seeds 0, 1, 2 (expert)
    and 9, 7 and 7 mm (poor)."""
    for name, run in seed_comparison(seed).runs.items():
        lead = float(np.nanmax(run.s_m - run.samples.inserted_length_m))
        print(f"seed {seed} {name}: the tip at most {1e3 * lead:.0f} mm further along the colon than the shaft is in")
        assert lead < TIP_AHEAD_OF_SHAFT_M, name


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params({1: LATE_LET_GO}))
def test_the_expert_lets_go_of_a_colon_that_comes_out_with_the_tip(seed):
    """The expert's withdrawal does not tow the colon: when the tip holds on a fold while the shaft comes out and
    the colon starts to come with it, the autopilot lets the wheels go (AutopilotConfig.drag_release_m) and the
    tip slips back, so the loop excess it sees stays above -(drag_release_m + 30 mm). Without that, on seed 2 the
    tip held at 0.6 m along the colon while 0.5 m of shaft came out: excess down to -0.47 m, and the bending section
    went 2.7 mm into the wall where the gathered sigmoid lay against itself. Measured now: -64, -93 and -59 mm on seeds
    0, 1, 2 (-61, -57 and -61 mm while the hand clamped the scope at the verge): on seed 1 not met (a strict xfail),
    the colon came 43 mm further out after the release began, as the wheels unwound and the straightened tip still
    held."""
    run = seed_comparison(seed).runs["expert"]
    limit_m = expert_config().drag_release_m + 0.03
    print(f"seed {seed}: least loop excess on the expert's withdrawal {1e3 * run.least_withdrawal_excess_m:+.0f} mm")
    assert run.least_withdrawal_excess_m > -limit_m


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params({seed: SLOWER_INSERTION for seed in SEEDS}))
def test_expert_has_the_higher_progression_score_over_the_insertion(seed):
    """The CoPS-like progression score over the insertion (T_ref = INSERTION_S) is higher for the expert. Not met
    on any seed today (strict xfails, which fail once it is met so that the marks go): measured expert 25.25,
    27.18, 24.39 vs poor 27.23, 28.99, 26.62 on seeds 0, 1, 2 (deepest progress 0.601, 0.629, 0.582 m vs 0.622,
    0.646, 0.607 m). In 24 s the autopilot eases off and backs off to steer, while the poor driver pushes straight
    on; neither has reduced a loop yet (the autopilot reduces past 0.25 m of excess)."""
    expert, poor = compared(seed, "progression_score")
    assert expert > poor


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_expert_moves_less_shaft_per_unit_of_tip_progress_over_the_insertion(seed):
    """The 3D-CoPS-style chase efficiency (sum |shaft in/out| / sum |tip progress|, 0.5 s increments) over the
    insertion is lower (nearer 1:1) for the expert. Measured expert 1.276, 1.281, 1.294 vs poor 1.303, 1.303, 1.321
    on seeds 0, 1, 2: a narrow margin, both drivers push through a loop of about the same size in these 24 s (with
    the hand 0.15 m out, physics/world.py "The hand and the anus", the unsteered push went 0.715 m along seed 2's
    colon and won there, 1.183 against 1.309)."""
    expert, poor = compared(seed, "chase_efficiency")
    assert expert < poor


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_expert_withdraws_the_shaft_slower(seed):
    """The shaft's mean withdrawal speed (inserted length withdrawn / withdrawal time) is lower for the expert.
    Measured on seeds 0, 1, 2: expert 19.3, 19.2, 17.7 mm/s (withdrawal 39.3, 41.2, 41.9 s: its 20 mm/s, held
    while it lets a towed colon go) vs poor 80.0 mm/s (9.9, 10.3, 9.8 s). Along the colon (the CoRS-like net
    retraction / withdrawal time, not compared, module doc) 14.8, 14.8, 13.4 vs 61.0, 61.1, 60.2 mm/s."""
    expert, poor = compared(seed, "shaft_withdrawal_speed_m_s")
    assert expert < poor


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_expert_inspects_more_of_the_wall_on_withdrawal(seed):
    """During the withdrawal the expert inspects a larger fraction of the wall both drivers reached, counting only
    while the camera is in the lumen. Measured (seeds 0, 1, 2; wall up to s = 0.601, 0.629, 0.582 m): expert 80.9,
    87.9, 73.3 % vs poor 22.4, 26.2, 21.6 % (48.2, 37.9, 44.2 % before the expert let go of a towed colon; before
    the contact's shaft continuity the expert's scope left the lumen and seed 2 failed: 8.8 %)."""
    expert, poor = compared(seed, "withdrawal_inspected_fraction")
    assert expert > poor


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_expert_withdrawal_is_more_exploratory_by_the_cors_like_measures(seed):
    """The CoRS-like measures the publication names, each oriented as metrics.md §2.2 assumes: the expert's tip
    travels further on the way out (tip retraction) and less of that travel is net pull-back (lower retraction
    efficiency: the survey circle looks round the folds). Measured on seeds 0, 1, 2: tip retraction expert 1.31,
    1.12, 1.80 m vs poor 0.74, 0.75, 0.74 m; retraction efficiency 0.44, 0.55, 0.31 vs 0.82, 0.83, 0.79. Not tip
    travel per minute, which rewards the hurried withdrawal: 2.00, 1.62, 2.57 vs 4.49, 4.40, 4.57 m/min."""
    expert_re, poor_re = compared(seed, "retraction_efficiency")
    expert_tr, poor_tr = compared(seed, "tip_retraction_m")
    assert expert_re < poor_re
    assert expert_tr > poor_tr


@pytest.mark.slow
@pytest.mark.parametrize("seed", seed_params())
def test_expert_has_the_higher_retraction_composite(seed):
    """The CoRS-like composite against the shipped expert cohort (assets/cohorts/colosim_expert.json, seeds 10-15:
    not these) is higher for the expert. Measured on seeds 0, 1, 2: expert -0.50, -1.54, +2.61 vs poor -5.14,
    -5.17, -4.95 (the cohort's own runs average 0 by construction; its six withdrawals are alike, so a z-score
    moves fast: retraction efficiency sd 0.089)."""
    expert, poor = compared(seed, "retraction_composite")
    assert expert > poor

