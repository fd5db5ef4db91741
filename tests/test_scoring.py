"""Scoring from one stream of samples: hand-computable cases for progression, retraction and loops.

Every expected figure below is worked out by hand in the comments (units: m and s unless a name says mm).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sim.logs import CoordinateLogWriter, EventLabel, read_coordinate_log
from sim.scoring import (
    LoopConfig,
    MeasureReference,
    ProgressionConfig,
    ReferenceCohort,
    RetractionConfig,
    ScoreSamples,
    analyse_loops,
    build_reference_path,
    cohort_composite,
    fit_cohort,
    inserted_length_from_coils,
    load_cohorts,
    progress_along,
    reference_from_centreline,
    samples_from_log,
    score_progression,
    score_retraction,
    score_samples,
)
from sim.scoring.cohort import PROGRESSION_ORIENTATION, RETRACTION_ORIENTATION, expert_cohort_path

MM = 1e-3


def piecewise(times_s, values, t_s):
    """Linear interpolation through keyframes (values may be (K,) or (K, D)). Returns (N,) or (N, D)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return np.interp(t_s, times_s, values)
    return np.stack([np.interp(t_s, times_s, values[:, d]) for d in range(values.shape[1])], axis=1)


def along_x(x_m):
    """(N, 3) tip positions on the x axis."""
    x_m = np.asarray(x_m, dtype=float)
    return np.stack([x_m, np.zeros_like(x_m), np.zeros_like(x_m)], axis=1)


def json_clean(payload) -> None:
    """Results must serialise to strict JSON (no NaN)."""
    json.dumps(payload, allow_nan=False)


# --- straight insertion -------------------------------------------------------------------------------------------

# A straight reference 0.5 m long along +z (anal verge at the origin); the scope goes in at v = 5 mm/s, so the tip
# reaches the cecum at t_c = 0.5 / 0.005 = 100 s. Three coils 50 mm apart behind the tip.
SPEED_M_S = 0.005
LENGTH_M = 0.5
COIL_OFFSETS_M = (0.0, 0.05, 0.10)


def straight_insertion(t_end_s=150.0, withdraw_speed_m_s=0.01):
    t = np.arange(0.0, t_end_s + 0.5, 1.0)
    depth = np.where(t <= 100.0, SPEED_M_S * t, LENGTH_M - (t - 100.0) * withdraw_speed_m_s)
    coils = np.stack([np.stack([0 * t, 0 * t, depth - off], axis=1) for off in COIL_OFFSETS_M], axis=1)
    events = [
        (0.0, EventLabel.ENDOSCOPY_STARTED),
        (40.0, EventLabel.FLEXURE_LEFT),
        (70.0, EventLabel.FLEXURE_RIGHT),
        (100.0, EventLabel.CECUM),
        (t_end_s, EventLabel.ENDOSCOPY_ENDED),
    ]
    verge = np.zeros(3)
    return ScoreSamples(t, coils[:, 0], coils, inserted_length_from_coils(coils, verge), events, anal_verge_m=verge)


def test_inserted_length_follows_the_ccd_rule():
    samples = straight_insertion()
    # Tip at depth d: while d < 0.10 the verge lies on the coil polyline (length d); beyond, every coil is inside and
    # the straight gap from the last coil to the verge is added: 0.10 + (d - 0.10) = d. So ℓ = v t until 100 s.
    np.testing.assert_allclose(samples.inserted_length_m[:101], SPEED_M_S * samples.t_s[:101], atol=1e-12)


