"""An assistant's hand on the abdomen (physics/abdominal_press.py) holds the colon under it, through the world step.

The default scene (procedural colon of seed 0, the scenes' mobile sigmoid) with the scope 0.1 m in, in the rectum,
clear of the sigmoid. A load pulls every sigmoid particle toward the front of the patient (-y), as a loop bowing up
toward the abdominal wall would: free, the mobile sigmoid follows it by millimetres; held, it stays where it was
and the hand carries the load. About 10 s warm.
"""

from __future__ import annotations

import numpy as np
import pytest

from physics.abdominal_press import AbdominalPress, held_particles
from physics.colon_body import ColonControls, rest_state, step_colon
from physics.scope_rod import RodControls
from physics.world import WorldControls, initial_world_state, step_world
from sim.controls import HandState, ScopeControls
from sim.devices.keyboard import KeyboardDevice
from sim.session.snapshot import HudState
from sim.scene import build_scene

DT_S = 1.0 / 240.0
DEPTH_M = 0.1
#: Total load on the sigmoid (N), spread evenly over its particles, toward the front of the patient.
LOAD_N = 5.0
SECONDS = 1.0


@pytest.fixture(scope="module")
def scene():
    return build_scene(seed=0)


def sigmoid_mask(colon) -> np.ndarray:
    """(N,) bool: the sigmoid's particles."""
    return (colon.ring_segment == list(colon.segment_names).index("sigmoid"))[colon.ring_index]


def pull_on_the_sigmoid(scene, press: AbdominalPress | None):
    """The world after SECONDS of LOAD_N pulling the sigmoid forward, with `press` from the first step."""
    world = scene.world
    colon = world.colon
    sigmoid = sigmoid_mask(colon)
    force = np.zeros((colon.particle_count, 3))
    force[sigmoid, 1] = -LOAD_N / sigmoid.sum()
    state = initial_world_state(world, insertion_depth_m=DEPTH_M)
    controls = WorldControls(RodControls(insertion_depth_m=DEPTH_M), ColonControls(external_force_N=force, press=press))
    for _ in range(int(round(SECONDS / DT_S))):
        step_world(world, state, controls, DT_S)
    return state


@pytest.fixture(scope="module")
def free_and_held(scene):
    return pull_on_the_sigmoid(scene, None), pull_on_the_sigmoid(scene, AbdominalPress("sigmoid"))


def test_the_hand_holds_the_sigmoid_where_it_was(scene, free_and_held):
    """Held, the sigmoid moves less than a tenth of what it moves free (which is more than 3 mm: the premise that
    the load would bow it out). Measured: free 6.4 mm on average, held 0.13 mm."""
    colon = scene.colon
    sigmoid = sigmoid_mask(colon)
    moved = [float(np.linalg.norm(s.colon.position_m[sigmoid] - colon.rest_position_m[sigmoid], axis=1).mean())
             for s in free_and_held]
    print(f"sigmoid's mean displacement under {LOAD_N} N: free {1e3 * moved[0]:.2f} mm, held {1e3 * moved[1]:.2f} mm")
    assert moved[0] > 0.003
    assert moved[1] < 0.1 * moved[0]


def test_the_hand_carries_the_load_on_what_it_holds(scene, free_and_held):
    """Force balance, worked by hand: at rest the hand's links take the load on the particles they hold, less what
    those particles' mesentery tethers take (each held particle's share k_press / (k_press + k_tether), 0.86 at
    the rim and 0.99 at the centre). So the press force is +y (toward the back) and between 0.8 and 1.0 times the
    load on the held particles; a free sigmoid has no press force. Measured: 1463 of the 1480 sigmoid particles
    held, press force 0.96 times the load on them."""
    free, held = free_and_held
    colon = scene.colon
    sigmoid = sigmoid_mask(colon)
    index = held.colon.press_index
    load_on_held = LOAD_N * index.size / sigmoid.sum()
    force = held.colon.press_force_N
    print(f"{index.size} of {sigmoid.sum()} sigmoid particles held; press force {np.round(force, 3)} N against "
          f"{load_on_held:.3f} N of load on them")
    assert np.all(free.colon.press_force_N == 0.0)
    assert index.size > 0.8 * sigmoid.sum()
    assert 0.8 * load_on_held < force[1] < 1.0 * load_on_held
    assert abs(force[0]) < 0.05 * load_on_held and abs(force[2]) < 0.05 * load_on_held


def test_letting_go_frees_the_particles(scene, free_and_held):
    """Ending the press (controls without it) drops every held particle at once."""
    state = free_and_held[1].copy()
    world = scene.world
    step_world(world, state, WorldControls(RodControls(insertion_depth_m=DEPTH_M), ColonControls()), DT_S)
    assert state.colon.press is None and state.colon.press_index.size == 0
    assert np.all(state.colon.press_force_N == 0.0)


def test_the_keyboard_moves_the_hand_over_sigmoid_transverse_and_off(scene):
    """P moves the assistant's hand (README, Keys): HandState then asks the physics for that press, and the HUD
    says where the hand is."""
    keyboard, hand = KeyboardDevice(), HandState()
    seen = []
    for _ in range(3):
        keyboard.press("P")
        keyboard.release("P")
        controls = hand.apply(keyboard.sample(DT_S), DT_S, scene.rod)
        seen.append(None if controls.colon.press is None else controls.colon.press.segment)
        assert hand.apply(keyboard.sample(DT_S), DT_S, scene.rod).colon.press == controls.colon.press  # a level
    assert seen == ["sigmoid", "transverse", None]
    assert "hand on the sigmoid 5 N" in HudState(abdominal_press="sigmoid", press_force_N=4.7).status_lines()[3]
    assert hand.apply(ScopeControls(abdominal_press="sigmoid"), DT_S, scene.rod).colon.press.segment == "sigmoid"


def test_bad_presses_are_refused_with_the_field_named(scene):
    colon = scene.colon
    args = (colon.rest_position_m, colon.inv_mass, colon.ring_segment[colon.ring_index], colon.segment_names)
    with pytest.raises(ValueError, match=r"AbdominalPress.segment 'sigmoidd': expected one of \[.*'sigmoid'"):
        held_particles(*args, AbdominalPress("sigmoidd"))
    with pytest.raises(ValueError, match="radius_m must be > 0"):
        held_particles(*args, AbdominalPress("sigmoid", radius_m=0.0))
    with pytest.raises(ValueError, match="step_colon: ColonControls.press"):
        step_colon(colon, rest_state(colon), ColonControls(press=AbdominalPress()), DT_S)
