"""`colosim score`: batch scoring of recorded procedures into JSON, CSV and pictures, serial and in parallel."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.logs import CoordinateLog, LogEvent, write_coordinate_log
from sim.scoring.batch import (
    COVERAGE_FILE,
    FORCES_FILE,
    BatchOptions,
    case_names,
    find_cases,
    score_folders,
)
from sim.scoring.cohort import expert_cohort_path, load_cohorts
from sim.scoring.coverage import CoverageAccumulator, CoverageConfig, CoverageGrid

PATH_LENGTH_M = 0.6
COIL_SPACING_M = 0.1
N_COILS = 5


def path_point(s_m):
    """A bent colon-like route in the frontal plane: 0.2 m straight up, then a half circle of radius 0.1 m,
    then straight down (s in m, s < 0 continues the first leg below the anus). Returns (..., 3)."""
    s = np.asarray(s_m, dtype=float)
    arc = np.clip(s - 0.2, 0.0, math.pi * 0.1)
    angle = arc / 0.1
    x = np.where(s < 0.2, 0.0, 0.1 - 0.1 * np.cos(angle))
    z = np.where(s < 0.2, s, 0.2 + 0.1 * np.sin(angle))
    after = np.clip(s - 0.2 - math.pi * 0.1, 0.0, None)
    z = z - after
    return np.stack([x, np.zeros_like(x), z], axis=-1)


def make_case(folder, duration_s=60.0, rate_hz=10.0, cecum=True):
    """Tip in along the route at constant speed to s = 0.6 m at half time, then out again; coils every 0.1 m."""
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    half = duration_s / 2
    s_tip = np.where(t < half, PATH_LENGTH_M * t / half, PATH_LENGTH_M * (1 - (t - half) / half))
    coils = path_point(s_tip[:, None] - COIL_SPACING_M * np.arange(N_COILS)[None, :])
    events = [LogEvent(0.0, "Endoscopy started", 0)]
    if cecum:
        events.append(LogEvent(half, "Cecum", int(half * rate_hz)))
    log = CoordinateLog(t_s=t, coils_m=coils, events=events)
    return write_coordinate_log(folder, log), t


def coverage_file(path):
    """A small coverage result (a straight tube looked along for 1 s) saved where a session would put it."""
    z = np.arange(0.0, 0.4001, 0.005)
    theta = 2 * np.pi * np.arange(16) / 16
    pos = np.stack([np.tile(0.02 * np.cos(theta), z.size), np.tile(0.02 * np.sin(theta), z.size),
                    np.repeat(z, 16)], axis=1)
    grid = CoverageGrid(z.size, 16, z, np.zeros(z.size, dtype=np.int64), ("rectum",), pos)
    acc = CoverageAccumulator(grid, CoverageConfig())
    for t in np.arange(10) * 0.1:
        acc.update(t, [0, 0, 0.1], [0, 0, 1], [0, 1, 0], pos)
    acc.result().save(path)
    return acc


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("procedures")
    good, t = make_case(root / "good")
    sim_case, _ = make_case(root / "simulated")
    # Wall force 6 N (> the 5 N excessive-pressure threshold) from 10.0 s to 10.9 s and 2 N elsewhere.
    force = np.where((t >= 10.0) & (t < 10.95), 6.0, 2.0)
    np.savez(sim_case / FORCES_FILE, t_s=t, tip_force_N=force, shaft_force_N=np.ones_like(t))
    acc = coverage_file(sim_case / COVERAGE_FILE)
    broken, _ = make_case(root / "broken")
    text = (broken / "T.txt").read_text().splitlines(keepends=True)
    text[4] = text[2]  # line 5 repeats line 3's time
    (broken / "T.txt").write_text("".join(text))
    return root, acc


def test_batch_writes_json_csv_and_pictures(cases, tmp_path):
    root, acc = cases
    folders = find_cases([root])
    assert [f.name for f in folders] == ["broken", "good", "simulated"]
    result = score_folders(folders, tmp_path / "out", workers=1, options=BatchOptions(dpi=40), progress=False)
    assert result.n_failed == 1
    broken = result.outcomes[0]
    assert "T.txt, line 5" in broken.error and "strictly increasing" in broken.error

    good = json.loads((tmp_path / "out" / "good" / "scores.json").read_text())
    assert good["error"] is None and good["case"] == "good"
    scores = good["scores"]
    # The tip reaches s = 0.6 m at the cecum (30 s): the reference is the scope shape then, the coil polyline
    # (coils at s = 0.6 ... 0.2 m, chords across the bend) plus the straight 0.2 m from the last coil to the anal
    # verge (the tip's start point). Progress grows about linearly to the cecum and counts as 1 from then on to
    # T_ref = 1200 s: 100 (30 s / 2 + 1170 s) / 1200 s = 98.75 points (0.1 for the chords' uneven spacing).
    chords = np.linalg.norm(np.diff(path_point([0.6, 0.5, 0.4, 0.3, 0.2, 0.0]), axis=0), axis=1).sum()
    assert scores["reference_path"]["length_m"] == pytest.approx(chords, abs=0.002)  # resampled every 5 mm
    assert scores["insertion"]["cecal_intubation_time_s"] == pytest.approx(30.0)
    assert scores["insertion"]["progression_score"] == pytest.approx(100 * (15.0 + 1170.0) / 1200, abs=0.1)
    assert scores["coverage"] is None  # no anatomy
    assert scores["safety"]["max_wall_force_N"] is None and scores["safety"]["pain_index_terms"] == ["loop_excess"]
    for picture in ("tip_path.png", "progression.png", "loops.png"):
        data = (tmp_path / "out" / "good" / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert not (tmp_path / "out" / "good" / "coverage_map.png").exists()

    simulated = json.loads((tmp_path / "out" / "simulated" / "scores.json").read_text())["scores"]
    safety = simulated["safety"]
    assert safety["max_wall_force_N"] == 6.0 and safety["max_tip_force_N"] == 6.0
    # 6 N from the sample at 10.0 s through 10.9 s; the run ends at the next sample, 11.0 s: 1 s >= 0.5 s.
    assert safety["excessive_pressure_episodes"] == [{"start_s": pytest.approx(10.0), "end_s": pytest.approx(11.0),
                                                      "peak": 6.0}]
    assert simulated["coverage"]["overall"]["seen_fraction"] == pytest.approx(acc.seen_fraction())
    assert (tmp_path / "out" / "simulated" / "coverage_map.png").stat().st_size > 2000

    with open(result.csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["case"] for r in rows] == ["broken", "good", "simulated"]
    assert "line 5" in rows[0]["error"] and rows[1]["error"] == ""
    assert float(rows[1]["insertion.progression_score"]) == pytest.approx(scores["insertion"]["progression_score"])
    assert rows[1]["coverage.overall.seen_fraction"] == ""
    assert float(rows[2]["coverage.overall.seen_fraction"]) == pytest.approx(acc.seen_fraction())
    assert rows[2]["safety.n_excessive_pressure_episodes"] == "1"


def test_cli_score_in_parallel_matches_serial(cases, tmp_path):
    root, _ = cases
    folders = [root / "good", root / "simulated"]
    serial = tmp_path / "serial"
    expert = load_cohorts(expert_cohort_path())  # what the command line scores composites against by default
    score_folders(folders, serial, workers=1, options=BatchOptions(pictures=False, cohorts=expert), progress=False)
    runner = CliRunner()
    out = tmp_path / "parallel"
    result = runner.invoke(main, ["score", str(folders[0]), str(folders[1]), "--out", str(out), "-j", "2",
                                  "--no-pictures"])
    assert result.exit_code == 0, result.output
    assert "scored 2 of 2 procedures" in result.output
    for name in ("good", "simulated"):
        assert json.loads((out / name / "scores.json").read_text()) == json.loads(
            (serial / name / "scores.json").read_text())
    assert (out / "scores.csv").read_text() == (serial / "scores.csv").read_text()
    assert not list(out.rglob("*.png"))
    # The good case reaches the cecum: both composites are scored, against the named cohort.
    good = json.loads((out / "good" / "scores.json").read_text())["scores"]
    for section, key in (("insertion", "progression_composite"), ("withdrawal", "retraction_composite")):
        assert isinstance(good[section][key], float) and good[section]["cohort"] == expert[
            "progression" if section == "insertion" else "retraction"].name, key


def test_cli_score_cohort_options(cases, tmp_path):
    root, _ = cases
    case = str(root / "good")
    result = CliRunner().invoke(main, ["score", case, "--out", str(tmp_path / "none"), "--no-pictures", "-j", "1",
                                       "--no-cohort"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "none" / "good" / "scores.json").read_text())["scores"]
    assert scores["withdrawal"]["retraction_composite"] is None and scores["withdrawal"]["cohort"] is None
    bad = tmp_path / "cohort.json"
    bad.write_text('{"withdrawal": {}}')
    result = CliRunner().invoke(main, ["score", case, "--out", str(tmp_path / "bad"), "--cohort", str(bad)])
    assert result.exit_code != 0
    assert "cohort.json: unknown section(s) withdrawal; expected progression, retraction" in result.output


def test_cli_score_reports_bad_cases_and_fails(cases, tmp_path):
    root, _ = cases
    result = CliRunner().invoke(main, ["score", str(root / "broken"), "--out", str(tmp_path / "o"), "-j", "1",
                                       "--no-pictures"])
    assert result.exit_code == 1
    assert "error: broken:" in result.output and "T.txt, line 5" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["score", str(empty)])
    assert result.exit_code != 0 and "no procedure folder in it (none holds T.txt)" in result.output


def test_a_case_without_cecum_is_scored_from_its_withdrawal_or_reported(tmp_path):
    folder, _ = make_case(tmp_path / "nocecum", cecum=False)
    result = score_folders([folder], tmp_path / "out", workers=1, options=BatchOptions(pictures=False),
                           progress=False)
    error = result.outcomes[0].error
    assert error is not None and "Cecum" in error


def test_case_names_are_unique():
    from pathlib import Path

    names = case_names([Path("a/x/case"), Path("b/x/case"), Path("c/other")])
    assert names == ["a__x__case", "b__x__case", "c__other"]


# --- live scoring agrees with the batch path -------------------------------------------------------------------------

DT_S = 1.0 / 240.0
INSERT_STEPS = 200  # 0.83 s at 0.1 m/s: about 83 mm in
WITHDRAW_STEPS = 100


@pytest.fixture(scope="module")
def live_session(tmp_path_factory):
    """A short scripted session: insert, mark ``Cecum``, withdraw while turning the up/down wheel. A coordinate log
    is written at the scorer's samples, as a session does, with the scorer's sidecars beside it."""
    from physics.world import initial_world_state, step_world, world_outputs
    from sim.controls import HandState, ScopeControls
    from sim.logs import CoordinateLogWriter
    from sim.scene import build_scene
    from sim.scoring.live import LiveScorer

    scene = build_scene(seed=0)
    state = initial_world_state(scene.world, insertion_depth_m=0.0)
    hand = HandState()
    live = LiveScorer(scene, as_recording=True)
    folder = tmp_path_factory.mktemp("session") / "case"
    hud = []
    with CoordinateLogWriter(folder, len(scene.rod.coil_arc_from_tip_m)) as writer:
        writer.event(0.0, "Endoscopy started")
        live.event(0.0, "Endoscopy started")
        for k in range(INSERT_STEPS + WITHDRAW_STEPS):
            inserting = k < INSERT_STEPS
            controls = ScopeControls(insertion_velocity_m_s=0.1 if inserting else -0.05,
                                     wheel_up_down_rate_rad_s=0.0 if inserting else 1.0)
            step_world(scene.world, state, hand.apply(controls, DT_S, scene.rod), DT_S)
            outputs = world_outputs(scene.world, state)
            before = live.n_samples
            live.update(state.time_s, outputs, state)
            if live.n_samples > before:
                writer.append(state.time_s, outputs.rod.coil_positions_m)
            if k == INSERT_STEPS - 1:
                writer.event(state.time_s, "Cecum")
                live.event(state.time_s, "Cecum")
            if k % 50 == 0:
                hud.append(live.hud_lines())
    live.save(folder)
    return scene, live, folder, hud


def test_live_scorer_report_agrees_with_colosim_score_of_its_recording(live_session, tmp_path):
    from sim.scoring.batch import score_case

    scene, live, folder, _ = live_session
    live_scores = live.report().to_dict()
    outcome = score_case(folder, tmp_path / "case", "case", BatchOptions(pictures=False, cohorts=live.cohorts))
    assert outcome.error is None, outcome.error
    batch_scores = json.loads((tmp_path / "case" / "scores.json").read_text())["scores"]
    # Coverage goes through coverage.npz unchanged.
    assert batch_scores["coverage"] == live_scores["coverage"]
    # Forces go through forces.npz and are interpolated at the log's times, which T.txt keeps to 1 µs (forces
    # change by well under 1e-4 of themselves in 1 µs).
    for key in ("max_wall_force_N", "max_tip_force_N", "max_tether_force_N", "max_handle_force_N",
                "percent_time_in_pain"):
        assert batch_scores["safety"][key] == pytest.approx(live_scores["safety"][key], rel=1e-4, abs=1e-9), key
    # Times: the log keeps them to 1 µs.
    cit_live = live_scores["insertion"]["cecal_intubation_time_s"]
    assert batch_scores["insertion"]["cecal_intubation_time_s"] == pytest.approx(cit_live, abs=2e-6)
    assert cit_live == pytest.approx(INSERT_STEPS * DT_S, abs=1e-9)
    # Geometry: the same rules on coil positions the log rounds to 0.01 mm.
    assert batch_scores["reference_path"]["length_m"] == pytest.approx(live_scores["reference_path"]["length_m"],
                                                                        abs=1e-4)
    assert batch_scores["insertion"]["progression_score"] == pytest.approx(
        live_scores["insertion"]["progression_score"], abs=0.01)
    assert batch_scores["insertion"]["travel_length_m"] == pytest.approx(
        live_scores["insertion"]["travel_length_m"], abs=1e-4)
    # The composites, against the same (shipped expert) cohort.
    for section, key in (("insertion", "progression_composite"), ("withdrawal", "retraction_composite")):
        assert live_scores[section][key] is not None, key
        assert batch_scores[section][key] == pytest.approx(live_scores[section][key], rel=1e-3, abs=1e-3), key


def test_live_scorer_runs_coverage_at_10_hz_and_fills_the_hud(live_session):
    scene, live, _, hud = live_session
    duration = (INSERT_STEPS + WITHDRAW_STEPS) * DT_S  # 1.25 s
    # One coverage update at the first step, then one every 0.1 s: steps at 0.1 s multiples (24 steps apart).
    assert live.coverage.n_updates == math.floor((duration - DT_S) / 0.1 + 1e-9) + 1
    # One score sample per 1/60 s: every 4th step.
    assert live.n_samples == (INSERT_STEPS + WITHDRAW_STEPS) // 4
    report = live.report()
    seen = report.coverage.fraction(report.coverage.seen_mask())
    assert 0.0 < seen < 0.5
    # The last HUD lines show the figures the report has at that step.
    lines = hud[-1]
    assert set(lines) == {"time", "progress", "coverage", "loop", "force"}
    assert "withdrawal" in lines["time"] and "insertion" in hud[0]["time"]
    final = live.hud_lines()
    assert f"seen {100 * seen:5.1f} %" in final["coverage"]
    assert f"max wall {report.safety.max_wall_force_N:4.1f} N" in final["force"]
    # Coverage saw the withdrawal phase too (the camera moved back over wall it had passed).
    assert report.coverage.to_dict()["withdrawal"]["seen_fraction"] > 0.0