def test_straight_insertion_progression_score_by_hand():
    samples = straight_insertion()
    config = ProgressionConfig(t_ref_s=200.0)
    report = score_samples(samples, progression_config=config)
    ins = report.progression
    # Reference from the scope shape at the cecum (reversed coils, from the verge): 0 -> 0.5 m along z.
    assert report.reference.source == "scope_shape_at_cecum"
    assert report.reference.length_m == pytest.approx(LENGTH_M)
    # p(t) = s/L = t/100 for t < 100 s, then 1. With T_ref = 200 s:
    #   ∫_0^200 p dt = ∫_0^100 t/100 dt + ∫_100^200 1 dt = 50 + 100 = 150 s
    #   progression_score = 100 * 150 / 200 = 75.
    assert ins.progression_score == pytest.approx(75.0)
    # Default T_ref = 1200 s: (50 + 1100) / 1200 * 100 = 95.8333...
    default = score_progression(samples, report.reference, progress_along(report.reference, samples.tip_m))
    assert default.progression_score == pytest.approx(100.0 * 1150.0 / 1200.0)
    # Same figures with the simulator's centreline as the reference.
    centreline = score_samples(samples, centreline_m=np.array([[0, 0, 0], [0, 0, LENGTH_M]]), progression_config=config)
    assert centreline.progression.progression_score == pytest.approx(75.0)
    assert centreline.reference.source == "centreline"

    assert ins.cecal_intubation_time_s == pytest.approx(100.0)
    assert ins.segment_times_s == {
        "start_to_left_flexure_s": 40.0,
        "left_flexure_to_right_flexure_s": 30.0,
        "right_flexure_to_cecum_s": 30.0,
    }
    # 3D-CoPS-style measures over [0, 100] s: travel = progression = 0.5 m; every mm of shaft moves the tip 1 mm,
    # so chase efficiency = Σ|Δℓ| / Σ|Δs| = 0.5 / 0.5 = 1 and no shaft moves while the tip stands still.
    assert ins.travel_length_m == pytest.approx(0.5)
    assert ins.tip_progression_m == pytest.approx(0.5)
    assert ins.chase_efficiency == pytest.approx(1.0)
    assert ins.shaft_movement_without_tip_progression_m == pytest.approx(0.0)
    assert ins.looping_time_s == 0.0
    assert ins.n_regressions == 0
    assert ins.progression_composite is None  # no cohort given, no invented weights
    json_clean(report.to_dict())


def test_progression_score_without_cecum_holds_the_last_progress():
    # Half the speed (2.5 mm/s) for 100 s, then the recording ends without a Cecum: s(100) = 0.25 m, p = 0.5.
    #   ∫_0^100 (0.0025 t / 0.5) dt = 0.005 * 100^2 / 2 = 25 s; held at p = 0.5 over [100, 200]: 50 s.
    #   progression_score = 100 * 75 / 200 = 37.5.
    t = np.arange(0.0, 100.5, 1.0)
    tip = np.stack([0 * t, 0 * t, 0.0025 * t], axis=1)
    samples = ScoreSamples(t, tip, tip[:, None, :])
    reference = reference_from_centreline(np.array([[0, 0, 0], [0, 0, LENGTH_M]]))
    result = score_progression(samples, reference, progress_along(reference, tip), ProgressionConfig(t_ref_s=200.0))
    assert result.progression_score == pytest.approx(37.5)
    assert not result.cecum_reached and result.cecal_intubation_time_s is None
    assert result.chase_efficiency is None  # no inserted length known
    json_clean(result.to_dict())


# --- regressions --------------------------------------------------------------------------------------------------


def test_regressions_counted_on_a_back_and_forth_path():
    # Tip along a straight 0.3 m reference at 10 mm/s through s = 0, 100, 70, 150, 140, 200, 170, 300 mm
    # (keyframe times 0, 10, 13, 21, 22, 28, 31, 44 s). Drops: 30 mm (10->13 s), 10 mm (21->22 s, below the
    # 20 mm threshold), 30 mm (28->31 s) -> 2 regressions.
    key_t = [0, 10, 13, 21, 22, 28, 31, 44]
    key_s_mm = [0, 100, 70, 150, 140, 200, 170, 300]
    t = np.arange(0.0, 44.5, 1.0)
    tip = along_x(piecewise(key_t, key_s_mm, t) * MM)
    samples = ScoreSamples(t, tip, tip[:, None, :], events=[(44.0, EventLabel.CECUM)])
    reference = reference_from_centreline(np.array([[0, 0, 0], [0.3, 0, 0]]))
    s = progress_along(reference, tip)
    np.testing.assert_allclose(s, tip[:, 0], atol=1e-12)
    result = score_progression(samples, reference, s)
    assert result.n_regressions == 2
    assert [(r.start_s, r.end_s) for r in result.regressions] == [(10.0, 13.0), (28.0, 31.0)]
    assert [r.drop_m for r in result.regressions] == pytest.approx([0.030, 0.030])
    # Tip progression = forward moves only: 100 + 80 + 60 + 130 = 370 mm; travel = 370 + 30 + 10 + 30 = 440 mm.
    assert result.tip_progression_m == pytest.approx(0.370)
    assert result.travel_length_m == pytest.approx(0.440)


