"""What a frame shows, copied out of the physics state: `RenderSnapshot` (poses, the deformed colon grid, the scope)
and `HudState` (the numbers and score lines of the HUD). Plain numpy, no GL, so the physics thread makes them and
the renderer (another thread, or the same loop headless) draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from physics.world import WorldOutputs, WorldState
from sim.controls import HandState


@dataclass
class HudState:
    """What the HUD's status column shows (SI units; `status_lines` formats them) and the live score lines."""

    time_s: float = 0.0
    phase: str = "insertion"
    inserted_length_m: float = 0.0
    roll_rad: float = 0.0
    wheel_up_down_rad: float = 0.0
    wheel_left_right_rad: float = 0.0
    insufflation: float = 0.0
    handle_axial_force_N: float = 0.0
    tip_contact_force_N: float = 0.0
    max_tether_force_N: float = 0.0
    abdominal_press: str = ""
    press_force_N: float = 0.0
    buttons: str = ""
    paused: bool = False
    speed: float = 1.0
    device: str = ""
    message: str = ""
    scores: dict[str, str] = field(default_factory=dict)

    def status_lines(self) -> list[str]:
        deg = 180.0 / math.pi
        flags = []
        if self.paused:
            flags.append("PAUSED")
        if self.speed != 1.0:
            flags.append(f"x{self.speed:g} speed")
        return [
            f"time {self.time_s:7.1f} s    phase {self.phase}" + ("    " + "  ".join(flags) if flags else ""),
            f"inserted {self.inserted_length_m * 1000:5.0f} mm    roll {self.roll_rad * deg:+6.0f} deg",
            f"wheels  up/down {self.wheel_up_down_rad * deg:+5.0f} deg   left/right "
            f"{self.wheel_left_right_rad * deg:+5.0f} deg",
            f"insufflation {self.insufflation:+.2f}    {self.buttons}"
            + (f"    hand on the {self.abdominal_press} {self.press_force_N:.0f} N" if self.abdominal_press else ""),
            f"push {self.handle_axial_force_N:+5.1f} N   tip {self.tip_contact_force_N:4.1f} N   "
            f"mesentery {self.max_tether_force_N:4.1f} N",
            (self.device + ("    " + self.message if self.message else "")).strip() or "F1: keys",
        ]


@dataclass(frozen=True)
class RenderSnapshot:
    """One frame's worth of state (copies; S scope segments, K coils, N colon grid particles).

    camera_*: the tip camera (3,) each; tip_s_m: the tip's arc length along the colon (where to draw the mesh);
    colon_positions_m (N, 3); rod_position_m (S, 3), rod_orientation (S, 4); coil_positions_m (K, 3);
    inserted_length_m; step (physics steps so far); hud; press_centre_m (3,) and press_radius_m: where the
    assistant's hand presses on the abdomen (the mean of the particles it holds, and its footprint's radius), None
    and 0 when nobody presses.
    """

    step: int
    time_s: float
    camera_position_m: np.ndarray
    camera_forward: np.ndarray
    camera_up: np.ndarray
    tip_s_m: float
    colon_positions_m: np.ndarray
    rod_position_m: np.ndarray
    rod_orientation: np.ndarray
    coil_positions_m: np.ndarray
    inserted_length_m: float
    hud: HudState
    press_centre_m: np.ndarray | None = None
    press_radius_m: float = 0.0


def tip_arc_length_m(scene, state: WorldState) -> float:
    """The tip's arc length along the colon (m) from the contact samples' centreline pieces (the physics tracks
    which piece each scope sample is in); 0 while the tip is outside."""
    contact = scene.world.contact
    tip_segment = scene.world.rod.segment_count - 1
    pieces = state.contact.sample_piece[contact.sample_segment == tip_segment]
    pieces = pieces[pieces >= 0]
    if pieces.size == 0:
        return 0.0
    ring_s = scene.world.colon.ring_s_m
    return float(ring_s[min(int(pieces.max()), len(ring_s) - 1)])


def take_snapshot(scene, state: WorldState, outputs: WorldOutputs, hand: HandState, step: int, *,
                  phase: str = "", scores: dict[str, str] | None = None, buttons: str = "", paused: bool = False,
                  speed: float = 1.0, device: str = "", message: str = "") -> RenderSnapshot:
    """Copy what the views and the HUD need out of `state` / `outputs`."""
    rod = outputs.rod
    hud = HudState(
        time_s=float(state.time_s), phase=phase, inserted_length_m=float(rod.inserted_length_m),
        roll_rad=hand.roll_rad, wheel_up_down_rad=hand.wheel_up_down_rad,
        wheel_left_right_rad=hand.wheel_left_right_rad, insufflation=hand.insufflation,
        handle_axial_force_N=float(rod.handle_axial_force_N),
        tip_contact_force_N=float(np.linalg.norm(outputs.tip_contact_force_N)),
        max_tether_force_N=float(outputs.max_tether_force_N), abdominal_press=hand.abdominal_press,
        press_force_N=float(np.linalg.norm(state.colon.press_force_N)), buttons=buttons, paused=paused, speed=speed,
        device=device, message=message, scores=dict(scores or {}))
    return RenderSnapshot(
        step=int(step), time_s=float(state.time_s), camera_position_m=rod.camera_position_m.copy(),
        camera_forward=rod.camera_forward.copy(), camera_up=rod.camera_up.copy(),
        tip_s_m=tip_arc_length_m(scene, state), colon_positions_m=state.colon.position_m.copy(),
        rod_position_m=state.rod.position_m.copy(), rod_orientation=state.rod.orientation.copy(),
        coil_positions_m=rod.coil_positions_m.copy(), inserted_length_m=float(rod.inserted_length_m), hud=hud,
        **_press_mark(state))


def _press_mark(state: WorldState) -> dict:
    """RenderSnapshot's press fields: the held particles' mean and the hand's radius, when a hand presses."""
    colon = state.colon
    if colon.press is None or colon.press_index.size == 0:
        return {}
    return {"press_centre_m": colon.press_anchor_m.mean(axis=0), "press_radius_m": float(colon.press.radius_m)}
