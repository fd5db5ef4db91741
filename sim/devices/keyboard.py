"""Keyboard and mouse: held keys are rates (push/pull, roll, wheels) and levels (air, suction, water); some keys are
one-shot (capture, mark an event, move the assistant's hand on the abdomen) or session commands (pause, reset,
slow motion, help, quit).

The mapping (`KEY_HELP`, shown with F1 and in the README) uses pyglet key names (`pyglet.window.key.symbol_string`),
so the device itself needs no window: the window forwards its events to `on_key_press` / `on_key_release` /
`on_mouse_drag` / `on_mouse_scroll`, and tests send the same events.
"""

from __future__ import annotations

import math
import threading

from sim.controls import MAX_INSERTION_SPEED_M_S, MAX_ROLL_RATE_RAD_S, MAX_WHEEL_RATE_RAD_S, ScopeControls
from sim.logs.coordinate_log import EventLabel

#: Insertion speed while W/S is held (m/s); with Shift the hand maximum.
PUSH_SPEED_M_S = 0.03
FAST_PUSH_SPEED_M_S = MAX_INSERTION_SPEED_M_S
#: Roll rate while A/D is held (rad/s), with Shift the hand maximum.
ROLL_RATE_RAD_S = math.pi / 2
FAST_ROLL_RATE_RAD_S = MAX_ROLL_RATE_RAD_S
#: Wheel rate while I/K/J/L is held (rad/s), with Shift the hand maximum.
WHEEL_RATE_RAD_S = math.pi / 3
FAST_WHEEL_RATE_RAD_S = MAX_WHEEL_RATE_RAD_S
#: Mouse: wheel angle per pixel of drag with the left button (rad/px); roll per pixel with the right button.
DRAG_WHEEL_RAD_PER_PX = math.radians(0.5)
DRAG_ROLL_RAD_PER_PX = math.radians(0.5)
#: Mouse scroll: insertion per scroll click (m), fed at the hand's maximum speed.
SCROLL_DEPTH_M = 0.005

#: Held keys -> (field, sign). Fields are rates of ScopeControls.
HOLD_KEYS = {
    "W": ("insertion", +1), "UP": ("insertion", +1), "S": ("insertion", -1), "DOWN": ("insertion", -1),
    "D": ("roll", +1), "A": ("roll", -1),
    "I": ("up_down", +1), "K": ("up_down", -1), "L": ("left_right", +1), "J": ("left_right", -1),
}
LEVEL_KEYS = {"E": "air", "Q": "suction", "R": "water"}
EVENT_KEYS = {"_1": EventLabel.FLEXURE_LEFT.value, "_2": EventLabel.FLEXURE_RIGHT.value, "_3": EventLabel.CECUM.value,
              "M": EventLabel.CECUM.value, "_4": EventLabel.POLYP.value, "_5": EventLabel.BIOPSY.value,
              "_6": EventLabel.POLYPECTOMY.value, "_7": EventLabel.FLUSH.value}
#: P: the assistant's hand on the abdomen moves through these segments ("" lets go), one step per press.
PRESS_CYCLE = ("", "sigmoid", "transverse")
COMMAND_KEYS = {"SPACE": "pause", "BACKSPACE": "reset", "TAB": "slow", "F1": "help", "ESCAPE": "quit"}
SHIFT_KEYS = ("LSHIFT", "RSHIFT")

KEY_HELP = """\
Keyboard and mouse
  W / S  (or Up / Down)   push / pull the scope      Shift: faster
  A / D                   roll left / right (handle torque)
  I / K                   up/down wheel: up / down
  J / L                   left/right wheel: left / right
  O (hold)                both wheels back to neutral
  E  Q  R                 air (insufflate)  suction  water  (hold)
  C                       capture a picture
  P                       assistant's hand on the abdomen: over the sigmoid, the transverse colon, off
  M or 3                  mark "Cecum";  1 "Fleksur L"  2 "Fleksur R"
  4 5 6 7                 mark "Polyp" "Biopsy" "Polypectomi" "Flush"
  mouse drag (left)       both wheels;  drag (right): roll;  scroll: push/pull
  Space pause   Tab slow motion   Backspace reset   F1 this help   Esc quit
Gamepad: left stick push/pull + roll, right stick wheels, RT air, LT suction,
  A water, B capture, X mark Cecum, Y (hold) wheels neutral, RB faster,
  Start pause, Back reset, LB slow motion"""


