"""The coil-following driver: a recorded procedure's coils pull the virtual scope (DESIGN.md, "Replay").

Given a recording already registered to the world frame (`sim.logs.registration`), every step:

- **Insertion depth** (the hand): the shaft length past the anal verge, measured on the recorded coils at that
  moment. The verge (the scene's entry point) is projected onto the coil polyline; when the recording has as many
  coils as the scope model, the length is read with the model's coil arc lengths (coil k at `coil_arc_from_tip_m[k]`,
  linear between two coils), which does not shorten a curved shaft as the chords between coils do; otherwise the
  chord rule of `sim.scoring.samples.inserted_length_from_coils`. It is fed as `ScopeControls.target_depth_m`, so
  the hand's speed limit applies as for any device.
- **Soft targets** (the shaft shape): each recorded coil inside the body is a spring-damper toward its recorded
  position, acting on the rod at the coil (force on the coil's segment and its neighbours, with the torque of the
  coil's offset from the segment centre): ``F = k (x_rec - x) + c (v_rec - v)``. Physics does the rest (wall
  contact, colon deformation), so the replay shows what the shaft did to the colon. Coils outside the body are
  carried by the handle and get no spring.
- **Wheels** (the bend): the bending section (the distal 0.09 m) lies between the tip coil and the next one (0.1 m
  behind), so the points say how much it is bent, not the wheels. Modelled as a circular arc starting at the
  section's base (the current rod's, with its tangent and frame) and ending at the recorded tip coil: an arc turns
  by twice the angle between its start tangent and its chord, so the bend is ``2 * angle(tangent, chord)`` toward
  the chord, split into up/down (base +y) and left/right (base -x) as the wheels bend (`joint_rest_rotation`).
  The wheels are set to that (the hand's wheel-rate limit applies); the tip coil's spring corrects what the arc
  model misses. With neutral wheels the tip spring alone could not hold a 90° hook (the autopilot's wheels reach
  90° in the sigmoid) and the tip path was 9 mm RMS off on a 10 s insertion.
- **Roll**: held at 0. Coils are points: roll shows only through the shape of a bent shaft, and the fisheye field
  of view is circular, so coverage does not depend on it (the picture's orientation does).

Springs are explicit forces held over a step (the solver's substeps see them constant), so their stiffness is
bounded by the segments' mass and the step: `k dt^2 / m_eff` well below 1 with m_eff the few segments each force
is spread over (`SPREAD_SEGMENTS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from physics.scope_rod import quat_rotate
from sim.controls import ScopeControls
from sim.logs.coordinate_log import CoordinateLog
from sim.scoring.samples import finite_coils, inserted_length_from_coils, shaft_point_at_verge


@dataclass(frozen=True)
class CoilFollowerConfig:
    """Spring-damper of each coil target: stiffness (N/m) and damping (N s/m) per coil, spread over
    2 * spread_segments + 1 segments around the coil's segment with triangular weights.

    Measured on a 10 s autopilot insertion (seed 0), tip path RMS error of the replay: k = 100 N/m: 4.3 mm,
    150: 3.6 mm, 300: 2.4 mm, 600: 1.6 mm, 1200: 1.6 mm (damping about 2.5 ms times k). Stiffer does not help
    (the error left is the arc model of the bend while the wheels turn fast) and nears the explicit limit.
    """

    stiffness_N_m: float = 600.0
    damping_N_s_m: float = 1.5
    spread_segments: int = 2
    #: Largest force (N) one coil's spring applies: a coil whose target is far (a registration error, the wall in
    #: the way) pulls hard but does not fling the shaft through the wall.
    max_force_N: float = 3.0
    #: Set the wheels from the bend the coils show (module doc); False: neutral wheels, the tip spring alone.
    steer_wheels: bool = True


@dataclass
class CoilFollower:
    """The replay's hand: ``step_inputs(t_s, rod_state) -> (ScopeControls, force (S, 3), torque (S, 3))`` per step.

    log: the recording in the world frame (registered), K coils; scene: `sim.scene.Scene`; clock_offset_s: session
    time of the log's time 0 (colosim recordings take their first sample after the first step: dt).
    events: (session t_s, label) of the log's events, forwarded into the replay session as they come due.
    """

    scene: object
    log: CoordinateLog
    config: CoilFollowerConfig = field(default_factory=CoilFollowerConfig)
    clock_offset_s: float = 0.0

    def __post_init__(self):
        rod = self.scene.rod
        self._k = self.log.n_coils
        self._verge = np.asarray(self.scene.world.entry_point_m, dtype=float)
        # Recorded coil k drives model coil k only when the recording is of this scope's coil layout.
        self._use_model_arcs = self._k == len(rod.coil_arc_from_tip_m)
        n_used = min(self._k, len(rod.coil_arc_from_tip_m))
        self._coil_segment = np.asarray(rod.coil_segment[:n_used])
        self._coil_offset = np.asarray(rod.coil_offset_m[:n_used], dtype=float)
        self._coil_arc = np.asarray(rod.coil_arc_from_tip_m[:n_used], dtype=float)
        self._seg_count = rod.segment_count
        self._segment_arc_m = np.asarray(rod.segment_arc_from_tip_m, dtype=float)
        self._t = self.log.t_s + self.clock_offset_s
        self.depth_m = self._depth_at_sample(0)
        self.events: list[tuple[float, str]] = []
        self._pending = sorted(((e.t_s + self.clock_offset_s, e.label) for e in self.log.events), key=lambda e: e[0])
        self.phase = "replay"
        bending = np.flatnonzero(rod.bending_segment)
        # The segment just proximal of the bending section: the arc of the bend starts at its distal end.
        self._bend_base = int(bending.min()) - 1 if bending.size else -1
        self._base_half_length_m = 0.5 * float(rod.segment_length_m[max(self._bend_base, 0)])

    # --- the recording at a time ------------------------------------------------------------------------------

    def coils_at(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Recorded coils (K, 3) and their velocities (K, 3) at session time `t_s` (linear between samples,
        held before the first and after the last)."""
        t = self._t
        i = int(np.clip(np.searchsorted(t, t_s) - 1, 0, t.size - 2)) if t.size > 1 else 0
        if t.size == 1:
            return self.log.coils_m[0], np.zeros((self._k, 3))
        a, b = self.log.coils_m[i], self.log.coils_m[i + 1]
        u = float(np.clip((t_s - t[i]) / (t[i + 1] - t[i]), 0.0, 1.0))
        velocity = (b - a) / (t[i + 1] - t[i])
        if t_s < t[0] or t_s > t[-1]:
            velocity = np.zeros_like(velocity)
        return a + u * (b - a), velocity

    def depth_from_coils(self, coils_m: np.ndarray) -> float:
        """Inserted length (m) from one sample's coils (K, 3) in the world frame (module doc); NaN if no tip."""
        if not np.all(np.isfinite(coils_m[0])):
            return math.nan
        if not self._use_model_arcs:
            return float(inserted_length_from_coils(coils_m[None], self._verge)[0])
        ok = np.all(np.isfinite(coils_m), axis=1)
        arcs = self._coil_arc[ok]
        pts = finite_coils(coils_m)
        hit = shaft_point_at_verge(pts, self._verge)
        if len(arcs) == 1:
            return float(hit.arc_from_tip_m)
        if hit.segment == 0 and hit.u <= 0.0 and not hit.beyond_last_coil:
            # The verge is ahead of coil 0: the tip is out by the distance along the shaft axis past coil 0's arc.
            axis = pts[0] - pts[1]
            ahead = float(np.dot(self._verge - pts[0], axis / max(np.linalg.norm(axis), 1e-12)))
            return max(0.0, float(arcs[0]) - ahead)
        if hit.beyond_last_coil:
            return float(arcs[-1] + np.linalg.norm(self._verge - coils_m[ok][-1]))
        return float(arcs[hit.segment] + hit.u * (arcs[hit.segment + 1] - arcs[hit.segment]))

    def _outside(self, rod_state) -> np.ndarray:
        """(S,) bool: segments whose centre is not yet past the anal verge. Outside the body, whether or not the hand
        holds them (it holds the scope further back, physics/world.py HAND_DISTANCE_M)."""
        return self._segment_arc_m >= rod_state.insertion_depth_m

    def _depth_at_sample(self, i: int) -> float:
        depth = self.depth_from_coils(self.log.coils_m[i])
        return 0.0 if math.isnan(depth) else max(0.0, depth)

    def wheels_for(self, tip_target_m: np.ndarray, rod_state) -> tuple[float, float]:
        """(up/down, left/right) wheel angles (rad) that bend the section from its current base toward
        `tip_target_m` (3,) (module doc: circular arc); (0, 0) without a target or with the tip outside."""
        base = self._bend_base
        if base < 0 or not np.all(np.isfinite(tip_target_m)) or self._outside(rod_state)[-1]:
            return 0.0, 0.0
        axes = quat_rotate(np.repeat(rod_state.orientation[base][None], 3, axis=0), np.eye(3))  # body x, y, z
        start = rod_state.position_m[base] + axes[2] * self._base_half_length_m
        chord = tip_target_m - start
        along = float(np.dot(chord, axes[2]))
        side = chord - along * axes[2]
        side_norm = float(np.linalg.norm(side))
        if side_norm < 1e-9:
            return 0.0, 0.0
        bend = 2.0 * math.atan2(side_norm, along)
        up = bend * float(np.dot(side, axes[1])) / side_norm
        right = bend * float(np.dot(side, -axes[0])) / side_norm
        return up, right

    # --- driver interface -------------------------------------------------------------------------------------

    def step_inputs(self, t_s: float, rod_state) -> tuple[ScopeControls, np.ndarray, np.ndarray]:
        """Controls and rod loads (S, 3) force, (S, 3) torque for the step starting at session time `t_s`."""
        coils, _ = self.coils_at(t_s)
        depth = self.depth_from_coils(coils)
        if not math.isnan(depth):  # no tip reading: the hand holds
            self.depth_m = max(0.0, depth)
        while self._pending and self._pending[0][0] <= t_s + 1e-9:
            self.events.append(self._pending.pop(0))
        up, right = self.wheels_for(coils[0], rod_state) if self.config.steer_wheels else (0.0, 0.0)
        controls = ScopeControls(target_depth_m=self.depth_m, roll_rad=0.0, wheel_up_down_rad=up,
                                 wheel_left_right_rad=right)
        force, torque = self.loads(t_s, rod_state)
        return controls, force, torque

    def loads(self, t_s: float, rod_state) -> tuple[np.ndarray, np.ndarray]:
        """Spring-damper forces (S, 3) at segment centres and torques (S, 3) that pull the rod's coils toward the
        recording at session time `t_s`; `rod_state`: the current `RodState`."""
        c = self.config
        target, target_v = self.coils_at(t_s)
        n = len(self._coil_segment)
        target, target_v = target[:n], target_v[:n]
        seg = self._coil_segment
        q = rod_state.orientation[seg]
        offset = quat_rotate(q, np.column_stack([np.zeros(n), np.zeros(n), self._coil_offset]))
        x = rod_state.position_m[seg] + offset
        v = rod_state.velocity_m_s[seg] + np.cross(rod_state.angular_velocity_rad_s[seg], offset)
        force = c.stiffness_N_m * (target - x) + c.damping_N_s_m * (target_v - v)
        # Only coils inside the body (past the anal verge) and with a reading pull.
        outside = self._outside(rod_state)
        active = np.all(np.isfinite(target), axis=1) & ~outside[seg]
        force[~active] = 0.0
        mag = np.linalg.norm(force, axis=1, keepdims=True)
        force *= np.minimum(1.0, c.max_force_N / np.maximum(mag, 1e-12))
        out_f = np.zeros((self._seg_count, 3))
        out_t = np.zeros((self._seg_count, 3))
        spread = np.arange(-c.spread_segments, c.spread_segments + 1)
        weights = (c.spread_segments + 1 - np.abs(spread)).astype(float)
        for k in np.flatnonzero(active):
            idx = seg[k] + spread
            keep = (idx >= 0) & (idx < self._seg_count)
            idx, w = idx[keep], weights[keep] / weights[keep].sum()
            out_f[idx] += w[:, None] * force[k]
            # The force acts at the coil, not the segment centre: its moment about the centre goes on the segment.
            out_t[seg[k]] += np.cross(offset[k], force[k])
        out_f[outside] = 0.0
        out_t[outside] = 0.0
        return out_f, out_t
