"""The whole scene in PyBullet: the reference backend for physics/world.py (colon wall + scope + contact).

DESIGN.md, "Solver": "PyBullet builds the same scene (colon as a Bullet soft body, scope as a multibody chain with
spherical joints) as the reference backend behind the same World interface, used to cross-check results and as the
peer in benchmarks." `build_pybullet_world(model)` takes the same `WorldModel` as `physics.world.step_world`
(`sim.scene.build_scene().world` gives one), `PyBulletWorld.step(controls, dt_s)` takes the same `WorldControls`,
and `outputs()` returns the rod's `RodOutputs` (tip pose, coils, inserted length, handle load) next to the wall's
node positions, like `world_outputs(...).rod`.

The scope: physics/pybullet_scope.py, unchanged (5 multibodies of <= 31 segments with spherical joints, torque
springs for EI and GJ, a fixed constraint for the handle); its limits hold here too (rotary inertia raised for
stability, so rotations are slow; see its docstring).

The colon wall: a Bullet deformable (`RESET_USE_DEFORMABLE_WORLD`) loaded with `loadSoftBody(useMassSpring=1)`
from an OBJ file written to a temporary directory: the same grid (ring k, particle j is node k * P + j; measured:
Bullet keeps the OBJ vertex order, node positions equal the grid's to 1.5e-8 m), two triangles per cell. Bullet
makes a spring of every triangle edge (hoop, axial and one shear diagonal per cell) and, with
`useBendingSprings`, one across every pair of neighbouring triangles. What differs from our wall, and why:
- One stiffness for every spring (Bullet's API has no per-spring value). From the material: the median hoop/axial
  link stiffness 1 / compliance (2,000 N/m for the scene material), but Bullet's mass-spring body explodes at that
  (measured on the rectum and sigmoid, 60 rings, 5 mm cells, no scope: at dt = 1/240 s, k = 2,000 and 200 N/m blow
  up within 40 steps, 40 N/m stays put). So the stiffness is min(material, MAX_STABLE_SPRING_N_M): the PyBullet
  wall is about 10x softer than ours in-plane. Bending springs: min(material bend link, 1/100 of that).
- Tethers (zero-length compliant links of every particle to its rest position): Bullet's deformable has no
  per-node spring to the world, and `applyExternalForce` does not act on soft bodies (bullet3 #2699), so a tether
  cannot be written as a force either. Approximation: anchors (`createSoftBodyAnchor`, a node pinned to the
  world): the anal ring (as ours, fixed), and in the fixed segments (rectum, descending, flexures, ascending,
  cecum: our tethers hold those to millimetres) every node of every `anchor_ring_stride`-th ring (default 4, i.e.
  2 cm apart); the mobile segments (sigmoid, transverse) have no anchors between their ends and are held only by
  the wall. So the PyBullet wall is rigidly pinned every 2 cm where ours yields millimetres, and free where ours is
  tethered at centimetres.
- No insufflation pressure, no wall external forces (the same missing per-node force), no abdominal press, no
  self-contact (prior-art §2.3: Bullet's deformable self-collision takes 0.1-10 s per step).
- Contact: Bullet's deformable-multibody contact between the nodes (and faces, `useFaceContact`) and the scope's
  capsules, with `collisionMargin` and Coulomb friction (the contact model's mu). A point contact between a node
  and a capsule, not our lumen-coordinate contact: a capsule can slip between nodes when the wall is stretched
  (prior-art §2.6: tunnelling at 0.5 m/s). At one Bullet step per 1/240 s the contact itself blows up: the straight
  feed at 0.05 m/s reaches the rectum's bend at 41 mm, and within 40 steps the wall's nodes are metres away
  (measured with k = 40 N/m; collisionMargin 1 or 3 mm, face contact on or off and repulsionStiffness 0.5 or 800
  all alike). Four Bullet steps of 1/960 s per world step (DEFAULT_SUBSTEPS, the same substep as ours) carry the
  same feed to 0.1 m with k = 200 N/m, the wall moving up to 2.7 mm (two steps of 1/480 s blew up within 80
  steps, on 32 rings with k = 200 N/m); so the world steps Bullet `substeps` times
  (handle depth and roll interpolated as in `step_world`), and the scope's inertia floor is sized for that step.
- Entry: the PyBullet chain is clamped at the verge (its handle holds every segment behind it,
  physics/pybullet_scope.py); ours is held 0.05 m outside and slides through the anus as through a ring
  (physics/world.py, "The hand and the anus").
- `rings`: only the first `rings` rings are built (default all). A Bullet soft body's load and step cost grow
  with its nodes: 1.1-1.5 s to load 1,200 nodes, 17-79 s for the whole colon's 5,900 (the machine shared); a test that
  stays in the rectum builds 32 rings.

Measured (bench/physics.py, same run, same model and controls, straight feed at 0.05 m/s from the verge, 40
steps, the machine shared): PyBullet 116 ms per step (107 in stepSimulation) against ours 2.67 ms, a ratio of 43
(46 at a more loaded moment: 452 against 9.9 ms); built in 17 s; tips 0.26 mm apart. tests/test_pybullet_world.py: after a 0.1 m feed the
tips end 2.8 mm apart, both inside their walls.

Time: `engine_time_s` accumulates the wall time inside `p.stepSimulation` (through the scope's step);
`step` also spends Python time on the scope's springs and handle.

Units SI; quaternions (w, x, y, z) like the rest of physics/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace

import numpy as np
import pybullet as p

from physics.pybullet_scope import DEFAULT_DT_S, PyBulletScope, build_pybullet_scope
from physics.scope_rod import RodOutputs, quat_rotate
from physics.world import WorldControls, WorldModel

#: Largest spring stiffness (N/m) measured stable for Bullet's mass-spring colon with DEFAULT_SUBSTEPS Bullet steps
#: of 1/960 s (the first 60 rings of the default colon, 20 nodes per ring, 5 mm cells, scope fed 0.1 m at 0.05 m/s
#: through the rectum's bend). At one step of 1/240 s, 200 explodes even without the scope (40 does not).
MAX_STABLE_SPRING_N_M = 200.0
#: Bullet steps per world step (see the module docstring, "Contact").
DEFAULT_SUBSTEPS = 4
#: Spring damping (Bullet's springDampingStiffness; its default).
SPRING_DAMPING = 0.1
#: Node collision margin (m): Bullet's contact starts this far from the capsule surface.
COLLISION_MARGIN_M = 0.001
#: Every this-many-th ring of a fixed segment is pinned (see the module docstring, "Tethers").
DEFAULT_ANCHOR_RING_STRIDE = 4
#: Segments whose tethers hold them to millimetres (colon_body._default_tether: the "fixed" compliance).
FIXED_SEGMENTS = ("anal_canal", "rectum", "descending", "splenic_flexure", "hepatic_flexure", "ascending", "cecum")


@dataclass(frozen=True)
class PyBulletWorldOutputs:
    """rod: RodOutputs (tip pose, coils, inserted length, handle load) as `world_outputs(...).rod`;
    wall_position_m (M, 3): the soft body's nodes (M = rings * P, node k * P + j = particle j of ring k);
    max_wall_displacement_m: largest node displacement from rest."""

    rod: RodOutputs
    wall_position_m: np.ndarray
    max_wall_displacement_m: float


class PyBulletWorld:
    """The scene in one PyBullet client (see the module docstring). Use as a context manager or call `close()`.

    Attributes: model (WorldModel), client, soft_body (id), scope (PyBulletScope), rings (rings built),
    rest_position_m (M, 3), anchor_rings (int array), spring_stiffness_N_m, bending_stiffness_N_m, substeps (Bullet
    steps per `step`), dt_s (the step it was built for), time_s.
    """

    def __init__(self, model: WorldModel, client: int, soft_body: int, scope: PyBulletScope, rings: int,
                 anchor_rings: np.ndarray, spring_stiffness_N_m: float, bending_stiffness_N_m: float,
                 substeps: int, dt_s: float):
        self.model = model
        self.substeps = substeps
        self.dt_s = dt_s
        self.client = client
        self.soft_body = soft_body
        self.scope = scope
        self.rings = rings
        self.rest_position_m = model.colon.rest_position_m[: rings * model.colon.particles_per_ring].copy()
        self.anchor_rings = anchor_rings
        self.spring_stiffness_N_m = spring_stiffness_N_m
        self.bending_stiffness_N_m = bending_stiffness_N_m
        self.time_s = 0.0

    def __enter__(self) -> "PyBulletWorld":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the client (idempotent)."""
        if self.client >= 0:
            p.disconnect(physicsClientId=self.client)
            self.client = -1

    @property
    def engine_time_s(self) -> float:
        """Wall time spent inside p.stepSimulation so far (s)."""
        return self.scope.engine_time_s

    def step(self, controls: WorldControls, dt_s: float = DEFAULT_DT_S) -> None:
        """Advance by dt_s (at most the dt_s it was built for) in `substeps` Bullet steps, with the hands of
        `controls.rod` (depth and roll moved linearly over the substeps like `step_world`; wheels, stiffness, loads
        on the rod). `controls.colon` (insufflation, wall forces, abdominal press) has no effect here (module
        docstring)."""
        if not 0 < dt_s <= self.dt_s * (1 + 1e-9):
            raise ValueError(f"PyBulletWorld.step: dt_s must be in (0, {self.dt_s}] (built for it), got {dt_s}")
        rc = controls.rod
        d0, r0 = self.scope.insertion_depth_m, self.scope.roll_rad
        d1 = float(np.clip(rc.insertion_depth_m, 0.0, self.model.rod.max_insertion_m))
        for q in range(self.substeps):
            f = (q + 1.0) / self.substeps
            self.scope.step(replace(rc, insertion_depth_m=d0 + (d1 - d0) * f,
                                    roll_rad=r0 + (float(rc.roll_rad) - r0) * f), float(dt_s) / self.substeps)
        self.time_s += float(dt_s)

    def wall_positions(self) -> np.ndarray:
        """Soft-body node positions (M, 3) in m."""
        _n, verts = p.getMeshData(self.soft_body, -1, flags=p.MESH_DATA_SIMULATION_MESH, physicsClientId=self.client)
        return np.asarray(verts, dtype=np.float64)

    def outputs(self) -> PyBulletWorldOutputs:
        """Rod outputs and the wall's nodes after the last step."""
        wall = self.wall_positions()
        disp = float(np.linalg.norm(wall - self.rest_position_m, axis=1).max())
        return PyBulletWorldOutputs(rod=self.scope.outputs(), wall_position_m=wall, max_wall_displacement_m=disp)