def test_progress_window_does_not_jump_to_a_touching_limb():
    # A hairpin: out 0.2 m along x, back along y = 10 mm. The tip travelling out along y = 0 is closer to the
    # return limb only when it sits at y = 8 mm, which the ±40 mm window forbids (the return limb is >= 0.2 m
    # further along s) -> s follows the outward limb.
    path = reference_from_centreline(np.array([[0, 0, 0], [0.2, 0, 0], [0.2, 0.01, 0], [0, 0.01, 0]]))
    x = np.arange(0.0, 0.1001, 0.005)
    tip = np.stack([x, np.full_like(x, 0.008), 0 * x], axis=1)
    tip[0, 1] = 0.0  # start on the first limb
    s = progress_along(path, tip)
    np.testing.assert_allclose(s, x, atol=1e-12)



def test_shaft_walk_keeps_the_tip_on_its_limb_where_the_tip_alone_strays():
    # A hairpin path from the anal verge at the origin: out 0.3 m along x (s = x), across 30 mm at x = 0.3
    # (s 0.30-0.33), back along y = 30 mm (s = 0.63 - x). The shaft lies on the x axis; the tip is bent 25 mm
    # toward the return limb (the colon displaced from the rest path); coil 0 is the tip, coils 1-5 lie 0.1 m
    # apart behind it on the axis (those past the verge, x < 0, are outside).
    # In to x = 0.29 with the tip on the axis, bent over 1 s, then out to x = 0.05 at 20 mm/s.
    path = reference_from_centreline(np.array([[0, 0, 0], [0.3, 0, 0], [0.3, 0.03, 0], [0, 0.03, 0]]))
    t = np.arange(0.0, 29.0, 0.25)
    x = piecewise([0, 14.5, 15.5, 27.5], [0.0, 0.29, 0.29, 0.05], t)
    y = piecewise([0, 14.5, 15.5, 27.5], [0.0, 0.0, 0.025, 0.025], t)
    tip = np.stack([x, y, 0 * t], axis=1)
    coils = np.repeat(tip[:, None, :], 6, axis=1)
    coils[:, 1:, 1] = 0.0
    coils[:, 1:, 0] -= 0.1 * np.arange(1, 6)
    # Tip alone: at (0.29, 25 mm) the turn (s 0.30-0.33, 10 mm away) and then the return limb (5 mm away) fall
    # inside the ±40 mm window one after the other, and s follows the return limb out: s = 0.63 - x, 0.58 at
    # x = 0.05, where the tip is 0.53 m from the turn along the shaft it hangs on.
    alone = progress_along(path, tip)
    assert alone[-1] == pytest.approx(0.63 - 0.05, abs=1e-9)
    # Shaft walk: the coils on the axis project at s = x - 0.1 k; the tip's (and coil 0's) window ends at
    # coil 1's s + |tip - coil 1| + 40 mm = x - 0.1 + 0.103 + 0.04, before the turn for x < 0.257, so there the tip
    # projects onto the outward limb, s = x, on the way in and on the way out (near the turn it may take the turn,
    # 10 mm from the bent tip: the walk allows for a shaft cutting corners).
    walked = progress_along(path, tip, coils_m=coils, anal_verge_m=np.zeros(3))
    short = x < 0.25
    np.testing.assert_allclose(walked[short], x[short], atol=1e-9)
    assert short[-1] and (~short).any()

# --- chase efficiency, shaft movement without progression, excess length, straightening ---------------------------


