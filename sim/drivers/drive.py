"""Drive a scene headless with any driver and watch the physics: the acceptance harness of issue 3.

`drive(scene, driver, max_seconds)` steps the world at the fixed `dt_s` through a driven session
(`sim.session.loop`, the step every session takes): it asks the driver for controls every step (outputs refreshed
every `outputs_every` steps: 60 Hz at the default, as a person's eye and hand update; the full outputs cost about a
third of a step), integrates them through `HandState` (the same hand limits a device has), and records what the
acceptance criteria need:

- the tip path and the driver's status at every outputs refresh;
- the worst distance by which any scope point lies outside the deformed wall (contact's own clearance, every
  `check_every` steps), and the same where the scope's axis crosses each ring's plane (every ring the scope passes,
  including those no contact sample is attributed to: `physics.world.scope_crossing_clearance`);
- whether every position stayed finite, and the fastest wall particle and scope segment (physical bound);
- the largest distance along the colon between two neighbouring contact samples on the shaft (in rings): the
  scope is one rod in one lumen, so neighbours 3.3 mm apart on the shaft lie within a few rings of each other even
  where the colon is pleated onto it (a quarter of its rest length over the shaft's 3.3 mm would be 2.7 rings of
  5 mm). Tens of rings mean the colon has telescoped into itself round the shaft, or the shaft's samples were
  attributed to another part of the colon: the scope has in effect left the lumen, which the worst distance
  outside the wall cannot show (each sample is measured against the section it is attributed to).

Deterministic: nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from physics.world import WorldOutputs, WorldState, scope_clearance, scope_crossing_clearance
from sim.controls import HandState, ScopeControls
from sim.scene import Scene
from sim.session.loop import DrivenSession, Session

#: Speed (m/s) no wall particle or scope segment should exceed: ten times the fastest insertion a hand produces
#: (0.1 m/s) and above the whip of the bending section when a wheel turns at its fastest (2 pi rad/s over 0.09 m,
#: 0.6 m/s). A faster particle means the solver injected energy.
PHYSICAL_SPEED_BOUND_M_S = 1.0


@dataclass
class DriveTrace:
    """What happened (M samples, one per outputs refresh).

    t_s (M,), depth_m (M,): commanded insertion depth, tip_m (M, 3), handle_force_N (M,): axial, + pushing in,
    tip_contact_force_N (M,): magnitude; worst_outside_m: largest distance of a scope point outside the wall (0 if
    none) at its contact samples; worst_crossing_outside_m: the same where the scope's axis crosses each ring's
    plane (`physics.world.scope_crossing_clearance`: every ring the scope passes, including those no sample is
    attributed to); max_wall_speed_m_s, max_scope_speed_m_s: fastest wall particle and scope segment seen;
    max_sample_ring_gap: largest distance along the colon (rings, from the samples' k + f) between two neighbouring
    contact samples inside the body (module docstring); finite: no NaN or inf ever; steps: physics steps taken;
    status: the driver's `status` objects' fields per sample (dicts), if it has one.
    """

    t_s: list = field(default_factory=list)
    depth_m: list = field(default_factory=list)
    tip_m: list = field(default_factory=list)
    handle_force_N: list = field(default_factory=list)
    tip_contact_force_N: list = field(default_factory=list)
    status: list = field(default_factory=list)
    worst_outside_m: float = 0.0
    max_wall_speed_m_s: float = 0.0
    max_scope_speed_m_s: float = 0.0
    max_sample_ring_gap: float = 0.0
    worst_crossing_outside_m: float = 0.0
    finite: bool = True
    steps: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-sample lists as arrays."""
        return {"t_s": np.asarray(self.t_s), "depth_m": np.asarray(self.depth_m), "tip_m": np.asarray(self.tip_m),
                "handle_force_N": np.asarray(self.handle_force_N),
                "tip_contact_force_N": np.asarray(self.tip_contact_force_N)}


def drive(scene: Scene, driver: Callable[[float, WorldOutputs], ScopeControls], max_seconds: float, *,
          dt_s: float = 1.0 / 240.0, outputs_every: int = 4, check_every: int = 1,
          state: WorldState | None = None, hand: HandState | None = None,
          until: Callable[[object], bool] | None = None,
          on_sample: Callable[[float, WorldOutputs, WorldState], None] | None = None) -> tuple[WorldState, DriveTrace]:
    """Step `scene` under `driver` for at most `max_seconds` of simulated time.

    Stops early when `until(driver)` is true (default: when the driver has a `phase` and it is "done") or when a
    position stops being finite. `on_sample(t_s, outputs, state)` is called at every outputs refresh (scoring,
    recording). Returns the final state and the trace.
    """
    model = scene.world
    session = Session(scene, dt_s=dt_s, state=state, hand=hand, outputs_every=outputs_every)
    driven = DrivenSession(session, driver)
    state, hand = session.state, session.hand
    if until is None:
        def until(d):
            return getattr(d, "phase", None) == "done"
    trace = DriveTrace()
    steps = int(round(max_seconds / dt_s))
    status = getattr(driver, "status", None)
    for n in range(steps):
        result = driven.step()
        trace.steps += 1
        if n % check_every == 0:
            if not (np.isfinite(state.rod.position_m).all() and np.isfinite(state.colon.position_m).all()):
                trace.finite = False
                break
            clearance, ring_position = scope_clearance(model, state)
            trace.worst_outside_m = max(trace.worst_outside_m, -float(clearance.min()))
            crossing = scope_crossing_clearance(model, state, ring_position)
            trace.worst_crossing_outside_m = max(trace.worst_crossing_outside_m, -float(crossing.min()))
            trace.max_sample_ring_gap = max(trace.max_sample_ring_gap, sample_ring_gap(ring_position))
            trace.max_wall_speed_m_s = max(trace.max_wall_speed_m_s, _max_speed(state.colon.velocity_m_s))
            trace.max_scope_speed_m_s = max(trace.max_scope_speed_m_s, _max_speed(state.rod.velocity_m_s))
        if result.refreshed:
            out = result.outputs
            trace.t_s.append(state.time_s)
            trace.depth_m.append(hand.depth_m)
            trace.tip_m.append(out.rod.tip_position_m.copy())
            trace.handle_force_N.append(out.rod.handle_axial_force_N)
            trace.tip_contact_force_N.append(float(np.linalg.norm(out.tip_contact_force_N)))
            if status is not None:
                trace.status.append(dict(status.__dict__))
            if on_sample is not None:
                on_sample(state.time_s, out, state)
            if until(driver):
                break
    return state, trace


def sample_ring_gap(ring_position: np.ndarray) -> float:
    """Largest distance along the colon (rings) between neighbouring contact samples inside the body: ring_position
    (Q,) as `physics.world.scope_clearance` gives it (k + f in shaft order, handle first; -1 behind the anal verge).
    0 with fewer than two samples inside."""
    inside = ring_position[ring_position >= 0.0]
    return float(np.abs(np.diff(inside)).max()) if inside.size > 1 else 0.0


def _max_speed(velocity: np.ndarray) -> float:
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", velocity, velocity))))
