"""The PyBullet reference scope (physics/pybullet_scope.py) against beam theory and against our XPBD rod.

Free space, gravity off unless stated, insertion along +x from the origin with image-up +y, as in
tests/test_scope_rod.py. The PyBullet chain's rotary inertia is raised for stability (module docstring), so it
moves slowly; runs to equilibrium use a viscous loss of 5 /s (20 /s, the rod tests' value, overdamps the slowed
chain: the cantilever was still creeping after 4000 steps, against 1250 steps to rest at 5 /s).

Measured figures are in each test's docstring (pybullet 3.2.7, dt = 1/240 s).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pybullet as p
import pytest

from physics.pybullet_scope import build_pybullet_scope
from physics.scope_rod import RodControls, build_rod, quat_rotate, rod_outputs, step_rod, straight_state
from sim.scope_file import load_scope

from scope_cases import IMAGE_UP, INSERT_AXIS, WHEEL_CASE_IDS, WHEEL_CASES, elastica_tip_deflection

DT_S = 1.0 / 240.0
SETTLE_DAMPING_PER_S = 5.0


@pytest.fixture(scope="module")
def spec():
    return load_scope()


def _piece(spec, **changes):
    """A 0.31 m scope (31 segments of 10 mm): held at segment 0 with 0.30 m inserted, it is the rod tests'
    free 0.3 m cantilever; the PyBullet chain then has 31 bodies instead of 133 (same free part, faster)."""
    return build_rod(dataclasses.replace(spec, working_length_m=0.31, coil_count=3, **changes))


def _axis(orientation: np.ndarray, index: int, axis: int) -> np.ndarray:
    """World direction (3,) of body axis `axis` (0 x, 1 y, 2 z) of segment `index`; orientation (S, 4)."""
    e = np.zeros((1, 3))
    e[0, axis] = 1.0
    return quat_rotate(orientation[[index]], e)[0]


def _settle(scope, controls, max_steps: int, speed_tol_m_s: float = 1e-7, omega_tol_rad_s: float = 1e-6) -> int:
    """Step with fixed controls until every segment is at rest; returns the number of steps taken."""
    for step in range(1, max_steps + 1):
        scope.step(controls, DT_S, damping_per_s=SETTLE_DAMPING_PER_S)
        if step > 10 and step % 10 == 0:
            lin, ang = scope.segment_velocities()
            if np.abs(lin).max() < speed_tol_m_s and np.abs(ang).max() < omega_tol_rad_s:
                return step
    return max_steps


# ----------------------------------------------------------------------------------------------------------------
# 1. Cantilever
# ----------------------------------------------------------------------------------------------------------------


def test_cantilever_matches_elastica(spec):
    """Straight 0.3 m piece of insertion tube clamped at the handle, 0.5 N tip load down, static deflection.

    Measured: 0.082838 m against the elastica's 0.082860 m: -0.03 % (the rod gets 0.1 %); the joints' springs
    are exactly EI / l, so what remains is the discrete beam (midpoint rule) and the solver's residue. Asserted:
    within 1 %, downward, and the handle reads the reaction (0, 0, +0.5) N and moment -F x_load about the entry
    joint, to 1e-4 relative (measured 1e-15 once at rest).
    """
    ei = spec.flexural_rigidity_Nm2
    rod = _piece(spec, bending_section_flexural_rigidity_Nm2=ei)
    length_m, force_n = 0.30, 0.5
    load = np.zeros((rod.segment_count, 3))
    load[-1, 2] = -force_n
    controls = RodControls(insertion_depth_m=length_m, external_force_N=load)
    with build_pybullet_scope(rod, insertion_depth_m=length_m, up=IMAGE_UP) as scope:
        assert scope.clamp_segment == 0
        steps = _settle(scope, controls, max_steps=4000)
        assert steps < 4000, "did not reach static equilibrium"
        pos, _ = scope.segment_poses()
        out = scope.outputs()
    deflection = pos[0, 2] - pos[-1, 2]
    elastica = elastica_tip_deflection(force_n, length_m, ei)
    print(f"\ncantilever: pybullet {deflection:.6f} m, elastica {elastica:.6f} m, "
          f"error {100 * (deflection - elastica) / elastica:+.3f} %, settled in {steps} steps")
    assert deflection > 0  # down, the way the load pushes
    assert abs(deflection - elastica) < 0.01 * elastica, (deflection, elastica)
    np.testing.assert_allclose(out.handle_force_N, [0.0, 0.0, force_n], atol=1e-4 * force_n)
    assert out.handle_moment_Nm[1] == pytest.approx(-force_n * pos[-1, 0], rel=1e-4)


def test_chain_cut_into_several_bodies_gives_the_same_cantilever(spec):
    """The full scope needs several multibodies (31 segments each, PyBullet's limit): the same 0.5 N cantilever
    cut into 4 bodies (joined by point-to-point constraints and torque-pair springs) bends like the single body.

    Measured: 0.082852 m against 0.082838 m uncut (+0.017 %), faces at the cuts apart by at most 4.4 µm. Asserted:
    0.1 % of the uncut answer and 20 µm at the cuts.
    """
    ei = spec.flexural_rigidity_Nm2
    rod = _piece(spec, bending_section_flexural_rigidity_Nm2=ei)
    load = np.zeros((rod.segment_count, 3))
    load[-1, 2] = -0.5
    controls = RodControls(insertion_depth_m=0.30, external_force_N=load)
    deflections = []
    for per_body in (31, 10):
        with build_pybullet_scope(rod, insertion_depth_m=0.30, up=IMAGE_UP, max_segments_per_body=per_body) as scope:
            assert len(scope.bodies) == (1 if per_body == 31 else 4)
            assert _settle(scope, controls, max_steps=4000) < 4000
            pos, _ = scope.segment_poses()
            cuts = scope.body_first_segment[1:]
        deflections.append(pos[0, 2] - pos[-1, 2])
    # Neighbouring centres are one segment (10 mm) apart along a beam this gently curved (chord = arc to 1e-6).
    face_gap = np.abs(np.linalg.norm(pos[cuts] - pos[cuts - 1], axis=1) - 0.01)
    print(f"\ncut chain: {deflections[1]:.6f} m (4 bodies) vs {deflections[0]:.6f} m (1 body), "
          f"faces apart by up to {1e6 * face_gap.max():.1f} um")
    assert deflections[1] == pytest.approx(deflections[0], rel=1e-3)
    assert face_gap.max() < 20e-6  # m


# ----------------------------------------------------------------------------------------------------------------
# 2. Torsion
# ----------------------------------------------------------------------------------------------------------------


def test_handle_roll_turns_the_tip(spec):
    """Rolling the handle 90° with 0.3 m of straight scope in free space turns the tip 90°.

    Measured: 89.9993° once at rest (a free straight rod carries no torque at rest, so the tip must follow the
    handle exactly); asserted to ± 0.5°, a quarter of the rod test's band, with the tip axis still on the
    insertion axis. The roll needs its settle: with the raised rotary inertia the tip had turned only 8.6° when
    the 0.5 s ramp ended (the rod's tip follows within the ramp).
    """
    rod = _piece(spec)
    depth = 0.3
    target = math.pi / 2
    ramp_steps = 120
    with build_pybullet_scope(rod, insertion_depth_m=depth, up=IMAGE_UP) as scope:
        _, orn = scope.segment_poses()
        right_before = _axis(orn, -1, 0)
        for k in range(ramp_steps):
            scope.step(RodControls(insertion_depth_m=depth, roll_rad=target * (k + 1) / ramp_steps), DT_S,
                       damping_per_s=SETTLE_DAMPING_PER_S)
        _, orn = scope.segment_poses()
        lag_right = _axis(orn, -1, 0)
        steps = _settle(scope, RodControls(insertion_depth_m=depth, roll_rad=target), max_steps=4000)
        _, orn = scope.segment_poses()
    assert steps < 4000
    right_after = _axis(orn, -1, 0)
    tip_axis = _axis(orn, -1, 2)
    turned = math.degrees(math.atan2(np.dot(np.cross(right_before, right_after), tip_axis),
                                     np.dot(right_before, right_after)))
    at_ramp_end = math.degrees(math.atan2(np.dot(np.cross(right_before, lag_right), tip_axis),
                                          np.dot(right_before, lag_right)))
    print(f"\nroll: tip turned {turned:.4f} deg after settling ({steps} steps), {at_ramp_end:.2f} deg at the end "
          f"of the 0.5 s ramp")
    assert turned == pytest.approx(90.0, abs=0.5)
    assert np.dot(tip_axis, INSERT_AXIS) == pytest.approx(1.0, abs=1e-6)


def test_twist_stiffness_and_handle_torque(spec):
    """A torque T on the tip, handle held: the tip twists by T L / GJ and the handle reads -T about the axis.

    T = 0.01 N·m over 30 joints of 10 mm, GJ = 0.05 N·m² -> 0.06 rad. Measured: 0.060000 rad (+0.001 %), handle
    torque -0.010000 N·m. Asserted: 1 % (the joint springs are exactly GJ / l, as in the rod, whose test holds 2 %).
    """
    rod = _piece(spec)
    depth, torque_nm = 0.3, 0.01
    tip_torque = np.zeros((rod.segment_count, 3))
    tip_torque[-1] = torque_nm * INSERT_AXIS
    with build_pybullet_scope(rod, insertion_depth_m=depth, up=IMAGE_UP) as scope:
        _, orn = scope.segment_poses()
        right_before = _axis(orn, -1, 0)
        steps = _settle(scope, RodControls(insertion_depth_m=depth, external_torque_Nm=tip_torque), 4000)
        _, orn = scope.segment_poses()
        out = scope.outputs()
    assert steps < 4000
    right_after = _axis(orn, -1, 0)
    twist = math.atan2(np.dot(np.cross(right_before, right_after), INSERT_AXIS), np.dot(right_before, right_after))
    expected = torque_nm * 0.30 / spec.torsional_rigidity_Nm2
    print(f"\ntwist: {twist:.6f} rad, expected {expected:.6f} rad ({100 * (twist - expected) / expected:+.3f} %), "
          f"handle torque {out.handle_torque_Nm:.6f} N·m")
    assert twist == pytest.approx(expected, rel=0.01)
    assert out.handle_torque_Nm == pytest.approx(-torque_nm, rel=0.01)


# ----------------------------------------------------------------------------------------------------------------
# 3. Angulation
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wheel, sign, limit_name, toward",
    WHEEL_CASES,
    ids=WHEEL_CASE_IDS,
)
def test_wheel_at_maximum_bends_tip_to_model_angle(spec, wheel, sign, limit_name, toward):
    """Each wheel at its maximum (and past it: the wheel stops at the limit) bends the free tip by the model's
    angulation, toward the right side.

    Angle between the tip axis and the last shaft segment's axis. In free space no load acts, so each bending
    joint sits at its rest rotation and the bend is the limit exactly. Measured: 179.9998° up and down, 160.0001°
    right and left. Asserted: ± 1° (the rod's test: ± 5°).
    """
    rod = _piece(spec)
    limit = getattr(rod, limit_name)
    depth = 0.3
    ramp_steps = 120
    with build_pybullet_scope(rod, insertion_depth_m=depth, up=IMAGE_UP) as scope:
        for k in range(ramp_steps + 1):
            angle = sign * (limit * min(1.0, k / ramp_steps) if k < ramp_steps else limit + 0.5)
            kwargs = {"wheel_up_down_rad": angle} if wheel == "up_down" else {"wheel_left_right_rad": angle}
            controls = RodControls(insertion_depth_m=depth, **kwargs)
            scope.step(controls, DT_S, damping_per_s=SETTLE_DAMPING_PER_S)
        # A looser rest than the other tests (halves the run): 1e-5 m/s leaves well under 0.01° of the bend to go.
        steps = _settle(scope, controls, max_steps=4000, speed_tol_m_s=1e-5, omega_tol_rad_s=1e-4)
        pos, orn = scope.segment_poses()
        tip = scope.outputs().tip_position_m
    assert steps < 4000
    last_shaft = rod.segment_count - int(rod.bending_segment.sum()) - 1
    bend = math.degrees(math.acos(np.clip(np.dot(_axis(orn, last_shaft, 2), _axis(orn, -1, 2)), -1.0, 1.0)))
    print(f"\nangulation {wheel} {sign:+.0f}: bend {bend:.4f} deg, limit {math.degrees(limit):.1f} deg "
          f"({steps} steps to settle)")
    assert bend == pytest.approx(math.degrees(limit), abs=1.0)
    assert np.dot(tip - pos[last_shaft], toward) > 0.03  # m: a 0.09 m section curls that way


# ----------------------------------------------------------------------------------------------------------------
# 4. Determinism
# ----------------------------------------------------------------------------------------------------------------


def test_same_inputs_give_identical_states(spec):
    """Two runs (each its own PyBullet client) with the same inputs, gravity on, every control moving, end in
    bit-identical segment poses and handle loads."""
    rod = _piece(spec)

    def run():
        with build_pybullet_scope(rod, insertion_depth_m=0.2, up=IMAGE_UP, gravity_m_s2=(0.0, 0.0, -9.81)) as scope:
            for k in range(240):
                t = k * DT_S
                scope.step(RodControls(
                    insertion_depth_m=0.2 + 0.1 * t,
                    roll_rad=1.5 * math.sin(2.0 * t),
                    wheel_up_down_rad=2.0 * math.sin(3.0 * t),
                    wheel_left_right_rad=-1.0 * t,
                    stiffness_scale=1.0 + t,
                ), DT_S)
            pos, orn = scope.segment_poses()
            return pos, orn, scope.handle_force_N.copy(), scope.handle_moment_Nm.copy()

    a, b = run(), run()
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert np.isfinite(a[0]).all()
    assert np.linalg.norm(a[0][-1, 1:]) > 0.005  # m: the tip left the insertion axis, the run was not trivial


# ----------------------------------------------------------------------------------------------------------------
# 5. Both backends, same controls
# ----------------------------------------------------------------------------------------------------------------


def test_same_controls_drive_both_backends_alike(spec):
    """The same RodControls sequence drives the XPBD rod and the PyBullet chain (the full default scope): a short
    free-space insertion
    (0.20 -> 0.30 m in 0.5 s) with both wheels moving (up to 1.5 rad up, 0.5 rad right) and a 0.3 rad roll, then
    1.5 s holding. Gravity off, both with damping 5 /s.

    Measured tip distance between the backends: 17.3 mm at the end of the motion (the PyBullet chain lags: its
    rotary inertia is raised for stability, module docstring), 2.1 mm after 1 s of hold, 0.15 mm after 1.5 s, and
    it goes to 0.00 mm by 3 s: the same equilibrium. Asserted: under 30 mm after the motion (a bound on the lag,
    not agreement) and under 1 mm after the hold.
    """
    rod = build_rod(spec)  # the full scope: 133 segments, 5 PyBullet bodies, a cut inside the free part
    steps_move, steps_hold = 120, 360

    def controls_at(k: int) -> RodControls:
        f = min(1.0, (k + 1) / steps_move)
        return RodControls(insertion_depth_m=0.2 + 0.1 * f, roll_rad=0.3 * f, wheel_up_down_rad=1.5 * f,
                           wheel_left_right_rad=0.5 * f)

    state = straight_state(rod, np.zeros(3), INSERT_AXIS, insertion_depth_m=0.2, up=IMAGE_UP)
    gaps = []
    with build_pybullet_scope(rod, insertion_depth_m=0.2, up=IMAGE_UP) as scope:
        for k in range(steps_move + steps_hold):
            controls = controls_at(k)
            step_rod(rod, state, controls, DT_S, damping_per_s=SETTLE_DAMPING_PER_S)
            scope.step(controls, DT_S, damping_per_s=SETTLE_DAMPING_PER_S)
            if k + 1 in (steps_move, steps_move + steps_hold):
                ours, theirs = rod_outputs(rod, state), scope.outputs()
                gaps.append(float(np.linalg.norm(ours.tip_position_m - theirs.tip_position_m)))
                coil_gap = float(np.abs(ours.coil_positions_m - theirs.coil_positions_m).max())
        assert scope.clamp_segment == state.kinematic.sum() - 1  # the handle holds the same segment
        assert len(scope.bodies) == 5 and scope.body_first_segment[-1] > scope.clamp_segment
    print(f"\nboth backends: tip gap {1e3 * gaps[0]:.2f} mm after the motion, {1e3 * gaps[1]:.2f} mm after the hold; "
          f"coil gap {1e3 * coil_gap:.2f} mm")
    assert gaps[0] < 0.030  # m
    assert gaps[1] < 0.001  # m


def test_client_ownership(spec):
    """A scope that connected its own DIRECT client disconnects it on close; one given a client leaves it alone."""
    rod = _piece(spec)
    with build_pybullet_scope(rod, insertion_depth_m=0.1) as scope:
        own = scope.client
        assert p.getConnectionInfo(physicsClientId=own)["isConnected"] == 1
    assert p.getConnectionInfo(physicsClientId=own)["isConnected"] == 0
    shared = p.connect(p.DIRECT)
    try:
        with build_pybullet_scope(rod, shared, insertion_depth_m=0.1) as scope:
            scope.step(RodControls(insertion_depth_m=0.12), DT_S)
            with pytest.raises(ValueError, match="dt_s"):
                scope.step(RodControls(insertion_depth_m=0.12), 2 * DT_S)  # longer than built for: refused
        assert p.getConnectionInfo(physicsClientId=shared)["isConnected"] == 1
    finally:
        p.disconnect(physicsClientId=shared)
