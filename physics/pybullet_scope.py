"""The colonoscope as a PyBullet multibody chain: the reference backend for physics/scope_rod.py.

DESIGN.md, "Solver": PyBullet builds the same scope as a multibody chain with spherical joints, as the cross-check
of our XPBD rod and as the peer in benchmarks. This module builds it from the same `RodModel` (segments, EI, GJ,
mass per length, bending section, coils) and drives it with the same `RodControls`; `PyBulletScope.outputs()`
returns the same `RodOutputs` as `physics.scope_rod.rod_outputs`.

The chain
- One rigid body per rod segment, with the segment's mass and a capsule collision shape of the rod's diameter whose
  cylinder part is the segment length (the caps overlap the neighbours; PyBullet does not collide links of one
  multibody, and the pairs across two multibodies are filtered out).
- Segment i - 1 and segment i are joined by a JOINT_SPHERICAL at their shared end face, like the rod's joints.
  Link frames sit at the proximal face of their segment, centres of mass (the segment centres) half a segment
  distal; body +z is the scope axis, +y image-up, -x image-right (the rod's conventions).
- PyBullet handles at most 31 segments per multibody (MAX_SEGMENTS_PER_BODY, measured), so a longer scope is cut
  into a few equal multibodies (the default 133-segment scope: 5), each with its first segment as base. At a cut
  a JOINT_POINT2POINT constraint joins the two faces and the joint's spring acts as a pair of external torques
  (same law as below); the P2P constraint is solved iteratively, so the faces part by a few micrometres under load
  (measured: 4 µm at 0.5 N in the cantilever cut into 4 bodies).
- Frames, quaternions: PyBullet quaternions are (x, y, z, w); everything this module returns is (w, x, y, z) like
  physics/scope_rod.py.

Joint stiffness: how EI and GJ enter, and why this way
Each joint gets a spring torque, applied with `setJointMotorControlMultiDofArray(..., TORQUE_CONTROL)` (across a
cut between multibodies: `applyExternalTorque` on both segments):
    tau = -diag(EI_j / l_j, EI_j / l_j, GJ / l_j) log(q_rel conj(q_rest)) - diag(k) dt omega_rel
with l_j the joint length (centre to centre), q_rel the joint's quaternion, q_rest its rest rotation (the wheels'
curvature on the bending section) and omega_rel the joint's angular velocity. The moment-angle slope is therefore
exactly EI / l for bending and GJ / l for twist, the same discrete beam as the XPBD rod, so the static answers are
comparable joint for joint.

The obvious alternative, `POSITION_CONTROL` with positionGain and force, does NOT give a moment-angle slope in
Bullet: btMultiBodySphericalJointMotor is a velocity constraint (drive the joint toward the target at
kp * erp * error / dt) with the force as an impulse clamp, so a joint is rigid until the load reaches `force` and
then slips at constant torque (measured: a 10 mm link with force 0.02 N·m held a 0.005 N·m load with zero
deflection). Updating the clamp every step to k |error| (a spring-shaped clamp) was tried and measured: a 5-link
chain under a tip load stuck at about 15 times the expected joint angle, because any state whose required torque
is below the clamp is an equilibrium. STABLE_PD_CONTROL (implicit PD) is accepted by the array call but applied no
torque to a createMultiBody chain in pybullet 3.2.7 (measured).

Limits of the torque spring (documented, not hidden)
- The spring torque is explicit (computed from the state at the start of the step). A 10 mm segment has a joint
  stiffness of 5 N·m/rad against a rotary inertia of 1e-7 kg·m² (omega about 7000 rad/s); at dt = 1/240 s that
  explodes. So each segment's rotary inertia is raised, per axis, to `INERTIA_SAFETY * k * dt²` with k the
  stiffest adjacent joint about that axis (bending at the largest stiffness setting; twist), which puts the
  chain's highest mode (omega² <= 4 k / J) at omega dt <= 0.71. Default scope, dt = 1/240 s: 2.1e-3 kg·m² about
  the bending axes of shaft segments (18,000 times the real 1.1e-7), 6.9e-4 about the axis (17,000 times),
  6.9e-5 in the bending section (600 times). Mass and hence translation and gravity are untouched, and the
  equilibrium does not depend on inertia, so static answers (cantilever, twist, angulation) are exact up to the
  solver; but rotations are slow. Measured (tests/test_pybullet_scope.py): a 90° handle roll over 0.5 s has
  turned the tip 8.6° when the ramp ends; after a 0.5 s insertion with wheel motion the tip is 17 mm from the
  rod's, 0.15 mm after another 1.5 s. Dynamic comparisons with the XPBD rod are loose by construction.
- The inertia depends on dt: build with the dt you step with (stepping with a larger dt is refused).
- The joint damping term (k dt per axis) kills the chain's highest modes; `damping_per_s` is a viscous loss on
  every body's linear and angular velocity like the rod's, implemented with Bullet's multibody linear/angular
  damping, which adds a small quadratic term (Bullet multiplies by (d + d |v|)).
- The handle: the segment just outside the entry point (the last one whose centre is at arc length >= insertion
  depth, as in the rod) is held by one JOINT_FIXED constraint, moved with `changeConstraint` every step and moved
  to the next segment (remove + create) when the insertion depth crosses a segment. Segments behind it are free
  (the rod moves them kinematically along the insertion axis); in free space without gravity they stay straight.
- The handle force is the constraint's reaction; it includes the weight of the held segment and of the free part
  behind the entry point when gravity is on (the rod reports only the load through the entry joint).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pybullet as p

from physics.scope_rod import (
    RodControls,
    RodModel,
    RodOutputs,
    RodState,
    ScopeSpec,
    build_rod,
    insertion_frame,
    joint_rest_rotation,
    quat_multiply,
    quat_rotate,
    rest_quaternions,
    rod_outputs,
)

#: Design step: PyBullet's own default, and the step of bench/scope_rod.py.
DEFAULT_DT_S = 1.0 / 240.0
#: Rotary inertia floor J >= INERTIA_SAFETY * k_max * dt²: the highest chain mode then has omega dt =
#: 2 / sqrt(INERTIA_SAFETY) = 0.71 (explicit springs with semi-implicit Euler are stable below 2; the joint
#: damping uses up part of that margin). Measured: 4 with a damper twice the one used here oscillated at the step
#: rate and diverged on 5- and 30-link chains; 8 with the damper of `_apply_springs` is stable.
INERTIA_SAFETY = 8.0
#: Largest handle stiffness setting the inertia floor allows for (anatomy.md: variable-stiffness scopes span 3x).
DEFAULT_MAX_STIFFNESS_SCALE = 3.0
#: Same meaning and default as physics.scope_rod.DEFAULT_DAMPING_PER_S.
DEFAULT_DAMPING_PER_S = 2.0
#: Force limit of the handle constraint: large, so the handle never slips in free space; a haptic setting could
#: lower it to bound the push force.
DEFAULT_HANDLE_MAX_FORCE_N = 1000.0
#: Segments per multibody. Two PyBullet limits, both measured with pybullet 3.2.7 and both silent: createMultiBody
#: keeps at most 127 links, and the joint state and motor commands carry 128 position coordinates (7 for the base,
#: 4 per spherical joint), so getJointStatesMultiDof returns empty positions from the 31st spherical joint on. So a
#: body holds 31 segments (30 spherical joints) and the 133-segment scope is cut into 5 bodies.
MAX_SEGMENTS_PER_BODY = 31
#: Error reduction of the handle constraint: a stiff clamp that closes 80 % of a positional error per step.
HANDLE_ERP = 0.8


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (N, 3) by unit quaternions q (N, 4) (w, x, y, z); returns (N, 3).

    Same as physics.scope_rod.quat_rotate, written out by component: np.cross's axis handling made the per-step
    Python cost several times the Bullet step itself (profiled on the 133-segment bench).
    """
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    vx, vy, vz = v[:, 0], v[:, 1], v[:, 2]
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return np.stack((vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx)),
                    axis=1)