class KeyboardDevice:
    """Keyboard + mouse device (module doc). Thread-safe: events on the UI thread, `sample` on the physics
    thread."""

    name = "keyboard"

    def __init__(self):
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._capture = False
        self._events: list[str] = []
        self._commands: list[str] = []
        self._wheel_delta = [0.0, 0.0]  # up/down, left/right (rad) from mouse drags since the last sample
        self._roll_delta = 0.0
        self._depth_delta = 0.0
        self._press = 0  # index into PRESS_CYCLE
        self._press_changed = False

    # ---- events (key names as pyglet's symbol_string gives them) ---------------------------------------------
    def press(self, name: str) -> None:
        with self._lock:
            if name in COMMAND_KEYS:
                self._commands.append(COMMAND_KEYS[name])
            elif name == "C":
                self._capture = True
            elif name == "P":
                self._press = (self._press + 1) % len(PRESS_CYCLE)
                self._press_changed = True
            elif name in EVENT_KEYS:
                self._events.append(EVENT_KEYS[name])
            else:
                self._held.add(name)

    def release(self, name: str) -> None:
        with self._lock:
            self._held.discard(name)

    def on_key_press(self, symbol: int, modifiers: int = 0) -> None:
        from pyglet.window import key

        self.press(key.symbol_string(symbol))

    def on_key_release(self, symbol: int, modifiers: int = 0) -> None:
        from pyglet.window import key

        self.release(key.symbol_string(symbol))

    def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int = 0) -> None:
        from pyglet.window import mouse

        with self._lock:
            if buttons & mouse.LEFT:
                self._wheel_delta[0] += dy * DRAG_WHEEL_RAD_PER_PX
                self._wheel_delta[1] += dx * DRAG_WHEEL_RAD_PER_PX
            if buttons & mouse.RIGHT:
                self._roll_delta += dx * DRAG_ROLL_RAD_PER_PX

    def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
        with self._lock:
            self._depth_delta += scroll_y * SCROLL_DEPTH_M

    # ---- device protocol ------------------------------------------------------------------------------------
    def sample(self, dt_s: float = 1.0 / 240.0) -> ScopeControls:
        """This physics step's controls (`dt_s` spreads mouse movements over the step as rates)."""
        with self._lock:
            held = set(self._held)
            fast = any(k in held for k in SHIFT_KEYS)
            axes = {"insertion": 0.0, "roll": 0.0, "up_down": 0.0, "left_right": 0.0}
            for k in held:
                if k in HOLD_KEYS:
                    field, sign = HOLD_KEYS[k]
                    axes[field] = max(-1.0, min(1.0, axes[field] + sign))
            c = ScopeControls(
                insertion_velocity_m_s=axes["insertion"] * (FAST_PUSH_SPEED_M_S if fast else PUSH_SPEED_M_S),
                roll_rate_rad_s=axes["roll"] * (FAST_ROLL_RATE_RAD_S if fast else ROLL_RATE_RAD_S),
                wheel_up_down_rate_rad_s=axes["up_down"] * (FAST_WHEEL_RATE_RAD_S if fast else WHEEL_RATE_RAD_S),
                wheel_left_right_rate_rad_s=axes["left_right"] * (FAST_WHEEL_RATE_RAD_S if fast
                                                                  else WHEEL_RATE_RAD_S),
                air=any(k in held for k, v in LEVEL_KEYS.items() if v == "air"),
                suction=any(k in held for k, v in LEVEL_KEYS.items() if v == "suction"),
                water=any(k in held for k, v in LEVEL_KEYS.items() if v == "water"),
                capture=self._capture,
                mark_event=self._events.pop(0) if self._events else None,
            )
            # Mouse drags and scrolls: spend what was moved since the last step within this step (the hand limits
            # in HandState clamp the rate, so a big flick is spread over the next steps by the carried remainder).
            c.wheel_up_down_rate_rad_s += self._take_wheel(0, dt_s)
            c.wheel_left_right_rate_rad_s += self._take_wheel(1, dt_s)
            roll_step = max(-MAX_ROLL_RATE_RAD_S * dt_s, min(MAX_ROLL_RATE_RAD_S * dt_s, self._roll_delta))
            self._roll_delta -= roll_step
            c.roll_rate_rad_s += roll_step / dt_s
            depth_step = max(-MAX_INSERTION_SPEED_M_S * dt_s, min(MAX_INSERTION_SPEED_M_S * dt_s, self._depth_delta))
            self._depth_delta -= depth_step
            c.insertion_velocity_m_s += depth_step / dt_s
            if self._press_changed:
                c.abdominal_press = PRESS_CYCLE[self._press]
                self._press_changed = False
            if "O" in held:  # absolute targets: HandState turns the wheels back at the hand's rate
                c.wheel_up_down_rad, c.wheel_left_right_rad = 0.0, 0.0
            self._capture = False
            return c

    def _take_wheel(self, i: int, dt_s: float) -> float:
        step = max(-MAX_WHEEL_RATE_RAD_S * dt_s, min(MAX_WHEEL_RATE_RAD_S * dt_s, self._wheel_delta[i]))
        self._wheel_delta[i] -= step
        return step / dt_s

    def take_commands(self) -> list[str]:
        with self._lock:
            out, self._commands = self._commands, []
            return out