def test_chase_efficiency_sm0_loop_episode_and_straightening_by_hand():
    # Tip on a straight reference (x axis), inserted length given (a live session knows it exactly):
    #   0-20 s:  s 0 -> 200 mm, ℓ 0 -> 200 mm (1:1)
    #   20-30 s: s stays 200, ℓ 200 -> 330 (push 130 mm without progress, 13 mm/s: excess 13 (t - 20) mm is
    #            91 mm at 27 s, under the 100 mm flag, and 104 mm at 28 s, over it)
    #   30-36 s: s stays 200, ℓ 330 -> 210 (pull 120 mm: a straightening; excess 110 mm at 31 s, 90 mm at 32 s)
    #   36-50 s: s 200 -> 340, ℓ 210 -> 350 (1:1); Cecum at 50 s.
    key_t = [0, 20, 30, 36, 50]
    s_mm = [0, 200, 200, 200, 340]
    ell_mm = [0, 200, 330, 210, 350]
    t = np.arange(0.0, 50.5, 1.0)
    tip = along_x(piecewise(key_t, s_mm, t) * MM)
    samples = ScoreSamples(
        t, tip, tip[:, None, :], piecewise(key_t, ell_mm, t) * MM, events=[(50.0, EventLabel.CECUM)]
    )
    reference = reference_from_centreline(np.array([[0, 0, 0], [0.4, 0, 0]]))
    s = progress_along(reference, tip)
    loops = analyse_loops(samples, s)
    result = score_progression(samples, reference, s, loops=loops)
    # CE = Σ|Δℓ| / Σ|Δs| = (200 + 130 + 120 + 140) / (200 + 140) = 590 / 340.
    assert result.chase_efficiency == pytest.approx(590.0 / 340.0)
    # SM0 = shaft moved while |Δs| < 1 mm: 130 + 120 = 250 mm.
    assert result.shaft_movement_without_tip_progression_m == pytest.approx(0.250)
    # Excess > 100 mm at the samples 28-31 s (104, 117, 130, 110 mm): one episode from 28 s to 32 s (the first
    # sample without it), looping time 4 s.
    assert [(e.start_s, e.end_s, e.loop_type) for e in loops.episodes] == [(28.0, 32.0, "excess_length")]
    assert loops.episodes[0].max_excess_m == pytest.approx(0.130)
    assert result.looping_time_s == pytest.approx(4.0)
    # The pull 330 -> 210 mm (120 mm >= 50 mm) with s constant is a straightening attempt and ends the episode.
    attempts = loops.straightening_attempts
    assert [(a.start_s, a.end_s) for a in attempts] == [(30.0, 36.0)]
    assert attempts[0].pull_m == pytest.approx(0.120)
    assert loops.episodes[0].straightened
    # Paradoxical motion: pushing (130 mm) while s did not move, 20-30 s.
    assert [(p.start_s, p.end_s) for p in loops.paradoxical] == [(20.0, 30.0)]
    assert loops.paradoxical[0].push_m == pytest.approx(0.130)
    json_clean(loops.to_dict(include_samples=True))


# --- loop shapes --------------------------------------------------------------------------------------------------

# Frontal (x, z) shapes in mm, in insertion order (anal verge first). The alpha shape climbs from the rectum,
# loops counterclockwise (seen from the front) and crosses its own ascending limb at (20, 120) mm, then the tip
# runs up the descending colon (x = 100 mm). Turning along the loop: 90 + 90 + 108.43 + 71.57 = 360 degrees.
ALPHA_XZ_MM = [(0, 0), (0, 100), (60, 160), (0, 220), (-60, 160), (60, 100), (100, 150), (100, 250)]
STRAIGHT_XZ_MM = [(0, z) for z in np.linspace(0, 250, 8)]
# N shape: up the sigmoid to an apex at (30, 250), down to (60, 120), then up the descending colon to the tip
# (100, 300). No crossing. From the rectosigmoid (150 mm of shaft above the verge) to the tip, arc / chord > 2
# (> 1.6) and the apex lies ~40 mm above the chord.
N_XZ_MM = [(0, 0), (0, 100), (30, 250), (60, 120), (90, 150), (100, 300)]


def coils_from_xz(xz_mm, n_coils):
    """(n_coils, 3) coils tip first, y = 0, from frontal (x, z) mm points in insertion order; missing proximal
    coils are NaN (no reading), as in a ragged CCD row."""
    xz = np.asarray(xz_mm, dtype=float)[::-1] * MM
    coils = np.full((n_coils, 3), np.nan)
    coils[: len(xz)] = np.stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]], axis=1)
    return coils


def shape_samples(shapes, events=()):
    n_coils = max(len(s) for s in shapes)
    coils = np.stack([coils_from_xz(s, n_coils) for s in shapes])
    t = np.arange(float(len(shapes)))
    return ScoreSamples(t, coils[:, 0], coils, None, list(events), anal_verge_m=np.zeros(3))


