"""The autopilot: a scripted endoscopist (issue 3, "Autopilot"), the engine's acceptance harness and the "expert"
reference driver for scoring.

It knows the lumen ahead the way an experienced endoscopist does from the picture: it reads the deformed colon
centreline (the ring centres of the wall, `outputs.colon.ring_centre_m`) and the tip pose, and drives the handle
as a person would:

- **Steer**: aim the tip at the centreline `lookahead_m` ahead of where the tip is along it. The pointing error in
  the tip's frame (up and right components) drives the two wheels at a rate proportional to the error (an integral
  controller on the bend, since the wheels set the bending section's curvature and the tip direction follows it).
- **Advance**: feed the scope at `advance_speed_m_s`, slower when the tip points away from the lumen or the handle
  force rises (a hand feels resistance and eases off).
- **Reduce loops**: when the shaft goes in but the tip does not follow (loop excess = inserted length minus tip
  progress along the centreline, above `loop_trigger_m`, or paradoxical motion over `stall_window_s`), pull back
  at `reduce_speed_m_s` with clockwise torque (roll, the usual sigmoid reduction manoeuvre; anatomy.md, prior-art.md
  §1) and the tip hooked round the bend ahead (`reduce_hook_rad`) until the excess is below `loop_target_m`, the
  tip slides back `reduce_slip_m`, or the shaft's contact load is still at `hard_load_N` after a first pull of
  `back_off_m` (the colon, pleated onto the shaft, jams), then resume. The same pull-back when the scope
  is in to its working length (pushing further gains nothing) and when the tip stalls with the shaft loaded past
  `soft_load_N` (the push is spent in friction along the shaft's bends, not at the tip: pushing harder only
  loads the colon more).
- **Abdominal pressure**: once a reduction ends with the tip past the splenic flexure, an assistant presses on
  the abdomen over the sigmoid (`press_segment`, physics/abdominal_press.py) and keeps pressing until the
  withdrawal: the straightened loop is held, so the next push reaches the tip instead of bowing the sigmoid out
  again. While pressed, the shaft is not stiffened and its contact load may rise to `pressed_hard_load_N`.
- **Back off**: when the tip stalls without a loop (caught on a fold, the bend pressed into the wall), pull back
  `back_off_m` with the wheels relaxed and a small roll, then advance again.
- **Cecum**: when the tip is within `cecum_reach_m` of the cecal pole along the centreline, mark "Cecum" and turn.
- **Withdraw**: pull back at `withdrawal_speed_m_s` while the tip circles (`survey_angle_rad`, one turn per
  `survey_period_s`) to look behind folds, until `withdrawal_end_depth_m`; when the tip holds on a fold and
  tows the colon out with it (the tip `drag_release_m` further along the colon than the shaft reaches), hold the
  shaft while the wheels unwind, then withdraw with the tip straight until it slips back. With
  `insertion_limit_s` the withdrawal starts after that much insertion time wherever the tip is, without a "Cecum"
  event.

Phases exposed as `phase`: "insertion", "withdrawal", "done"; `events` lists (t_s, label) with the coordinate-log
labels ("Endoscopy started", "Fleksur L" when the tip passes the splenic flexure, "Fleksur R" at the hepatic
flexure, "Cecum", "Endoscopy ended").

Determinism: a pure function of the outputs it is given (no clock, no random numbers), so a session driven by it
is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.world import WorldOutputs
from sim.colon.centreline_locate import centreline_arc_length
from sim.controls import ScopeControls, clamp
from sim.scene import Scene

#: Pieces either side of the last tip piece searched when the tip moves (5 mm rings: +-60 mm of centreline).
_LOCATOR_WINDOW_RINGS = 12
#: The scope counts as in to its working length this close (m) to the rod's maximum insertion.
_FULLY_INSERTED_MARGIN_M = 0.005


def toward_zero(value: float, step: float) -> float:
    """`value` moved toward 0 by at most `step` (>= 0), never past it (a hand letting a control go)."""
    return value - math.copysign(min(abs(value), step), value)


@dataclass(frozen=True)
class AutopilotConfig:
    """How the autopilot drives (SI units). Defaults: an unhurried expert (anatomy.md speeds: insertion a few cm/s,
    withdrawal a few mm/s to a cm/s; here faster than a person on withdrawal so that tests stay short)."""

    advance_speed_m_s: float = 0.05
    lookahead_m: float = 0.03
    steer_gain_per_s: float = 4.0
    #: Fastest wheel turn the autopilot makes (rad/s): a deliberate hand; at the hand limit (2 pi rad/s) the
    #: bending section whips the tip at over 1 m/s.
    max_wheel_rate_rad_s: float = 2.0
    #: Largest wheel angle (rad) the autopilot uses while inserting: beyond about 90° the bending section hooks
    #: and its knee, not the tip, leads (measured: with the full 180° the tip retroflexed at the sigmoid apex).
    max_insertion_wheel_rad: float = 1.6
    #: Fraction of the advance speed kept when the tip points away from the lumen ahead: around a hairpin (the
    #: sigmoid apex) the tip cannot point at the lumen until the bend is taken, so the hand keeps pushing gently
    #: with the tip hooked ("hook and push").
    min_push_fraction: float = 0.4
    #: Handle force (N, + pushing in) above which the hand eases off, and at which it stops pushing.
    soft_force_N: float = 8.0
    hard_force_N: float = 20.0
    #: The same easing on the sum of the wall's contact forces along the shaft (N): what the patient feels (pain)
    #: and the endoscopist sees (the colon stretching); a loop pushed on past about 100 N tore the model's wall
    #: into 10 m/s snaps (measured, bench/autopilot.py seed 4). The sigmoid loop that carries the tip past the
    #: splenic flexure takes 35-70 N.
    soft_load_N: float = 70.0
    hard_load_N: float = 95.0
    #: Loop excess (m) at which the autopilot stops pushing and reduces. Measured on the default colon: reducing at
    #: 0.08 m never let the tip past the sigmoid apex (each push rebuilt the loop before the tip turned the
    #: corner); pushing on through an alpha loop up to 0.25 m took the tip past the splenic flexure, as an
    #: endoscopist pushes through a sigmoid loop and straightens it once the tip is held in the descending colon.
    loop_trigger_m: float = 0.25
    #: Excess (m) at which a reduction ends. Below about 20 mm the hooked tip no longer holds and slides back with
    #: the shaft (measured as for reduce_hook_rad).
    loop_target_m: float = 0.02
    #: A reduction stops when the tip has slid back this far (m) along the centreline since it began: pulling
    #: further loses ground instead of straightening.
    reduce_slip_m: float = 0.03
    reduce_speed_m_s: float = 0.04
    #: Variable-stiffness setting after the first loop reduction (anatomy.md: such scopes span about 3x): stiffen a
    #: straightened shaft so that the next push reaches the tip instead of rebuilding the loop.
    stiffened_scale: float = 3.0
    #: How fast the hand turns the stiffness knob (scale units per second). Stiffened at once, a shaft still
    #: curved at the end of a reduction straightened with a jerk (measured, seed 1: the tip pulled back 150 mm
    #: and the load doubled to 105 N within 0.5 s).
    stiffness_rate_per_s: float = 0.5
    reduce_roll_rate_rad_s: float = 0.8
    #: While reducing, the wheels hold this total angulation (rad) in the direction they were steering: the tip
    #: hooks round the bend ahead and anchors while the shaft is withdrawn, as an endoscopist hooks a fold to
    #: straighten a loop. Measured on the 1.2x redundant sigmoid (tests/test_autopilot.py): a 121 mm loop reduced
    #: to 64 mm with the steering wheels (the tip slid back with the shaft from 60 mm on), to 20 mm hooked at
    #: 2.5 rad (the tip held to within 25 mm); 1.6 rad did not anchor. 0 leaves the wheels to the steering.
    reduce_hook_rad: float = 2.5
    #: Largest roll the reduction applies before it unwinds (rad).
    reduce_roll_limit_rad: float = math.pi
    stall_window_s: float = 4.0
    #: Paradoxical motion (shaft in, tip still) counts as a loop to reduce only above this excess (m): below it the
    #: autopilot keeps pushing through the forming loop (see loop_trigger_m).
    paradox_excess_m: float = 0.12
    #: Tip progress (m) over stall_window_s below which the tip counts as stalled.
    stall_progress_m: float = 0.005
    #: A stalled tip not in a loop is caught on a fold or the wall: pull back this far (m), relax the wheels by
    #: `back_off_relax` and roll by +-`back_off_roll_rad` (alternating), then advance again (what a person does to
    #: find the lumen again).
    back_off_m: float = 0.025
    back_off_relax: float = 0.5
    back_off_roll_rad: float = 0.3
    cecum_reach_m: float = 0.03
    withdrawal_speed_m_s: float = 0.02
    survey_angle_rad: float = 0.35
    survey_period_s: float = 2.0
    withdrawal_end_depth_m: float = 0.02
    #: On the withdrawal, a tip this far (m) further along the colon than the inserted length has the colon in tow:
    #: hooked on a fold, it holds while the shaft comes out, straightens the sigmoid and then gathers it onto the
    #: shaft (measured, seed 2 on the expert-versus-poor run: the tip held at 0.6 m for 25 s while 0.5 m of shaft
    #: came out, the loop excess went from +0.14 to -0.29 m, and the bending section ended 1.6-2.7 mm into the wall
    #: where the gathered sigmoid lay against itself, rings 46 and 88 side by side). The hand then holds the
    #: shaft while it lets the wheels go (toward neutral at the wheel rate), and withdraws with the tip straight (no
    #: survey circle) until the tip slips back to within `drag_resume_m`, as an endoscopist straightens the tip
    #: when the lumen comes back with the scope.
    drag_release_m: float = 0.05
    drag_resume_m: float = 0.02
    #: Skip the withdrawal (acceptance runs that only need the cecum).
    withdraw: bool = True
    #: Simulated time (s, from the autopilot's first call) after which the insertion ends wherever the tip is and
    #: the withdrawal (or, without `withdraw`, the end) follows, with no "Cecum" event: a timed exercise, and
    #: what lets a test score a withdrawal while the autopilot does not reach the cecum. None: insert until the
    #: cecum.
    insertion_limit_s: float | None = None
    #: Steering off: push straight in with neutral wheels and pull straight out with the wheels left where they are
    #: (no survey circle): the "poor driver" of the loop tests and of the expert-versus-poor scores.
    steer: bool = True
    #: Loop reduction off (the poor driver pushes through loops).
    reduce_loops: bool = True
    #: After a loop reduction with the tip past the splenic flexure, the assistant presses on the abdomen over this
    #: segment (physics/abdominal_press.py) until the withdrawal: the straightened sigmoid then cannot bow out
    #: again, so the push reaches the tip. "" never. Measured (bench/autopilot.py, see README "Autopilot"): with it
    #: the shaft slides on through the descending colon, without it each push re-formed the sigmoid loop.
    press_segment: str = "sigmoid"
    #: While the assistant presses, the shaft's contact load may reach these (N) before the hand eases off and backs
    #: off (soft_load_N, hard_load_N otherwise): the held loop cannot stretch its mesentery, and the shaft pressing
    #: on a held colon is what carries the push round the flexures.
    pressed_soft_load_N: float = 150.0
    pressed_hard_load_N: float = 200.0


@dataclass
class AutopilotStatus:
    """What the autopilot believes, for the HUD and tests: tip progress along the centreline (m), loop excess
    (m), phase, manoeuvre ("advance", "reduce", "back_off", "withdraw", "release", "hold"), how many
    reductions, back-offs and drag releases it made, and where the assistant presses ("" nowhere; press_used:
    whether it ever did)."""

    tip_s_m: float = 0.0
    excess_m: float = 0.0
    phase: str = "insertion"
    manoeuvre: str = "advance"
    reductions: int = 0
    back_offs: int = 0
    releases: int = 0
    press: str = ""
    press_used: bool = False


class Autopilot:
    """Callable driver ``(t_s, outputs) -> ScopeControls`` (see sim/drivers/__init__.py)."""

    def __init__(self, scene: Scene, config: AutopilotConfig | None = None):
        self.config = config or AutopilotConfig()
        self._ring_s = scene.colon.ring_s_m
        self._length_m = float(self._ring_s[-1])
        marks = scene.asset.landmarks
        self._flexures = [(float(marks[name].s_m), label) for name, label in
                          (("splenic_flexure", "Fleksur L"), ("hepatic_flexure", "Fleksur R")) if name in marks]
        self._max_depth = float(scene.rod.max_insertion_m)
        rod = scene.rod
        self._wheel_limits = (-rod.angulation_down_rad, rod.angulation_up_rad, -rod.angulation_left_rad,
                              rod.angulation_right_rad)
        self._piece = np.full(1, -1, dtype=np.int64)
        self.status = AutopilotStatus()
        self.events: list[tuple[float, str]] = []
        self._depth = 0.0
        self._roll = 0.0
        self._wheel_ud = 0.0
        self._wheel_lr = 0.0
        self._last_t = None
        self._history: list[tuple[float, float, float]] = []  # (t, depth, tip_s) for stall detection
        self._withdraw_t0: float | None = None
        self._start_t = 0.0
        self._back_off_until = 0.0
        self._stiffness = 1.0
        self._stiffened = False
        self._reduce_from_s = 0.0
        self._reduce_from_depth = 0.0
        self._best_s = 0.0
        self._press = ""

    @property
    def phase(self) -> str:
        return self.status.phase

    @property
    def withdrawal_start_s(self) -> float | None:
        """Time (s) the withdrawal began (at the cecum or at `insertion_limit_s`); None before it."""
        return self._withdraw_t0

    # ----------------------------------------------------------------------------------------------------------

    def __call__(self, t_s: float, outputs: WorldOutputs) -> ScopeControls:
        dt = 0.0 if self._last_t is None else max(0.0, t_s - self._last_t)
        if self._last_t is None:
            self.events.append((t_s, "Endoscopy started"))
            self._start_t = t_s
            self._depth = float(outputs.rod.inserted_length_m)
        self._last_t = t_s
        st = self.status
        centres = outputs.colon.ring_centre_m
        tip = outputs.rod.tip_position_m
        st.tip_s_m = self._locate(centres, tip)
        self._best_s = max(self._best_s, st.tip_s_m)
        st.excess_m = float(outputs.rod.inserted_length_m) - st.tip_s_m
        for s_flex, label in self._flexures:
            if st.tip_s_m >= s_flex and not any(lab == label for _, lab in self.events) and st.phase == "insertion":
                self.events.append((t_s, label))

        if st.phase == "insertion":
            self._insertion(t_s, dt, outputs, centres, tip)
        elif st.phase == "withdrawal":
            self._withdrawal(t_s, dt, outputs, centres, tip)
        else:
            st.manoeuvre = "hold"
        st.press = self._press
        st.press_used = st.press_used or bool(self._press)
        return ScopeControls(target_depth_m=self._depth, roll_rad=self._roll, wheel_up_down_rad=self._wheel_ud,
                             wheel_left_right_rad=self._wheel_lr, stiffness_scale=self._stiffness,
                             abdominal_press=self._press if self._press or st.press_used else None)

    # ----------------------------------------------------------------------------------------------------------

    def _insertion(self, t_s, dt, outputs, centres, tip):
        c, st = self.config, self.status
        load = float(outputs.contact_load_N)  # the shaft's total contact load (N)
        soft_load, hard_load = ((c.pressed_soft_load_N, c.pressed_hard_load_N) if self._press
                                else (c.soft_load_N, c.hard_load_N))
        if st.tip_s_m >= self._length_m - c.cecum_reach_m:
            self.events.append((t_s, "Cecum"))
            self._end_insertion(t_s)
            return
        if c.insertion_limit_s is not None and t_s - self._start_t >= c.insertion_limit_s:
            self._end_insertion(t_s)
            return
        alignment = self._steer(dt, outputs, centres, tip, survey=0.0) if c.steer else 1.0
        self._history.append((t_s, self._depth, st.tip_s_m))
        while self._history and self._history[0][0] < t_s - c.stall_window_s:
            self._history.pop(0)

        if st.manoeuvre == "back_off":
            self._depth = max(0.0, self._depth - c.reduce_speed_m_s * dt)
            if self._depth <= self._back_off_until:
                st.manoeuvre = "advance"
                self._history.clear()
            return
        if st.manoeuvre == "reduce":
            self._hook(c.reduce_hook_rad)
            self._depth = max(0.0, self._depth - c.reduce_speed_m_s * dt)
            self._roll = min(self._roll + c.reduce_roll_rate_rad_s * dt, c.reduce_roll_limit_rad)
            slipped = st.tip_s_m < self._reduce_from_s - c.reduce_slip_m
            # Jammed: the load still at the hard limit after a first pull (a reduction that starts at the limit
            # pulls at least back_off_m, or it would end at once and start again every step).
            pulled = self._reduce_from_depth - self._depth >= c.back_off_m
            jammed = pulled and load >= hard_load
            if st.excess_m < c.loop_target_m or slipped or jammed or self._depth <= 0.0:
                st.manoeuvre = "advance"
                self._stiffened = True  # the knob turns while advancing (stiffness_rate_per_s)
                self._history.clear()
                if any(label == "Fleksur L" for _, label in self.events):
                    self._press = c.press_segment  # the straightened sigmoid is held from here on
            return
        loaded_stall = self._stalled() and load >= soft_load
        if c.reduce_loops and (self._looping() or loaded_stall):
            st.manoeuvre = "reduce"
            st.reductions += 1
            self._reduce_from_s = st.tip_s_m
            self._reduce_from_depth = self._depth
            return
        if c.steer and self._stalled():
            st.manoeuvre = "back_off"
            st.back_offs += 1
            self._back_off_until = max(0.0, self._depth - c.back_off_m)
            self._wheel_ud *= c.back_off_relax
            self._wheel_lr *= c.back_off_relax
            self._roll += c.back_off_roll_rad * (1.0 if st.back_offs % 2 else -1.0)
            return
        force = float(outputs.rod.handle_axial_force_N)
        ease_load = 1.0 - clamp((load - soft_load) / (hard_load - soft_load), 0.0, 1.0)
        ease = min(1.0 - clamp((force - c.soft_force_N) / (c.hard_force_N - c.soft_force_N), 0.0, 1.0), ease_load)
        # A stiffened shaft bent round a flexure presses the wall with the stiffness it was given: relax it as the
        # load rises (measured, seed 4 in the transverse colon: 3x stiff, 100-130 N and the wall snapping at
        # 15 m/s; relaxed, 2 m/s over the same 1.5 s).
        if self._stiffened:
            # With the sigmoid held the stiffening's work is done by the hand; a stiff shaft would only press the
            # flexures harder (one-off, seed 0 held: 145 N of load at 3x and the tip stalled at 0.90 m; 1x, 1.17 m).
            target = 1.0 if self._press else 1.0 + (c.stiffened_scale - 1.0) * ease_load
            step = c.stiffness_rate_per_s * dt
            self._stiffness = clamp(target, self._stiffness - step, self._stiffness + step)
        speed = c.advance_speed_m_s * max(c.min_push_fraction, alignment) * ease
        if force >= c.hard_force_N or load >= hard_load:  # resistance: back off a little, as a hand does
            speed = -0.25 * c.advance_speed_m_s
        self._depth = clamp(self._depth + speed * dt, 0.0, self._max_depth)
        st.manoeuvre = "advance"

    def _end_insertion(self, t_s: float) -> None:
        """Turn to the withdrawal (or end, without `withdraw`) from wherever the scope is."""
        st = self.status
        self._press = ""  # the assistant lets go for the withdrawal
        if self.config.withdraw:
            st.phase, st.manoeuvre = "withdrawal", "withdraw"
            self._withdraw_t0 = t_s
        else:
            st.phase, st.manoeuvre = "done", "hold"
            self.events.append((t_s, "Endoscopy ended"))

    def _hook(self, angle_rad: float) -> None:
        """Set the wheels' total angulation to `angle_rad` keeping their direction (within the wheel limits)."""
        mag = math.hypot(self._wheel_ud, self._wheel_lr)
        if angle_rad <= 0.0 or mag < 1e-6:
            return
        lo_ud, hi_ud, lo_lr, hi_lr = self._wheel_limits
        self._wheel_ud = clamp(self._wheel_ud * angle_rad / mag, lo_ud, hi_ud)
        self._wheel_lr = clamp(self._wheel_lr * angle_rad / mag, lo_lr, hi_lr)

    def _looping(self) -> bool:
        c, st = self.config, self.status
        if st.excess_m > c.loop_trigger_m or self._depth >= self._max_depth - _FULLY_INSERTED_MARGIN_M:
            return True
        if len(self._history) < 2 or self._history[-1][0] - self._history[0][0] < 0.9 * c.stall_window_s:
            return False
        t0, d0, s0 = self._history[0]
        _, d1, s1 = self._history[-1]
        # Paradoxical motion: the shaft went in by several cm but the tip did not follow, with a loop building.
        return d1 - d0 > 0.03 and s1 - s0 < c.stall_progress_m and st.excess_m > c.paradox_excess_m

    def _stalled(self) -> bool:
        """No tip progress over the stall window (whatever the shaft did)."""
        c = self.config
        if len(self._history) < 2 or self._history[-1][0] - self._history[0][0] < 0.9 * c.stall_window_s:
            return False
        return self._history[-1][2] - self._history[0][2] < c.stall_progress_m

    def _withdrawal(self, t_s, dt, outputs, centres, tip):
        c, st = self.config, self.status
        if c.steer:
            if st.manoeuvre == "release" and -st.excess_m < c.drag_resume_m:
                st.manoeuvre = "withdraw"
            elif st.manoeuvre != "release" and -st.excess_m > c.drag_release_m:
                st.manoeuvre = "release"
                st.releases += 1
            if st.manoeuvre == "release":
                turn = c.max_wheel_rate_rad_s * dt
                self._wheel_ud = toward_zero(self._wheel_ud, turn)
                self._wheel_lr = toward_zero(self._wheel_lr, turn)
                if self._wheel_ud or self._wheel_lr:
                    return  # the hand holds the shaft while the wheels unwind: pulling on would tow the colon further
            else:
                phase = 2.0 * math.pi * (t_s - self._withdraw_t0) / c.survey_period_s
                self._steer(dt, outputs, centres, tip, survey=phase)
        self._stiffness = 1.0
        self._depth = max(0.0, self._depth - c.withdrawal_speed_m_s * dt)
        self._roll = toward_zero(self._roll, c.reduce_roll_rate_rad_s * dt)
        if self._depth <= c.withdrawal_end_depth_m:
            st.phase, st.manoeuvre = "done", "hold"
            self.events.append((t_s, "Endoscopy ended"))

    # ----------------------------------------------------------------------------------------------------------

    def _locate(self, centres: np.ndarray, tip: np.ndarray) -> float:
        """Arc length (m) of the tip's nearest point on the deformed centreline, searched near the last one."""
        return centreline_arc_length(centres, self._ring_s, tip, self._piece, _LOCATOR_WINDOW_RINGS)

    def _point_at(self, centres: np.ndarray, s_m: float) -> np.ndarray:
        s = clamp(s_m, self._ring_s[0], self._ring_s[-1])
        return np.array([np.interp(s, self._ring_s, centres[:, a]) for a in range(3)])

    def _steer(self, dt, outputs, centres, tip, survey: float) -> float:
        """Turn the wheels toward the lumen ahead (withdrawal: behind, with a survey circle); returns the cosine of
        the pointing error (1 = looking straight down the lumen)."""
        c = self.config
        forward = outputs.rod.camera_forward
        up = outputs.rod.camera_up
        right = outputs.rod.camera_right
        st = self.status
        if st.phase == "withdrawal":
            aim = self._point_at(centres, st.tip_s_m + 0.5 * c.lookahead_m)
        else:
            aim = self._point_at(centres, st.tip_s_m + c.lookahead_m)
        d = aim - tip
        n = float(np.linalg.norm(d))
        if n < 1e-9:
            return 1.0
        d /= n
        err_up = math.atan2(float(np.dot(d, up)), float(np.dot(d, forward)))
        err_right = math.atan2(float(np.dot(d, right)), float(np.dot(d, forward)))
        if survey:
            err_up += c.survey_angle_rad * math.sin(survey)
            err_right += c.survey_angle_rad * math.cos(survey)
        lo_ud, hi_ud, lo_lr, hi_lr = self._wheel_limits  # clamp: no wind-up past what the wheels can do
        if st.phase == "insertion":
            cap = c.max_insertion_wheel_rad
            lo_ud, hi_ud, lo_lr, hi_lr = max(lo_ud, -cap), min(hi_ud, cap), max(lo_lr, -cap), min(hi_lr, cap)
        rate = c.max_wheel_rate_rad_s
        turn_ud = clamp(c.steer_gain_per_s * err_up, -rate, rate) * dt
        turn_lr = clamp(c.steer_gain_per_s * err_right, -rate, rate) * dt
        self._wheel_ud = clamp(self._wheel_ud + turn_ud, lo_ud, hi_ud)
        self._wheel_lr = clamp(self._wheel_lr + turn_lr, lo_lr, hi_lr)
        return float(np.dot(d, forward))
