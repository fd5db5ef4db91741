"""`colosim replay DIR` (coordinate-log replay): registration, the coil-following replay of an autopilot recording,
and the inserted-length rule for a deeply inserted shaft (sim/scoring/samples.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sim.logs.coordinate_log import CoordinateLog, LogEvent, read_coordinate_log, write_coordinate_log
from sim.logs.registration import (MOBILE_SEGMENT_WEIGHT, Registration, fit_registration, fixity_weights, kabsch,
                                   register_log)
from sim.scoring.samples import VERGE_NEAR_SHAFT_M, inserted_length_from_coils, shaft_point_at_verge

#: Coil layout of the bundled scope: 12 coils, the first 10 mm from the tip, then every 0.1 m.
COIL_ARC_M = 0.01 + 0.1 * np.arange(12)
#: The sample recordings (replays/README.md), made by colosim on the procedural colon of seed 0.
REPLAYS = Path(__file__).resolve().parent.parent / "replays"


def _rotation(axis, angle_rad: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1 - math.cos(angle_rad)) * k @ k


def _centreline(n: int = 400) -> np.ndarray:
    """A colon-like 3D curve (m), 0 at the verge: up the rectum, a sigmoid wiggle, a long limb, a turn."""
    s = np.linspace(0.0, 1.2, n)
    return np.column_stack([0.08 * np.sin(4.0 * s) + 0.05 * s, 0.06 * (1 - np.cos(3.0 * s)), 0.4 * s])


def _insertion_log(centreline: np.ndarray, seconds: float = 10.0, rate_hz: float = 20.0, noise_m: float = 0.002,
                   seed: int = 0) -> CoordinateLog:
    """A recording of a shaft that follows `centreline`: depth rising to 0.8 m, coils at COIL_ARC_M behind the tip,
    those still outside the body on the straight line out of the verge; reading noise `noise_m`."""
    rng = np.random.default_rng(seed)
    arc = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(centreline, axis=0), axis=1))))
    axis = (centreline[1] - centreline[0]) / np.linalg.norm(centreline[1] - centreline[0])
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    depth = 0.8 * t / seconds
    s = depth[:, None] - COIL_ARC_M[None, :]  # (N, K) centreline arc of each coil
    inside = np.stack([np.interp(np.maximum(s, 0), arc, centreline[:, a]) for a in range(3)], axis=-1)
    outside = centreline[0] + s[..., None] * axis  # s < 0: out along the insertion axis
    coils = np.where((s >= 0)[..., None], inside, outside) + rng.normal(0.0, noise_m, (t.size, 12, 3))
    return CoordinateLog(t_s=t, coils_m=coils, events=[LogEvent(0.0, "Endoscopy started", 0)])


def test_kabsch_recovers_a_rotation_and_translation():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3))
    r0, t0 = _rotation([1, 2, 3], 0.7), np.array([0.1, -0.2, 0.3])
    r, t = kabsch(points, points @ r0.T + t0)
    assert np.allclose(r, r0, atol=1e-12) and np.allclose(t, t0, atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_registration_recovers_a_known_rigid_transform_of_a_recording():
    """A recording in the colon's frame, moved by a known rigid transform (40°, 0.3 m): the fit maps it back."""
    centreline = _centreline()
    world = _insertion_log(centreline)
    recording_frame = Registration(_rotation([0.3, -1.0, 0.5], math.radians(40.0)), np.array([0.12, -0.30, 0.05]))
    recorded = recording_frame.apply_to_log(world)

    reg = register_log(recorded, centreline, colosim_recording=False)
    assert reg.method == "kabsch+icp"
    back = reg.apply(recorded.coils_m)
    error = np.linalg.norm(back - world.coils_m, axis=2)
    assert np.sqrt(np.mean(error ** 2)) < 0.005  # 5 mm RMS over all coils, with 2 mm reading noise
    residual = Registration(reg.rotation @ recording_frame.rotation, np.zeros(3)).rotation_angle_rad()
    assert math.degrees(residual) < 2.0
    assert reg.rms_to_centreline_m < 0.01

    # Kabsch alone (no ICP) already lands near it: the inserted-length pairing is right for a shaft in the lumen.
    rough = fit_registration(recorded, centreline, refine=False)
    assert math.degrees(Registration(rough.rotation @ recording_frame.rotation, np.zeros(3)).rotation_angle_rad()) < 5