def test_alpha_loop_detected_with_start_end_and_handedness():
    # Straight at 0-2 s, alpha at 3-6 s, straight again at 7-9 s; the left flexure is reached later (9.5 s).
    shapes = [STRAIGHT_XZ_MM] * 3 + [ALPHA_XZ_MM] * 4 + [STRAIGHT_XZ_MM] * 3
    samples = shape_samples(shapes, [(9.5, EventLabel.FLEXURE_LEFT)])
    loops = analyse_loops(samples, np.full(samples.n_samples, 0.2))
    assert loops.crossings.tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert len(loops.episodes) == 1
    episode = loops.episodes[0]
    # Start = first looped sample (3 s); end = first sample without the loop (7 s).
    assert (episode.loop_type, episode.start_s, episode.end_s) == ("alpha", 3.0, 7.0)
    assert episode.handedness == "counterclockwise"
    assert loops.turning_deg[3] == pytest.approx(360.0)
    assert loops.looping_time_s() == pytest.approx(4.0)

    # The mirror image (x -> -x) turns the other way.
    mirrored = [[(-x, z) for x, z in s] for s in shapes]
    assert analyse_loops(shape_samples(mirrored), np.full(10, 0.2)).episodes[0].handedness == "clockwise"
    # The same crossing once the tip is past the left flexure is not a sigmoid alpha loop.
    late = analyse_loops(shape_samples(shapes, [(0.5, EventLabel.FLEXURE_LEFT)]), np.full(10, 0.2))
    assert late.episodes[0].loop_type == "crossing"


def test_n_loop_without_crossing_is_classified_n():
    samples = shape_samples([STRAIGHT_XZ_MM, N_XZ_MM, N_XZ_MM, STRAIGHT_XZ_MM])
    loops = analyse_loops(samples, np.full(4, 0.2))
    assert loops.crossings.tolist() == [0, 0, 0, 0]
    assert loops.shape == ["none", "n_loop", "n_loop", "none"]
    assert [(e.loop_type, e.start_s, e.end_s) for e in loops.episodes] == [("n_loop", 1.0, 3.0)]
    # A stricter arc/chord threshold (3 > the shape's ~2.1) no longer calls it an N-loop.
    strict = analyse_loops(samples, np.full(4, 0.2), LoopConfig(n_loop_arc_chord_min=3.0))
    assert strict.episodes == []


def test_transverse_sag_past_the_left_flexure():
    # Flexure markers = tip at the events: Fleksur L at 1 s at (100, 400) mm, Fleksur R at 3 s at (-100, 400) mm.
    # At 2 s the tip (-50, 260) is 0.2 m of colon past the left flexure (s = 0.6 vs 0.4 m); the last 0.2 m of
    # shaft behind it reaches down to z = 260 mm: 400 - 260 = 140 mm below both markers (> 80 mm) -> transverse.
    # At 3-4 s the tip (-100, 400) is 0.2 m past the flexure (s = 0.6 m) and the last 0.2 m of shaft runs level at
    # z = 400 mm: no sag.
    up = [(0, 0), (100, 300), (100, 400)]
    shapes = [
        [(0, 0), (100, 300)],
        up,
        [*up, (0, 260), (-50, 260)],
        [*up, (-100, 400)],
        [*up, (-100, 400)],
    ]
    events = [(1.0, EventLabel.FLEXURE_LEFT), (3.0, EventLabel.FLEXURE_RIGHT)]
    loops = analyse_loops(shape_samples(shapes, events), np.array([0.3, 0.4, 0.6, 0.6, 0.6]))
    assert loops.shape == ["none", "none", "transverse", "none", "none"]
    assert [(e.loop_type, e.start_s, e.end_s) for e in loops.episodes] == [("transverse", 2.0, 3.0)]


# --- withdrawal ---------------------------------------------------------------------------------------------------


def withdrawal_samples(extra_events=()):
    # Insertion 0-30 s along x to 300 mm (10 mm/s), Cecum at 30 s. Withdrawal keyframes (x, y) mm at 10 mm/s:
    #   30 s (300, 0) -> 40 s (200, 0) -> 42 s (220, 0) -> 45 s (220, 30) -> 48 s (220, 0) -> 70 s (0, 0).
    key_t = [0, 30, 40, 42, 45, 48, 70]
    key_xy_mm = [(0, 0), (300, 0), (200, 0), (220, 0), (220, 30), (220, 0), (0, 0)]
    t = np.arange(0.0, 70.5, 1.0)
    xy = piecewise(key_t, key_xy_mm, t) * MM
    tip = np.stack([xy[:, 0], xy[:, 1], 0 * t], axis=1)
    events = [(30.0, EventLabel.CECUM), (70.0, EventLabel.ENDOSCOPY_ENDED), *extra_events]
    return ScoreSamples(t, tip, tip[:, None, :], events=events)


