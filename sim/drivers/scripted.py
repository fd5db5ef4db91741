"""A small scripted driver: feed the scope in at a steady speed for a while, steering the tip toward the colon's
rest centreline ahead with the wheels, then pull back. The fallback for headless sessions when the autopilot is not
available, and a cheap, predictable driver for tests.

Steering: the target is the rest centreline point `lookahead_m` beyond the inserted length (the scope's arc length
roughly follows the centreline while no loop forms); its direction in the tip camera's frame (up, right components)
turns the wheels at `steer_gain_per_s` times that error (rad/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physics.world import WorldOutputs
from sim.controls import ScopeControls


@dataclass(frozen=True)
class ScriptConfig:
    """insertion_speed_m_s for insertion_s seconds, then withdrawal_speed_m_s (positive number) until the end."""

    insertion_speed_m_s: float = 0.05
    insertion_s: float = 15.0
    withdrawal_speed_m_s: float = 0.02
    lookahead_m: float = 0.03
    steer_gain_per_s: float = 3.0


class ScriptedDriver:
    """Callable driver ``(t_s, outputs) -> ScopeControls`` with `phase` and `events` (module doc)."""

    def __init__(self, scene, config: ScriptConfig | None = None):
        self.config = config or ScriptConfig()
        self._centreline = np.asarray(scene.colon.rest_ring_centre_m, dtype=np.float64)
        self._s = np.asarray(scene.colon.ring_s_m, dtype=np.float64)
        self.phase = "insertion"
        self.events: list[tuple[float, str]] = []

    def _target(self, s_m: float) -> np.ndarray:
        s = float(np.clip(s_m, self._s[0], self._s[-1]))
        return np.array([np.interp(s, self._s, self._centreline[:, a]) for a in range(3)])

    def __call__(self, t_s: float, outputs: WorldOutputs) -> ScopeControls:
        c = self.config
        if not self.events:
            self.events.append((t_s, "Endoscopy started"))
        if self.phase == "insertion" and t_s >= c.insertion_s:
            self.phase = "withdrawal"
        rod = outputs.rod
        if self.phase == "insertion":
            to = self._target(rod.inserted_length_m + c.lookahead_m) - rod.camera_position_m
            n = np.linalg.norm(to)
            if n > 1e-9:
                to /= n
            right = rod.camera_right
            up_error = float(np.dot(to, rod.camera_up))
            right_error = float(np.dot(to, right))
            return ScopeControls(insertion_velocity_m_s=c.insertion_speed_m_s,
                                 wheel_up_down_rate_rad_s=c.steer_gain_per_s * up_error,
                                 wheel_left_right_rate_rad_s=c.steer_gain_per_s * right_error)
        return ScopeControls(insertion_velocity_m_s=-c.withdrawal_speed_m_s)