def test_registration_of_looping_colosim_recordings_moved_by_a_known_transform(tmp_path):
    """colosim's own recordings with loops, moved by 40° and 0.3 m and read as another system's (no session.json),
    register back through `colosim replay`'s path (`load_source`: the scene's `fixity_weights`, ICP within an arc
    window, loop weights). Measured (bench/registration.py; in parentheses the unweighted nearest-point ICP this
    replaced, which fails both): replays/poor-pushing, the autopilot pushing through sigmoid loops for 24 s
    without reducing them, 2.5° and a 5.2 mm RMS tip path (10.2°, 22.2 mm); replays/autopilot-insertion, 30 s
    looping in the sigmoid, 14.3° and 12.8 mm (24.6°, 28.2 mm)."""
    from sim.session.log_replay import load_source

    move = Registration(_rotation([0.3, -1.0, 0.5], math.radians(40.0)), np.array([0.12, -0.30, 0.05]))
    world = read_coordinate_log(REPLAYS / "poor-pushing", require_cecum=False)
    write_coordinate_log(tmp_path / "moved", move.apply_to_log(world))
    source = load_source(tmp_path / "moved", seed=0)  # the colon it was recorded on
    assert not source.colosim_recording and source.registration.method == "kabsch+icp"
    residual = Registration(source.registration.rotation @ move.rotation, np.zeros(3)).rotation_angle_rad()
    assert math.degrees(residual) < 5.0
    tip_error = np.linalg.norm(source.world_log.tip_m - world.tip_m, axis=1)
    assert np.sqrt(np.mean(tip_error ** 2)) < 0.010

    # The weights the replay passed: the sigmoid and transverse count MOBILE_SEGMENT_WEIGHT, the rest 1.
    asset = source.scene.asset
    weights = fixity_weights(asset)
    ranges = asset.segment_ranges()
    assert weights[asset.s_m.searchsorted(np.mean(ranges["sigmoid"]))] == MOBILE_SEGMENT_WEIGHT
    assert weights[asset.s_m.searchsorted(np.mean(ranges["descending"]))] == 1.0

    # The 30 s insertion never gets past the sigmoid: its path is nearly straight (spread 109, 17 and 7 mm along
    # its principal axes), so its roll about that axis stays loose (module doc); the tip path is what a replay
    # follows.
    world = read_coordinate_log(REPLAYS / "autopilot-insertion", require_cecum=False)
    recorded = move.apply_to_log(world)
    reg = register_log(recorded, np.asarray(asset.centreline_m), colosim_recording=False, centreline_weights=weights)
    assert math.degrees(Registration(reg.rotation @ move.rotation, np.zeros(3)).rotation_angle_rad()) < 20.0
    tip_error = np.linalg.norm(reg.apply(recorded.tip_m) - world.tip_m, axis=1)
    assert np.sqrt(np.mean(tip_error ** 2)) < 0.020


def test_a_recording_that_starts_inside_registers_with_its_verge_given(tmp_path):
    """replays/autopilot-withdrawal starts 0.6 m in: its first tip reading is not the anal verge, so the default
    registration (first tip to the verge) cannot work. Moved by the known 40° and 0.3 m and given the verge in the
    recording's frame (`--verge`), it registers from its first samples, whose shaft already spans the colon.
    Measured: 5.0° and a 4.3 mm RMS tip path, against 162.8° and 298 mm without the verge."""
    from sim.session.log_replay import load_source

    move = Registration(_rotation([0.3, -1.0, 0.5], math.radians(40.0)), np.array([0.12, -0.30, 0.05]))
    world = read_coordinate_log(REPLAYS / "autopilot-withdrawal", require_cecum=False)
    write_coordinate_log(tmp_path / "moved", move.apply_to_log(world))
    source = load_source(tmp_path / "moved", seed=0)
    entry = np.asarray(source.scene.world.entry_point_m, dtype=float)
    given = load_source(tmp_path / "moved", seed=0, verge_m=move.apply(entry[None])[0])
    for label, src, (most_deg, most_mm) in (("default", source, (None, None)), ("verge given", given, (10.0, 10.0))):
        angle = math.degrees(Registration(src.registration.rotation @ move.rotation, np.zeros(3)).rotation_angle_rad())
        tip_rms = float(np.sqrt(np.mean(np.linalg.norm(src.world_log.tip_m - world.tip_m, axis=1) ** 2)))
        print(f"{label}: rotation error {angle:.1f} deg, tip path {1e3 * tip_rms:.1f} mm RMS")
        if most_deg is None:
            assert angle > 90.0  # the premise: without the verge it is wrong
        else:
            assert angle < most_deg and tip_rms < most_mm / 1e3
    # The command line's --verge takes three numbers in mm.
    from click.testing import CliRunner

    from sim.cli import main

    result = CliRunner().invoke(main, ["replay", str(tmp_path / "moved"), "--verge", "1,2", "--no-render"])
    assert result.exit_code == 2 and "--verge" in result.output and "expected three numbers in mm" in result.output

