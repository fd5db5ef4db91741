"""What every input device produces (`ScopeControls`) and what a force-rendering device gets back (`Feedback`).

DESIGN.md, "Controls, devices, recordings": keyboard, gamepad, SpaceMouse, haptic bridge, scripts, the autopilot
and the replay driver all produce one `ScopeControls` per physics step; `HandState` integrates them into the
physics' `WorldControls` (absolute insertion depth and roll, wheel angles, insufflation level), so a new device is
one small module that fills a `ScopeControls`.

Rates and limits are the hands' (anatomy.md, "Colonoscope"; prior-art.md §4): insertion at most 0.1 m/s (the
fastest a person feeds a scope), roll at most 2 turns per second of wrist, wheels at most 360°/s; air and suction
move the insufflation level at `INSUFFLATION_RATE_PER_S`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from physics.abdominal_press import AbdominalPress
from physics.colon_body import ColonControls
from physics.scope_rod import RodControls, RodModel
from physics.world import WorldControls

#: Fastest insertion or withdrawal a hand produces (m/s); the physics is tested for no tunnelling at this speed.
MAX_INSERTION_SPEED_M_S = 0.1
#: Fastest handle roll (rad/s): about two wrist turns per second.
MAX_ROLL_RATE_RAD_S = 4.0 * math.pi
#: Fastest wheel turn (rad/s).
MAX_WHEEL_RATE_RAD_S = 2.0 * math.pi
#: Air or suction held down changes the insufflation level (-1 ... 1) by this much per second.
INSUFFLATION_RATE_PER_S = 0.25


@dataclass
class ScopeControls:
    """One step's input from any device (SI units).

    Insertion: `target_depth_m` (absolute, e.g. the autopilot or a replay) when set, else `insertion_velocity_m_s`
    (+ in, a keyboard or gamepad axis). Roll: `roll_rad` (absolute) when set, else `roll_rate_rad_s`. Wheels:
    absolute angles (+ up / + right), `None` keeps the current angle and `wheel_*_rate_rad_s` turns it.
    Buttons are levels held during the step; `capture` and `mark_event` are one-shot (a picture, an event label
    written to the recording, e.g. "Cecum"). `abdominal_press`: the colon segment over which an assistant presses
    on the abdomen from this step on ("sigmoid", "transverse": physics/abdominal_press.py), "" to stop pressing,
    None to keep what is pressed.
    """

    insertion_velocity_m_s: float = 0.0
    target_depth_m: float | None = None
    roll_rate_rad_s: float = 0.0
    roll_rad: float | None = None
    wheel_up_down_rad: float | None = None
    wheel_left_right_rad: float | None = None
    wheel_up_down_rate_rad_s: float = 0.0
    wheel_left_right_rate_rad_s: float = 0.0
    stiffness_scale: float | None = None
    air: bool = False
    suction: bool = False
    water: bool = False
    capture: bool = False
    mark_event: str | None = None
    abdominal_press: str | None = None

    def to_dict(self) -> dict:
        """Plain dict (for the controls log)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict, where: str = "controls") -> "ScopeControls":
        """Inverse of `to_dict`; unknown keys are an error naming `where` and the key."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{where}: unknown control field(s) {sorted(unknown)}; expected some of "
                             f"{sorted(cls.__dataclass_fields__)}")
        return cls(**data)


@dataclass(frozen=True)
class Feedback:
    """What a force-rendering device feels at the handle: axial force (N, + when the hand pushes the scope in, as
    physics reports it), torque about the insertion axis (N m) and the tip's wall contact force magnitude (N)."""

    handle_axial_force_N: float = 0.0
    handle_torque_Nm: float = 0.0
    tip_contact_force_N: float = 0.0


@dataclass
class HandState:
    """The integrated state of the hands: what `ScopeControls` become step by step.

    depth_m, roll_rad, wheel angles (rad), stiffness_scale, insufflation (-1 ... 1), abdominal_press (the segment
    an assistant presses over, "" for none). Limits: the scope's insertion range and wheel ranges come from the rod
    model via `apply`.
    """

    depth_m: float = 0.0
    roll_rad: float = 0.0
    wheel_up_down_rad: float = 0.0
    wheel_left_right_rad: float = 0.0
    stiffness_scale: float = 1.0
    insufflation: float = 0.0
    abdominal_press: str = ""
    extras: dict = field(default_factory=dict)

    def apply(self, c: ScopeControls, dt_s: float, rod: RodModel) -> WorldControls:
        """Advance by one step of `dt_s` under `c` and return the physics controls for that step.

        Depth stays within [0, rod.max_insertion_m], the wheels within the rod's angulation limits. Rates are clamped to the module's hand limits, so a
        device cannot feed the scope faster than a person could (a target depth is approached at most at
        MAX_INSERTION_SPEED_M_S).
        """
        max_step = MAX_INSERTION_SPEED_M_S * dt_s
        if c.target_depth_m is not None:
            delta = float(c.target_depth_m) - self.depth_m
        else:
            delta = float(c.insertion_velocity_m_s) * dt_s
        self.depth_m = clamp(self.depth_m + clamp(delta, -max_step, max_step), 0.0, rod.max_insertion_m)
        max_roll = MAX_ROLL_RATE_RAD_S * dt_s
        if c.roll_rad is not None:
            droll = float(c.roll_rad) - self.roll_rad
        else:
            droll = float(c.roll_rate_rad_s) * dt_s
        self.roll_rad += clamp(droll, -max_roll, max_roll)
        up, down = rod.angulation_up_rad, rod.angulation_down_rad
        left, right = rod.angulation_left_rad, rod.angulation_right_rad
        max_wheel = MAX_WHEEL_RATE_RAD_S * dt_s
        self.wheel_up_down_rad = _wheel(self.wheel_up_down_rad, c.wheel_up_down_rad, c.wheel_up_down_rate_rad_s,
                                        dt_s, max_wheel, -down, up)
        self.wheel_left_right_rad = _wheel(self.wheel_left_right_rad, c.wheel_left_right_rad,
                                           c.wheel_left_right_rate_rad_s, dt_s, max_wheel, -left, right)
        if c.stiffness_scale is not None:
            self.stiffness_scale = float(c.stiffness_scale)
        if c.abdominal_press is not None:
            self.abdominal_press = str(c.abdominal_press)
        if c.air != c.suction:
            sign = 1.0 if c.air else -1.0
            self.insufflation = clamp(self.insufflation + sign * INSUFFLATION_RATE_PER_S * dt_s, -1.0, 1.0)
        return WorldControls(
            RodControls(insertion_depth_m=self.depth_m, roll_rad=self.roll_rad,
                        wheel_up_down_rad=self.wheel_up_down_rad, wheel_left_right_rad=self.wheel_left_right_rad,
                        stiffness_scale=self.stiffness_scale),
            ColonControls(insufflation=self.insufflation,
                          press=AbdominalPress(self.abdominal_press) if self.abdominal_press else None))


def clamp(x: float, lo: float, hi: float) -> float:
    """x limited to [lo, hi] as a Python float (np.clip on scalars costs ~10 µs a call, several per step)."""
    return float(min(max(x, lo), hi))


def _wheel(current: float, target: float | None, rate: float, dt_s: float, max_step: float, lo: float,
           hi: float) -> float:
    delta = (float(target) - current) if target is not None else float(rate) * dt_s
    return clamp(current + clamp(delta, -max_step, max_step), lo, hi)
