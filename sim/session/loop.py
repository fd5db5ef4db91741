"""The session core: one physics step from one `ScopeControls`, with recording, events and live scores.

`Session.step(controls)` is the only way the world advances in a session, in the headless loop, the window's
physics thread, the exact replay and the acceptance harness (`sim.drivers.drive`) alike: `HandState.apply` turns the
controls into the world's absolute controls, `step_world` advances one fixed `dt_s`, the outputs are refreshed
(every step, or every `outputs_every` steps where nothing records or scores them), and the recorder logs the
controls (so the replay can redo exactly this) and, every `coil_sample_steps` steps, the coils. Nothing here reads a
clock, so the same scene, initial depth and controls give a bit-identical state (DESIGN.md, "Solver": determinism).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.world import WorldOutputs, WorldState, initial_world_state, step_world, world_outputs
from sim.controls import HandState, ScopeControls
from sim.session.recording import SessionRecorder
from sim.session.snapshot import RenderSnapshot, take_snapshot

#: Physics step (s): the solver's design rate.
DEFAULT_DT_S = 1.0 / 240.0
#: Coordinate-log sample every this many steps (60 Hz at 1/240 s, the live scorer's sample rate).
DEFAULT_COIL_SAMPLE_STEPS = 4


@dataclass
class StepResult:
    """After a step: its number (1-based count of steps done), the time, the outputs, the controls used, and
    whether the outputs were refreshed after this step (else they are those of an earlier step)."""

    steps: int
    time_s: float
    outputs: WorldOutputs
    controls: ScopeControls
    refreshed: bool


class Session:
    """A scene being driven: world state, hands, step count, optional recorder and live scorer.

    scene: `sim.scene.Scene`; dt_s: physics step; initial_depth_m: scope already this far in at t = 0;
    recorder: a `SessionRecorder` or None; scorer: anything with ``update(t_s, outputs, state)``,
    ``event(t_s, label)`` and ``hud_lines() -> dict`` (the live scorer) or None; state, hand: start from this world
    state and these hands (a run continuing where another left off) instead of the initial pose; outputs_every:
    refresh the outputs after every this many steps (the full outputs cost about a third of a step; a driver that
    looks at 60 Hz needs them every 4th step), 1 with a recorder or scorer, which read them every step.
    """

    def __init__(self, scene, *, dt_s: float = DEFAULT_DT_S, initial_depth_m: float = 0.0,
                 recorder: SessionRecorder | None = None, scorer=None,
                 coil_sample_steps: int = DEFAULT_COIL_SAMPLE_STEPS, state: WorldState | None = None,
                 hand: HandState | None = None, outputs_every: int = 1):
        if outputs_every < 1 or (outputs_every > 1 and (recorder is not None or scorer is not None)):
            raise ValueError(f"outputs_every {outputs_every}: must be >= 1, and 1 with a recorder or scorer")
        self.scene = scene
        self.dt_s = float(dt_s)
        self.initial_depth_m = float(initial_depth_m)
        self.recorder = recorder
        self.scorer = scorer
        self.coil_sample_steps = int(coil_sample_steps)
        self.outputs_every = int(outputs_every)
        self.events: list[tuple[float, str]] = []
        self.steps = 0
        self._start(initial_world_state(scene.world, self.initial_depth_m) if state is None else state,
                    HandState(depth_m=self.initial_depth_m) if hand is None else hand)

    def _start(self, state: WorldState, hand: HandState) -> None:
        self.state = state
        self.hand = hand
        self.outputs = world_outputs(self.scene.world, state)

    def reset(self) -> None:
        """Back to the initial pose (scope at the initial depth, colon at rest, hands released). The session clock
        goes on (the coordinate log needs increasing times) and the recording marks the reset in the controls log,
        so the exact replay resets at the same step."""
        clock_s = self.time_s
        state = initial_world_state(self.scene.world, self.initial_depth_m)
        state.time_s = clock_s
        self._start(state, HandState(depth_m=self.initial_depth_m))
        if self.recorder is not None:
            self.recorder.reset(self.steps, clock_s)

    @property
    def time_s(self) -> float:
        return float(self.state.time_s)

    def step(self, controls: ScopeControls, rod_force_N: np.ndarray | None = None,
             rod_torque_Nm: np.ndarray | None = None) -> StepResult:
        """Advance one physics step under `controls` and record it. rod_force_N, rod_torque_Nm: optional (S, 3)
        loads on the rod's segments for this step (a coordinate-log replay's coil springs); they are not in the
        controls log, so a session that uses them has no exact replay."""
        world = self.scene.world
        wc = self.hand.apply(controls, self.dt_s, world.rod)
        wc.rod.external_force_N = rod_force_N
        wc.rod.external_torque_Nm = rod_torque_Nm
        step_world(world, self.state, wc, self.dt_s)
        refreshed = (self.steps + 1) % self.outputs_every == 0
        if refreshed:
            self.outputs = world_outputs(world, self.state)
        t = float(self.state.time_s)
        if self.recorder is not None:
            sample = self.outputs.rod.coil_positions_m if self.steps % self.coil_sample_steps == 0 else None
            status = ""
            if (self.steps + 1) % self.recorder.steps_per_flush == 0:
                status = self.status_text()
            self.recorder.step(self.steps, t, controls, sample, status)
        if controls.mark_event:
            self.events.append((t, controls.mark_event))
            if self.scorer is not None:
                self.scorer.event(t, controls.mark_event)
        if self.scorer is not None:
            self.scorer.update(t, self.outputs, self.state)
        self.steps += 1
        return StepResult(self.steps, t, self.outputs, controls, refreshed)

    def event(self, label: str) -> None:
        """An event that does not come from the controls (a driver's "Cecum", a phase change) at the current
        time: into the recording and the scorer, not into the controls log (the replay gets it from the driver's
        own log line instead)."""
        t = self.time_s
        self.events.append((t, label))
        if self.recorder is not None:
            self.recorder.event(t, label)
        if self.scorer is not None:
            self.scorer.event(t, label)

    def status_text(self) -> str:
        o = self.outputs
        press = self.hand.abdominal_press
        return (f"depth {o.rod.inserted_length_m * 1000:.0f} mm; push {o.rod.handle_axial_force_N:+.1f} N; "
                f"tip {float(np.linalg.norm(o.tip_contact_force_N)):.2f} N; tether {o.max_tether_force_N:.2f} N; "
                f"wheels {math.degrees(self.hand.wheel_up_down_rad):+.0f}/"
                f"{math.degrees(self.hand.wheel_left_right_rad):+.0f} deg"
                + (f"; hand on the {press} ({float(np.linalg.norm(self.state.colon.press_force_N)):.0f} N)"
                   if press else ""))

    def scores(self) -> dict[str, str]:
        if self.scorer is None:
            return {}
        return dict(self.scorer.hud_lines())

    def snapshot(self, *, phase: str = "", buttons: str = "", paused: bool = False, speed: float = 1.0,
                 device: str = "", message: str = "") -> RenderSnapshot:
        return take_snapshot(self.scene, self.state, self.outputs, self.hand, self.steps, phase=phase,
                             scores=self.scores(), buttons=buttons, paused=paused, speed=speed, device=device,
                             message=message)

    def close(self, extra: dict | None = None) -> None:
        """Finish the recording; with a live scorer, its coverage, forces and report go into the recording folder
        (what `colosim score` reads)."""
        if self.recorder is not None:
            self.recorder.close(self.state, self.steps, extra=extra)
            if self.scorer is not None and getattr(self.scorer, "n_samples", 0):
                self.scorer.save(self.recorder.folder)
                self.scorer.save_report(self.recorder.folder)


class DrivenSession:
    """A session whose controls come from a driver ``(t_s, outputs) -> ScopeControls`` (autopilot, script):
    forwards the driver's own events (``driver.events``, a list of (t_s, label)) into the recording."""

    def __init__(self, session: Session, driver):
        self.session = session
        self.driver = driver
        self._events_seen = 0

    @property
    def phase(self) -> str:
        return str(getattr(self.driver, "phase", ""))

    def step(self) -> StepResult:
        s = self.session
        controls = self.driver(s.time_s, s.outputs)
        result = s.step(controls)
        events = getattr(self.driver, "events", None)
        if events is not None and len(events) > self._events_seen:
            for _, label in events[self._events_seen:]:
                s.event(label)
            self._events_seen = len(events)
        return result