def test_withdrawal_measures_by_hand():
    samples = withdrawal_samples()
    reference = reference_from_centreline(np.array([[0, 0, 0], [0.3, 0, 0]]))
    s = progress_along(reference, samples.tip_m)
    result = score_retraction(samples, s)
    # RD = backward moves along s: (300 -> 200) + (220 -> 0) = 100 + 220 = 320 mm; net = 300 - 0 = 300 mm.
    assert result.retraction_distance_m == pytest.approx(0.320)
    assert result.net_retraction_m == pytest.approx(0.300)
    # TR = all tip travel: 100 + 20 + 30 (sideways) + 30 (back) + 220 = 400 mm; RE = 300 / 400 = 0.75.
    assert result.tip_retraction_m == pytest.approx(0.400)
    assert result.retraction_efficiency == pytest.approx(0.75)
    # WT = 70 - 30 = 40 s; TR per minute = 0.4 m / (40/60 min) = 0.6 m/min.
    assert result.withdrawal_time_s == pytest.approx(40.0)
    assert result.tip_retraction_per_min_m == pytest.approx(0.6)
    assert result.net_withdrawal_time_s == pytest.approx(40.0)
    assert result.retraction_composite is None  # no cohort: no composite
    # Composite from a cohort given as data: 0.5 * (0.32 - 0.3)/0.1 + (-0.5) * (0.75 - 0.5)/0.25 = 0.1 - 0.5.
    cohort = ReferenceCohort.from_dict(
        {
            "name": "hand-made",
            "measures": {
                "retraction_distance_m": {"mean": 0.3, "sd": 0.1, "loading": 0.5},
                "retraction_efficiency": {"mean": 0.5, "sd": 0.25, "loading": -0.5},
            },
        }
    )
    assert score_retraction(samples, s, cohort=cohort).retraction_composite == pytest.approx(-0.4)
    json_clean(result.to_dict())



def test_cohort_fit_by_hand():
    # Measure a over three procedures: 1, 2, 3 (mean 2, sd 1); b: 10, 10, 16 (mean 12, sd sqrt((4 + 4 + 16) / 2)
    # = sqrt(12)). z-scores: a -1, 0, 1; b -1/sqrt(3), -1/sqrt(3), 2/sqrt(3).
    rows = [{"a": 1.0, "b": 10.0}, {"a": 2.0, "b": 10.0}, {"a": 3.0, "b": 16.0}]
    mean = fit_cohort("hand", rows, {"a": 1.0, "b": -1.0}, "mean")
    assert mean.measures["a"] == MeasureReference(2.0, 1.0, 0.5)
    assert mean.measures["b"].mean == pytest.approx(12.0)
    assert mean.measures["b"].sd == pytest.approx(math.sqrt(12.0))
    assert mean.measures["b"].loading == -0.5
    # Third procedure: 0.5 * 1 - 0.5 * 2 / sqrt(3).
    assert cohort_composite(rows[2], mean) == pytest.approx(0.5 - 1.0 / math.sqrt(3.0))
    # PC1 of two standardised measures with a positive correlation (here 3 / sqrt(12) = 0.87) is (1, 1) / sqrt(2),
    # oriented to agree with the orientation: composite of the third procedure (1 + 2 / sqrt(3)) / sqrt(2).
    pc1 = fit_cohort("hand", rows, {"a": 1.0, "b": 1.0}, "pc1")
    assert [pc1.measures[m].loading for m in "ab"] == pytest.approx([1 / math.sqrt(2.0)] * 2)
    assert cohort_composite(rows[2], pc1) == pytest.approx((1.0 + 2.0 / math.sqrt(3.0)) / math.sqrt(2.0))
    flipped = fit_cohort("hand", rows, {"a": -1.0, "b": -1.0}, "pc1")
    assert [flipped.measures[m].loading for m in "ab"] == pytest.approx([-1 / math.sqrt(2.0)] * 2)
    # The cohort's own procedures average to 0 (z-scores against their own mean).
    assert np.mean([cohort_composite(r, pc1) for r in rows]) == pytest.approx(0.0, abs=1e-12)


def test_cohort_errors_name_the_procedure_measure_file_and_section(tmp_path):
    with pytest.raises(ValueError, match=r"seed 7 has no value for b"):
        fit_cohort("c", [{"a": 1.0, "b": 2.0}, {"a": 2.0, "b": None}], {"a": 1, "b": 1}, labels=["seed 6", "seed 7"])
    with pytest.raises(ValueError, match=r"b is 2 in every procedure; it has no spread"):
        fit_cohort("c", [{"a": 1.0, "b": 2.0}, {"a": 2.0, "b": 2.0}], {"a": 1, "b": 1})
    with pytest.raises(ValueError, match="at least two procedures"):
        fit_cohort("c", [{"a": 1.0}], {"a": 1})
    bad = tmp_path / "cohort.json"
    bad.write_text('{"retraction": {"name": "x",\n "measures": {"retraction_efficiency": {"mean": 1}}}}')
    with pytest.raises(ValueError, match=r"cohort.json: section 'retraction': expected"):
        load_cohorts(bad)
    bad.write_text('{"progression": {}}\n}')
    with pytest.raises(ValueError, match=r"cohort.json: not JSON \(line 2"):
        load_cohorts(bad)
    bad.write_text('{"retractoin": {}}')
    with pytest.raises(ValueError, match=r"unknown section\(s\) retractoin"):
        load_cohorts(bad)


