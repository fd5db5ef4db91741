"""The session loop and its recording: exact replay from the controls log, the coordinate logs against the coils
the session saw, crash tolerance, input errors, and `colosim run --headless` / `colosim replay --exact` end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sim.drivers.scripted import ScriptConfig, ScriptedDriver
from sim.logs.coordinate_log import read_coordinate_log
from sim.scene import build_scene
from sim.session.loop import DrivenSession, Session
from sim.session.recording import (CONTROLS_FILE, SESSION_FILE, SESSION_LOG_FILE, SessionInfo, SessionRecorder,
                                   read_controls_log, state_digest)
from sim.session.replay import replay_exact

STEPS = 300  # 1.25 s at 1/240 s: past one flush of every log
ROOT = Path(__file__).resolve().parents[1]
COLOSIM = [sys.executable, "-m", "sim.cli"]


@pytest.fixture(scope="module")
def scene():
    return build_scene(seed=0)


def _record(scene, folder: Path, steps: int, close: bool = True):
    """Drive `steps` steps with the scripted driver (wheels steering, 5 cm/s), recording into `folder`.
    Returns (session, coils seen at the sample steps (n, K, 3), their times (n,))."""
    info = SessionInfo(colon={"procedural_seed": 0}, driver="scripted")
    recorder = SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m))
    session = Session(scene, recorder=recorder, initial_depth_m=0.05)
    info.initial_depth_m = 0.05
    recorder._write_info()
    driven = DrivenSession(session, ScriptedDriver(scene, ScriptConfig(insertion_s=0.8)))
    coils, times = [], []
    for _ in range(steps):
        driven.step()
        if (session.steps - 1) % session.coil_sample_steps == 0:
            coils.append(session.outputs.rod.coil_positions_m.copy())
            times.append(session.time_s)
    if close:
        session.close()
    return session, np.array(coils), np.array(times)


@pytest.fixture(scope="module")
def recorded(scene, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec") / "session"
    session, coils, times = _record(scene, folder, STEPS)
    return folder, session, coils, times


def test_exact_replay_ends_in_the_same_state(scene, recorded):
    folder, session, _, _ = recorded
    result = replay_exact(folder, scene=scene)
    assert result.steps == STEPS
    assert result.identical
    a, b = session.state, result.session.state
    assert np.array_equal(a.rod.position_m, b.rod.position_m)
    assert np.array_equal(a.colon.position_m, b.colon.position_m)
    assert a.time_s == b.time_s
    # The scope really moved (the replay is not trivially equal): wheels turned, 40 mm in then 9 mm out.
    assert session.outputs.rod.inserted_length_m == pytest.approx(0.05 + 0.8 * 0.05 - 0.45 * 0.02, abs=0.002)
    assert abs(session.hand.wheel_up_down_rad) + abs(session.hand.wheel_left_right_rad) > 0.05


def test_controls_log_has_every_step(recorded):
    folder, _, _, _ = recorded
    controls = read_controls_log(folder)
    assert len(controls) == STEPS
    assert controls[0].insertion_velocity_m_s == pytest.approx(0.05)
    assert controls[-1].insertion_velocity_m_s == pytest.approx(-0.02)  # withdrawal after 0.8 s
    info = json.loads((folder / SESSION_FILE).read_text())
    assert info["final"]["steps"] == STEPS and len(info["final"]["state_sha256"]) == 64


def test_coordinate_logs_parse_back_to_the_coils(recorded):
    folder, session, coils, times = recorded
    log = read_coordinate_log(folder, require_cecum=False)
    assert log.coils_m.shape == coils.shape  # one sample every 4 steps, 12 coils
    assert np.max(np.abs(log.coils_m - coils)) <= 5.001e-6  # mm with 2 decimals
    assert np.allclose(log.t_s, times - times[0], atol=1e-6)
    labels = [e.label for e in log.events]
    assert labels[0] == "Recording started" and labels[-1] == "Recording ended"
    assert "Endoscopy started" in labels
    text = (folder / SESSION_LOG_FILE).read_text().splitlines()
    assert text[0].startswith("0.000;start;")
    assert any(";status;depth" in line for line in text) and text[-1].split(";")[1] == "end"


def test_interrupted_session_leaves_readable_logs(scene, tmp_path):
    folder = tmp_path / "crashed"
    session, coils, times = _record(scene, folder, STEPS, close=False)  # no close: as if the process died
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = read_coordinate_log(folder, require_cecum=False)
            controls = read_controls_log(folder)
        # Flushed once per simulated second: the first second is on disk, at most the last second is lost.
        assert 60 <= log.n_samples < len(coils)
        assert np.max(np.abs(log.coils_m - coils[:log.n_samples])) <= 5.001e-6
        assert 240 <= len(controls) < STEPS
        assert "1.000;status;" in (folder / SESSION_LOG_FILE).read_text()
        # The part on disk replays exactly to the state the session had after those steps.
        partial = Session(scene, initial_depth_m=0.05)
        for c in controls:
            partial.step(c)
        assert partial.steps == len(controls)
    finally:
        rec = session.recorder
        rec._controls.close()
        rec._log.close()
        rec.coords._close_files()


def test_bad_controls_log_names_file_line_and_field(recorded, tmp_path):
    folder, _, _, _ = recorded
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (folder / CONTROLS_FILE).read_text().splitlines()[:5]
    lines[2] = lines[2].replace('"k":2', '"k":2,"throttle":1')
    (bad / CONTROLS_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"controls.jsonl, line 3: unknown control field\(s\) \['throttle'\]"):
        read_controls_log(bad)
    lines[2] = '{"k":7}'
    (bad / CONTROLS_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 3: step 'k' is 7, expected 2"):
        read_controls_log(bad)
    (bad / SESSION_FILE).write_text(json.dumps({"format": "colosim-session", "format_version": 1, "colon": {}}))
    with pytest.raises(ValueError, match=r"session.json: field 'colon' must be"):
        SessionInfo.read(bad)


def test_digest_sees_a_one_ulp_change(recorded):
    _, session, _, _ = recorded
    state = session.state.copy()
    before = state_digest(state)
    state.colon.position_m[10, 1] = np.nextafter(state.colon.position_m[10, 1], 1.0)
    assert state_digest(state) != before


def _cli(args, cwd, timeout):
    env = dict(os.environ, PYGLET_HEADLESS="1", PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)
    return subprocess.run(COLOSIM + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _check_run_outputs(cwd: Path, min_frames: int):
    out = cwd / "out" / "session"
    for name in ("frame_01.png", "endoscope.png", "scope_guide.png", "session.mp4"):
        assert (out / name).stat().st_size > 1000, name
    video = (out / "session.mp4").read_bytes()
    assert video[4:8] == b"ftyp"  # an MP4 container
    folders = list((cwd / "replays").glob("session-*"))
    assert len(folders) == 1
    rec = folders[0]
    for name in ("controls.jsonl", "session.json", "session.log", "X.txt", "Y.txt", "Z.txt", "T.txt",
                 "LogFile_P.txt"):
        assert (rec / name).is_file(), name
    log = read_coordinate_log(rec, require_cecum=False)
    assert log.n_coils == 12 and log.n_samples >= min_frames
    return rec


def test_run_headless_short_then_replay_exact(tmp_path):
    r = _cli(["run", "--headless", "--seconds", "0.5", "--size", "160x120", "--fps", "8", "--no-scores"],
             tmp_path, 600)
    assert r.returncode == 0, r.stderr + r.stdout
    rec = _check_run_outputs(tmp_path, 30)
    r = _cli(["replay", "--exact", str(rec)], tmp_path, 600)
    assert r.returncode == 0, r.stderr
    assert "identical to the recorded final state" in r.stdout
    # Without --exact: the coordinate-log replay (tests/test_replay.py checks what it reproduces).
    r = _cli(["replay", str(rec), "--no-render", "--out", "out/replay"], tmp_path, 600)
    assert r.returncode == 0, r.stderr
    assert "registration: identity" in r.stdout and "tip path error" in r.stdout
    assert (tmp_path / "out" / "replay" / "replay.json").is_file()


@pytest.mark.slow
def test_run_headless_20_seconds_on_a_fresh_checkout(tmp_path):
    """The issue's acceptance run: `colosim run --headless --seconds 20` writes pictures, a video and a
    recording (in an empty working directory, as on a fresh checkout)."""
    r = _cli(["run", "--headless", "--seconds", "20"], tmp_path, 1800)
    assert r.returncode == 0, r.stderr + r.stdout
    rec = _check_run_outputs(tmp_path, 20 * 60 - 1)
    info = json.loads((rec / "session.json").read_text())
    assert info["final"]["steps"] == 4800


def test_reset_is_recorded_and_replayed(scene, tmp_path):
    """A reset (Backspace) mid-session: the clock goes on, the controls log marks it, the replay does it too."""
    folder = tmp_path / "reset"
    info = SessionInfo(colon={"procedural_seed": 0}, driver="scripted")
    session = Session(scene, recorder=SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m)))
    driven = DrivenSession(session, ScriptedDriver(scene))
    for _ in range(40):
        driven.step()
    assert session.outputs.rod.inserted_length_m > 0.005
    session.reset()
    assert session.outputs.rod.inserted_length_m == 0.0 and session.time_s == pytest.approx(40 / 240)
    for _ in range(40):
        driven.step()
    session.close()
    assert '{"reset_before":40}' in (folder / CONTROLS_FILE).read_text().replace(" ", "")
    result = replay_exact(folder, scene=scene)
    assert result.identical and result.steps == 80
    log = read_coordinate_log(folder, require_cecum=False)
    assert log.n_samples == 20 and np.all(np.diff(log.t_s) > 0)


_WINDOW_SCRIPT = """
import sys, time
from pathlib import Path
from sim.render.context import load_pyglet
pyglet = load_pyglet(headless=False)
from pyglet.window import key
from sim.session.app import session_scene
from sim.session.window import run_window
scene, info = session_scene(0)
# Load the physics kernels before the window opens: the plan below runs on the wall clock, and on a loaded machine
# the physics thread's first step (kernel loading) came after the W key's 2 s (no push recorded).
from physics.world import initial_world_state, step_world
from sim.controls import HandState, ScopeControls
warm = initial_world_state(scene.world)
step_world(scene.world, warm, HandState().apply(ScopeControls(), info.dt_s, scene.rod), info.dt_s)
plan = [(0.5, "on_key_press", key.W), (2.5, "on_key_release", key.W), (2.6, "on_key_press", key.C),
        (2.7, "on_key_press", key.F1), (3.5, "on_key_press", key.ESCAPE)]
