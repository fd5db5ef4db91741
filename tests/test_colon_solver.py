"""The wall's solver order (physics/colon_body.py, "Solver order"): ring blocks that share no particle, seam links
after them, and the same bits whether the blocks run on numba's threads or one after another.

Built from the procedural default colon (seed 0) at the default grid; a few seconds warm.
"""

from __future__ import annotations

import numpy as np
import pytest

from physics.colon_body import (
    ColonControls,
    ColonMaterial,
    build_colon_body,
    rest_state,
    solver_coefficients,
    solver_plan,
    step_colon,
    sweep_marked_rings,
)
from physics.scope_rod import RodControls, build_rod
from physics.world import WorldControls, build_world, initial_world_state, step_world
from sim.colon.asset import SEGMENT_NAMES
from sim.colon.procedural import generate_colon
from sim.scope_file import load_scope

DT_S = 1.0 / 240.0


@pytest.fixture(scope="module")
def model():
    asset = generate_colon(0)
    return build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                            asset.radius_m, asset.ring_segment, SEGMENT_NAMES)


def test_blocks_own_disjoint_particles_and_seams_come_last(model):
    ring_start, constraint_start = solver_plan(model)
    blocks = len(ring_start) - 1
    assert blocks >= 2 and ring_start[0] == 0 and ring_start[-1] == model.ring_count
    assert constraint_start[0] == 0 and constraint_start[-1] == model.constraint_count
    ring_i = model.ring_index[model.constraint_i]
    ring_j = model.ring_index[model.constraint_j]
    for b in range(blocks):
        c = slice(constraint_start[b], constraint_start[b + 1])
        for ring in (ring_i[c], ring_j[c]):  # both ends of a block's own links lie in its rings
            assert ring.min() >= ring_start[b] and ring.max() < ring_start[b + 1]
    seams = slice(constraint_start[blocks], constraint_start[blocks + 1])
    block_of = np.searchsorted(ring_start, np.arange(model.ring_count), side="right") - 1
    assert np.all(block_of[ring_i[seams]] != block_of[ring_j[seams]])
    # Every link of the ring-major grid is still there once (the order changed, not the set).
    pairs = {(min(i, j), max(i, j)) for i, j in zip(model.constraint_i.tolist(), model.constraint_j.tolist())}
    assert len(pairs) == model.constraint_count


def test_threaded_and_serial_are_bit_identical(model):
    """Colon alone under air and a push, and the world with the scope going in: the blocks on numba's threads or
    in order give the same bits."""
    force = np.zeros((model.particle_count, 3))
    force[40 * model.particles_per_ring:45 * model.particles_per_ring] = [0.0, 0.1, 0.0]
    states = []
    for threaded in (False, True):
        state = rest_state(model)
        for _ in range(60):
            step_colon(model, state, ColonControls(insufflation=0.7, external_force_N=force), DT_S, threaded=threaded)
        states.append(state)
    assert np.array_equal(states[0].position_m, states[1].position_m)
    assert np.array_equal(states[0].wall_multiplier, states[1].wall_multiplier)
    assert np.abs(states[0].position_m - model.rest_position_m).max() > 1e-4  # it did move

    world = build_world(build_rod(load_scope()), model)
    worlds = []
    for threaded in (False, True):
        state = initial_world_state(world, insertion_depth_m=0.05)
        for n in range(60):
            controls = WorldControls(RodControls(insertion_depth_m=0.05 + 0.1 * (n + 1) * DT_S, wheel_up_down_rad=1.0),
                                     ColonControls(insufflation=0.3))
            step_world(world, state, controls, DT_S, threaded=threaded)
        worlds.append(state)
    assert np.array_equal(worlds[0].colon.position_m, worlds[1].colon.position_m)
    assert np.array_equal(worlds[0].rod.position_m, worlds[1].rod.position_m)
    assert np.array_equal(worlds[0].contact.segment_force_N, worlds[1].contact.segment_force_N)



def test_a_sweep_round_a_contact_holds_the_rest_of_the_wall_still():
    """The contact iterations' sweep over the rings around a contact (`sweep_marked_rings`) moves only those rings,
    and the rings at the edge of the set feel their links to the held rings beyond it. With the rings just outside
    the set pulled 1 mm away along the tube, the edge rings follow them and the held rings stay. Projecting only the
    marked rings' own links left the first edge ring deaf to its stretched links behind and moved the ring beyond
    the last one, so an edge ring was pulled one way only (a particle swinging at up to 1 m/s where a stretched
    sigmoid's marked set began and ended beside it: physics/colon_body.py, `sweep_marked_rings`)."""
    asset = generate_colon(0)
    loose = ColonMaterial(tether_compliance_m2_N={}, default_tether_compliance_m2_N=1e3)  # tethers out of the way
    model = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES, material=loose)
    state = rest_state(model)
    p = model.particles_per_ring
    first, last = 100, 110
    centroid = model.rest_position_m.reshape(model.ring_count, p, 3).mean(axis=1)
    tangent = centroid[2:] - centroid[:-2]
    tangent = np.vstack([tangent[:1], tangent, tangent[-1:]]) / np.linalg.norm(tangent, axis=1).mean()
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    position = state.position_m.reshape(model.ring_count, p, 3)
    position[first - 1] -= 0.001 * tangent[first - 1]  # the ring before the set pulled back 1 mm
    position[last + 1] += 0.001 * tangent[last + 1]  # the ring after it pulled on 1 mm
    state.prev_position_m[:] = state.position_m
    coefficients, tether_coefficients = solver_coefficients(model, state, DT_S / 4)
    marked = np.zeros(model.ring_count, dtype=np.bool_)
    marked[first:last + 1] = True
    before = state.position_m.copy()
    run_start, runs = model.ring_link_runs
    sweep_marked_rings(state.position_m, state.prev_position_m, model.inv_mass, model.constraint_i,
                       model.constraint_j, state.link_rest_length_m, coefficients, state.wall_multiplier,
                       model.tether_anchor_m, tether_coefficients, state.tether_multiplier, p, run_start, runs, marked)
    moved = (state.position_m - before).reshape(model.ring_count, p, 3)
    assert not moved[~marked].any()  # the rest of the wall held exactly
    along = np.einsum("kjc,kc->kj", moved, tangent).mean(axis=1)  # each ring's mean move along the tube (m)
    assert along[first] < -1e-4 and along[last] > 1e-4  # each edge ring follows its pulled neighbour
    assert np.abs(along[first + 3:last - 2]).max() < 0.1 * min(-along[first], along[last])  # the middle stays