def test_the_shipped_expert_cohort_is_the_statistics_of_the_procedures_it_lists():
    # assets/cohorts/colosim_expert.json keeps the measures of every procedure it was fitted on
    # (scripts/make_expert_cohort.py): refitting them gives the file's figures, and it was not fitted on the seeds
    # tests/test_expert_vs_poor.py scores against it.
    path = expert_cohort_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    cohorts = load_cohorts(path)
    procedures = data["about"]["procedures"]
    assert len(procedures) >= 5
    assert not {p["seed"] for p in procedures} & {0, 1, 2}
    for section, orientation, method in (("progression", PROGRESSION_ORIENTATION, "mean"),
                                         ("retraction", RETRACTION_ORIENTATION, "pc1")):
        refit = fit_cohort(cohorts[section].name, [p[section] for p in procedures], orientation, method)
        assert set(cohorts[section].measures) == set(orientation)
        for name, ref in cohorts[section].measures.items():
            assert (ref.mean, ref.sd, ref.loading) == pytest.approx(
                (refit.measures[name].mean, refit.measures[name].sd, refit.measures[name].loading), rel=1e-9)

def test_net_withdrawal_time_excludes_intervention_windows():
    # Polyp at 50 s and Biopsy at 58 s with ±5 s windows: [45, 55] ∪ [53, 63] = [45, 63] -> 18 s excluded;
    # net WT = 40 - 18 = 22 s. A Flush at 80 s lies outside the withdrawal ([30, 70]) and changes nothing.
    samples = withdrawal_samples([(50.0, EventLabel.POLYP), (58.0, EventLabel.BIOPSY)])
    reference = reference_from_centreline(np.array([[0, 0, 0], [0.3, 0, 0]]))
    s = progress_along(reference, samples.tip_m)
    config = RetractionConfig(exclude_before_s=5.0, exclude_after_s=5.0)
    result = score_retraction(samples, s, config)
    assert result.excluded_intervals_s == [(45.0, 63.0)]
    assert result.net_withdrawal_time_s == pytest.approx(22.0)
    # Default windows (±60 s) cover the whole withdrawal: net WT = 0.
    assert score_retraction(samples, s).net_withdrawal_time_s == pytest.approx(0.0)


# --- coordinate logs ----------------------------------------------------------------------------------------------


def test_samples_from_log_round_trip(tmp_path):
    source = straight_insertion(t_end_s=100.0)
    with CoordinateLogWriter(tmp_path / "case", source.n_coils) as writer:
        for t, coils in zip(source.t_s, source.coils_m):
            writer.append(t, coils)
        writer.event(40.0, EventLabel.FLEXURE_LEFT)
        writer.event(100.0, EventLabel.CECUM)
    samples = samples_from_log(read_coordinate_log(tmp_path / "case"))

    np.testing.assert_allclose(samples.t_s, source.t_s, atol=1e-9)
    # Coordinates are written in mm with 2 decimals: within 0.005 mm.
    np.testing.assert_allclose(samples.coils_m, source.coils_m, atol=5e-6 + 1e-12)
    np.testing.assert_allclose(samples.tip_m, source.tip_m, atol=5e-6 + 1e-12)
    # No verge given: the tip at the first sample (the origin) stands in for it, so ℓ = v t again.
    np.testing.assert_allclose(samples.anal_verge_m, np.zeros(3), atol=1e-12)
    np.testing.assert_allclose(samples.inserted_length_m, SPEED_M_S * source.t_s, atol=2e-5)
    labels = [label for _, label in samples.events]
    assert labels == [
        EventLabel.RECORDING_STARTED, EventLabel.FLEXURE_LEFT, EventLabel.CECUM, EventLabel.RECORDING_ENDED
    ]
    assert samples.cecum_time_s() == pytest.approx(100.0)

    report = score_samples(samples, progression_config=ProgressionConfig(t_ref_s=200.0))
    assert report.progression.progression_score == pytest.approx(75.0, abs=0.01)
    assert report.progression.chase_efficiency == pytest.approx(1.0, abs=1e-3)
    assert build_reference_path(samples).length_m == pytest.approx(LENGTH_M, abs=1e-4)
    json_clean(report.to_dict())