def _wall_obj(rest: np.ndarray, rings: int, per_ring: int, path: str) -> None:
    """Write the grid of `rings` rings as an OBJ surface: vertex k * P + j in order, two triangles per cell."""
    idx = np.arange(rings * per_ring).reshape(rings, per_ring)
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    c, d = idx[1:], np.roll(idx[1:], -1, axis=1)
    tris = np.concatenate((np.stack((a, b, d), axis=-1).reshape(-1, 3), np.stack((a, d, c), axis=-1).reshape(-1, 3)))
    with open(path, "w", encoding="ascii") as f:
        f.write("".join(f"v {x:.9f} {y:.9f} {z:.9f}\n" for x, y, z in rest))
        f.write("".join(f"f {i + 1} {j + 1} {k + 1}\n" for i, j, k in tris))


def build_pybullet_world(model: WorldModel, *, dt_s: float = DEFAULT_DT_S, rings: int | None = None,
                         insertion_depth_m: float = 0.0, anchor_ring_stride: int = DEFAULT_ANCHOR_RING_STRIDE,
                         spring_stiffness_N_m: float | None = None,
                         substeps: int = DEFAULT_SUBSTEPS) -> PyBulletWorld:
    """The scene of `model` in a new PyBullet DIRECT client: the colon wall (first `rings` rings, default all) as
    a mass-spring soft body with anchors, the scope straight along the insertion axis `insertion_depth_m` in (as
    `build_pybullet_scope`; the rod's `initial_world_state` at depth 0 is the same pose).

    spring_stiffness_N_m: Bullet's one spring stiffness; default min(material, MAX_STABLE_SPRING_N_M) (module
    docstring). substeps: Bullet steps per `step` of dt_s (the scope's inertia floor is sized for dt_s /
    substeps). Raises ValueError for fewer than 3 rings or a stride below 1.
    """
    colon = model.colon
    per_ring = colon.particles_per_ring
    rings = colon.ring_count if rings is None else int(rings)
    if not (3 <= rings <= colon.ring_count and anchor_ring_stride >= 1 and substeps >= 1):
        raise ValueError(f"build_pybullet_world: need 3 <= rings <= {colon.ring_count} and anchor_ring_stride >= 1, "
                         f"got {rings}, {anchor_ring_stride}")
    kind = colon.constraint_kind
    in_plane = (kind == 0) | (kind == 1)  # hoop, axial (CONSTRAINT_KINDS order)
    material_k = float(np.median(1.0 / colon.compliance_m_N[in_plane]))
    bend_k = float(np.median(1.0 / colon.compliance_m_N[(kind == 3) | (kind == 4)]))
    k = min(material_k, MAX_STABLE_SPRING_N_M) if spring_stiffness_N_m is None else float(spring_stiffness_N_m)
    k_bend = min(bend_k, k / 100.0)
    n = rings * per_ring
    rest = colon.rest_position_m[:n]

    cid = p.connect(p.DIRECT)
    tmp = tempfile.mkdtemp(prefix="colosim_pb_")
    try:
        p.resetSimulation(p.RESET_USE_DEFORMABLE_WORLD, physicsClientId=cid)
        # The sparse SDF voxel size every Bullet deformable example sets (a performance fix, bullet3 PR #2449).
        p.setPhysicsEngineParameter(sparseSdfVoxelSize=0.25, physicsClientId=cid)
        h = float(dt_s) / substeps
        p.setTimeStep(h, physicsClientId=cid)
        path = os.path.join(tmp, "colon_wall.obj")
        _wall_obj(rest, rings, per_ring, path)
        body = p.loadSoftBody(
            path, basePosition=[0.0, 0.0, 0.0], scale=1.0, mass=float(colon.mass_kg[:n].sum()), useMassSpring=1,
            useBendingSprings=1, springElasticStiffness=k, springDampingStiffness=SPRING_DAMPING,
            springBendingStiffness=k_bend, useNeoHookean=0, useSelfCollision=0, collisionMargin=COLLISION_MARGIN_M,
            frictionCoeff=float(model.contact.friction_coefficient), useFaceContact=1, physicsClientId=cid)
        fixed_seg = np.array([name in FIXED_SEGMENTS for name in colon.segment_names])
        ring_fixed = fixed_seg[colon.ring_segment[:rings]]
        anchor = np.zeros(rings, dtype=bool)
        anchor[0] = True
        anchor[::anchor_ring_stride] |= ring_fixed[::anchor_ring_stride]
        anchor_rings = np.flatnonzero(anchor)
        for ring in anchor_rings:  # builder only: a few hundred anchors
            for j in range(per_ring):
                p.createSoftBodyAnchor(body, int(ring * per_ring + j), -1, -1, physicsClientId=cid)
        up = quat_rotate(model.entry_orientation[None, :], np.array([[0.0, 1.0, 0.0]]))[0]
        scope = build_pybullet_scope(model.rod, client=cid, origin_m=model.entry_point_m,
                                     direction=model.insertion_axis, up=up, insertion_depth_m=insertion_depth_m,
                                     dt_s=h, damping_per_s=model.rod_damping_per_s,
                                     gravity_m_s2=model.gravity_m_s2)
        return PyBulletWorld(model, cid, body, scope, rings, anchor_rings, k, k_bend, int(substeps), float(dt_s))
    except BaseException:
        p.disconnect(physicsClientId=cid)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