@dataclass
class PyBulletScope:
    """A scope rod as PyBullet multibodies: S segments, J = S - 1 spherical joints, B bodies.

    Use as a context manager or call `close()`: it disconnects the PyBullet client if it connected it.

    Attributes
    - model: the RodModel it was built from. client: PyBullet physics client id.
    - bodies: multibody ids (B,), proximal first. body_first_segment (B,) int: the segment that is each body's base.
    - segment_body (S,) int, segment_link (S,) int: where segment i lives (PyBullet body index into `bodies`, link
      index, -1 for a base).
    - junctions: point-to-point constraint ids between consecutive bodies (B - 1,).
    - owns_client: True when `build_pybullet_scope` connected the client (close() then disconnects it).
    - dt_s: the step the rotary inertia floor was sized for.
    - rotary_inertia_kg_m2 (S, 3): body-frame principal moments actually used (raised to the floor).
    - entry_point_m (3,), entry_orientation (4,) (w, x, y, z): the insertion frame, +z into the body.
    - insertion_depth_m, roll_rad: handle values of the last step. time_s: simulated time.
    - clamp_segment: index of the segment held by the handle constraint; constraint: its id.
    - handle_force_N (3,), handle_moment_Nm (3,): load the handle exerts on the rod (world frame), last step; the
      moment is about the clamp segment's distal face centre (the rod's entry joint).
    - engine_time_s: wall time spent inside p.stepSimulation so far (the rest of `step` is this module's Python).
    """

    model: RodModel
    client: int
    bodies: list
    body_first_segment: np.ndarray
    segment_body: np.ndarray
    segment_link: np.ndarray
    junctions: list
    owns_client: bool
    dt_s: float
    rotary_inertia_kg_m2: np.ndarray
    entry_point_m: np.ndarray
    entry_orientation: np.ndarray
    max_stiffness_scale: float
    handle_max_force_N: float
    damping_per_s: float
    insertion_depth_m: float = 0.0
    roll_rad: float = 0.0
    time_s: float = 0.0
    clamp_segment: int = 0
    constraint: int = -1
    handle_force_N: np.ndarray = field(default_factory=lambda: np.zeros(3))
    handle_moment_Nm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    engine_time_s: float = 0.0

    # ----------------------------------------------------------------------------------------------------------
    def __enter__(self) -> "PyBulletScope":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the client if this scope connected it (idempotent)."""
        if self.owns_client and self.client >= 0:
            p.disconnect(physicsClientId=self.client)
            self.client = -1

    # ----------------------------------------------------------------------------------------------------------
    def step(self, controls: RodControls, dt_s: float = DEFAULT_DT_S, *, damping_per_s: float | None = None) -> None:
        """Advance by `dt_s` with the handle, wheels, stiffness setting and loads of `controls`.

        Same controls as `physics.scope_rod.step_rod`: insertion depth and roll move the handle constraint (to the
        step's end values; PyBullet has no substeps here), the wheels set the rest rotation of the bending
        section's joints, stiffness_scale multiplies the insertion tube's EI (clamped to max_stiffness_scale, which
        the inertia floor was sized for), external_force_N / external_torque_Nm (S, 3) act on segment centres.
        Raises ValueError for a step longer than the one the scope was built for (the springs would go unstable).
        """
        if not 0 < dt_s <= self.dt_s * (1 + 1e-9):
            raise ValueError(f"PyBulletScope.step: dt_s must be in (0, {self.dt_s}] (built for it), got {dt_s}")
        if not controls.stiffness_scale > 0:
            raise ValueError(f"RodControls.stiffness_scale must be positive, got {controls.stiffness_scale!r}")
        cid = self.client
        p.setTimeStep(dt_s, physicsClientId=cid)
        if damping_per_s is not None and damping_per_s != self.damping_per_s:
            self.damping_per_s = float(damping_per_s)
            for body in self.bodies:
                p.changeDynamics(body, -1, linearDamping=self.damping_per_s, angularDamping=self.damping_per_s,
                                 physicsClientId=cid)

        depth = float(np.clip(controls.insertion_depth_m, 0.0, self.model.max_insertion_m))
        self._move_handle(depth, float(controls.roll_rad))
        self._apply_springs(controls, dt_s)
        self._apply_loads(controls)
        t0 = time.perf_counter()
        p.stepSimulation(physicsClientId=cid)
        self.engine_time_s += time.perf_counter() - t0

        self.insertion_depth_m = depth
        self.roll_rad = float(controls.roll_rad)
        self.time_s += float(dt_s)
        self._read_handle_load()

    # ----------------------------------------------------------------------------------------------------------
    def segment_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """Segment centres (S, 3) in m and orientations (S, 4) (w, x, y, z), world frame."""
        cid = self.client
        pos, xyzw = [], []
        for body, links in zip(self.bodies, self._body_links()):
            base_pos, base_orn = p.getBasePositionAndOrientation(body, physicsClientId=cid)
            states = p.getLinkStates(body, links, physicsClientId=cid) if links else []
            pos += [base_pos] + [s[0] for s in states]
            xyzw += [base_orn] + [s[1] for s in states]
        return np.array(pos, dtype=np.float64), np.array(xyzw, dtype=np.float64)[:, [3, 0, 1, 2]]

    def segment_velocities(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear (S, 3) m/s and angular (S, 3) rad/s velocities of the segments, world frame."""
        cid = self.client
        lin, ang = [], []
        for body, links in zip(self.bodies, self._body_links()):
            base_v, base_w = p.getBaseVelocity(body, physicsClientId=cid)
            states = p.getLinkStates(body, links, computeLinkVelocity=1, physicsClientId=cid) if links else []
            lin += [base_v] + [s[6] for s in states]
            ang += [base_w] + [s[7] for s in states]
        return np.array(lin, dtype=np.float64), np.array(ang, dtype=np.float64)

    def _body_links(self) -> list[list[int]]:
        """Link indices of each body (B lists): a body's segments after its base."""
        counts = np.diff(np.append(self.body_first_segment, self.model.segment_count))
        return [list(range(int(c) - 1)) for c in counts]

    def rod_state(self) -> RodState:
        """A RodState snapshot of this chain (poses, velocities, handle values), for comparisons with the rod.

        prev_* equal the current poses and the multipliers are zero: PyBullet has no such quantities."""
        pos, orn = self.segment_poses()
        lin, ang = self.segment_velocities()
        return RodState(
            position_m=pos,
            orientation=orn,
            velocity_m_s=lin,
            angular_velocity_rad_s=ang,
            prev_position_m=pos.copy(),
            prev_orientation=orn.copy(),
            multiplier=np.zeros((self.model.segment_count - 1, 6)),
            kinematic=self.model.segment_arc_from_tip_m >= self.insertion_depth_m,
            entry_point_m=self.entry_point_m.copy(),
            entry_orientation=self.entry_orientation.copy(),
            insertion_depth_m=self.insertion_depth_m,
            roll_rad=self.roll_rad,
            handle_force_N=self.handle_force_N.copy(),
            handle_moment_Nm=self.handle_moment_Nm.copy(),
            time_s=self.time_s,
        )

    def outputs(self) -> RodOutputs:
        """Tip and camera pose, coil positions, inserted length and handle load: `rod_outputs` of `rod_state()`."""
        return rod_outputs(self.model, self.rod_state())

    # ----------------------------------------------------------------------------------------------------------
    def _handle_pose(self, segment: int, depth_m: float, roll_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """Where the handle holds `segment`: centre (3,) on the insertion axis at depth `depth_m - u`, and
        orientation (4,) (w, x, y, z) = insertion frame rolled by `roll_rad` (as the rod's kinematic segments)."""
        axis = _rotate(self.entry_orientation[None, :], np.array([[0.0, 0.0, 1.0]]))[0]
        centre = self.entry_point_m + axis * (depth_m - self.model.segment_arc_from_tip_m[segment])
        roll_q = np.array([[math.cos(0.5 * roll_rad), 0.0, 0.0, math.sin(0.5 * roll_rad)]])
        return centre, quat_multiply(self.entry_orientation[None, :], roll_q)[0]

    def _move_handle(self, depth_m: float, roll_rad: float) -> None:
        """Point the handle constraint at the segment just outside the entry point and move it to its pose."""
        clamp = int(np.count_nonzero(self.model.segment_arc_from_tip_m >= depth_m)) - 1
        centre, q = self._handle_pose(clamp, depth_m, roll_rad)
        xyzw = [q[1], q[2], q[3], q[0]]
        cid = self.client
        if clamp != self.clamp_segment or self.constraint < 0:
            # The clamp moves to another segment when the feed crosses a segment boundary: a new constraint,
            # because a PyBullet constraint cannot change the link it holds.
            if self.constraint >= 0:
                p.removeConstraint(self.constraint, physicsClientId=cid)
            self.constraint = p.createConstraint(
                self.bodies[self.segment_body[clamp]], int(self.segment_link[clamp]), -1, -1, p.JOINT_FIXED,
                [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], centre.tolist(), childFrameOrientation=xyzw, physicsClientId=cid,
            )
            self.clamp_segment = clamp
        p.changeConstraint(self.constraint, jointChildPivot=centre.tolist(), jointChildFrameOrientation=xyzw,
                           maxForce=self.handle_max_force_N, erp=HANDLE_ERP, physicsClientId=cid)

    def _apply_springs(self, controls: RodControls, dt_s: float) -> None:
        """Spring and damper torque of every joint (see the module docstring): joint motors in TORQUE_CONTROL
        inside a body, a pair of external torques across a junction between two bodies."""
        model = self.model
        cid = self.client
        nj = model.segment_count - 1
        q = np.empty((nj, 4))  # joint rotation (w, x, y, z): distal segment in the proximal one's frame
        omega = np.empty((nj, 3))  # joint angular velocity in the distal segment's frame
        junction = self.body_first_segment[1:] - 1  # joints between two bodies (their proximal segment)
        for b, (body, links) in enumerate(zip(self.bodies, self._body_links())):
            if not links:
                continue
            first = int(self.body_first_segment[b])
            states = p.getJointStatesMultiDof(body, links, physicsClientId=cid)
            q[first:first + len(links)] = np.array([s[0] for s in states], dtype=np.float64)[:, [3, 0, 1, 2]]
            omega[first:first + len(links)] = np.array([s[1] for s in states], dtype=np.float64)
        if junction.size:
            # Across a junction the joint state comes from the two segments' world orientations and velocities
            # (queried for those segments only: this runs every step).
            ends = np.concatenate((junction, junction + 1))
            orn = np.empty((self.model.segment_count, 4))
            ang = np.empty((self.model.segment_count, 3))
            for i in ends:
                orn[i], ang[i] = self._segment_rotation(int(i))
            qa, qb = orn[junction], orn[junction + 1]
            q[junction] = quat_multiply(qa * np.array([1.0, -1.0, -1.0, -1.0]), qb)
            omega[junction] = _rotate(qb * np.array([1.0, -1.0, -1.0, -1.0]), ang[junction + 1] - ang[junction])

        rest = rest_quaternions(joint_rest_rotation(model, controls))
        err = quat_multiply(q, rest * np.array([1.0, -1.0, -1.0, -1.0]))  # in the proximal segment's frame
        err[err[:, 0] < 0] *= -1.0  # shortest way round
        vec_norm = np.linalg.norm(err[:, 1:], axis=1)
        angle = 2.0 * np.arctan2(vec_norm, err[:, 0])
        scale = np.where(vec_norm > 1e-12, angle / np.maximum(vec_norm, 1e-300), 2.0)
        stiffness = self._joint_stiffness(controls.stiffness_scale)
        torque_parent = -stiffness * (err[:, 1:] * scale[:, None])
        # Spherical joint torques and velocities are in the distal (child) segment's frame: rotate by conj(q).
        torque = _rotate(q * np.array([1.0, -1.0, -1.0, -1.0]), torque_parent) - stiffness * dt_s * omega

        for b, (body, links) in enumerate(zip(self.bodies, self._body_links())):
            if links:
                first = int(self.body_first_segment[b])
                p.setJointMotorControlMultiDofArray(body, links, p.TORQUE_CONTROL,
                                                    forces=torque[first:first + len(links)].tolist(),
                                                    physicsClientId=cid)
        for j in junction:
            # The joint torque acts on the distal segment and its reaction on the proximal one, in world frame.
            world = _rotate(orn[[j + 1]], torque[[j]])[0]
            for seg, sign in ((j + 1, 1.0), (j, -1.0)):
                p.applyExternalTorque(self.bodies[self.segment_body[seg]], int(self.segment_link[seg]),
                                      (sign * world).tolist(), p.WORLD_FRAME, physicsClientId=cid)

    def _segment_rotation(self, segment: int) -> tuple[np.ndarray, np.ndarray]:
        """Orientation (4,) (w, x, y, z) and angular velocity (3,) rad/s of one segment, world frame."""
        body = self.bodies[self.segment_body[segment]]
        link = int(self.segment_link[segment])
        if link < 0:
            xyzw = p.getBasePositionAndOrientation(body, physicsClientId=self.client)[1]
            omega = p.getBaseVelocity(body, physicsClientId=self.client)[1]
        else:
            state = p.getLinkState(body, link, computeLinkVelocity=1, physicsClientId=self.client)
            xyzw, omega = state[1], state[7]
        return np.array([xyzw[3], xyzw[0], xyzw[1], xyzw[2]]), np.asarray(omega, dtype=np.float64)

    def _joint_stiffness(self, stiffness_scale: float) -> np.ndarray:
        """Moment-angle slopes (J, 3) in N·m/rad: (EI/l, EI/l, GJ/l) per joint, the handle setting applied to the
        insertion tube and clamped to max_stiffness_scale."""
        model = self.model
        scale_value = min(float(stiffness_scale), self.max_stiffness_scale)
        scale = 1.0 + model.joint_scalable * (scale_value - 1.0)
        out = np.empty((model.joint_length_m.shape[0], 3))
        out[:, 0] = model.joint_bend_stiffness_Nm2 * scale / model.joint_length_m
        out[:, 1] = out[:, 0]
        out[:, 2] = model.joint_twist_stiffness_Nm2 / model.joint_length_m
        return out

    def _apply_loads(self, controls: RodControls) -> None:
        """External force (S, 3) at segment centres and torque (S, 3), world frame, for this step only."""
        cid = self.client
        seg_count = self.model.segment_count
        if controls.external_force_N is not None:
            pos, _ = self.segment_poses()
            force = np.asarray(controls.external_force_N, dtype=np.float64).reshape(seg_count, 3)
            for i in np.flatnonzero(np.any(force != 0.0, axis=1)):
                p.applyExternalForce(self.bodies[self.segment_body[i]], int(self.segment_link[i]), force[i].tolist(),
                                     pos[i].tolist(), p.WORLD_FRAME, physicsClientId=cid)
        if controls.external_torque_Nm is not None:
            torque = np.asarray(controls.external_torque_Nm, dtype=np.float64).reshape(seg_count, 3)
            for i in np.flatnonzero(np.any(torque != 0.0, axis=1)):
                p.applyExternalTorque(self.bodies[self.segment_body[i]], int(self.segment_link[i]),
                                      torque[i].tolist(), p.WORLD_FRAME, physicsClientId=cid)

    def _read_handle_load(self) -> None:
        """Handle force and moment on the rod from the constraint's reaction (see the class docstring)."""
        reaction = np.asarray(p.getConstraintState(self.constraint, physicsClientId=self.client), dtype=np.float64)
        centre, q = self._handle_pose(self.clamp_segment, self.insertion_depth_m, self.roll_rad)
        # getConstraintState gives what the constraint does to the held segment, i.e. what the handle does to the
        # rod (the rod's sign convention): the force in the world frame, the moment in the handle frame (measured:
        # insertion frame times roll) about the segment centre.
        self.handle_force_N = reaction[:3].copy()
        moment_centre = _rotate(q[None, :], reaction[None, 3:6])[0]
        half = 0.5 * self.model.segment_length_m[self.clamp_segment]
        face = centre + _rotate(q[None, :], np.array([[0.0, 0.0, half]]))[0]
        # Shift the moment from the segment centre to the entry joint (its distal face), where the rod reports it.
        self.handle_moment_Nm = moment_centre + np.cross(centre - face, self.handle_force_N)


def build_pybullet_scope(
    spec_or_model: ScopeSpec | RodModel,
    client: int | None = None,
    *,
    origin_m: np.ndarray | None = None,
    direction: np.ndarray | None = None,
    up: np.ndarray | None = None,
    insertion_depth_m: float = 0.0,
    roll_rad: float = 0.0,
    dt_s: float = DEFAULT_DT_S,
    gravity_m_s2: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
    damping_per_s: float = DEFAULT_DAMPING_PER_S,
    max_stiffness_scale: float = DEFAULT_MAX_STIFFNESS_SCALE,
    handle_max_force_N: float = DEFAULT_HANDLE_MAX_FORCE_N,
    max_segments_per_body: int = MAX_SEGMENTS_PER_BODY,
) -> PyBulletScope:
    """Build the scope in PyBullet, straight along the insertion axis (like `straight_state`).

    spec_or_model: a ScopeSpec (built with `build_rod`) or a RodModel. client: None connects a new
    `p.connect(p.DIRECT)` client that the scope owns (disconnected on close); an existing client id is used as is
    (its gravity and time step are set; it is not disconnected).
    origin_m (3,): entry point (default the origin); direction (3,): insertion axis (default +x); up (3,): image-up
    of the unrolled handle (see `insertion_frame`). gravity_m_s2 (3,): off by default, as in the tests.
    max_segments_per_body: the chain is cut into as few equal multibodies as this allows (PyBullet's limit is 31
    segments per multibody, see MAX_SEGMENTS_PER_BODY; tests lower it to exercise the junctions). Other keywords: see the module constants.
    """
    model = build_rod(spec_or_model) if isinstance(spec_or_model, ScopeSpec) else spec_or_model
    if not (dt_s > 0 and max_stiffness_scale >= 1.0 and handle_max_force_N > 0
            and 2 <= max_segments_per_body <= MAX_SEGMENTS_PER_BODY):
        raise ValueError(
            "build_pybullet_scope: need dt_s > 0, max_stiffness_scale >= 1, handle_max_force_N > 0, "
            f"2 <= max_segments_per_body <= {MAX_SEGMENTS_PER_BODY}; got {dt_s}, {max_stiffness_scale}, "
            f"{handle_max_force_N}, {max_segments_per_body}"
        )
    owns = client is None
    cid = p.connect(p.DIRECT) if owns else int(client)
    try:
        p.setTimeStep(dt_s, physicsClientId=cid)
        p.setGravity(*[float(g) for g in np.asarray(gravity_m_s2, dtype=np.float64).reshape(3)], physicsClientId=cid)
        # Same inputs, same order of contact pairs: keeps runs repeatable.
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1, physicsClientId=cid)

        seg_count = model.segment_count
        depth = float(np.clip(insertion_depth_m, 0.0, model.max_insertion_m))
        entry_q = insertion_frame(np.array([1.0, 0.0, 0.0]) if direction is None else direction, up)
        origin = np.zeros(3) if origin_m is None else np.asarray(origin_m, dtype=np.float64).reshape(3)
        axis = quat_rotate(entry_q[None, :], np.array([[0.0, 0.0, 1.0]]))[0]
        roll_q = np.array([[math.cos(0.5 * roll_rad), 0.0, 0.0, math.sin(0.5 * roll_rad)]])
        q0 = quat_multiply(entry_q[None, :], roll_q)[0]
        q0_xyzw = [q0[1], q0[2], q0[3], q0[0]]
        centres = origin[None, :] + axis[None, :] * (depth - model.segment_arc_from_tip_m)[:, None]

        # Rotary inertia floor (see the module docstring), per segment and per axis: bending moments (x, y) from
        # the stiffest bending joint next to the segment (at the largest stiffness setting), the axial moment (z)
        # from the twist joints. Per axis and per segment rather than one global floor, because the bending
        # section is ten times softer than the shaft: a global floor slowed the wheels' response about fivefold.
        scale_max = 1.0 + model.joint_scalable * (max_stiffness_scale - 1.0)
        k_joint = np.stack((model.joint_bend_stiffness_Nm2 * scale_max / model.joint_length_m,
                            model.joint_twist_stiffness_Nm2 / model.joint_length_m), axis=1)  # (J, 2)
        k_seg = np.zeros((seg_count, 2))
        k_seg[:-1] = k_joint
        k_seg[1:] = np.maximum(k_seg[1:], k_joint)
        floor = INERTIA_SAFETY * dt_s * dt_s * k_seg[:, [0, 0, 1]]
        inertia = np.maximum(model.segment_inertia_kg_m2, floor)

        seg_len = model.segment_length_m
        shapes = {}  # one collision shape per distinct segment length

        def shape(length_m: float) -> int:
            key = round(float(length_m), 12)
            if key not in shapes:
                shapes[key] = p.createCollisionShape(p.GEOM_CAPSULE, radius=model.radius_m, height=float(length_m),
                                                     physicsClientId=cid)
            return shapes[key]

        # Equal bodies, as few as PyBullet allows: each is one multibody whose base is its first segment.
        n_bodies = -(-seg_count // max_segments_per_body)
        first = (np.arange(n_bodies) * seg_count) // n_bodies
        bounds = np.append(first, seg_count)
        segment_body = np.repeat(np.arange(n_bodies), np.diff(bounds))
        segment_link = np.arange(seg_count) - first[segment_body] - 1
        bodies = []
        for b in range(n_bodies):
            s0, s1 = int(bounds[b]), int(bounds[b + 1])
            n_links = s1 - s0 - 1
            link_pos = [[0.0, 0.0, 0.5 * float(seg_len[i - 1]) if i == s0 + 1 else float(seg_len[i - 1])]
                        for i in range(s0 + 1, s1)]
            body = p.createMultiBody(
                baseMass=float(model.segment_mass_kg[s0]),
                baseCollisionShapeIndex=shape(seg_len[s0]),
                basePosition=centres[s0].tolist(),
                baseOrientation=q0_xyzw,
                linkMasses=[float(m) for m in model.segment_mass_kg[s0 + 1:s1]],
                linkCollisionShapeIndices=[shape(seg_len[i]) for i in range(s0 + 1, s1)],
                linkVisualShapeIndices=[-1] * n_links,
                linkPositions=link_pos,
                linkOrientations=[[0.0, 0.0, 0.0, 1.0]] * n_links,
                linkInertialFramePositions=[[0.0, 0.0, 0.5 * float(seg_len[i])] for i in range(s0 + 1, s1)],
                linkInertialFrameOrientations=[[0.0, 0.0, 0.0, 1.0]] * n_links,
                linkParentIndices=list(range(n_links)),
                linkJointTypes=[p.JOINT_SPHERICAL] * n_links,
                linkJointAxis=[[0.0, 0.0, 1.0]] * n_links,
                physicsClientId=cid,
            )
            if p.getNumJoints(body, physicsClientId=cid) != n_links:
                raise RuntimeError(f"PyBullet built {p.getNumJoints(body, physicsClientId=cid)} of {n_links} links")
            for i in range(s0, s1):
                # localInertiaDiagonal must be set on its own: combined with other keywords it was ignored.
                p.changeDynamics(body, i - s0 - 1, localInertiaDiagonal=inertia[i].tolist(), physicsClientId=cid)
            p.changeDynamics(body, -1, linearDamping=float(damping_per_s), angularDamping=float(damping_per_s),
                             physicsClientId=cid)
            # Bullet puts a resting multibody to sleep, and a slept chain ignores the torque springs.
            p.changeDynamics(body, -1, activationState=p.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=cid)
            if n_links:
                # Spherical joints come with a default motor that holds them rigid: switch it off (force 0).
                p.setJointMotorControlMultiDofArray(body, list(range(n_links)), p.POSITION_CONTROL,
                                                    targetPositions=[[0.0, 0.0, 0.0, 1.0]] * n_links,
                                                    forces=[[0.0, 0.0, 0.0]] * n_links, physicsClientId=cid)
            bodies.append(body)

        junctions = []
        for b in range(1, n_bodies):
            # Two bodies meet at the shared face of segments s - 1 and s: a point-to-point constraint keeps the
            # faces together; the joint's spring is applied as torques (PyBullet.step).
            s = int(first[b])
            junctions.append(p.createConstraint(
                bodies[b - 1], int(segment_link[s - 1]), bodies[b], -1, p.JOINT_POINT2POINT, [0.0, 0.0, 0.0],
                [0.0, 0.0, 0.5 * float(seg_len[s - 1])], [0.0, 0.0, -0.5 * float(seg_len[s])], physicsClientId=cid,
            ))
            p.changeConstraint(junctions[-1], maxForce=handle_max_force_N, physicsClientId=cid)
            # Links of one multibody do not collide with each other, but two multibodies do: the capsules overlap
            # their neighbours (caps of radius r on segments of length l), so switch off the pairs that touch
            # across the junction, or contact pushes the bodies apart (measured: 8 mm gaps).
            reach = int(math.ceil((float(np.max(seg_len)) + 2.0 * model.radius_m) / float(np.min(seg_len))))
            for i in range(max(0, s - reach), s):
                for j in range(s, min(seg_count, i + reach + 1)):
                    p.setCollisionFilterPair(bodies[segment_body[i]], bodies[segment_body[j]], int(segment_link[i]),
                                             int(segment_link[j]), 0, physicsClientId=cid)

        scope = PyBulletScope(
            model=model,
            client=cid,
            bodies=bodies,
            body_first_segment=first,
            segment_body=segment_body,
            segment_link=segment_link,
            junctions=junctions,
            owns_client=owns,
            dt_s=float(dt_s),
            rotary_inertia_kg_m2=inertia,
            entry_point_m=origin.copy(),
            entry_orientation=entry_q,
            max_stiffness_scale=float(max_stiffness_scale),
            handle_max_force_N=float(handle_max_force_N),
            damping_per_s=float(damping_per_s),
            insertion_depth_m=depth,
            roll_rad=float(roll_rad),
            constraint=-1,
        )
        scope._move_handle(depth, float(roll_rad))
        return scope
    except BaseException:
        if owns:
            p.disconnect(physicsClientId=cid)
        raise