def test_reference_fallback_is_the_withdrawal_path():
    # One coil only (no shape at the cecum): the reference is the withdrawal tip path reversed, here the straight
    # pull-out from 0.5 m to 0 along z -> length 0.5 m (smoothing keeps a straight path straight).
    full = straight_insertion(withdraw_speed_m_s=0.01)  # withdrawal 100-150 s: 0.5 -> 0.0 m
    samples = ScoreSamples(full.t_s, full.tip_m, full.tip_m[:, None, :], events=full.events)
    reference = build_reference_path(samples)
    assert reference.source == "withdrawal_tip_path"
    assert reference.length_m == pytest.approx(0.5, abs=1e-6)
    assert math.isclose(reference.points_m[0, 2], 0.0, abs_tol=1e-6)


# --- safety (metrics.md §5.4) ----------------------------------------------------------------------------------------


def force_samples():
    """10 s at 10 Hz, tip still at the origin. Wall force 2 N except 6 N at 2.0-2.3 s and 8 N at 5.0-5.9 s; tether
    force 1 N except 5 N at 7.0-7.9 s."""
    from sim.scoring import ScoreSamples

    t = np.round(np.arange(100) * 0.1, 10)
    tip = np.where((t >= 2.0) & (t < 2.35), 6.0, np.where((t >= 5.0) & (t < 5.95), 8.0, 2.0))
    tether = np.where((t >= 7.0) & (t < 7.95), 5.0, 1.0)
    zeros = np.zeros((t.size, 3))
    return ScoreSamples(t_s=t, tip_m=zeros, coils_m=zeros[:, None, :], tip_force_N=tip, shaft_force_N=np.ones_like(t),
                        tether_force_N=tether, handle_force_N=-3.0 * np.ones_like(t))


def test_safety_scores_by_hand():
    from sim.scoring import score_safety

    result = score_safety(force_samples())
    assert result.max_wall_force_N == 8.0 and result.max_tip_force_N == 8.0 and result.max_shaft_force_N == 1.0
    assert result.max_tether_force_N == 5.0 and result.max_handle_force_N == 3.0
    # The 6 N run holds from 2.0 s to the next sample after it, 2.4 s: 0.4 s < 0.5 s, not an episode. The 8 N run:
    # 5.0 -> 6.0 s, 1.0 s.
    assert [(e.start_s, e.end_s, e.peak) for e in result.excessive_pressure_episodes] == [
        (pytest.approx(5.0), pytest.approx(6.0), 8.0)]
    # pain_index = (F - 5 N) / 5 N + (T - 2 N) / 2 N: 0.2 for 0.4 s, 0.6 for 1.0 s, 1.5 for 1.0 s.
    # Integral = 0.08 + 0.6 + 1.5 = 2.18 s; in pain (>= 1) only during the tether run: 1.0 s of 9.9 s = 10.10 %.
    assert result.pain_index_terms == ["wall_force", "tether_force"]
    assert result.max_pain_index == pytest.approx(1.5)
    assert result.pain_index_integral_s == pytest.approx(2.18)
    assert result.percent_time_in_pain == pytest.approx(100 * 1.0 / 9.9)
    json_clean(result.to_dict())


def test_pain_index_loop_term_and_missing_inputs():
    from sim.scoring.safety import SafetyConfig, pain_index

    # Excess 150 mm: (150 - 50) / 50 = 2; 40 mm: below the 50 mm threshold, 0; NaN (unknown): 0.
    index, used = pain_index(np.array([0.15, 0.04, np.nan]), None, None, SafetyConfig())
    np.testing.assert_allclose(index, [2.0, 0.0, 0.0])
    assert used == ["loop_excess"]
    assert pain_index(None, None, None, SafetyConfig()) == (None, [])


def test_score_report_carries_safety_without_forces():
    samples = straight_insertion()
    report = score_samples(samples)
    payload = report.to_dict()
    json_clean(payload)
    assert payload["safety"]["max_wall_force_N"] is None
    assert payload["safety"]["pain_index_terms"] == ["loop_excess"]
    assert payload["coverage"] is None
    assert report.s_m.shape == samples.t_s.shape
