"""Gamepads through pyglet's controller API (standard SDL mapping: sticks, triggers, a/b/x/y, shoulders, dpad).

Default mapping (also in `sim.devices.keyboard.KEY_HELP` and the README):
- left stick: up/down = push/pull (proportional, full deflection = `PUSH_SPEED_M_S`, with RB the hand maximum),
  left/right = roll rate;
- right stick: up/down wheel and left/right wheel rates;
- right trigger: air, left trigger: suction (pressed past half);
- a: water (held), b: capture, x: mark "Cecum", y (held): wheels back to neutral;
- dpad up/down: slow push/pull; start: pause, back: reset, left shoulder: slow motion.

Hot-plug: `GamepadManager` opens every controller present and those connected later (pyglet's ControllerManager
`on_connect` / `on_disconnect`); all of them feed one `GamepadDevice`. Sticks have a dead zone so a resting stick
does not creep.
"""

from __future__ import annotations

import math
import threading

from sim.controls import MAX_INSERTION_SPEED_M_S, MAX_ROLL_RATE_RAD_S, MAX_WHEEL_RATE_RAD_S, ScopeControls
from sim.logs.coordinate_log import EventLabel

PUSH_SPEED_M_S = 0.04
DPAD_SPEED_M_S = 0.01
ROLL_RATE_RAD_S = math.pi / 2
WHEEL_RATE_RAD_S = math.pi / 2
#: Stick deflection below this reads as zero; above it the range is rescaled to 0..1.
DEAD_ZONE = 0.15
TRIGGER_ON = 0.5
BUTTON_COMMANDS = {"start": "pause", "back": "reset", "leftshoulder": "slow", "guide": "help"}


def _dead(v: float) -> float:
    a = abs(v)
    if a <= DEAD_ZONE:
        return 0.0
    return math.copysign(min(1.0, (a - DEAD_ZONE) / (1.0 - DEAD_ZONE)), v)


class GamepadDevice:
    """State of the gamepad(s) (module doc); the controller event handlers below are what pyglet calls, and what
    tests call with synthetic events."""

    name = "gamepad"

    def __init__(self):
        self._lock = threading.Lock()
        self._sticks = {"leftstick": (0.0, 0.0), "rightstick": (0.0, 0.0)}
        self._triggers = {"lefttrigger": 0.0, "righttrigger": 0.0}
        self._held: set[str] = set()
        self._dpad = (0.0, 0.0)
        self._capture = False
        self._events: list[str] = []
        self._commands: list[str] = []

    # ---- pyglet controller events ----------------------------------------------------------------------------
    def on_stick_motion(self, controller, stick: str, vector) -> None:
        with self._lock:
            self._sticks[stick] = (float(vector[0]), float(vector[1]))

    def on_trigger_motion(self, controller, trigger: str, value: float) -> None:
        with self._lock:
            self._triggers[trigger] = float(value)

    def on_dpad_motion(self, controller, vector) -> None:
        with self._lock:
            self._dpad = (float(vector[0]), float(vector[1]))

    def on_button_press(self, controller, button: str) -> None:
        with self._lock:
            if button in BUTTON_COMMANDS:
                self._commands.append(BUTTON_COMMANDS[button])
            elif button == "b":
                self._capture = True
            elif button == "x":
                self._events.append(EventLabel.CECUM.value)
            else:
                self._held.add(button)

    def on_button_release(self, controller, button: str) -> None:
        with self._lock:
            self._held.discard(button)

    def release_all(self) -> None:
        """Forget held inputs (a controller was unplugged mid-press)."""
        with self._lock:
            self._sticks = {k: (0.0, 0.0) for k in self._sticks}
            self._triggers = {k: 0.0 for k in self._triggers}
            self._held.clear()
            self._dpad = (0.0, 0.0)

    # ---- device protocol ------------------------------------------------------------------------------------
    def sample(self, dt_s: float = 1.0 / 240.0) -> ScopeControls:
        with self._lock:
            lx, ly = (_dead(v) for v in self._sticks["leftstick"])
            rx, ry = (_dead(v) for v in self._sticks["rightstick"])
            push = MAX_INSERTION_SPEED_M_S if "rightshoulder" in self._held else PUSH_SPEED_M_S
            c = ScopeControls(
                insertion_velocity_m_s=ly * push + self._dpad[1] * DPAD_SPEED_M_S,
                roll_rate_rad_s=max(-MAX_ROLL_RATE_RAD_S, min(MAX_ROLL_RATE_RAD_S, lx * ROLL_RATE_RAD_S)),
                wheel_up_down_rate_rad_s=max(-MAX_WHEEL_RATE_RAD_S, min(MAX_WHEEL_RATE_RAD_S, ry * WHEEL_RATE_RAD_S)),
                wheel_left_right_rate_rad_s=max(-MAX_WHEEL_RATE_RAD_S,
                                                min(MAX_WHEEL_RATE_RAD_S, rx * WHEEL_RATE_RAD_S)),
                air=self._triggers["righttrigger"] > TRIGGER_ON,
                suction=self._triggers["lefttrigger"] > TRIGGER_ON,
                water="a" in self._held,
                capture=self._capture,
                mark_event=self._events.pop(0) if self._events else None,
            )
            if "y" in self._held:
                c.wheel_up_down_rad, c.wheel_left_right_rad = 0.0, 0.0
            self._capture = False
            return c

    def take_commands(self) -> list[str]:
        with self._lock:
            out, self._commands = self._commands, []
            return out


class GamepadManager:
    """Opens all controllers now and on hot-plug and routes their events to one `GamepadDevice`. Needs pyglet
    loaded (a window exists); without controller support on the platform it stays empty."""

    def __init__(self, device: GamepadDevice, on_change=None):
        import pyglet

        self.device = device
        self.controllers = []
        self._on_change = on_change
        try:
            self.manager = pyglet.input.ControllerManager()
        except Exception:  # no controller backend on this platform (e.g. headless EGL without evdev access)
            self.manager = None
            return
        for controller in self.manager.get_controllers():
            self._open(controller)
        self.manager.push_handlers(on_connect=self._open, on_disconnect=self._close)

    def _open(self, controller) -> None:
        try:
            controller.open()
        except Exception:
            return
        controller.push_handlers(self.device)
        self.controllers.append(controller)
        if self._on_change:
            self._on_change(f"gamepad connected: {getattr(controller, 'name', 'controller')}")

    def _close(self, controller) -> None:
        if controller in self.controllers:
            self.controllers.remove(controller)
        self.device.release_all()
        if self._on_change:
            self._on_change(f"gamepad disconnected: {getattr(controller, 'name', 'controller')}")