def test_registration_defaults_and_overrides():
    centreline = _centreline()
    log = _insertion_log(centreline)
    assert register_log(log, centreline, colosim_recording=True).method == "identity"
    assert register_log(log, centreline, colosim_recording=False, register=False).method == "identity"
    shifted = register_log(log, centreline, colosim_recording=False, translate_m=np.array([0.01, 0.02, 0.03]))
    assert shifted.method == "translate" and np.allclose(shifted.apply(np.zeros(3)), [0.01, 0.02, 0.03])
    depth = np.linspace(0.0, 0.4, 20)
    z = depth[:, None] - 0.1 * np.arange(3)[None, :]
    straight = CoordinateLog(t_s=np.arange(20.0), coils_m=np.stack([0 * z, 0 * z, z], axis=-1))
    with pytest.raises(ValueError, match="straight line"):
        fit_registration(straight, centreline)


def test_inserted_length_falls_back_when_the_verge_is_far_from_a_deep_shaft():
    """12 coils 0.1 m apart all inside the body, the shaft looping back past the anus at 8 cm (> VERGE_NEAR_SHAFT_M):
    the nearest polyline point is mid-shaft, not where the shaft leaves the body, so the 'all coils inside' rule
    applies (length = arc to the last coil + straight gap to the verge)."""
    verge = np.zeros(3)
    # A hairpin: up 0.5 m, across, back down to 8 cm beside the verge, then up again.
    u = np.linspace(0.0, 1.0, 12)
    coils = np.column_stack([0.08 + 0.0 * u, np.zeros(12), 0.05 + 0.45 * np.abs(np.cos(np.pi * u))])
    coils[:, 0] += 0.02 * np.sin(np.pi * u)
    nearest = np.min(np.linalg.norm(coils - verge, axis=1))
    assert nearest > VERGE_NEAR_SHAFT_M
    hit = shaft_point_at_verge(coils, verge)
    arc = np.sum(np.linalg.norm(np.diff(coils, axis=0), axis=1))
    assert hit.beyond_last_coil
    assert hit.arc_from_tip_m == pytest.approx(arc + np.linalg.norm(coils[-1] - verge))
    assert inserted_length_from_coils(coils[None], verge)[0] == pytest.approx(hit.arc_from_tip_m)

    # A shaft that does cross the verge: the projection is kept (3.5 coil gaps in).
    crossing = np.column_stack([np.zeros(12), np.zeros(12), 0.35 - 0.1 * np.arange(12)])
    assert inserted_length_from_coils(crossing[None], verge)[0] == pytest.approx(0.35)
    # A tip outside the body, however far: 0.
    outside = np.column_stack([np.zeros(12), np.zeros(12), -0.2 - 0.1 * np.arange(12)])
    assert inserted_length_from_coils(outside[None], verge)[0] == pytest.approx(0.0)


@pytest.mark.slow
def test_replaying_an_autopilot_recording_from_its_coils_reproduces_the_tip_path(tmp_path):
    """Record 8 s of the autopilot from the anal verge, then replay it from the coordinate logs only (the controls
    log is deleted): the replayed tip follows the recorded one within 5 mm RMS over the common samples."""
    from sim.drivers.autopilot import Autopilot
    from sim.logs.coordinate_log import read_coordinate_log
    from sim.scene import build_scene
    from sim.session.log_replay import REPLAY_FILE, replay_log
    from sim.session.loop import DrivenSession, Session
    from sim.session.recording import CONTROLS_FILE, SessionInfo, SessionRecorder

    scene = build_scene(seed=0)
    folder = tmp_path / "recording"
    info = SessionInfo(colon={"procedural_seed": 0}, driver="autopilot")
    session = Session(scene, recorder=SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m)))
    driven = DrivenSession(session, Autopilot(scene))
    for _ in range(int(round(8.0 / session.dt_s))):
        driven.step()
    session.close()
    (folder / CONTROLS_FILE).unlink()

    out = tmp_path / "replay"
    result = replay_log(folder, out, render=False, scoring=False)
    assert result.registration.method == "identity"  # a colosim recording: its own colon's frame
    recorded = read_coordinate_log(folder, require_cecum=False)
    assert result.tip_error.error_m.size >= recorded.n_samples - 1
    print(f"replayed tip path {1000 * result.tip_error.rms_m:.2f} mm RMS from the recording's")
    assert result.tip_error.rms_m < 0.005, f"tip path RMS error {1000 * result.tip_error.rms_m:.1f} mm"
    # The replay writes its own coordinate log (what `colosim score OUT` reads) and its summary.
    replayed = read_coordinate_log(out, require_cecum=False)
    assert replayed.n_samples == result.tip_error.error_m.size and replayed.n_coils == recorded.n_coils
    assert (out / REPLAY_FILE).is_file() and (out / "session.json").is_file()
