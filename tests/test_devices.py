"""Input devices: synthetic key, mouse and controller events drive the scope as the mapping says (through
`HandState` and, for the wheels and the push, the real physics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.controls import HandState, MAX_INSERTION_SPEED_M_S
from sim.devices import merge_controls
from sim.devices.gamepad import DEAD_ZONE, PUSH_SPEED_M_S as PAD_PUSH_M_S, WHEEL_RATE_RAD_S as PAD_WHEEL_RAD_S
from sim.devices.gamepad import GamepadDevice
from sim.devices.keyboard import (DRAG_WHEEL_RAD_PER_PX, PUSH_SPEED_M_S, ROLL_RATE_RAD_S, WHEEL_RATE_RAD_S,
                                  KeyboardDevice)
from sim.render.context import load_pyglet

DT = 1.0 / 240.0


@pytest.fixture(scope="module")
def key():
    load_pyglet(headless=True)  # key symbols come from pyglet.window.key (no window needed)
    from pyglet.window import key as pyglet_key

    return pyglet_key


@pytest.fixture(scope="module")
def scene():
    from sim.scene import build_scene

    return build_scene(seed=0)


def _hold(device, steps, hand, rod):
    for _ in range(steps):
        hand.apply(device.sample(DT), DT, rod)


def test_keys_map_to_push_roll_wheels_and_buttons(key, scene):
    kb, hand, rod = KeyboardDevice(), HandState(), scene.rod
    kb.on_key_press(key.W, 0)
    _hold(kb, 120, hand, rod)
    assert hand.depth_m == pytest.approx(PUSH_SPEED_M_S * 0.5)
    kb.on_key_press(key.LSHIFT, 0)
    _hold(kb, 24, hand, rod)
    assert hand.depth_m == pytest.approx(PUSH_SPEED_M_S * 0.5 + MAX_INSERTION_SPEED_M_S * 0.1)
    kb.on_key_release(key.LSHIFT, 0)
    kb.on_key_release(key.W, 0)
    c = kb.sample(DT)
    assert c.insertion_velocity_m_s == 0.0
    kb.on_key_press(key.S, 0)
    assert kb.sample(DT).insertion_velocity_m_s == -PUSH_SPEED_M_S
    kb.on_key_release(key.S, 0)

    for sym, field, sign, rate in ((key.D, "roll_rad", 1, ROLL_RATE_RAD_S), (key.A, "roll_rad", -1, ROLL_RATE_RAD_S),
                                   (key.I, "wheel_up_down_rad", 1, WHEEL_RATE_RAD_S),
                                   (key.K, "wheel_up_down_rad", -1, WHEEL_RATE_RAD_S),
                                   (key.L, "wheel_left_right_rad", 1, WHEEL_RATE_RAD_S),
                                   (key.J, "wheel_left_right_rad", -1, WHEEL_RATE_RAD_S)):
        before = getattr(hand, field)
        kb.on_key_press(sym, 0)
        _hold(kb, 60, hand, rod)
        kb.on_key_release(sym, 0)
        assert getattr(hand, field) - before == pytest.approx(sign * rate * 0.25), field
    # O (held) brings both wheels back to neutral at the hand's rate.
    kb.on_key_press(key.O, 0)
    _hold(kb, 240, hand, rod)
    kb.on_key_release(key.O, 0)
    assert hand.wheel_up_down_rad == 0.0 and hand.wheel_left_right_rad == 0.0

    kb.on_key_press(key.E, 0)
    _hold(kb, 240, hand, rod)
    assert hand.insufflation == pytest.approx(0.25)
    kb.on_key_release(key.E, 0)
    kb.on_key_press(key.Q, 0)
    kb.on_key_press(key.R, 0)
    c = kb.sample(DT)
    assert c.suction and c.water and not c.air
    kb.on_key_release(key.Q, 0)
    kb.on_key_release(key.R, 0)

    # One-shot inputs come out once; session commands never become controls.
    kb.on_key_press(key.C, 0)
    kb.on_key_press(key.M, 0)
    kb.on_key_press(key._1, 0)
    first, second, third = kb.sample(DT), kb.sample(DT), kb.sample(DT)
    assert first.capture and not second.capture
    assert (first.mark_event, second.mark_event, third.mark_event) == ("Cecum", "Fleksur L", None)
    for sym in (key.SPACE, key.TAB, key.BACKSPACE, key.F1, key.ESCAPE):
        kb.on_key_press(sym, 0)
    assert kb.take_commands() == ["pause", "slow", "reset", "help", "quit"]
    assert kb.take_commands() == []


def test_mouse_drag_turns_the_wheels_and_scroll_feeds(key, scene):
    from pyglet.window import mouse

    kb, hand = KeyboardDevice(), HandState()
    kb.on_mouse_drag(0, 0, 10, 20, mouse.LEFT)
    _hold(kb, 240, hand, scene.rod)
    assert hand.wheel_up_down_rad == pytest.approx(20 * DRAG_WHEEL_RAD_PER_PX)
    assert hand.wheel_left_right_rad == pytest.approx(10 * DRAG_WHEEL_RAD_PER_PX)
    kb.on_mouse_scroll(0, 0, 0, 3)
    _hold(kb, 240, hand, scene.rod)
    assert hand.depth_m == pytest.approx(0.015)


def test_gamepad_events_map_as_documented(scene):
    pad, hand, rod = GamepadDevice(), HandState(), scene.rod
    pad.on_stick_motion(None, "leftstick", (0.5 * DEAD_ZONE, 0.5 * DEAD_ZONE))
    assert pad.sample(DT).insertion_velocity_m_s == 0.0 and pad.sample(DT).roll_rate_rad_s == 0.0  # dead zone
    pad.on_stick_motion(None, "leftstick", (0.0, 1.0))
    _hold(pad, 120, hand, rod)
    assert hand.depth_m == pytest.approx(PAD_PUSH_M_S * 0.5)
    pad.on_button_press(None, "rightshoulder")
    assert pad.sample(DT).insertion_velocity_m_s == pytest.approx(MAX_INSERTION_SPEED_M_S)
    pad.on_button_release(None, "rightshoulder")
    pad.on_stick_motion(None, "leftstick", (-1.0, 0.0))
    assert pad.sample(DT).roll_rate_rad_s < 0
    pad.on_stick_motion(None, "leftstick", (0.0, 0.0))
    pad.on_stick_motion(None, "rightstick", (0.0, 1.0))
    _hold(pad, 60, hand, rod)
    assert hand.wheel_up_down_rad == pytest.approx(PAD_WHEEL_RAD_S * 0.25)
    pad.on_stick_motion(None, "rightstick", (-1.0, 0.0))
    assert pad.sample(DT).wheel_left_right_rate_rad_s == pytest.approx(-PAD_WHEEL_RAD_S)
    pad.on_stick_motion(None, "rightstick", (0.0, 0.0))
    pad.on_trigger_motion(None, "righttrigger", 0.9)
    pad.on_trigger_motion(None, "lefttrigger", 0.2)
    c = pad.sample(DT)
    assert c.air and not c.suction
    pad.on_button_press(None, "b")
    pad.on_button_press(None, "x")
    c1, c2 = pad.sample(DT), pad.sample(DT)
    assert c1.capture and not c2.capture and c1.mark_event == "Cecum" and c2.mark_event is None
    pad.on_dpad_motion(None, (0.0, -1.0))
    assert pad.sample(DT).insertion_velocity_m_s < 0
    for button in ("start", "back", "leftshoulder"):
        pad.on_button_press(None, button)
    assert pad.take_commands() == ["pause", "reset", "slow"]
    pad.release_all()  # what an unplugged controller leaves behind
    c = pad.sample(DT)
    assert c.insertion_velocity_m_s == 0.0 and not c.air


def test_devices_merge(key):
    kb, pad = KeyboardDevice(), GamepadDevice()
    kb.on_key_press(key.W, 0)
    pad.on_stick_motion(None, "leftstick", (0.0, 1.0))
    pad.on_trigger_motion(None, "righttrigger", 1.0)
    c = merge_controls([kb.sample(DT), pad.sample(DT)])
    assert c.insertion_velocity_m_s == pytest.approx(PUSH_SPEED_M_S + PAD_PUSH_M_S)
    assert c.air


def test_keys_drive_the_scope_in_the_physics(key, scene):
    """W pushes the scope in by speed x time; I bends the tip toward the camera's up, L toward the scope's "right"
    (+x of the tip's body frame, physics/scope_rod.py conventions)."""
    from sim.session.loop import Session

    session = Session(scene, initial_depth_m=0.12)
    kb = KeyboardDevice()
    start = session.outputs.rod.inserted_length_m
    kb.on_key_press(key.W, 0)
    for _ in range(120):
        session.step(kb.sample(DT))
    kb.on_key_release(key.W, 0)
    assert session.outputs.rod.inserted_length_m - start == pytest.approx(PUSH_SPEED_M_S * 0.5, abs=1e-4)
    rod = session.outputs.rod
    up0, right0 = rod.camera_up.copy(), rod.camera_right.copy()
    kb.on_key_press(key.I, 0)
    for _ in range(120):
        session.step(kb.sample(DT))
    kb.on_key_release(key.I, 0)
    for _ in range(48):  # let the bend settle
        session.step(kb.sample(DT))
    turned = session.outputs.rod.camera_forward
    assert session.hand.wheel_up_down_rad == pytest.approx(math.radians(30))
    assert np.dot(turned, up0) > 0.15 and abs(np.dot(turned, right0)) < 0.5 * np.dot(turned, up0)
    kb.on_key_press(key.O, 0)
    kb.on_key_press(key.L, 0)  # neutral wins over the rate while O is held ...
    for _ in range(120):
        session.step(kb.sample(DT))
    kb.on_key_release(key.O, 0)
    rod = session.outputs.rod
    right1 = rod.camera_right.copy()  # image right: forward x up
    for _ in range(168):  # ... then L turns the left/right wheel right
        session.step(kb.sample(DT))
    assert session.hand.wheel_left_right_rad == pytest.approx(math.radians(60) * 168 / 240 * 1.0, rel=1e-6)
    assert np.dot(session.outputs.rod.camera_forward, right1) > 0.15
