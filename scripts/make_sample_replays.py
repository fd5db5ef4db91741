"""Record the sample procedures shipped in `replays/` (run once; `replays/README.md` says how they were made).

    NUMBA_CACHE_DIR=/tmp/nbc .venv/bin/python scripts/make_sample_replays.py [--out replays] [--only NAME]

Each is a colosim session recording (session.json, coordinate logs, session.log; the controls log is removed to keep
the files small, so `colosim replay --exact` does not apply) on the default procedural colon (seed 0), made headless
without rendering or scoring:

- ``autopilot-insertion``: the autopilot from the anal verge, 30 s simulated.
- ``autopilot-withdrawal``: the autopilot's withdrawal (survey circle, 2 cm/s) from 0.6 m in, 20 s simulated.
- ``poor-pushing``: a deliberately poor driver: the autopilot with steering and loop reduction off
  (``AutopilotConfig(steer=False, reduce_loops=False)``) pushing for 24 s, loops and all, then a hurried
  withdrawal at 8 cm/s for 8 s. It does not reach the cecum.

Deterministic: the same code and colon give the same files (the physics reads no clock).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from sim.controls import ScopeControls
from sim.drivers.autopilot import Autopilot, AutopilotConfig
from sim.scene import build_scene
from sim.session.loop import DEFAULT_COIL_SAMPLE_STEPS, DEFAULT_DT_S, DrivenSession, Session
from sim.session.recording import CONTROLS_FILE, SessionInfo, SessionRecorder

SEED = 0
#: Withdrawal speed (m/s) of the poor driver's hurried withdrawal: four times the autopilot's 2 cm/s.
HURRIED_WITHDRAWAL_M_S = 0.08


class HurriedWithdrawal:
    """Wraps a driver: after `push_s` seconds it stops steering and pulls back at `speed_m_s` with the wheels as
    they were (what a hurried endoscopist does), logging nothing (no cecum was reached)."""

    def __init__(self, driver, push_s: float, speed_m_s: float):
        self.driver = driver
        self.push_s = float(push_s)
        self.speed_m_s = float(speed_m_s)
        self.events = driver.events
        self._depth = None
        self._last: ScopeControls | None = None
        self._last_t = 0.0

    @property
    def phase(self) -> str:
        return "insertion" if self._depth is None else "withdrawal"

    def __call__(self, t_s, outputs) -> ScopeControls:
        if t_s < self.push_s:
            self._last = self.driver(t_s, outputs)
            self._last_t = t_s
            return self._last
        if self._depth is None:
            self._depth = float(outputs.rod.inserted_length_m)
        self._depth = max(0.0, self._depth - self.speed_m_s * (t_s - self._last_t))
        self._last_t = t_s
        return ScopeControls(target_depth_m=self._depth, roll_rad=self._last.roll_rad,
                             wheel_up_down_rad=self._last.wheel_up_down_rad,
                             wheel_left_right_rad=self._last.wheel_left_right_rad,
                             stiffness_scale=self._last.stiffness_scale)


def record(scene, folder: Path, driver, seconds: float, initial_depth_m: float = 0.0, label: str = "",
           seed: int = SEED) -> Path:
    """Drive `seconds` of simulated time with `driver`, recording into `folder` (replaced if it exists); `seed`:
    the procedural seed of `scene`'s colon, written into session.json."""
    if folder.exists():
        shutil.rmtree(folder)
    info = SessionInfo(colon={"procedural_seed": seed}, dt_s=DEFAULT_DT_S, initial_depth_m=initial_depth_m,
                       coil_sample_steps=DEFAULT_COIL_SAMPLE_STEPS, driver=label or type(driver).__name__)
    recorder = SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m))
    session = Session(scene, dt_s=info.dt_s, initial_depth_m=initial_depth_m, recorder=recorder)
    driven = DrivenSession(session, driver)
    n_steps = int(round(seconds / info.dt_s))
    for k in range(n_steps):
        driven.step()
        if k % 240 == 239:
            print(f"  {folder.name}: {session.time_s:5.1f} s, depth {session.outputs.rod.inserted_length_m:.3f} m, "
                  f"phase {driven.phase}", flush=True)
    # The recorder closes the coordinate log with 'Recording ended' at the last sample.
    session.close(extra={"driver_phase": driven.phase})
    # The controls log (one JSON line per 1/240 s step, about 1 MB per 30 s) is what `colosim replay --exact`
    # needs; the samples are for coordinate-log replay and scoring, so they ship without it to stay small.
    (folder / CONTROLS_FILE).unlink()
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="replays", help="folder that gets the sample folders")
    parser.add_argument("--only", default=None, help="record only this sample")
    args = parser.parse_args(argv)
    out = Path(args.out)
    scene = build_scene(seed=SEED)

    def insertion():
        return record(scene, out / "autopilot-insertion", Autopilot(scene), 30.0, label="autopilot")

    def withdrawal():
        pilot = Autopilot(scene)
        # Start in the withdrawal phase (the autopilot's own survey withdrawal) from 0.6 m in.
        pilot.status.phase, pilot.status.manoeuvre = "withdrawal", "withdraw"
        return record(scene, out / "autopilot-withdrawal", pilot, 20.0, initial_depth_m=0.6,
                      label="autopilot (withdrawal from 0.6 m)")

    def poor():
        pilot = Autopilot(scene, AutopilotConfig(steer=False, reduce_loops=False))
        return record(scene, out / "poor-pushing", HurriedWithdrawal(pilot, 24.0, HURRIED_WITHDRAWAL_M_S), 32.0,
                      label="poor: autopilot(steer=False, reduce_loops=False) then 8 cm/s withdrawal")

    samples = {"autopilot-insertion": insertion, "autopilot-withdrawal": withdrawal, "poor-pushing": poor}
    for name, make in samples.items():
        if args.only in (None, name):
            print(f"recording {name} ...", flush=True)
            print(f"  -> {make()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
