"""The colonoscope as an XPBD position-and-orientation (Cosserat) rod.

DESIGN.md, "Scope: a jointed rod" and "Solver". The scope is a chain of S rigid segments (about 10 mm each), each
with a centre position and an orientation quaternion, joined at their end faces by S - 1 elastic joints:

- stretch-shear: the distal face centre of segment j and the proximal face centre of segment j + 1 coincide
  (a zero-compliance point constraint: the scope neither stretches nor shears noticeably);
- bend-twist: the relative rotation of segment j + 1 with respect to segment j equals its rest value (the rest
  Darboux vector times the joint length); the compliance is joint_length / EI for the two bending components and
  joint_length / GJ for twist, so stiffness does not depend on the number of iterations or substeps (XPBD).

This is the rigid-segment form of Kugelstadt & Schömer 2016, "Position and orientation based Cosserat rods", with
the XPBD compliance and multipliers of Macklin, Müller & Chentanez 2016 and the rigid-body corrections of Müller et
al. 2020, "Detailed rigid body simulation with extended position based dynamics". Instead of Gauss-Seidel sweeps the
S - 1 joints are solved together each iteration: the joint system is block tridiagonal (6x6 blocks), so one direct
block-Thomas solve is O(S) (the idea of Deul et al. 2018, "Direct position-based solver for stiff rods"). Why: a
10 mm segment of this scope has a bending joint stiffer than one substep can resolve (EI/l = 5 N·m/rad against a
moment of inertia of about 4e-8 kg·m²), and Gauss-Seidel sweeps pass a load along a 133-segment chain one joint
per sweep; the direct solve makes the static answer exact (the cantilever test lands on the elastica to 0.1 %).

Conventions
- Quaternions are (w, x, y, z), unit, scalar first, and map segment (body) coordinates to world coordinates.
- Segment body frame: +z is the scope axis pointing distally (toward the tip), +y is "up" in the endoscope image.
  The camera sits at the distal face of the last segment and looks along +z, so the image's right is
  forward x up = -x (a true, unmirrored camera: +x appears on the left of the picture).
- Segment 0 is at the handle (proximal), segment S - 1 carries the tip. Arc length from the tip, `u`, is 0 at the
  distal face and `working_length_m` at the proximal end.
- Insertion: the state holds an entry point (the anal verge) and an insertion frame whose +z is the insertion axis.
  With insertion depth D, a segment whose centre has u >= D is outside the body. The hand holds the scope a
  distance H behind the entry point (H = 0 for a rod stepped alone, `step_rod`: a clamp at the entry; physics/world
  uses its HAND_DISTANCE_M): a segment with u >= D + H is kinematic, sits on the insertion axis at depth D - u
  (negative: behind the entry point) and is rolled by the handle roll. The rest of the rod is free; in a world the
  part between hand and entry slides through the anus (`project_entry_guide`). The joint between the last kinematic
  and the first free segment carries the handle's load.
- Angulation wheels: the wheel angle in radians is the commanded bend of the bending section (1:1, clamped to the
  model's angulation limits). Positive `wheel_up_down_rad` bends the tip toward +y (image up), positive
  `wheel_left_right_rad` toward -x (image right), so the view turns the way the wheel says. The bend is shared equally by the joints of the bending section.

Units: SI throughout (m, s, kg, N, rad). physics/ does no I/O: sim/scope_file.py loads scope files.

Combined substep loop (colon + scope + contact, written elsewhere): once per step compute `rest_quaternions(
joint_rest_rotation(model, controls))` and `joint_compliance(model, scale)`; then per substep call
`predict_segments`, zero the multipliers, `project_rod_joints` (this rod's constraints, accumulating into the
multipliers), then the contact projections (which move `position_m` / `orientation` of free segments; segments
with inv_mass 0 are kinematic and must not move), optionally `project_rod_joints` again so that contact corrections
are spread along the rod, then `update_segment_velocities`. `_step_kernel` is that loop without the colon.

Known simplifications: no gyroscopic term (segments are nearly axisymmetric); a segment pulled back behind the
hand snaps onto the insertion axis; the hand's grip steps back a whole segment at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit

#: Default substeps per step. With the direct joint solve the rod is stable with few substeps; 8 at dt = 1/240 s
#: gives a 0.5 ms substep, short enough for contact against a 5 mm wall grid at scope speeds below 0.5 m/s.
DEFAULT_SUBSTEPS = 8
#: Default velocity damping (1/s): a light viscous loss standing in for the tube's internal friction [est].
DEFAULT_DAMPING_PER_S = 2.0
#: Denominators below this are treated as zero (kinematic joints, degenerate Cholesky pivots).
_TINY = 1e-300


# --------------------------------------------------------------------------------------------------------------
# Specification, model, state, controls, outputs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeSpec:
    """A colonoscope as plain numbers (SI units; each field name carries its unit).

    Built from a scope file by `sim.scope_file.load_scope`; defaults live in `assets/scopes/*.toml`, not here, so
    that there is one place for the numbers (anatomy.md, "Colonoscope").
    """

    name: str
    working_length_m: float
    outer_diameter_m: float
    segment_length_m: float
    bending_section_length_m: float
    angulation_up_rad: float
    angulation_down_rad: float
    angulation_left_rad: float
    angulation_right_rad: float
    flexural_rigidity_Nm2: float
    bending_section_flexural_rigidity_Nm2: float
    torsional_rigidity_Nm2: float
    mass_per_length_kg_m: float
    field_of_view_rad: float
    coil_count: int
    coil_tip_offset_m: float
    coil_spacing_m: float


@dataclass(frozen=True)
class RodModel:
    """Static arrays of a scope rod: S segments, J = S - 1 joints, K coils. float64 unless noted.

    Attributes
    - spec: the ScopeSpec it was built from.
    - segment_length_m (S,), segment_mass_kg (S,)
    - segment_inertia_kg_m2 (S, 3): principal moments in the body frame (x, y, z); z is the scope axis.
    - segment_arc_from_tip_m (S,): arc length from the distal tip to each segment centre.
    - joint_length_m (J,): centre-to-centre distance of the two segments a joint connects.
    - joint_bend_stiffness_Nm2 (J,): EI per joint; joint_twist_stiffness_Nm2 (J,): GJ per joint.
    - joint_scalable (J,) float: 1 where the handle's stiffness setting scales EI (insertion tube), 0 elsewhere.
    - rest_darboux_per_m (J, 3): rest curvature-twist in the proximal segment's frame (zero: a straight scope).
    - bending_joint (J,) float: 1 for the joints of the bending section (the wheels' curvature goes there), else 0.
    - bending_segment (S,) bool: segments forming the bending section (the distal ones).
    - bending_section_length_m: summed joint length of the bending section (the length the wheels' bend spreads over).
    - coil_arc_from_tip_m (K,), coil_segment (K,) int64, coil_offset_m (K,): each coil's arc length from the tip,
      the segment carrying it, and its offset from that segment's centre along the body +z axis.
    - radius_m, field_of_view_rad, angulation limits (rad, positive numbers).
    """

    spec: ScopeSpec
    segment_length_m: np.ndarray
    segment_mass_kg: np.ndarray
    segment_inertia_kg_m2: np.ndarray
    segment_arc_from_tip_m: np.ndarray
    joint_length_m: np.ndarray
    joint_bend_stiffness_Nm2: np.ndarray
    joint_twist_stiffness_Nm2: np.ndarray
    joint_scalable: np.ndarray
    rest_darboux_per_m: np.ndarray
    bending_joint: np.ndarray
    bending_segment: np.ndarray
    bending_section_length_m: float
    coil_arc_from_tip_m: np.ndarray
    coil_segment: np.ndarray
    coil_offset_m: np.ndarray
    radius_m: float
    working_length_m: float
    field_of_view_rad: float
    angulation_up_rad: float
    angulation_down_rad: float
    angulation_left_rad: float
    angulation_right_rad: float

    @property
    def segment_count(self) -> int:
        return int(self.segment_length_m.shape[0])

    @cached_property
    def joint_arc_from_tip_m(self) -> np.ndarray:
        """Arc length (J,) from the distal tip to each joint: the proximal face of the joint's distal segment."""
        return self.segment_arc_from_tip_m[1:] + 0.5 * self.segment_length_m[1:]

    @property
    def max_insertion_m(self) -> float:
        """Deepest insertion: the proximal segment always stays outside, held by the handle."""
        return float(self.segment_arc_from_tip_m[0])


@dataclass
class RodState:
    """Arrays of a scope rod that change every step (S segments, J = S - 1 joints). `step_rod` updates in place.

    - position_m (S, 3): segment centres, world frame. orientation (S, 4): (w, x, y, z) body-to-world.
    - velocity_m_s (S, 3), angular_velocity_rad_s (S, 3): world frame.
    - prev_position_m (S, 3), prev_orientation (S, 4): at the start of the last substep (XPBD velocity update).
    - multiplier (J, 6): XPBD Lagrange multipliers of the last substep, per joint (3 stretch-shear in N·s²,
      3 bend-twist in N·m·s², world frame). Divided by the substep squared they are the joint force and moment.
    - kinematic (S,) bool: segments held by the hand (behind the entry point), moved by the handle.
    - entry_point_m (3,): the entry point (anal verge). entry_orientation (4,): insertion frame, +z = insertion axis.
    - insertion_depth_m, roll_rad: handle values at the end of the last step (substeps interpolate from them).
    - handle_force_N (3,), handle_moment_Nm (3,): force and moment the handle (kinematic part) exerts on the free
      rod through the joint at the hand, averaged over the last step's substeps.
    - entry_force_N (3,): force the entry (the anus, `project_entry_guide`) exerts on the rod, averaged likewise;
      zero for a rod stepped alone (`step_rod`), which the hand holds at the entry.
    - time_s: simulated time.
    """

    position_m: np.ndarray
    orientation: np.ndarray
    velocity_m_s: np.ndarray
    angular_velocity_rad_s: np.ndarray
    prev_position_m: np.ndarray
    prev_orientation: np.ndarray
    multiplier: np.ndarray
    kinematic: np.ndarray
    entry_point_m: np.ndarray
    entry_orientation: np.ndarray
    insertion_depth_m: float = 0.0
    roll_rad: float = 0.0
    handle_force_N: np.ndarray = field(default_factory=lambda: np.zeros(3))
    handle_moment_Nm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    entry_force_N: np.ndarray = field(default_factory=lambda: np.zeros(3))
    time_s: float = 0.0

    def copy(self) -> "RodState":
        """A deep copy (arrays copied)."""
        return RodState(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})


@dataclass
class RodControls:
    """What the hands do to the scope in one step.

    - insertion_depth_m: length fed through the entry point along the insertion axis (clamped to
      [0, model.max_insertion_m]).
    - roll_rad: handle roll about the insertion axis (right-handed).
    - wheel_up_down_rad: + up, - down; the commanded bend of the bending section (clamped to the model's limits).
    - wheel_left_right_rad: + right, - left.
    - stiffness_scale: variable-stiffness setting, multiplies the insertion tube's EI (1 = as built; anatomy.md
      says variable-stiffness scopes span about 3x).
    - external_force_N: optional (S, 3) applied force per segment centre (test loads, replay springs), or None.
    - external_torque_Nm: optional (S, 3) applied torque per segment (world frame), or None.
    """

    insertion_depth_m: float = 0.0
    roll_rad: float = 0.0
    wheel_up_down_rad: float = 0.0
    wheel_left_right_rad: float = 0.0
    stiffness_scale: float = 1.0
    external_force_N: np.ndarray | None = None
    external_torque_Nm: np.ndarray | None = None


@dataclass(frozen=True)
class RodOutputs:
    """What the rest of colosim reads from the rod after a step (K coils).

    - tip_position_m (3,): centre of the distal face. tip_orientation (4,): (w, x, y, z) of the tip segment.
    - camera_position_m (3,), camera_forward (3,), camera_up (3,), camera_right (3,): camera at the tip looking
      along the tip axis; image up is the tip's +y, image right forward x up (the tip's -x). camera_orientation (4,) equals tip_orientation.
    - coil_positions_m (K, 3).
    - inserted_length_m: length past the entry point.
    - handle_axial_force_N: handle force along the insertion axis, + pushing the scope in.
    - handle_torque_Nm: handle moment about the insertion axis, + in the roll direction.
    - handle_force_N (3,), handle_moment_Nm (3,): the full vectors (world frame).
    - entry_force_N (3,): force of the anus on the scope (RodState.entry_force_N), world frame.
    """

    tip_position_m: np.ndarray
    tip_orientation: np.ndarray
    camera_position_m: np.ndarray
    camera_orientation: np.ndarray
    camera_forward: np.ndarray
    camera_up: np.ndarray
    camera_right: np.ndarray
    coil_positions_m: np.ndarray
    inserted_length_m: float
    handle_axial_force_N: float
    handle_torque_Nm: float
    handle_force_N: np.ndarray
    handle_moment_Nm: np.ndarray
    entry_force_N: np.ndarray


# --------------------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------------------


def build_rod(spec: ScopeSpec) -> RodModel:
    """Turn a ScopeSpec into a RodModel. Raises ValueError for numbers that cannot make a rod."""
    for name in (
        "working_length_m", "outer_diameter_m", "segment_length_m", "bending_section_length_m",
        "flexural_rigidity_Nm2", "bending_section_flexural_rigidity_Nm2", "torsional_rigidity_Nm2",
        "mass_per_length_kg_m", "field_of_view_rad", "angulation_up_rad", "angulation_down_rad",
        "angulation_left_rad", "angulation_right_rad", "coil_spacing_m",
    ):
        value = getattr(spec, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"ScopeSpec.{name} must be a positive number, got {value!r}")
    # Segments: uniform, as close to the asked length as divides the working length.
    seg_count = max(2, int(round(spec.working_length_m / spec.segment_length_m)))
    seg_len = spec.working_length_m / seg_count
    bend_count = int(round(spec.bending_section_length_m / seg_len))
    if not 1 <= bend_count < seg_count:
        raise ValueError(
            f"ScopeSpec.bending_section_length_m ({spec.bending_section_length_m} m) must span at least one segment "
            f"({seg_len:.4g} m) and be shorter than the working length ({spec.working_length_m} m)"
        )
    coil_arc = spec.coil_tip_offset_m + spec.coil_spacing_m * np.arange(spec.coil_count, dtype=np.float64)
    if spec.coil_count < 0 or spec.coil_tip_offset_m < 0 or (coil_arc.size and coil_arc[-1] > spec.working_length_m):
        raise ValueError(
            f"ScopeSpec coils ({spec.coil_count} from {spec.coil_tip_offset_m} m every {spec.coil_spacing_m} m) "
            f"must lie within the working length ({spec.working_length_m} m)"
        )

    radius = 0.5 * spec.outer_diameter_m
    seg_length = np.full(seg_count, seg_len)
    mass = spec.mass_per_length_kg_m * seg_length
    # Solid cylinder: the tube is packed with channels, wires and fibres, so mass is spread over the section.
    inertia = np.empty((seg_count, 3))
    inertia[:, 0] = mass * (3.0 * radius**2 + seg_length**2) / 12.0
    inertia[:, 1] = inertia[:, 0]
    inertia[:, 2] = 0.5 * mass * radius**2
    arc_from_tip = spec.working_length_m - (np.arange(seg_count) + 0.5) * seg_len

    bending_segment = np.zeros(seg_count, dtype=bool)
    bending_segment[seg_count - bend_count:] = True
    joint_length = 0.5 * (seg_length[:-1] + seg_length[1:])
    # A joint belongs to the bending section when its distal segment does: then the bend between the last shaft
    # segment and the tip segment is the sum over exactly `bend_count` joints.
    bending_joint = bending_segment[1:].astype(np.float64)
    bend_stiffness = np.where(bending_joint > 0, spec.bending_section_flexural_rigidity_Nm2, spec.flexural_rigidity_Nm2)
    twist_stiffness = np.full(seg_count - 1, float(spec.torsional_rigidity_Nm2))

    # Coils: segment index and offset from its centre along +z (distal). Arc length from the proximal end is
    # L - u; a coil exactly on a segment boundary goes to the distal segment.
    s_prox = spec.working_length_m - coil_arc
    coil_segment = np.clip(np.floor(s_prox / seg_len + 1e-9).astype(np.int64), 0, seg_count - 1)
    coil_offset = s_prox - (coil_segment + 0.5) * seg_len

    return RodModel(
        spec=spec,
        segment_length_m=seg_length,
        segment_mass_kg=mass,
        segment_inertia_kg_m2=inertia,
        segment_arc_from_tip_m=arc_from_tip,
        joint_length_m=joint_length,
        joint_bend_stiffness_Nm2=bend_stiffness,
        joint_twist_stiffness_Nm2=twist_stiffness,
        joint_scalable=1.0 - bending_joint,
        rest_darboux_per_m=np.zeros((seg_count - 1, 3)),
        bending_joint=bending_joint,
        bending_segment=bending_segment,
        bending_section_length_m=float(np.sum(joint_length * bending_joint)),
        coil_arc_from_tip_m=coil_arc,
        coil_segment=coil_segment,
        coil_offset_m=coil_offset,
        radius_m=radius,
        working_length_m=float(spec.working_length_m),
        field_of_view_rad=float(spec.field_of_view_rad),
        angulation_up_rad=float(spec.angulation_up_rad),
        angulation_down_rad=float(spec.angulation_down_rad),
        angulation_left_rad=float(spec.angulation_left_rad),
        angulation_right_rad=float(spec.angulation_right_rad),
    )


def insertion_frame(direction: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Quaternion (4,) (w, x, y, z) of a frame whose +z is `direction` (3,) and whose +y is `up` (3,) made
    orthogonal to it; `up` defaults to the world axis least aligned with `direction`."""
    z = np.asarray(direction, dtype=np.float64)
    z = z / np.linalg.norm(z)
    if up is None:
        up = np.eye(3)[np.argmin(np.abs(z))]
    y = np.asarray(up, dtype=np.float64) - np.dot(up, z) * z
    norm = np.linalg.norm(y)
    if norm < 1e-9:
        raise ValueError("insertion_frame: 'up' is parallel to the insertion direction")
    y /= norm
    x = np.cross(y, z)
    return matrix_to_quat(np.column_stack((x, y, z)))


def straight_state(
    model: RodModel,
    origin_m: np.ndarray,
    direction: np.ndarray,
    *,
    insertion_depth_m: float = 0.0,
    roll_rad: float = 0.0,
    up: np.ndarray | None = None,
) -> RodState:
    """A straight rod at rest along the insertion axis.

    origin_m (3,): the entry point. direction (3,): the insertion axis (into the body). up (3,): image-up of the
    unrolled handle (see `insertion_frame`). The tip is `insertion_depth_m` past the entry point.
    """
    depth = float(np.clip(insertion_depth_m, 0.0, model.max_insertion_m))
    entry_q = insertion_frame(direction, up)
    axis = quat_rotate(entry_q[None, :], np.array([[0.0, 0.0, 1.0]]))[0]
    origin = np.asarray(origin_m, dtype=np.float64).reshape(3)
    seg_count = model.segment_count
    position = origin[None, :] + axis[None, :] * (depth - model.segment_arc_from_tip_m)[:, None]
    roll_q = np.array([math.cos(0.5 * roll_rad), 0.0, 0.0, math.sin(0.5 * roll_rad)])
    q = quat_multiply(entry_q[None, :], roll_q[None, :])[0]
    orientation = np.tile(q, (seg_count, 1))
    return RodState(
        position_m=position,
        orientation=orientation,
        velocity_m_s=np.zeros((seg_count, 3)),
        angular_velocity_rad_s=np.zeros((seg_count, 3)),
        prev_position_m=position.copy(),
        prev_orientation=orientation.copy(),
        multiplier=np.zeros((seg_count - 1, 6)),
        kinematic=model.segment_arc_from_tip_m >= depth,
        entry_point_m=origin.copy(),
        entry_orientation=entry_q,
        insertion_depth_m=depth,
        roll_rad=float(roll_rad),
    )


# --------------------------------------------------------------------------------------------------------------
# Step and outputs (Python side: per-step set-up in numpy, then one numba kernel)
# --------------------------------------------------------------------------------------------------------------


def joint_rest_rotation(model: RodModel, controls: RodControls, wheel_share: np.ndarray | None = None) -> np.ndarray:
    """Rest relative rotation per joint (J, 3) as a rotation vector in the proximal segment's frame: the model's
    rest Darboux vectors plus the wheels' curvature spread over the bending section, each joint's times its
    wheel_share (J,) in [0, 1] when given (physics/world.py: none until the joint is in the body)."""
    up = float(np.clip(controls.wheel_up_down_rad, -model.angulation_down_rad, model.angulation_up_rad))
    right = float(np.clip(controls.wheel_left_right_rad, -model.angulation_left_rad, model.angulation_right_rad))
    # Bending toward +y (image up) is a rotation about -x; toward -x (image right) a rotation about -y.
    wheel_curvature = np.array([-up, -right, 0.0]) / model.bending_section_length_m
    bending = model.bending_joint if wheel_share is None else model.bending_joint * wheel_share
    darboux = model.rest_darboux_per_m + bending[:, None] * wheel_curvature[None, :]
    return model.joint_length_m[:, None] * darboux


def joint_compliance(model: RodModel, stiffness_scale: float = 1.0) -> np.ndarray:
    """XPBD compliance per joint (J, 3) for (bend x, bend y, twist), in rad/(N·m): joint_length / stiffness."""
    if not stiffness_scale > 0:
        raise ValueError(f"RodControls.stiffness_scale must be positive, got {stiffness_scale!r}")
    scale = 1.0 + model.joint_scalable * (stiffness_scale - 1.0)
    ei = model.joint_bend_stiffness_Nm2 * scale
    out = np.empty((model.joint_length_m.shape[0], 3))
    out[:, 0] = model.joint_length_m / ei
    out[:, 1] = out[:, 0]
    out[:, 2] = model.joint_length_m / model.joint_twist_stiffness_Nm2
    return out


def step_rod(
    model: RodModel,
    state: RodState,
    controls: RodControls,
    dt_s: float,
    substeps: int = DEFAULT_SUBSTEPS,
    *,
    iterations: int = 1,
    gravity_m_s2: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
    damping_per_s: float = DEFAULT_DAMPING_PER_S,
) -> RodState:
    """Advance the rod by `dt_s` in `substeps` XPBD substeps of `iterations` joint solves each.

    Contract: updates `state` in place (arrays and scalars) and returns the same object. The handle values
    (insertion depth, roll) move linearly from the state's values to the controls' over the substeps, so a jump
    in the controls is spread over one step. Gravity (world frame, m/s²) is off unless given. `damping_per_s` is
    a viscous loss on every free segment's linear and angular velocity (v *= exp(-c h) per substep h); raise it
    to reach a static equilibrium quickly, it does not move the equilibrium.
    """
    if not (dt_s > 0 and substeps >= 1 and iterations >= 1):
        raise ValueError(f"step_rod needs dt_s > 0, substeps >= 1, iterations >= 1; got {dt_s}, {substeps}, {iterations}")
    seg_count = model.segment_count
    depth = float(np.clip(controls.insertion_depth_m, 0.0, model.max_insertion_m))
    rest_rotation = joint_rest_rotation(model, controls)
    compliance = joint_compliance(model, controls.stiffness_scale)
    ext_force = per_segment(controls.external_force_N, seg_count)
    ext_torque = per_segment(controls.external_torque_Nm, seg_count)
    handle = np.zeros(6)
    _step_kernel(
        state.position_m, state.orientation, state.velocity_m_s, state.angular_velocity_rad_s,
        state.prev_position_m, state.prev_orientation, state.multiplier, state.kinematic,
        model.segment_mass_kg, model.segment_inertia_kg_m2, 0.5 * model.segment_length_m,
        model.segment_arc_from_tip_m, rest_rotation, compliance,
        state.entry_point_m, state.entry_orientation,
        float(state.insertion_depth_m), depth, float(state.roll_rad), float(controls.roll_rad),
        np.asarray(gravity_m_s2, dtype=np.float64).reshape(3), ext_force, ext_torque, float(damping_per_s),
        float(dt_s), int(substeps), int(iterations), handle,
    )
    state.insertion_depth_m = depth
    state.roll_rad = float(controls.roll_rad)
    state.handle_force_N = handle[:3].copy()
    state.handle_moment_Nm = handle[3:].copy()
    state.time_s += float(dt_s)
    return state


def per_segment(values: np.ndarray | None, seg_count: int) -> np.ndarray:
    """(S, 3) float64 contiguous copy of an optional per-segment load; zeros when None."""
    if values is None:
        return np.zeros((seg_count, 3))
    return np.ascontiguousarray(values, dtype=np.float64).reshape(seg_count, 3)


def rod_outputs(model: RodModel, state: RodState) -> RodOutputs:
    """Tip and camera pose, coil positions, inserted length and handle load of `state`."""
    tip_q = state.orientation[-1].copy()
    axes = np.empty((4, 3))  # tip, forward, up, insertion axis
    coils = np.empty((model.coil_segment.shape[0], 3))
    _rod_output_kernel(state.position_m, state.orientation, float(model.segment_length_m[-1]), model.coil_segment,
                       model.coil_offset_m, state.entry_orientation, axes, coils)
    tip, forward, up, axis = axes[0], axes[1], axes[2], axes[3]
    return RodOutputs(
        tip_position_m=tip,
        tip_orientation=tip_q,
        camera_position_m=tip.copy(),
        camera_orientation=tip_q.copy(),
        camera_forward=forward,
        camera_up=up,
        camera_right=np.array([forward[1] * up[2] - forward[2] * up[1], forward[2] * up[0] - forward[0] * up[2],
                               forward[0] * up[1] - forward[1] * up[0]]),
        coil_positions_m=coils,
        inserted_length_m=float(state.insertion_depth_m),
        handle_axial_force_N=float(np.dot(state.handle_force_N, axis)),
        handle_torque_Nm=float(np.dot(state.handle_moment_Nm, axis)),
        handle_force_N=state.handle_force_N.copy(),
        handle_moment_Nm=state.handle_moment_Nm.copy(),
        entry_force_N=state.entry_force_N.copy(),
    )


# --------------------------------------------------------------------------------------------------------------
# Quaternion helpers (vectorised numpy, for set-up and outputs)
# --------------------------------------------------------------------------------------------------------------


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (N, 4) and (N, 4) quaternions (w, x, y, z). Returns (N, 4)."""
    aw, ax, ay, az = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bw, bx, by, bz = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        axis=1,
    )


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (N, 3) by unit quaternions q (N, 4). Returns (N, 3)."""
    w = q[:, :1]
    u = q[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Unit quaternion (4,) (w, x, y, z) of a rotation matrix (3, 3), w >= 0."""
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) of unit quaternions (N, 4)."""
    out = np.empty((q.shape[0], 3, 3))
    for col in range(3):
        e = np.zeros((q.shape[0], 3))
        e[:, col] = 1.0
        out[:, :, col] = quat_rotate(q, e)
    return out


# --------------------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _qmul(aw, ax, ay, az, bw, bx, by, bz):
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


@njit(cache=True, nogil=True)
def _rod_output_kernel(position_m, orientation, tip_length_m, coil_segment, coil_offset_m, entry_orientation, axes,
                       coils):
    """Per-step outputs in one pass (numpy on 3-vectors costs more in call overhead than the arithmetic): axes (4, 3)
    = tip centre of the distal face, camera forward (+z), camera up (+y), insertion axis; coils (K, 3)."""
    q = orientation[orientation.shape[0] - 1]
    fx, fy, fz = quat_rotate_scalar(q[0], q[1], q[2], q[3], 0.0, 0.0, 1.0)
    ux, uy, uz = quat_rotate_scalar(q[0], q[1], q[2], q[3], 0.0, 1.0, 0.0)
    last = position_m.shape[0] - 1
    half = 0.5 * tip_length_m
    axes[0, 0] = position_m[last, 0] + fx * half
    axes[0, 1] = position_m[last, 1] + fy * half
    axes[0, 2] = position_m[last, 2] + fz * half
    axes[1, 0], axes[1, 1], axes[1, 2] = fx, fy, fz
    axes[2, 0], axes[2, 1], axes[2, 2] = ux, uy, uz
    e = entry_orientation
    axes[3, 0], axes[3, 1], axes[3, 2] = quat_rotate_scalar(e[0], e[1], e[2], e[3], 0.0, 0.0, 1.0)
    axis_points(position_m, orientation, coil_segment, coil_offset_m, coils)


@njit(cache=True, nogil=True)
def axis_points(position_m, orientation, segment, offset_m, out):
    """World positions out (Q, 3) of points on the rod axis, each `offset_m` (Q,) along segment `segment` (Q,) from
    its centre (position_m (S, 3), orientation (S, 4)): coils, contact samples."""
    for q in range(segment.shape[0]):
        i = segment[q]
        o = orientation[i]
        ox, oy, oz = quat_rotate_scalar(o[0], o[1], o[2], o[3], 0.0, 0.0, offset_m[q])
        out[q, 0] = position_m[i, 0] + ox
        out[q, 1] = position_m[i, 1] + oy
        out[q, 2] = position_m[i, 2] + oz


@njit(cache=True, nogil=True)
def quat_rotate_scalar(w, x, y, z, vx, vy, vz):
    # v + 2w (u x v) + 2 u x (u x v), u = (x, y, z)
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


@njit(cache=True, nogil=True)
def _quat_matrix(q, out):
    """Fill out (3, 3) with the rotation matrix of q (4,)."""
    w, x, y, z = q[0], q[1], q[2], q[3]
    out[0, 0] = 1.0 - 2.0 * (y * y + z * z)
    out[0, 1] = 2.0 * (x * y - w * z)
    out[0, 2] = 2.0 * (x * z + w * y)
    out[1, 0] = 2.0 * (x * y + w * z)
    out[1, 1] = 1.0 - 2.0 * (x * x + z * z)
    out[1, 2] = 2.0 * (y * z - w * x)
    out[2, 0] = 2.0 * (x * z - w * y)
    out[2, 1] = 2.0 * (y * z + w * x)
    out[2, 2] = 1.0 - 2.0 * (x * x + y * y)


@njit(cache=True, nogil=True)
def accumulate_handle_load(multiplier, n_kin, n_seg, h, substeps, handle_out):  # pragma: no cover - compiled
    """Add one substep's share of the handle load to handle_out (6,): force (N) then moment (N m).

    The force on segment n_kin (the first free one) from joint n_kin - 1 is gb^T lambda / h^2: -lambda_pos / h^2
    and a moment lambda_ang / h^2 at the joint; averaged over the step's substeps. Nothing when no segment is
    held or none is free.
    """
    if 0 < n_kin < n_seg:
        jb = n_kin - 1
        scale = 1.0 / (h * h * substeps)
        for a in range(3):
            handle_out[a] -= multiplier[jb, a] * scale
            handle_out[3 + a] += multiplier[jb, 3 + a] * scale


@njit(cache=True, nogil=True)
def add_world_rotation(q, rx, ry, rz):
    """q <- normalise(q + 0.5 (0, r) q): apply a small world-frame rotation vector r to q (4,) in place."""
    dw, dx, dy, dz = _qmul(0.0, rx, ry, rz, q[0], q[1], q[2], q[3])
    w = q[0] + 0.5 * dw
    x = q[1] + 0.5 * dx
    y = q[2] + 0.5 * dy
    z = q[3] + 0.5 * dz
    inv = 1.0 / math.sqrt(w * w + x * x + y * y + z * z)
    q[0] = w * inv
    q[1] = x * inv
    q[2] = y * inv
    q[3] = z * inv


@njit(cache=True, nogil=True)
def segment_rotation_weight(q, inv_inertia_body, u0, u1, u2):
    """u^T I_world^-1 u for a segment with orientation q (4,) and body inverse inertia (3,)."""
    b0, b1, b2 = quat_rotate_scalar(q[0], -q[1], -q[2], -q[3], u0, u1, u2)
    return b0 * b0 * inv_inertia_body[0] + b1 * b1 * inv_inertia_body[1] + b2 * b2 * inv_inertia_body[2]


@njit(cache=True, nogil=True)
def apply_segment_correction(pos, q, inv_mass, inv_inertia_body, r0, r1, r2, n0, n1, n2, dl):
    """Move a rigid segment (pos (3,), q (4,)) by an impulse-like correction dl * n applied at lever arm r."""
    pos[0] += inv_mass * dl * n0
    pos[1] += inv_mass * dl * n1
    pos[2] += inv_mass * dl * n2
    # dphi = I_world^-1 (r x n) dl, with I_world^-1 = R diag(inv_inertia_body) R^T.
    u0 = r1 * n2 - r2 * n1
    u1 = r2 * n0 - r0 * n2
    u2 = r0 * n1 - r1 * n0
    b0, b1, b2 = quat_rotate_scalar(q[0], -q[1], -q[2], -q[3], u0, u1, u2)
    w0, w1, w2 = quat_rotate_scalar(q[0], q[1], q[2], q[3], b0 * inv_inertia_body[0] * dl,
                                    b1 * inv_inertia_body[1] * dl, b2 * inv_inertia_body[2] * dl)
    if w0 != 0.0 or w1 != 0.0 or w2 != 0.0:
        add_world_rotation(q, w0, w1, w2)


@njit(cache=True, nogil=True)
def project_entry_guide(position_m, orientation, inv_mass, inv_inertia_body, half_length_m, entry_point_m,
                        entry_orientation, force_scale, force_out):
    """The anus as a ring the scope slides through: the point of the scope's axis in the entry plane (through
    entry_point_m (3,), normal to the insertion axis of entry_orientation (4,)) is put back on the insertion axis.
    Hard, lateral only: the scope slides along the axis freely. Segments move rigidly (translation and rotation
    through the lever arm, by inv_mass (S,) and body inverse inertia inv_inertia_body (S, 3)).

    The point lies on the first free segment (from the handle) whose distal end is past the plane. Its correction
    is shared with the neighbour across the nearer joint, half and half at the joint, all on the segment at its
    middle: the shaft bends at the anus, and handing the whole correction from one segment to the next as a joint
    passed the plane made the bend jump there (a segment at 0.77 m/s at 0.05 m/s insertion, each 10 mm). Where the
    shaft kinks at the plane, its axis line may cross the plane just beyond the segment's proximal end; the point is
    then that end. Nothing when no free segment reaches past the plane (the tip not yet in, or the hand at the
    entry). Adds the correction's force on the rod (its impulse times force_scale: 1 / (h² substeps) for a step's
    mean) to force_out (3,)."""
    e = entry_orientation
    a0, a1, a2 = quat_rotate_scalar(e[0], e[1], e[2], e[3], 0.0, 0.0, 1.0)
    n_seg = position_m.shape[0]
    for i in range(n_seg):
        if inv_mass[i] == 0.0:
            continue
        q = orientation[i]
        t0, t1, t2 = quat_rotate_scalar(q[0], q[1], q[2], q[3], 0.0, 0.0, 1.0)
        along = t0 * a0 + t1 * a1 + t2 * a2
        if along <= 1e-6:
            continue  # a segment turned across or back through the plane does not slide through it
        c_s = ((position_m[i, 0] - entry_point_m[0]) * a0 + (position_m[i, 1] - entry_point_m[1]) * a1
               + (position_m[i, 2] - entry_point_m[2]) * a2)
        hl = half_length_m[i]
        if c_s + hl * along <= 0.0:
            continue  # wholly behind the plane
        u = min(max(-c_s / along, -hl), hl)  # where along the segment's axis the plane cuts it
        # The neighbour across the nearer joint and its end at that joint.
        k = i - 1 if u < 0.0 else i + 1
        beta = 0.5 * abs(u) / hl
        if k < 0 or k >= n_seg:
            k = i
            beta = 0.0
        qk = orientation[k]
        side = -1.0 if k < i else 1.0
        tk0, tk1, tk2 = quat_rotate_scalar(qk[0], qk[1], qk[2], qk[3], 0.0, 0.0, 1.0)
        end = -side * half_length_m[k]  # the neighbour's end at the joint
        r0, r1, r2 = u * t0, u * t1, u * t2
        s0, s1, s2 = end * tk0, end * tk1, end * tk2
        g = 1.0 - beta
        d0 = g * (position_m[i, 0] + r0) + beta * (position_m[k, 0] + s0) - entry_point_m[0]
        d1 = g * (position_m[i, 1] + r1) + beta * (position_m[k, 1] + s1) - entry_point_m[1]
        d2 = g * (position_m[i, 2] + r2) + beta * (position_m[k, 2] + s2) - entry_point_m[2]
        # Only the offset across the axis (along it the point is in the plane, or the kink's small gap away).
        s = d0 * a0 + d1 * a1 + d2 * a2
        d0 -= s * a0
        d1 -= s * a1
        d2 -= s * a2
        c = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        if c < 1e-12:
            return
        n0 = d0 / c
        n1 = d1 / c
        n2 = d2 / c
        w_i = inv_mass[i] + segment_rotation_weight(q, inv_inertia_body[i], r1 * n2 - r2 * n1, r2 * n0 - r0 * n2,
                                                    r0 * n1 - r1 * n0)
        w_k = inv_mass[k] + segment_rotation_weight(qk, inv_inertia_body[k], s1 * n2 - s2 * n1, s2 * n0 - s0 * n2,
                                                    s0 * n1 - s1 * n0)
        dl = -c / (g * g * w_i + beta * beta * w_k)
        apply_segment_correction(position_m[i], q, inv_mass[i], inv_inertia_body[i], r0, r1, r2, n0, n1, n2, g * dl)
        if beta > 0.0:
            apply_segment_correction(position_m[k], qk, inv_mass[k], inv_inertia_body[k], s0, s1, s2, n0, n1, n2,
                                     beta * dl)
        force_out[0] += dl * n0 * force_scale
        force_out[1] += dl * n1 * force_scale
        force_out[2] += dl * n2 * force_scale
        return


@njit(cache=True, nogil=True)
def _chol6(a, lower):
    """Cholesky factor lower (6, 6) of the symmetric positive definite a (6, 6), with the reciprocals of its
    diagonal on the diagonal: the solves then multiply instead of divide (a division costs several multiplications'
    time, and a joint's factor and seven solves held 90 of them: a quarter of `project_rod_joints`, measured on
    bench/physics.py's deep scene, 72 -> 52 us per call)."""
    for i in range(6):
        for k in range(i + 1):
            s = a[i, k]
            for p in range(k):
                s -= lower[i, p] * lower[k, p]
            if i == k:
                lower[i, i] = 1.0 / math.sqrt(s if s > _TINY else _TINY)
            else:
                lower[i, k] = s * lower[k, k]
        for k in range(i + 1, 6):
            lower[i, k] = 0.0


@njit(cache=True, nogil=True)
def _chol6_solve(lower, b, out):
    """Solve L L^T out = b for (6,) vectors (out may alias b), L the factor `_chol6` gives (lower, its diagonal
    stored as reciprocals). No temporaries: this runs 7 times per joint per substep, and small allocations would
    cost more than the arithmetic."""
    for i in range(6):  # forward: out = lower^-1 b (reads b[i] before out[i] is written, so aliasing is safe)
        s = b[i]
        for p in range(i):
            s -= lower[i, p] * out[p]
        out[i] = s * lower[i, i]
    for i in range(5, -1, -1):  # backward: out = lower^-T out
        s = out[i]
        for p in range(i + 1, 6):
            s -= lower[p, i] * out[p]
        out[i] = s * lower[i, i]


@njit(cache=True, nogil=True)
def _cross_cols(r, m, out):
    """out (3, 3) = [r]x m, i.e. each column of m (3, 3) crossed by r (3,) from the left."""
    for c in range(3):
        out[0, c] = r[1] * m[2, c] - r[2] * m[1, c]
        out[1, c] = r[2] * m[0, c] - r[0] * m[2, c]
        out[2, c] = r[0] * m[1, c] - r[1] * m[0, c]


@njit(cache=True, nogil=True)
def _times_skew(m, r, out):
    """out (3, 3) = m [r]x: row v of m becomes v x r (v^T [r]x = (v x r)^T)."""
    for a in range(3):
        out[a, 0] = m[a, 1] * r[2] - m[a, 2] * r[1]
        out[a, 1] = m[a, 2] * r[0] - m[a, 0] * r[2]
        out[a, 2] = m[a, 0] * r[1] - m[a, 1] * r[0]


@njit(cache=True, nogil=True)
def project_rod_joints(position_m, orientation, inv_mass, inv_inertia_body, half_length_m, rest_quat, compliance,
                       multiplier, h_s):
    """One XPBD iteration over all S - 1 joints of the rod, solved together (block tridiagonal, 6x6 blocks).

    position_m (S, 3), orientation (S, 4): updated in place. inv_mass (S,), inv_inertia_body (S, 3): zero for
    kinematic segments. half_length_m (S,). rest_quat (J, 4): rest relative rotation of segment j + 1 in the frame
    of segment j. compliance (J, 3): bend x, bend y, twist, in rad/(N·m). multiplier (J, 6): accumulated in place
    (reset it to zero at the start of each substep). h_s: substep length.

    Constraint per joint j between segments a = j and b = j + 1 (rows 0-2 stretch-shear, 3-5 bend-twist, world):
      C_pos = (x_a + r_a) - (x_b + r_b),  r_a = R_a (0, 0, l_a/2),  r_b = R_b (0, 0, -l_b/2)
      C_ang = R_a * 2 log(conj(q_a) q_b conj(rest_j))
    with Jacobians G_a = [[I, -[r_a]x], [0, -I]] and G_b = [[-I, [r_b]x], [0, I]] over (dx, dphi). The linearised
    system (G M^-1 G^T + alpha/h²) dlambda = -(C + alpha/h² lambda) is solved exactly; segments then move by
    M^-1 G^T dlambda (Macklin et al. 2016; Müller et al. 2020). The blocks are assembled from 3x3 pieces (with
    T = I_world^-1 [r]x) rather than 6x6 products: this kernel is the rod's hot loop.
    """
    n = position_m.shape[0]
    nj = n - 1
    if nj < 1:
        return
    # Joints between two kinematic segments (the proximal prefix outside the body: `predict_segments`) have
    # nothing to move and no coupling to the rest (zero off-diagonal block, zero update), so the solve starts at
    # the first joint with a free segment: with 0.3 m of the 1.33 m default scope inserted that is four fifths of
    # the joints.
    j0 = 0
    while j0 < nj and inv_mass[j0] == 0.0 and inv_mass[j0 + 1] == 0.0:
        j0 += 1
    if j0 == nj:
        return
    inv_iw = np.empty((n, 3, 3))  # world inverse inertia R diag(1/I) R^T
    rot = np.empty((3, 3))
    for i in range(j0, n):
        _quat_matrix(orientation[i], rot)
        for a in range(3):
            for b in range(a, 3):
                s = 0.0
                for c in range(3):
                    s += rot[a, c] * inv_inertia_body[i, c] * rot[b, c]
                inv_iw[i, a, b] = s
                inv_iw[i, b, a] = s
    r_a = np.empty((nj, 3))  # distal face offset of segment j (world)
    r_b = np.empty((nj, 3))  # proximal face offset of segment j + 1 (world)
    diag = np.empty((nj, 6, 6))
    off = np.zeros((nj, 6, 6))  # B_j = A_{j, j+1}; A is symmetric, so A_{j+1, j} = B_j^T
    rhs = np.empty((nj, 6))
    ta = np.empty((3, 3))
    tb = np.empty((3, 3))
    ka = np.empty((3, 3))
    kb = np.empty((3, 3))
    cw = np.empty((3, 3))
    rot_a = np.empty((3, 3))
    for j in range(j0, nj):
        ia = j
        ib = j + 1
        qa = orientation[ia]
        qb = orientation[ib]
        ax, ay, az = quat_rotate_scalar(qa[0], qa[1], qa[2], qa[3], 0.0, 0.0, half_length_m[ia])
        bx, by, bz = quat_rotate_scalar(qb[0], qb[1], qb[2], qb[3], 0.0, 0.0, -half_length_m[ib])
        r_a[j, 0], r_a[j, 1], r_a[j, 2] = ax, ay, az
        r_b[j, 0], r_b[j, 1], r_b[j, 2] = bx, by, bz
        d = diag[j]
        if inv_mass[ia] == 0.0 and inv_mass[ib] == 0.0:
            # Nothing can move: an identity block keeps the system regular and gives dlambda = 0.
            for a in range(6):
                for b in range(6):
                    d[a, b] = 1.0 if a == b else 0.0
                rhs[j, a] = 0.0
            continue
        ra = r_a[j]
        rb = r_b[j]
        ia_w = inv_iw[ia]
        ib_w = inv_iw[ib]
        _times_skew(ia_w, ra, ta)  # T_a = I_a^-1 [r_a]x
        _times_skew(ib_w, rb, tb)
        _cross_cols(ra, ta, ka)  # [r_a]x T_a
        _cross_cols(rb, tb, kb)
        # Angular compliance R_a diag(alpha) R_a^T / h² (material frame: x, y bend, z twist).
        _quat_matrix(qa, rot_a)
        inv_h2 = 1.0 / (h_s * h_s)
        for a in range(3):
            for b in range(3):
                s = 0.0
                for c in range(3):
                    s += rot_a[a, c] * compliance[j, c] * rot_a[b, c]
                cw[a, b] = s * inv_h2
        m_sum = inv_mass[ia] + inv_mass[ib]
        for a in range(3):
            for b in range(3):
                # pos-pos: (m_a + m_b) I - [r_a]x T_a - [r_b]x T_b
                d[a, b] = (m_sum if a == b else 0.0) - ka[a, b] - kb[a, b]
                # pos-ang: [r_a]x I_a^-1 + [r_b]x I_b^-1 = -(T_a + T_b)^T ; ang-pos is its transpose
                d[a, 3 + b] = -(ta[b, a] + tb[b, a])
                d[3 + b, a] = d[a, 3 + b]
                # ang-ang
                d[3 + a, 3 + b] = ia_w[a, b] + ib_w[a, b] + cw[a, b]
        if j + 1 < nj and inv_mass[ib] != 0.0:
            # Coupling through segment b with joint j + 1, whose distal offset on b is -r_b:
            # B = [[-m_b I - [r_b]x T_b, T_b^T], [-T_b, -I_b^-1]]
            o = off[j]
            for a in range(3):
                for b in range(3):
                    o[a, b] = (-inv_mass[ib] if a == b else 0.0) - kb[a, b]
                    o[a, 3 + b] = tb[b, a]
                    o[3 + a, b] = -tb[a, b]
                    o[3 + a, 3 + b] = -ib_w[a, b]
        # Right-hand side -(C + alpha~ lambda); the stretch-shear rows have zero compliance.
        rhs[j, 0] = -(position_m[ia, 0] + ax - position_m[ib, 0] - bx)
        rhs[j, 1] = -(position_m[ia, 1] + ay - position_m[ib, 1] - by)
        rhs[j, 2] = -(position_m[ia, 2] + az - position_m[ib, 2] - bz)
        # Relative rotation error in the frame of segment a, then to world.
        rw, rx, ry, rz = _qmul(qa[0], -qa[1], -qa[2], -qa[3], qb[0], qb[1], qb[2], qb[3])
        r0 = rest_quat[j]
        ew, ex, ey, ez = _qmul(rw, rx, ry, rz, r0[0], -r0[1], -r0[2], -r0[3])
        if ew < 0.0:  # shortest way round (q and -q are the same rotation)
            ew, ex, ey, ez = -ew, -ex, -ey, -ez
        vn = math.sqrt(ex * ex + ey * ey + ez * ez)
        k = 2.0 * math.atan2(vn, ew) / vn if vn > 1e-12 else 2.0
        tx, ty, tz = k * ex, k * ey, k * ez
        lam = multiplier[j]
        for a in range(3):
            c_ang = rot_a[a, 0] * tx + rot_a[a, 1] * ty + rot_a[a, 2] * tz
            rhs[j, 3 + a] = -(c_ang + cw[a, 0] * lam[3] + cw[a, 1] * lam[4] + cw[a, 2] * lam[5])

    # Block Thomas: D'_0 = A_00; D'_j = A_jj - B_{j-1}^T D'_{j-1}^-1 B_{j-1}; r'_j = r_j - B_{j-1}^T D'_{j-1}^-1 r'_{j-1}.
    chol = np.empty((nj, 6, 6))
    e = np.empty((6, 6))
    col = np.empty(6)
    for j in range(j0, nj):
        if j > j0 and inv_mass[j] != 0.0:  # off[j - 1] is zero when the shared segment j is kinematic
            for c in range(6):  # E = D'_{j-1}^-1 B_{j-1}, column by column
                for a in range(6):
                    col[a] = off[j - 1, a, c]
                _chol6_solve(chol[j - 1], col, col)
                for a in range(6):
                    e[a, c] = col[a]
            for a in range(6):
                for b in range(a, 6):  # D'_j is symmetric: fill the upper triangle and mirror
                    s = 0.0
                    for m in range(6):
                        s += off[j - 1, m, a] * e[m, b]
                    diag[j, a, b] -= s
                    if b != a:
                        diag[j, b, a] -= s
                s = 0.0
                for m in range(6):
                    s += e[m, a] * rhs[j - 1, m]
                rhs[j, a] -= s
        _chol6(diag[j], chol[j])
    dl = np.empty((nj, 6))
    _chol6_solve(chol[nj - 1], rhs[nj - 1], dl[nj - 1])
    for j in range(nj - 2, j0 - 1, -1):
        for a in range(6):
            s = rhs[j, a]
            for m in range(6):
                s -= off[j, a, m] * dl[j + 1, m]
            col[a] = s
        _chol6_solve(chol[j], col, dl[j])

    # Move segments by M^-1 G^T dlambda: joint i acts on segment i through G_a^T = [[I, 0], [[r_a]x, -I]] and
    # joint i - 1 through G_b^T = [[-I, 0], [-[r_b]x, I]].
    for i in range(j0, n):
        if inv_mass[i] == 0.0:
            continue
        fx = fy = fz = 0.0  # generalised force (position part) and torque, before M^-1
        mx = my = mz = 0.0
        if i < nj:
            lp = dl[i]
            r = r_a[i]
            fx += lp[0]
            fy += lp[1]
            fz += lp[2]
            mx += r[1] * lp[2] - r[2] * lp[1] - lp[3]
            my += r[2] * lp[0] - r[0] * lp[2] - lp[4]
            mz += r[0] * lp[1] - r[1] * lp[0] - lp[5]
        if i >= 1:
            lp = dl[i - 1]
            r = r_b[i - 1]
            fx -= lp[0]
            fy -= lp[1]
            fz -= lp[2]
            mx += -(r[1] * lp[2] - r[2] * lp[1]) + lp[3]
            my += -(r[2] * lp[0] - r[0] * lp[2]) + lp[4]
            mz += -(r[0] * lp[1] - r[1] * lp[0]) + lp[5]
        im = inv_mass[i]
        position_m[i, 0] += im * fx
        position_m[i, 1] += im * fy
        position_m[i, 2] += im * fz
        w = inv_iw[i]
        add_world_rotation(
            orientation[i],
            w[0, 0] * mx + w[0, 1] * my + w[0, 2] * mz,
            w[1, 0] * mx + w[1, 1] * my + w[1, 2] * mz,
            w[2, 0] * mx + w[2, 1] * my + w[2, 2] * mz,
        )
    for j in range(j0, nj):
        for a in range(6):
            multiplier[j, a] += dl[j, a]


@njit(cache=True, nogil=True)
def predict_segments(position_m, orientation, velocity_m_s, angular_velocity_rad_s, prev_position_m,
                     prev_orientation, kinematic, inv_mass, inv_inertia_body, mass_kg, inertia_body, arc_from_tip_m,
                     entry_point_m, entry_orientation, depth_m, roll_rad, gravity_m_s2, external_force_N,
                     external_torque_Nm, damping, h_s, hand_m):
    """Start of a substep: store previous poses, place kinematic segments, predict free ones.

    Segments with arc_from_tip_m >= depth_m + hand_m (the hand holds the scope hand_m behind the entry point; never
    beyond the proximal segment, which is always held) are kinematic: on the insertion axis at depth `depth_m - u`,
    rolled by `roll_rad`, with zero inverse mass. Free segments get damping factor `damping` (per substep), gravity,
    external_force_N (S, 3) and external_torque_Nm (S, 3, world frame), then move by their velocities. The
    gyroscopic term is left out: the segments are nearly axisymmetric and spin slowly. Fills kinematic (S,) bool, inv_mass (S,),
    inv_inertia_body (S, 3). Returns the number of kinematic segments (they form the proximal prefix).
    """
    n = position_m.shape[0]
    e = entry_orientation
    ax, ay, az = quat_rotate_scalar(e[0], e[1], e[2], e[3], 0.0, 0.0, 1.0)
    c = math.cos(0.5 * roll_rad)
    s = math.sin(0.5 * roll_rad)
    kw, kx, ky, kz = _qmul(e[0], e[1], e[2], e[3], c, 0.0, 0.0, s)
    n_kin = 0
    held_from = min(depth_m + hand_m, arc_from_tip_m[0])
    for i in range(n):
        for a in range(3):
            prev_position_m[i, a] = position_m[i, a]
        for a in range(4):
            prev_orientation[i, a] = orientation[i, a]
        if arc_from_tip_m[i] >= held_from:
            kinematic[i] = True
            n_kin += 1
            inv_mass[i] = 0.0
            depth_i = depth_m - arc_from_tip_m[i]
            position_m[i, 0] = entry_point_m[0] + ax * depth_i
            position_m[i, 1] = entry_point_m[1] + ay * depth_i
            position_m[i, 2] = entry_point_m[2] + az * depth_i
            orientation[i, 0] = kw
            orientation[i, 1] = kx
            orientation[i, 2] = ky
            orientation[i, 3] = kz
            for a in range(3):
                inv_inertia_body[i, a] = 0.0
        else:
            kinematic[i] = False
            im = 1.0 / mass_kg[i]
            inv_mass[i] = im
            for a in range(3):
                inv_inertia_body[i, a] = 1.0 / inertia_body[i, a]
                velocity_m_s[i, a] = velocity_m_s[i, a] * damping + h_s * (gravity_m_s2[a] + external_force_N[i, a] * im)
                position_m[i, a] += h_s * velocity_m_s[i, a]
                angular_velocity_rad_s[i, a] *= damping
            # Torque: omega += h I_world^-1 tau, with I_world^-1 = R diag(1 / I_body) R^T.
            q = orientation[i]
            tau = external_torque_Nm[i]
            bx, by, bz = quat_rotate_scalar(q[0], -q[1], -q[2], -q[3], tau[0], tau[1], tau[2])
            wx, wy, wz = quat_rotate_scalar(q[0], q[1], q[2], q[3], bx * inv_inertia_body[i, 0], by * inv_inertia_body[i, 1],
                               bz * inv_inertia_body[i, 2])
            angular_velocity_rad_s[i, 0] += h_s * wx
            angular_velocity_rad_s[i, 1] += h_s * wy
            angular_velocity_rad_s[i, 2] += h_s * wz
            w = angular_velocity_rad_s[i]
            add_world_rotation(orientation[i], h_s * w[0], h_s * w[1], h_s * w[2])
    return n_kin


@njit(cache=True, nogil=True)
def update_segment_velocities(position_m, orientation, velocity_m_s, angular_velocity_rad_s, prev_position_m,
                              prev_orientation, h_s):
    """End of a substep: velocities from the pose change over the substep (XPBD), world frame."""
    n = position_m.shape[0]
    inv_h = 1.0 / h_s
    for i in range(n):
        for a in range(3):
            velocity_m_s[i, a] = (position_m[i, a] - prev_position_m[i, a]) * inv_h
        q = orientation[i]
        p = prev_orientation[i]
        dw, dx, dy, dz = _qmul(q[0], q[1], q[2], q[3], p[0], -p[1], -p[2], -p[3])
        sign = 2.0 * inv_h if dw >= 0.0 else -2.0 * inv_h
        angular_velocity_rad_s[i, 0] = sign * dx
        angular_velocity_rad_s[i, 1] = sign * dy
        angular_velocity_rad_s[i, 2] = sign * dz


@njit(cache=True, nogil=True)
def rest_quaternions(rest_rotation):
    """Unit quaternions (J, 4) of rotation vectors (J, 3)."""
    nj = rest_rotation.shape[0]
    out = np.empty((nj, 4))
    for j in range(nj):
        x, y, z = rest_rotation[j, 0], rest_rotation[j, 1], rest_rotation[j, 2]
        angle = math.sqrt(x * x + y * y + z * z)
        if angle > 1e-12:
            s = math.sin(0.5 * angle) / angle
        else:
            s = 0.5
        out[j, 0] = math.cos(0.5 * angle)
        out[j, 1] = s * x
        out[j, 2] = s * y
        out[j, 3] = s * z
    return out


@njit(cache=True, nogil=True)
def _step_kernel(position_m, orientation, velocity_m_s, angular_velocity_rad_s, prev_position_m, prev_orientation,
                 multiplier, kinematic, mass_kg, inertia_body, half_length_m, arc_from_tip_m, rest_rotation,
                 compliance, entry_point_m, entry_orientation, depth_start_m, depth_end_m, roll_start_rad,
                 roll_end_rad, gravity_m_s2, external_force_N, external_torque_Nm, damping_per_s, dt_s, substeps,
                 iterations, handle_out):
    """All substeps of one step (see `step_rod`). handle_out (6,): mean force (N) and moment (N·m) on the free
    rod from the entry joint over the substeps."""
    n = position_m.shape[0]
    h = dt_s / substeps
    damping = math.exp(-damping_per_s * h)
    rest_quat = rest_quaternions(rest_rotation)
    inv_mass = np.empty(n)
    inv_inertia = np.empty((n, 3))
    for a in range(6):
        handle_out[a] = 0.0
    for k in range(substeps):
        frac = (k + 1.0) / substeps
        depth = depth_start_m + (depth_end_m - depth_start_m) * frac
        roll = roll_start_rad + (roll_end_rad - roll_start_rad) * frac
        n_kin = predict_segments(position_m, orientation, velocity_m_s, angular_velocity_rad_s, prev_position_m,
                                 prev_orientation, kinematic, inv_mass, inv_inertia, mass_kg, inertia_body,
                                 arc_from_tip_m, entry_point_m, entry_orientation, depth, roll, gravity_m_s2,
                                 external_force_N, external_torque_Nm, damping, h, 0.0)
        multiplier[:, :] = 0.0
        for _ in range(iterations):
            project_rod_joints(position_m, orientation, inv_mass, inv_inertia, half_length_m, rest_quat, compliance,
                               multiplier, h)
        update_segment_velocities(position_m, orientation, velocity_m_s, angular_velocity_rad_s, prev_position_m,
                                  prev_orientation, h)
        accumulate_handle_load(multiplier, n_kin, n, h, substeps, handle_out)
