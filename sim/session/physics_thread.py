"""The physics thread of an interactive session: steps the session at its fixed `dt_s`, sampling the devices once per
step, paced to real time (times the slow-motion factor), while the render thread draws the latest snapshot.

The numba kernels of the step release the GIL (`nogil=True`), so physics and rendering overlap on two cores.
Pacing never touches the physics: a step always advances exactly `dt_s` under the controls sampled for it (and
logged), so a recorded interactive session replays exactly; only *when* steps run follows the wall clock. When
physics is slower than real time it runs flat out and drops the debt (no catch-up bursts).

Session commands (pause, reset, slow motion) are applied between steps, from `command`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sim.controls import ScopeControls
from sim.session.loop import Session
from sim.session.snapshot import RenderSnapshot

#: Slow-motion factor toggled by the "slow" command.
SLOW_MOTION = 0.25
#: Largest lag behind real time kept before the pacing forgets it (s of simulated time).
MAX_DEBT_S = 0.1


class PhysicsThread(threading.Thread):
    """Runs `session` with controls from `sample(dt_s) -> ScopeControls`. `snapshot_kwargs()` gives the HUD extras
    (device name, phase ...) for the snapshots. `latest` is the newest snapshot (made when the renderer asked for
    one with `request_snapshot`, so no copy is wasted)."""

    def __init__(self, session: Session, sample: Callable[[float], ScopeControls],
                 snapshot_kwargs: Callable[[], dict] | None = None, on_step: Callable | None = None,
                 paced: bool = True):
        super().__init__(name="colosim-physics", daemon=True)
        self.paced = paced  # False: step flat out (benchmarks)
        self.session = session
        self.sample = sample
        self.snapshot_kwargs = snapshot_kwargs or (lambda: {})
        self.on_step = on_step
        self.lock = threading.Lock()
        self.latest: RenderSnapshot | None = None
        self.paused = False
        self.speed = 1.0
        self.error: BaseException | None = None
        self.captures = 0
        self._halt = threading.Event()
        self._want_snapshot = threading.Event()
        self._want_snapshot.set()
        self._published = threading.Condition(self.lock)
        self._serial = 0  # snapshots published so far
        self._commands: list[str] = []
        self.steps_run = 0
        self.busy_s = 0.0  # wall time spent in steps (for the real-time factor)

    def command(self, name: str) -> None:
        """"pause" (toggle), "reset", "slow" (toggle slow motion); applied before the next step."""
        with self.lock:
            self._commands.append(name)

    def request_snapshot(self) -> None:
        self._want_snapshot.set()

    def fresh_snapshot(self, timeout_s: float = 0.1) -> RenderSnapshot | None:
        """A snapshot taken after this call: asks for one and waits (at most `timeout_s`, about one physics step
        in practice) until the thread publishes it; on timeout the newest one there is. Drawing a fresh snapshot
        instead of the one published while the last frame was drawn saves a whole frame of input latency."""
        with self._published:
            serial = self._serial
            self._want_snapshot.set()
            self._published.wait_for(lambda: self._serial > serial or self.error is not None
                                     or not self.is_alive(), timeout=timeout_s)
            return self.latest

    def stop(self) -> None:
        self._halt.set()

    def _apply_commands(self) -> bool:
        with self.lock:
            commands, self._commands = self._commands, []
        rebase = False
        for name in commands:
            if name == "pause":
                self.paused = not self.paused
                rebase = True
            elif name == "slow":
                self.speed = SLOW_MOTION if self.speed == 1.0 else 1.0
                rebase = True
            elif name == "reset":
                self.session.reset()
                rebase = True
                self._want_snapshot.set()
        return rebase

    def _publish(self) -> None:
        kwargs = dict(self.snapshot_kwargs())
        kwargs.setdefault("paused", self.paused)
        kwargs.setdefault("speed", self.speed)
        self._want_snapshot.clear()
        snap = self.session.snapshot(**kwargs)
        with self._published:
            self.latest = snap
            self._serial += 1
            self._published.notify_all()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the front end, which owns the process
            self.error = exc

    def _run(self) -> None:
        s = self.session
        wall0, sim0 = time.perf_counter(), s.time_s
        self._publish()
        while not self._halt.is_set():
            if self._apply_commands():
                wall0, sim0 = time.perf_counter(), s.time_s
            if self.paused:
                if self._want_snapshot.is_set():
                    self._publish()
                time.sleep(0.005)
                continue
            target = sim0 + (time.perf_counter() - wall0) * self.speed
            lead = s.time_s - target if self.paced else -1.0
            if lead > 0.0:
                time.sleep(min(lead / self.speed, 0.005))
                continue
            if self.paced and lead < -MAX_DEBT_S:  # slower than real time: forget the debt
                wall0, sim0 = time.perf_counter(), s.time_s
            t0 = time.perf_counter()
            controls = self.sample(s.dt_s)
            s.step(controls)
            self.busy_s += time.perf_counter() - t0
            self.steps_run += 1
            if controls.capture:
                self.captures += 1
            if self.on_step is not None:
                self.on_step(s, controls)
            if self._want_snapshot.is_set():
                self._publish()