start = []
def tick(dt):
    if not start:
        start.append(time.time())
    win = list(pyglet.app.windows)[0]
    while plan and plan[0][0] <= time.time() - start[0]:
        _, name, sym = plan.pop(0)
        win.dispatch_event(name, sym, 0)
pyglet.clock.schedule_interval(tick, 0.05)
print(run_window(scene, info, replays_dir=sys.argv[1], endoscope_size=(320, 240), scoring=False))
"""


@pytest.mark.skipif(not Path("/usr/bin/xvfb-run").exists(), reason="needs xvfb-run (apt-get install xvfb)")
def test_window_session_under_xvfb(tmp_path):
    """The windowed session on a virtual display: key events through the window push the scope and capture a
    picture; Esc ends it; the recording replays exactly."""
    script = tmp_path / "window_session.py"
    script.write_text(_WINDOW_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYGLET_HEADLESS", None)
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, str(script),
                        str(tmp_path / "replays")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = Path(r.stdout.strip().splitlines()[-1])
    controls = read_controls_log(folder)
    pushing = [c for c in controls if c.insertion_velocity_m_s > 0]
    assert pushing and all(c.insertion_velocity_m_s == pytest.approx(0.03) for c in pushing)
    assert list((folder / "pictures").glob("capture_*.png"))
    assert replay_exact(folder).identical
