"""Input devices: each turns its own events into the design's `ScopeControls` (sim/controls.py), so a new device is
one small module.

A device has:
- ``name`` (shown on the HUD);
- ``sample() -> ScopeControls``: called by the physics loop once per physics step; levels (held keys, stick
  positions) are read, one-shot inputs (capture, mark an event) are returned once and then cleared;
- ``take_commands() -> list[str]``: session commands pressed since the last call ("pause", "reset", "slow",
  "help", "quit"), which are not controls of the scope and never enter the controls log.

Events arrive on the UI thread while `sample` runs on the physics thread, so devices guard their state with a
lock. `merge_controls` combines several devices (keyboard and gamepad at once): rates add, buttons OR, the first
absolute value wins.
"""

from __future__ import annotations

from sim.controls import ScopeControls

#: Session commands a device can give (besides ScopeControls).
COMMANDS = ("pause", "reset", "slow", "help", "quit")


def merge_controls(parts: list[ScopeControls]) -> ScopeControls:
    """One `ScopeControls` from several devices' samples (rates summed, buttons OR-ed, first absolute value and
    first event label kept)."""
    out = ScopeControls()
    for c in parts:
        out.insertion_velocity_m_s += c.insertion_velocity_m_s
        out.roll_rate_rad_s += c.roll_rate_rad_s
        out.wheel_up_down_rate_rad_s += c.wheel_up_down_rate_rad_s
        out.wheel_left_right_rate_rad_s += c.wheel_left_right_rate_rad_s
        for name in ("target_depth_m", "roll_rad", "wheel_up_down_rad", "wheel_left_right_rad", "stiffness_scale",
                     "mark_event", "abdominal_press"):
            if getattr(out, name) is None and getattr(c, name) is not None:
                setattr(out, name, getattr(c, name))
        out.air |= c.air
        out.suction |= c.suction
        out.water |= c.water
        out.capture |= c.capture
    return out
