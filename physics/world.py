"""One world: the scope rod and the colon wall stepped together in one XPBD substep loop, coupled by contact.

DESIGN.md, "Solver" (one XPBD solver steps colon, scope and contacts together) and the Model / State / step style
of NVIDIA Warp's warp/sim: `WorldModel` is static (rod model, colon model, contact model, entry point),
`WorldState` holds what changes (rod state, colon state, contact state), `step_world(model, state, controls, dt_s,
substeps)` advances it in place, `world_outputs` reads it.

Per substep of length h (one numba kernel for the whole step, `_world_step_kernel`):
  0. each contact sample's overlap with the wall left by the last substep (`scope_wall_clearance`), which the
     contact removes without velocity (physics/contact.py, `old_overlap_m`);
  1. rod `predict_segments` (the segments the hand holds, HAND_DISTANCE_M and more behind the verge, placed on the
     insertion axis at the substep's interpolated depth and roll);
  2. zero the rod and contact multipliers;
  3. `iterations` times: the wall (`colon_body.wall_sweep`: on the first sweep the pressure kick and predict, then
     distance constraints and tethers block by block, then the seam links; after the first sweep an assistant's
     hand on the abdomen if there is one, `abdominal_press.project_press`, `ColonControls.press`), rod joints
     (`project_rod_joints`, direct block solve; the two bodies do not share anything until contact) and the anus
     (`project_entry_guide`), then scope-wall contact (samples re-located by their s locality, then
     `contact_passes` Gauss-Seidel passes of `project_scope_wall_contacts`). Contact comes last among the scope's
     projections, so a scope point leaves the substep inside the wall up to what one contact's correction undoes of
     its neighbours';
  4. `contact_iterations` times, around the contacts only: the links and tethers of the rings within
     CONTACT_ITERATION_RINGS of a touching sample, the rings beyond held still (`colon_body.sweep_marked_rings`),
     colon self-contact (`colon_body.project_self_contact`; see "Self-contact among the contact iterations"),
     rod joints and the anus, contact passes over the touching samples, normal and friction (friction must see the
     joints' motion: physics/contact.py, "Friction");
  5. colon self-contact if no sample touched (step 4 did it otherwise), the rings' order along the tube
     (`colon_body.project_ring_order`), the pelvic floor (`colon_body.project_pelvic_floor`), then
     `colon_body.wall_substep_end` (lumen floor and wall velocities);
  6. rod velocity update (XPBD: from the pose change over the substep).
Once per step, before the kernel: the rod's rest rotations and compliances from the wheels and stiffness setting,
the colon's gauge pressure (first-order lag), its self-contact candidates (`update_contact_candidates`), the wall's
per-h constants (cached) and, in the kernel, the pressure's acceleration of each particle.

Substeps: the colon's `recommended_substeps` (4 at 1/240 s on the default 5 mm grid), not the rod's 8. The rod's 8
were chosen for particle-versus-capsule contact against a 5 mm grid; lumen-coordinate contact does not depend on the
distance moved per substep (physics/contact.py), and the colon's wall is 90 % of the cost. Measured on the default
scene (0.1 m/s straight insertion to 0.2 m): worst sample outside the wall 0.09 mm at 4 substeps and 0.05 mm at 8,
tip within 1.1 mm of each other, 4.7 against 8.7 ms per step.

Contact passes: the samples of one segment and its neighbours share the segment's correction, so a Gauss-Seidel
pass leaves a residual where several samples press at once (a scope buckling in the sigmoid). Measured, 0.1 m/s
straight insertion to 0.4 m (the scope loops in the sigmoid, wall strain above 1): worst sample outside the wall
1.44 mm with one pass, 0.34 mm with two (CONTACT_PASSES), for 0.7 ms more per step.

Contact iterations: a hard contact applied after one sweep of the wall always wins against it, so under a pushing
scope the wall stretched far beyond its strain limit (ColonMaterial.max_stretch) and a loop of the sigmoid leaning on
it at 40-60 N stored enough energy to snap the wall at 10-30 m/s. Two more sweeps of the wall, rod and contacts
around the touching samples settle them against each other; measured on the default colon with the autopilot
(seed 0, 40 s simulated): largest wall strain 0.76 with them against 1.75 without, fastest wall particle 0.74 m/s
against 1.14, worst scope point outside the wall 0.4 mm either way; bench/physics.py's scene 1.0-1.5 ms more per
step.

Self-contact among the contact iterations: where the scope presses the wall onto another part of the colon (a
loop of the sigmoid lying on the next one, or the shaft crossing itself with two walls between), the scope contact
pushes a wall particle one way and the self-contact pushes it back. With the self-contact once at the end of the
substep, after the contact passes, it had the last word every substep: it left the wall up to a millimetre inside
the scope, and the contact's and the self-contact's pre-stabilisation (each moves the previous position with the
overlap it removes) turned the pushing back and forth into 1.5 m/s of particle velocity (seed 2 at 16.4 s: a
particle of ring 79 moved 1.7 mm by its predicted velocity, 3.1 mm back by the contact, 1.1 mm back by the
self-contact, every substep, its net motion 0.1-0.2 mm). Solved inside the contact iterations, before the rod
joints and the contact passes, the two settle against each other and the contact still comes last. Measured, before
-> after: the autopilot to the splenic flexure on seeds 0-5 (tests/test_autopilot.py), worst scope point outside
the wall 0.52-1.04 -> 0.29-0.37 mm and fastest wall particle 1.00-1.56 -> 0.91-1.35 m/s; over 60 s
(bench/autopilot.py) seeds 0-2 1.35, 1.10, 1.14 -> 0.47, 0.40, 0.44 mm. The self-contact runs twice more per
substep where a sample touches (its candidate list, not the whole wall): bench/physics.py 3.18 ms per step.

The hand and the anus: the hand holds the scope HAND_DISTANCE_M behind the anal verge (those segments are
kinematic), the shaft between hand and verge is free, and the anus is a ring it slides through: the point where the
scope's axis crosses the verge's plane is held on the insertion axis, sideways only (`scope_rod.project_entry_guide`;
its force on the scope is `RodState.entry_force_N`). Before, the hand held every segment behind the verge: the
scope was clamped straight at the verge, and each time a 10 mm segment's centre passed it the clamp stepped 10 mm
into the body. The shaft bending into the rectum then jumped with every segment: fed straight in at 0.05 m/s, a
segment at up to 0.68 m/s and the handle's axial force changing by up to 2.6 N from one step to the next, a
cogging a haptic handle would pass on; with the wheels turned the bending section whipped as it entered. With the
anus as a ring (tests/test_world.py, `test_the_scope_slides_through_the_anus_without_cogging`): 0.10 m/s and
0.18 N; the autopilot's fastest scope segment to the splenic flexure, seeds 0-5, 0.26-0.33 m/s instead of
0.91-1.42 m/s. The ring shares its correction with the neighbouring segment across the nearer joint (half and half
at the joint): moving only the segment that crosses the plane, the shaft kinked there by about 12° and the kink
jumped when a joint passed the plane (a segment at 0.77 m/s). What is left is the hand's grip stepping back 10 mm
as each segment is let go. With the hand 0.15 m out that was 0.23 m/s and 0.59 N, and the loop reduction of
tests/test_autopilot.py let the hooked tip slip at 30 mm of excess (60 mm at the end; 0.05 and 0.30 m both reached
the 20 mm target). Holding the scope on the axis at the anal canal's inner end as well (a second ring at
ANAL_CANAL_M) fought the shaft's bend into the rectum: 17-18 N at the handle and the pushed loop never formed.

The hand on the abdomen comes before the contact, for the reason the self-contact does: solved at the end of the
substep, after the contact passes, it pulled the held particles back into the scope pushing them every substep, and
they chattered at 1.0-1.5 m/s with the scope 1.0-1.4 mm outside the wall (seed 4 at 42 s, rings 49-91 of the held
sigmoid; one-off trace).

Determinism: every loop runs in a fixed order, so the same model, state, controls and dt give bit-identical
states; with `threaded=True` the wall's ring blocks run on numba's threads, but they share no particle and each
runs in order, so the bits are the same (tests/test_colon_solver.py). Speed: colon_body's module docstring,
"Solver order, speed and threads".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit

from physics.abdominal_press import project_press
from physics.colon_body import (
    ColonBodyModel,
    ColonBodyState,
    ColonControls,
    ColonOutputs,
    colon_outputs,
    gather_step,
    pressure_accelerations,
    project_pelvic_floor,
    project_ring_order,
    project_self_contact,
    recommended_substeps,
    ring_centroids,
    rest_state,
    set_press,
    solver_coefficients,
    solver_plan,
    sweep_marked_rings,
    threaded_default,
    update_contact_candidates,
    wall_substep_end,
    wall_sweep,
)
from physics.contact import (
    DEFAULT_FRICTION_COEFFICIENT,
    ContactModel,
    ContactState,
    build_contact,
    empty_contact_state,
    locate_samples_global,
    locate_samples_local,
    project_scope_wall_contacts,
    sample_points,
    scope_ring_crossing_clearance,
    scope_wall_clearance,
)
from physics.scope_rod import (
    DEFAULT_DAMPING_PER_S,
    accumulate_handle_load,
    RodControls,
    RodModel,
    RodOutputs,
    RodState,
    per_segment,
    insertion_frame,
    joint_compliance,
    joint_rest_rotation,
    predict_segments,
    project_entry_guide,
    project_rod_joints,
    quat_multiply,
    quat_rotate,
    rest_quaternions,
    rod_outputs,
    straight_state,
    update_segment_velocities,
)

#: Fewest substeps per 1/240 s step (see the module docstring, "Substeps").
MIN_SUBSTEPS = 4
#: Where the hand holds the scope, behind the anal verge (m): the shaft between hand and verge is free and slides
#: through the anus (see the module docstring, "The hand and the anus"). [est]: an endoscopist's right hand holds
#: the insertion tube a few centimetres from the anus.
HAND_DISTANCE_M = 0.05
#: A bending-section joint takes the wheels' bend in proportion to how far it is past the verge, all of it from
#: this depth (m) on: the anal canal's length (anatomy.md, Segments: anal canal 0.035 m). A bent tip cannot pass the
#: anus (`project_entry_guide` would drag it onto the axis: 65 m/s with the wheel at 90° from the start), and taken
#: whole at the verge, each joint's share of the bend made the tip whip as it entered (1.0-1.4 m/s).
STRAIGHT_ENTRY_M = 0.035
#: Contact passes per iteration (see the module docstring, "Contact passes").
CONTACT_PASSES = 2
#: Extra iterations of the wall around the contacts per substep (see the module docstring, "Contact iterations").
CONTACT_ITERATIONS = 2
#: Rings either side of a touching sample's piece that the contact iterations solve.
CONTACT_ITERATION_RINGS = 2


@dataclass(frozen=True)
class WorldModel:
    """Static parts of the world.

    - rod: RodModel (S segments); colon: ColonBodyModel (R rings of P particles, N = R P); contact: ContactModel.
    - entry_point_m (3,): the anal verge (the colon centreline's first point). entry_orientation (4,): insertion
      frame (w, x, y, z), +z the insertion axis (the centreline's first tangent), +y the unrolled handle's image-up.
    - gravity_m_s2 (3,): world frame; off by default (the colon's rest pose already carries its weight).
    - rod_damping_per_s: viscous loss on free rod segments (1/s); colon damping comes from its material.
    - hand_distance_m: how far behind the anal verge the hand holds the scope (see "The hand and the anus").
    """

    rod: RodModel
    colon: ColonBodyModel
    contact: ContactModel
    entry_point_m: np.ndarray
    entry_orientation: np.ndarray
    gravity_m_s2: np.ndarray
    rod_damping_per_s: float
    hand_distance_m: float = HAND_DISTANCE_M

    @property
    def insertion_axis(self) -> np.ndarray:
        """Unit insertion axis (3,) in the world frame."""
        return quat_rotate(self.entry_orientation[None, :], np.array([[0.0, 0.0, 1.0]]))[0]

    @cached_property
    def default_substeps(self) -> int:
        """Substeps per 1/240 s step: the colon's recommendation for its grid, at least MIN_SUBSTEPS (computed once:
        it measures every cell, 0.3 ms, and the model does not change)."""
        return max(MIN_SUBSTEPS, recommended_substeps(self.colon))


@dataclass
class WorldState:
    """rod (RodState), colon (ColonBodyState), contact (ContactState); time_s: simulated time."""

    rod: RodState
    colon: ColonBodyState
    contact: ContactState
    time_s: float = 0.0

    def copy(self) -> "WorldState":
        """A deep copy."""
        return WorldState(self.rod.copy(), self.colon.copy(), self.contact.copy(), self.time_s)


@dataclass
class WorldControls:
    """What acts on the world in one step: the hands on the scope and the air (and loads) on the colon."""

    rod: RodControls = field(default_factory=RodControls)
    colon: ColonControls = field(default_factory=ColonControls)


@dataclass(frozen=True)
class WorldOutputs:
    """What the rest of colosim reads after a step (S segments, K coils, N particles).

    - rod: RodOutputs (tip and camera pose, coils, inserted length, handle force and torque), colon: ColonOutputs
      (wall strain, tether forces, deformed rings); read those there rather than through copies here.
    - tip_contact_force_N (3,): wall force on the tip segment (the distal 10 mm). shaft_contact_force_N (S, 3): per
      segment. rod_contact_force_N (3,): sum over the rod. wall_contact_force_N (3,): sum over the wall (equal and
      opposite). contact_load_N: sum of the magnitudes of the per-segment forces (a scalar "how hard the scope
      leans on the colon"). Means over the last step's substeps.
    - max_wall_strain: largest |strain| of any wall particle's hoop or axial links.
    - max_tether_force_N: the largest force in any mesentery tether (the pain proxy; per particle in colon).
    """

    tip_contact_force_N: np.ndarray
    shaft_contact_force_N: np.ndarray
    rod_contact_force_N: np.ndarray
    wall_contact_force_N: np.ndarray
    contact_load_N: float
    max_wall_strain: float
    max_tether_force_N: float
    rod: RodOutputs
    colon: ColonOutputs


# --------------------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------------------


def build_world(rod_model: RodModel, colon_model: ColonBodyModel, *,
                friction_coefficient: float = DEFAULT_FRICTION_COEFFICIENT, contact_compliance_m_N: float = 0.0,
                samples_per_segment: int = 3, up: np.ndarray | None = None,
                gravity_m_s2: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
                rod_damping_per_s: float = DEFAULT_DAMPING_PER_S,
                hand_distance_m: float = HAND_DISTANCE_M) -> WorldModel:
    """A world of `rod_model` fed into `colon_model` at its anal verge.

    The entry point is the first rest ring centre and the insertion axis its centreline tangent (the rectum's
    direction at the verge). `up` (3,): the handle's image-up before roll, made normal to the axis; default the
    patient's anterior (-y in LPS), so "up" on the wheel bends toward the front of the patient at zero roll.
    """
    entry = np.asarray(colon_model.rest_ring_centre_m[0], dtype=np.float64).copy()
    axis = np.asarray(colon_model.rest_ring_frame[0][:, 2], dtype=np.float64)
    if up is None:
        up = np.array([0.0, -1.0, 0.0])
        if abs(float(np.dot(up, axis))) > 0.95:  # insertion along y: fall back to the head direction
            up = np.array([0.0, 0.0, 1.0])
    entry_q = insertion_frame(axis, np.asarray(up, dtype=np.float64))
    contact = build_contact(rod_model.segment_length_m, rod_model.radius_m, friction_coefficient,
                            contact_compliance_m_N, samples_per_segment)
    return WorldModel(rod=rod_model, colon=colon_model, contact=contact, entry_point_m=entry,
                      entry_orientation=entry_q, gravity_m_s2=np.asarray(gravity_m_s2, dtype=np.float64).reshape(3),
                      rod_damping_per_s=float(rod_damping_per_s), hand_distance_m=float(hand_distance_m))


def initial_world_state(model: WorldModel, insertion_depth_m: float = 0.0, roll_rad: float = 0.0) -> WorldState:
    """The colon at rest and the scope `insertion_depth_m` in, its inserted part laid along the rest centreline.

    The part outside lies on the insertion axis (the handle's); the part inside follows the colon's rest ring centres
    with frames carried along by parallel transport from the insertion frame, so the scope starts bent like the
    colon (its rest shape is straight: it pushes on the wall from the first step, as a real inserted scope does).
    Every contact sample is then located on the rest centreline (global search once).
    """
    rod = straight_state(model.rod, model.entry_point_m, model.insertion_axis, insertion_depth_m=insertion_depth_m,
                         roll_rad=roll_rad)
    # straight_state builds its own insertion frame from `up`; use the world's so that roll 0 means the same thing.
    rod.entry_orientation = model.entry_orientation.copy()
    roll_q = np.array([[math.cos(0.5 * roll_rad), 0.0, 0.0, math.sin(0.5 * roll_rad)]])
    rod.orientation[:] = quat_multiply(model.entry_orientation[None, :], roll_q)[0]
    depth = rod.insertion_depth_m
    colon = model.colon
    centres = colon.rest_ring_centre_m
    ring_s = colon.ring_s_m
    free = np.flatnonzero(model.rod.segment_arc_from_tip_m < depth)  # distal segments, in order proximal -> tip
    if free.size:
        s_free = depth - model.rod.segment_arc_from_tip_m[free]
        pos = np.stack([np.interp(s_free, ring_s, centres[:, a]) for a in range(3)], axis=1)
        # Tangent at each centre from the interpolated centreline a little either side.
        ds = 0.5 * colon.ring_spacing_m
        ahead = np.stack([np.interp(s_free + ds, ring_s, centres[:, a]) for a in range(3)], axis=1)
        behind = np.stack([np.interp(np.maximum(s_free - ds, 0.0), ring_s, centres[:, a]) for a in range(3)], axis=1)
        tangent = ahead - behind
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        q = rod.orientation[free[0]].copy()
        z_prev = quat_rotate(q[None, :], np.array([[0.0, 0.0, 1.0]]))[0]
        for n, i in enumerate(free):  # builder only: S iterations of 3-vector work
            q = _turn(q, z_prev, tangent[n])
            z_prev = tangent[n]
            rod.orientation[i] = q
            rod.position_m[i] = pos[n]
        rod.prev_position_m[:] = rod.position_m
        rod.prev_orientation[:] = rod.orientation
    colon_state = rest_state(colon)
    contact = empty_contact_state(model.contact, model.rod.segment_count, colon.particle_count)
    points = np.empty((model.contact.sample_count, 3))
    sample_points(rod.position_m, rod.orientation, model.contact.sample_segment, model.contact.sample_offset_m, points)
    centroid = np.empty((colon.ring_count, 3))
    ring_centroids(colon_state.position_m, colon.ring_count, colon.particles_per_ring, centroid)
    locate_samples_global(points, centroid, contact.sample_piece)
    return WorldState(rod=rod, colon=colon_state, contact=contact)


def _turn(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """q (4,) rotated by the smallest rotation taking unit a (3,) to unit b (3,) (parallel transport of a frame)."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -0.999999:
        raise ValueError("initial_world_state: the centreline turns back on itself between two scope segments")
    r = np.array([1.0 + c, v[0], v[1], v[2]])
    r /= np.linalg.norm(r)
    return quat_multiply(r[None, :], q[None, :])[0]


# --------------------------------------------------------------------------------------------------------------
# Step and outputs
# --------------------------------------------------------------------------------------------------------------


def step_world(model: WorldModel, state: WorldState, controls: WorldControls, dt_s: float,
               substeps: int | None = None, *, iterations: int = 1, contact_passes: int = CONTACT_PASSES,
               contact_iterations: int = CONTACT_ITERATIONS, threaded: bool | None = None) -> WorldState:
    """Advance rod, colon and contacts by `dt_s` in `substeps` XPBD substeps (default `model.default_substeps`
    scaled to dt_s) of `iterations` sweeps each (`contact_passes` contact passes per sweep), then
    `contact_iterations` sweeps of the rings around the contacts. Updates `state` in place and returns it.

    The handle's insertion depth and roll move linearly over the substeps from the state's values to the controls'
    (as in `step_rod`); the colon's gauge pressure follows the insufflation setting with the material's time
    constant (as in `step_colon`). `threaded`: run the wall's ring blocks on numba's threads (default
    `colon_body.threaded_default()`); the result is bit-identical either way.
    """
    if substeps is None:
        substeps = max(1, int(math.ceil(model.default_substeps * dt_s * 240.0 - 1e-9)))
    if not (dt_s > 0 and substeps >= 1 and iterations >= 1 and contact_passes >= 1 and contact_iterations >= 0):
        raise ValueError(f"step_world needs dt_s > 0, substeps >= 1, iterations >= 1, contact_passes >= 1, "
                         f"contact_iterations >= 0; got {dt_s}, {substeps}, {iterations}, {contact_passes}, "
                         f"{contact_iterations}")
    rod_m, colon_m, contact_m = model.rod, model.colon, model.contact
    rod, colon, contact = state.rod, state.colon, state.contact
    rc, cc = controls.rod, controls.colon
    seg_count = rod_m.segment_count
    depth = min(max(float(rc.insertion_depth_m), 0.0), rod_m.max_insertion_m)
    joint_depth = depth - rod_m.joint_arc_from_tip_m
    rest_rotation = joint_rest_rotation(rod_m, rc, np.clip(joint_depth / STRAIGHT_ENTRY_M, 0.0, 1.0))
    compliance = joint_compliance(rod_m, rc.stiffness_scale)
    rod_force = per_segment(rc.external_force_N, seg_count)
    rod_torque = per_segment(rc.external_torque_Nm, seg_count)

    n = colon_m.particle_count
    insufflation = min(max(float(cc.insufflation), -1.0), 1.0)
    target_Pa = insufflation * colon_m.insufflation_pressure_Pa
    if colon_m.pressure_time_constant_s > 0:
        blend = -math.expm1(-dt_s / colon_m.pressure_time_constant_s)
        pressure = colon.pressure_Pa + (target_Pa - colon.pressure_Pa) * blend
    else:
        pressure = target_Pa
    wall_force = (np.zeros((n, 3)) if cc.external_force_N is None
                  else np.ascontiguousarray(cc.external_force_N, dtype=np.float64).reshape(n, 3))
    if cc.press != colon.press:
        set_press(colon_m, colon, cc.press)
    press_force = np.zeros(3)
    update_contact_candidates(colon_m, colon, dt_s)
    coef, tether_coef = solver_coefficients(colon_m, colon, float(dt_s) / substeps)
    ring_start, constraint_start = solver_plan(colon_m)
    ring_run_start, ring_runs = colon_m.ring_link_runs

    handle = np.zeros(9)
    _world_step_kernel(
        # rod
        rod.position_m, rod.orientation, rod.velocity_m_s, rod.angular_velocity_rad_s, rod.prev_position_m,
        rod.prev_orientation, rod.multiplier, rod.kinematic, rod_m.segment_mass_kg, rod_m.segment_inertia_kg_m2,
        0.5 * rod_m.segment_length_m, rod_m.segment_arc_from_tip_m, rest_rotation, compliance, rod.entry_point_m,
        rod.entry_orientation, float(rod.insertion_depth_m), depth, float(rod.roll_rad), float(rc.roll_rad),
        model.gravity_m_s2, rod_force, rod_torque, model.rod_damping_per_s, model.hand_distance_m,
        # colon
        colon.position_m, colon.prev_position_m, colon.velocity_m_s, colon.wall_multiplier, colon.tether_multiplier,
        colon_m.tether_anchor_m, colon_m.inv_mass, wall_force, colon_m.constraint_i, colon_m.constraint_j,
        colon.link_rest_length_m, coef, tether_coef, colon_m.area_m2, colon_m.ring_count, colon_m.particles_per_ring,
        float(pressure), colon_m.rest_centroid_distance_m, colon_m.collapse_radius_fraction,
        colon_m.lumen_floor_fraction, colon.contact_pairs, colon.contact_count, colon_m.contact_radius_m,
        colon_m.damping_per_s, ring_start, constraint_start, ring_run_start, ring_runs,
        # contact
        contact_m.sample_segment, contact_m.sample_offset_m, contact.sample_piece, contact_m.scope_radius_m,
        contact_m.friction_coefficient, contact_m.compliance_m_N, contact_m.search_window_rings,
        contact.normal_multiplier, contact.friction_multiplier, contact.normal, contact.segment_force_N,
        contact.segment_moment_Nm, contact.particle_force_N, contact_m.patch_half_rings,
        contact_m.patch_half_particles, colon_m.pelvic_floor_point_m, colon_m.pelvic_floor_normal,
        colon_m.pelvic_floor_depth_m, colon_m.ring_min_gap_m, colon.press_index, colon.press_anchor_m,
        colon.press_compliance_m_N, press_force,
        # step
        float(dt_s), int(substeps), int(iterations), int(contact_passes), int(contact_iterations), handle,
        threaded_default() if threaded is None else bool(threaded),
    )
    gather_step(colon_m, colon, float(dt_s))
    rod.insertion_depth_m = depth
    rod.roll_rad = float(rc.roll_rad)
    rod.handle_force_N = handle[:3].copy()
    rod.handle_moment_Nm = handle[3:6].copy()
    rod.entry_force_N = handle[6:].copy()
    rod.time_s += float(dt_s)
    colon.insufflation = insufflation
    colon.press_force_N = press_force / substeps
    colon.pressure_Pa = float(pressure)
    colon.substep_s = float(dt_s) / substeps
    colon.time_s += float(dt_s)
    state.time_s += float(dt_s)
    return state


@njit(cache=True, nogil=True)
def _world_step_kernel(
        rod_pos, rod_q, rod_vel, rod_omega, rod_prev_pos, rod_prev_q, rod_multiplier, rod_kinematic, rod_mass,
        rod_inertia, rod_half_length, rod_arc_from_tip, rest_rotation, joint_compl, entry_point, entry_q,
        depth_start, depth_end, roll_start, roll_end, gravity, rod_ext_force, rod_ext_torque, rod_damping_per_s,
        hand_distance,
        wall_pos, wall_prev_pos, wall_vel, wall_multiplier, tether_multiplier, wall_rest_pos, wall_inv_mass,
        wall_ext_force, ci, cj, rest_len, coefficients, tether_coefficients, area, ring_count, per_ring,
        pressure_Pa, rest_centroid_distance, collapse_fraction, floor_fraction, pairs, pair_count, contact_radius,
        wall_damping_per_s, block_ring_start, block_constraint_start, ring_run_start, ring_runs,
        sample_segment, sample_offset, sample_piece, scope_radius, friction, contact_compl, window,
        normal_multiplier, friction_multiplier, normal_out, segment_force, segment_moment, particle_force,
        patch_half_rings, patch_half_particles, floor_point, floor_normal, floor_depth, ring_min_gap, press_index,
        press_anchor, press_compliance, press_force, dt_s, substeps, iterations, contact_passes, contact_iterations,
        handle_out, threaded):
    """All substeps of one world step (module docstring, steps 1-5). Arrays as in RodState / RodModel,
    ColonBodyState / ColonBodyModel and ContactState / ContactModel; handle_out (9,): mean force (N) and moment
    (N·m) of the handle on the free rod over the substeps, then the mean force (N) of the anus on the rod;
    press_force (3,): the abdominal press's force on the colon summed over the substeps (N)."""
    n_seg = rod_pos.shape[0]
    h = dt_s / substeps
    rod_damping = math.exp(-rod_damping_per_s * h)
    wall_damping = math.exp(-wall_damping_per_s * h)
    rest_quat = rest_quaternions(rest_rotation)
    inv_mass = np.empty(n_seg)
    inv_inertia = np.empty((n_seg, 3))
    centroid = np.empty((ring_count, 3))
    points = np.empty((sample_segment.shape[0], 3))
    marked = np.zeros(ring_count, dtype=np.bool_)
    old_overlap = np.empty(sample_segment.shape[0])
    ring_position = np.empty(sample_segment.shape[0])
    force_scale = 1.0 / (h * h * substeps)
    for a in range(9):
        handle_out[a] = 0.0
    segment_force[:, :] = 0.0
    segment_moment[:, :] = 0.0
    particle_force[:, :] = 0.0
    wall_accel = pressure_accelerations(wall_pos, wall_inv_mass, area, ring_count, per_ring, pressure_Pa,
                                        rest_centroid_distance, collapse_fraction, np.empty_like(wall_pos))
    for k in range(substeps):
        frac = (k + 1.0) / substeps
        depth = depth_start + (depth_end - depth_start) * frac
        roll = roll_start + (roll_end - roll_start) * frac
        # What the last substep left outside the wall (contact pre-stabilisation, physics/contact.py).
        sample_points(rod_pos, rod_q, sample_segment, sample_offset, points)
        scope_wall_clearance(points, wall_pos, ring_count, per_ring, sample_piece, scope_radius, old_overlap,
                             ring_position)
        for q in range(old_overlap.shape[0]):
            old_overlap[q] = -old_overlap[q] if old_overlap[q] < 0.0 else 0.0
        n_kin = predict_segments(rod_pos, rod_q, rod_vel, rod_omega, rod_prev_pos, rod_prev_q, rod_kinematic,
                                 inv_mass, inv_inertia, rod_mass, rod_inertia, rod_arc_from_tip, entry_point, entry_q,
                                 depth, roll, gravity, rod_ext_force, rod_ext_torque, rod_damping, h, hand_distance)
        rod_multiplier[:, :] = 0.0
        normal_multiplier[:] = 0.0
        friction_multiplier[:, :] = 0.0
        normal_out[:, :] = 0.0
        for it in range(iterations):
            # Wall: pressure kick and predict (first sweep), links, tethers; the rod joints do not touch the wall.
            wall_sweep(threaded, it == 0, wall_pos, wall_prev_pos, wall_vel, wall_inv_mass, wall_ext_force,
                       wall_accel, per_ring, wall_damping, h, ci, cj, rest_len, coefficients, wall_multiplier,
                       wall_rest_pos, tether_coefficients, tether_multiplier, block_ring_start,
                       block_constraint_start)
            if it == 0:  # the hand on the abdomen, once per substep and before the contact (module docstring)
                project_press(wall_pos, wall_inv_mass, press_index, press_anchor, press_compliance, h, press_force)
            project_rod_joints(rod_pos, rod_q, inv_mass, inv_inertia, rod_half_length, rest_quat, joint_compl,
                               rod_multiplier, h)
            project_entry_guide(rod_pos, rod_q, inv_mass, inv_inertia, rod_half_length, entry_point, entry_q,
                                force_scale, handle_out[6:])
            # s locality: each sample keeps its centreline piece and looks only a few rings either side.
            ring_centroids(wall_pos, ring_count, per_ring, centroid)
            sample_points(rod_pos, rod_q, sample_segment, sample_offset, points)
            locate_samples_local(points, centroid, sample_piece, window)
            for _ in range(contact_passes):
                project_scope_wall_contacts(rod_pos, rod_q, rod_prev_pos, rod_prev_q, inv_mass, inv_inertia, wall_pos,
                                            wall_prev_pos, wall_inv_mass, ring_count, per_ring, sample_segment,
                                            sample_offset, sample_piece, scope_radius, friction, contact_compl,
                                            normal_multiplier, friction_multiplier, normal_out, segment_force,
                                            segment_moment, particle_force, force_scale, h, old_overlap,
                                            patch_half_rings, patch_half_particles)
        if contact_iterations > 0 and _mark_contact_rings(normal_multiplier, sample_piece, marked):
            for _ in range(contact_iterations):
                sweep_marked_rings(wall_pos, wall_prev_pos, wall_inv_mass, ci, cj, rest_len, coefficients,
                                   wall_multiplier, wall_rest_pos, tether_coefficients, tether_multiplier, per_ring,
                                   ring_run_start, ring_runs, marked)
                project_self_contact(wall_pos, wall_prev_pos, wall_inv_mass, pairs, pair_count, contact_radius)
                project_rod_joints(rod_pos, rod_q, inv_mass, inv_inertia, rod_half_length, rest_quat, joint_compl,
                                   rod_multiplier, h)
                project_entry_guide(rod_pos, rod_q, inv_mass, inv_inertia, rod_half_length, entry_point, entry_q,
                                    force_scale, handle_out[6:])
                for _ in range(contact_passes):
                    project_scope_wall_contacts(rod_pos, rod_q, rod_prev_pos, rod_prev_q, inv_mass, inv_inertia,
                                                wall_pos, wall_prev_pos, wall_inv_mass, ring_count, per_ring,
                                                sample_segment, sample_offset, sample_piece, scope_radius, friction,
                                                contact_compl, normal_multiplier, friction_multiplier, normal_out,
                                                segment_force, segment_moment, particle_force, force_scale, h,
                                                old_overlap, patch_half_rings, patch_half_particles, True)
        else:
            project_self_contact(wall_pos, wall_prev_pos, wall_inv_mass, pairs, pair_count, contact_radius)
        project_ring_order(wall_pos, wall_inv_mass, ring_count, per_ring, ring_min_gap)
        project_pelvic_floor(wall_pos, wall_inv_mass, floor_point, floor_normal, floor_depth)
        wall_substep_end(threaded, wall_pos, wall_prev_pos, wall_vel, wall_inv_mass, per_ring, rest_centroid_distance,
                         floor_fraction, h, block_ring_start)
        update_segment_velocities(rod_pos, rod_q, rod_vel, rod_omega, rod_prev_pos, rod_prev_q, h)
        accumulate_handle_load(rod_multiplier, n_kin, n_seg, h, substeps, handle_out)


@njit(cache=True, nogil=True)
def _mark_contact_rings(normal_multiplier, sample_piece, marked):
    """marked (R,) = the rings within CONTACT_ITERATION_RINGS of a piece (sample_piece (Q,)) whose sample pushed in
    this substep (normal_multiplier (Q,) > 0). Returns whether any ring is marked."""
    marked[:] = False
    r = marked.shape[0]
    w = CONTACT_ITERATION_RINGS
    any_marked = False
    for q in range(normal_multiplier.shape[0]):
        if normal_multiplier[q] > 0.0:
            k = sample_piece[q]
            for m in range(max(0, k - w), min(r, k + w + 2)):
                marked[m] = True
            any_marked = True
    return any_marked


def scope_clearance(model: WorldModel, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """Clearance (Q,) of every contact sample's capsule surface from the deformed wall, in lumen coordinates (m;
    negative = outside the wall by that much; +inf behind the anal verge), and each sample's ring position (Q,)
    (k + f, -1 behind the verge). Uses the samples' current pieces; moves nothing."""
    c = model.contact
    points = np.empty((c.sample_count, 3))
    sample_points(state.rod.position_m, state.rod.orientation, c.sample_segment, c.sample_offset_m, points)
    clearance = np.empty(c.sample_count)
    ring_pos = np.empty(c.sample_count)
    scope_wall_clearance(points, state.colon.position_m, model.colon.ring_count, model.colon.particles_per_ring,
                         state.contact.sample_piece, c.scope_radius_m, clearance, ring_pos)
    return clearance, ring_pos


def scope_crossing_clearance(model: WorldModel, state: WorldState, ring_position: np.ndarray) -> np.ndarray:
    """Clearance (R,) of the scope where its axis crosses each ring's plane (m; negative = outside the wall; +inf
    where it does not cross; `contact.scope_ring_crossing_clearance`), given the samples' ring positions (Q,) from
    `scope_clearance`. Moves nothing."""
    colon, c = model.colon, model.contact
    points = np.empty((c.sample_count, 3))
    sample_points(state.rod.position_m, state.rod.orientation, c.sample_segment, c.sample_offset_m, points)
    out = np.empty(colon.ring_count)
    scope_ring_crossing_clearance(points, ring_position, state.colon.position_m, colon.ring_count,
                                  colon.particles_per_ring, c.scope_radius_m, out)
    return out


def world_outputs(model: WorldModel, state: WorldState) -> WorldOutputs:
    """Tip pose, coils, inserted length, handle load, contact forces, wall strain and tether forces of `state`."""
    ro = rod_outputs(model.rod, state.rod)
    co = colon_outputs(model.colon, state.colon)
    seg_force = state.contact.segment_force_N.copy()
    return WorldOutputs(
        tip_contact_force_N=seg_force[-1].copy(), shaft_contact_force_N=seg_force,
        rod_contact_force_N=seg_force.sum(axis=0), wall_contact_force_N=state.contact.particle_force_N.sum(axis=0),
        contact_load_N=float(np.linalg.norm(seg_force, axis=1).sum()), max_wall_strain=float(co.wall_strain.max()),
        max_tether_force_N=float(co.tether_force_magnitude_N.max()),
        rod=ro, colon=co,
    )
