"""Loop detection from the shaft's coil polyline (reference/metrics.md §5.3; all thresholds are the spec's [P]
proposals and tunable in `LoopConfig`).

Per sample:
1. Excess inserted length: excess = ℓ_ins - s, ratio ρ = ℓ_ins / max(s, 50 mm); loop flag when excess > 100 mm.
2. Self-crossings of the in-body coil polyline in the frontal (coronal) projection, the view clinicians read on a
   scope guide. The world frame is DICOM LPS (x = patient's left, y = posterior, z = cranial), so the frontal
   projection is (x, z): seen from the front (anterior) the patient's left is the viewer's right, so (x, z) are
   the viewer's (right, up) as given. Recordings scored in their own frame pass other axes (`frontal_axes`,
   `frontal_signs`): the CCD plots' frontal panel is (x, -y), i.e. axes (0, 1) with signs (1, -1), though the
   database does not document which way its x points, so its handedness is only known after registration.
   A crossing while the tip is in the sigmoid/descending colon (before ``Fleksur L``) is an alpha loop; a crossing
   later is reported as "crossing" (the spec names no type for it). Handedness is the sense of rotation of the
   closed loop between the two crossing segments, followed in the insertion direction (anus -> tip) and seen from
   the front: "counterclockwise" or "clockwise". Which sense is called a "reverse alpha" is left to the reader (the
   spec does not fix it).
   No crossing but |total turning| >= 360° -> "near_closed".
3. N-loop: no crossing, tip before the left flexure, and the shaft from the rectosigmoid (`rectum_length_m` of shaft
   above the anal verge) to the tip has arc / chord > 1.6 and rises above its chord (cranially, in the frontal
   projection) by more than `n_loop_apex_min_m`.
4. Transverse loop: tip past the left flexure and the shaft between it and the left flexure sags more than 80 mm
   below (caudal to) the lower of the flexure markers. Without anatomy the markers are the tip positions at the
   ``Fleksur L`` / ``Fleksur R`` events; the shaft part checked is the `s(t) - s(Fleksur L)` of shaft behind the
   tip (the length of colon from the flexure to the tip if the shaft followed the colon).
5. Paradoxical motion: increments with Δℓ_ins > 0 ("push") but Δs <= 0 (no progression), merged into intervals.

A sample is "looped" when the excess flag is up or a loop shape is seen. Loop episodes are runs of looped samples:
start = first looped sample, end = first sample after the run (the last sample if the run lasts to the end), so
that episode durations add up to the looping time (the time integral of the indicator, each sample's state held
until the next sample). Straightening attempts: pulls of ℓ_ins of >= 50 mm while s stays within 20 mm, starting in
a loop; an episode "ended by straightening" when an attempt covers its end.

Cost: one vectorised pass for the verge points, then a Python loop over samples with compiled geometry kernels
(numba, cached): about 70 µs per sample, 2 s for 30 000 samples of 12 coils.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit

from sim.logs.coordinate_log import EventLabel
from sim.scoring.samples import (
    ScoreSamples,
    ShaftPoint,
    finite_coils,
    increment_grid,
    interpolate_finite,
    nan_to_none,
    optional_float,
    polyline_arc_length,
    shaft_point_at_verge,
    shaft_points_at_verge,
    zigzag_swings,
)

SHAPE_NONE = "none"
SHAPE_ALPHA = "alpha"
SHAPE_CROSSING = "crossing"
SHAPE_NEAR_CLOSED = "near_closed"
SHAPE_N = "n_loop"
SHAPE_TRANSVERSE = "transverse"
#: Episode type when only the excess-length flag was up (no shape recognised).
TYPE_EXCESS = "excess_length"


@dataclass
class LoopConfig:
    """Thresholds of metrics.md §5.3 (proposals, tunable). Lengths in m, times in s, angles in degrees."""

    excess_threshold_m: float = 0.100
    ratio_min_progress_m: float = 0.050
    frontal_axes: tuple[int, int] = (0, 2)
    frontal_signs: tuple[float, float] = (1.0, 1.0)
    rectum_length_m: float = 0.15
    n_loop_arc_chord_min: float = 1.6
    n_loop_apex_min_m: float = 0.02
    transverse_sag_m: float = 0.080
    near_closed_turning_deg: float = 360.0
    #: Progress of the left flexure, used to tell sigmoid from later loops when there is no ``Fleksur L`` event.
    left_flexure_s_m: float | None = None
    straighten_pull_m: float = 0.050
    straighten_s_tolerance_m: float = 0.020
    #: Reversals of ℓ_ins smaller than this do not split a pull (hand tremor, noise).
    straighten_reversal_m: float = 0.010
    straighten_end_tolerance_s: float = 1.0
    paradox_min_push_m: float = 0.001
    #: Step of the increments used for paradoxical motion (a fixed step keeps thresholds rate-independent).
    increment_step_s: float | None = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoopEpisode:
    start_s: float
    end_s: float
    loop_type: str
    handedness: str | None
    max_excess_m: float | None
    straightened: bool = False

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {**asdict(self), "duration_s": self.duration_s}


@dataclass
class StraighteningAttempt:
    """A pull of the shaft (ℓ_ins down by `pull_m`) while the tip stayed put (|s change| = `s_change_m`)."""

    start_s: float
    end_s: float
    pull_m: float
    s_change_m: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ParadoxicalInterval:
    """Pushing without progression: ℓ_ins up by `push_m` while s changed by `s_change_m` <= 0."""

    start_s: float
    end_s: float
    push_m: float
    s_change_m: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoopAnalysis:
    """Per-sample loop state (arrays of shape (N,)) and the episodes built from it."""

    t_s: np.ndarray
    excess_m: np.ndarray
    excess_ratio: np.ndarray
    excess_flag: np.ndarray
    crossings: np.ndarray
    turning_deg: np.ndarray
    shape: list[str]
    handedness: list[str | None]
    looped: np.ndarray
    episodes: list[LoopEpisode] = field(default_factory=list)
    straightening_attempts: list[StraighteningAttempt] = field(default_factory=list)
    paradoxical: list[ParadoxicalInterval] = field(default_factory=list)

    def looping_time_s(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> float:
        """Time integral of the loop indicator over [t0_s, t1_s] (each sample's state held until the next)."""
        starts, ends = self.t_s[:-1], self.t_s[1:]
        overlap = np.clip(np.minimum(ends, t1_s) - np.maximum(starts, t0_s), 0.0, None)
        return float(np.sum(overlap * self.looped[:-1]))

    @property
    def paradoxical_time_s(self) -> float:
        return float(sum(p.end_s - p.start_s for p in self.paradoxical))

    def to_dict(self, include_samples: bool = False) -> dict:
        out = {
            "looping_time_s": self.looping_time_s(),
            "max_excess_m": optional_float(np.nanmax(self.excess_m)) if np.isfinite(self.excess_m).any() else None,
            "loop_episodes": [e.to_dict() for e in self.episodes],
            "straightening_attempts": [a.to_dict() for a in self.straightening_attempts],
            "n_straightening_attempts": len(self.straightening_attempts),
            "paradoxical_motion": [p.to_dict() for p in self.paradoxical],
            "n_paradoxical_motion": len(self.paradoxical),
            "paradoxical_time_s": self.paradoxical_time_s,
        }
        if include_samples:
            out["samples"] = {
                "t_s": self.t_s.tolist(),
                "excess_m": nan_to_none(self.excess_m),
                "excess_ratio": nan_to_none(self.excess_ratio),
                "crossings": self.crossings.tolist(),
                "turning_deg": nan_to_none(self.turning_deg),
                "shape": list(self.shape),
                "looped": self.looped.tolist(),
            }
        return out


# --- geometry ------------------------------------------------------------------------------------------------------


@njit(cache=True)
def _orientation(ax, ay, bx, by, cx, cy):  # pragma: no cover - compiled
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True)
def _turn(ux, uy, vx, vy):  # pragma: no cover - compiled
    """Signed angle (rad, counterclockwise positive) from direction u to direction v."""
    return math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)


@njit(cache=True)
def _vertex_turn(q, k):  # pragma: no cover - compiled
    """Turn (rad) at vertex k + 1 of q (M, 2): from segment k to segment k + 1."""
    return _turn(q[k + 1, 0] - q[k, 0], q[k + 1, 1] - q[k, 1], q[k + 2, 0] - q[k + 1, 0], q[k + 2, 1] - q[k + 1, 1])


@njit(cache=True)
def _frontal_loop(q):  # pragma: no cover - compiled
    """Turning and self-crossings of a 2-D polyline q (M, 2), M >= 3, in insertion order.

    Returns (total_turn, count, loop_turn): the total signed turning (rad) along q; the number of proper
    crossings between non-adjacent segments (touching or collinear overlaps are not crossings: strict orientation
    signs, so a crossing is unambiguous); and the turning of the closed loop of the first crossing pair (i < j,
    smallest i then j): the turns from segment i to j plus the turn from j back to i at the crossing (±2π for a
    simple loop), 0 without a crossing.
    """
    m = q.shape[0]
    total = 0.0
    for k in range(m - 2):
        total += _vertex_turn(q, k)
    count = 0
    first_i = -1
    first_j = -1
    for i in range(m - 1):
        for j in range(i + 2, m - 1):
            o1 = _orientation(q[i, 0], q[i, 1], q[i + 1, 0], q[i + 1, 1], q[j, 0], q[j, 1])
            o2 = _orientation(q[i, 0], q[i, 1], q[i + 1, 0], q[i + 1, 1], q[j + 1, 0], q[j + 1, 1])
            o3 = _orientation(q[j, 0], q[j, 1], q[j + 1, 0], q[j + 1, 1], q[i, 0], q[i, 1])
            o4 = _orientation(q[j, 0], q[j, 1], q[j + 1, 0], q[j + 1, 1], q[i + 1, 0], q[i + 1, 1])
            if o1 * o2 < 0.0 and o3 * o4 < 0.0:
                if count == 0:
                    first_i = i
                    first_j = j
                count += 1
    loop = 0.0
    if count > 0:
        for k in range(first_i, first_j):
            loop += _vertex_turn(q, k)
        i, j = first_i, first_j
        loop += _turn(q[j + 1, 0] - q[j, 0], q[j + 1, 1] - q[j, 1], q[i + 1, 0] - q[i, 0], q[i + 1, 1] - q[i, 1])
    return total, count, loop


@njit(cache=True)
def _n_loop_kernel(p, q_all, rectum_len, arc_chord_min, apex_min):  # pragma: no cover - compiled
    """N-loop test. p (M, 3): the in-body shaft in insertion order (anus first); q_all (M, 2): its frontal projection.

    The part tested starts `rectum_len` of (3-D) shaft above the anus (the rectosigmoid) and ends at the tip:
    arc / chord > `arc_chord_min` in the frontal projection and a vertex more than `apex_min` above the chord on
    its cranial side (the side its normal points up to); a (nearly) vertical chord has no cranial side, so there
    "above" means above its upper end.
    """
    n = p.shape[0]
    walked = 0.0
    start = -1
    u = 0.0
    for k in range(n - 1):
        seg = math.sqrt((p[k + 1, 0] - p[k, 0]) ** 2 + (p[k + 1, 1] - p[k, 1]) ** 2 + (p[k + 1, 2] - p[k, 2]) ** 2)
        if walked + seg > rectum_len and seg > 0.0:
            start = k
            u = (rectum_len - walked) / seg
            break
        walked += seg
    if start < 0:
        return False  # the tip is still in the rectum
    m = n - start
    if m < 3:
        return False
    q = np.empty((m, 2))
    q[0, 0] = q_all[start, 0] + u * (q_all[start + 1, 0] - q_all[start, 0])
    q[0, 1] = q_all[start, 1] + u * (q_all[start + 1, 1] - q_all[start, 1])
    for k in range(1, m):
        q[k, 0] = q_all[start + k, 0]
        q[k, 1] = q_all[start + k, 1]
    cx = q[m - 1, 0] - q[0, 0]
    cy = q[m - 1, 1] - q[0, 1]
    chord = math.sqrt(cx * cx + cy * cy)
    arc = 0.0
    for k in range(m - 1):
        arc += math.sqrt((q[k + 1, 0] - q[k, 0]) ** 2 + (q[k + 1, 1] - q[k, 1]) ** 2)
    if chord <= 0.0 or arc / chord <= arc_chord_min:
        return False
    ux = cx / chord
    uy = cy / chord
    best = -np.inf
    if abs(ux) > 1e-6:
        sign = 1.0 if ux > 0 else -1.0
        nx = -uy * sign
        ny = ux * sign
        for k in range(m):
            best = max(best, (q[k, 0] - q[0, 0]) * nx + (q[k, 1] - q[0, 1]) * ny)
    else:
        top = max(q[0, 1], q[m - 1, 1])
        for k in range(m):
            best = max(best, q[k, 1] - top)
    return best > apex_min


def _cut_from_tip(points_tip_first: np.ndarray, length_m: float) -> np.ndarray:
    """The first `length_m` of a polyline (M, 3) measured from its first point. Returns (M', 3)."""
    arc = polyline_arc_length(points_tip_first)
    if length_m >= arc[-1]:
        return points_tip_first
    k = int(np.searchsorted(arc, length_m, side="right"))  # first vertex past the cut
    u = (length_m - arc[k - 1]) / (arc[k] - arc[k - 1])
    cut = points_tip_first[k - 1] + u * (points_tip_first[k] - points_tip_first[k - 1])
    return np.vstack([points_tip_first[:k], cut])


def in_body_shaft(
    coils_m: np.ndarray,
    inserted_length_m: float,
    anal_verge_m: np.ndarray | None,
    hit: ShaftPoint | None = None,
) -> np.ndarray:
    """The part of one sample's coil polyline inside the body, tip first. coils_m: (K, 3). Returns (M, 3).

    With the anal verge known: cut where the verge meets the shaft, or extend straight to the verge when all
    coils are inside (the inserted-length rule, `samples.shaft_point_at_verge`). Else cut at the inserted length
    when it is known, else all coils (coils outside the body then take part: a limitation without anatomy).
    hit: the verge's precomputed `ShaftPoint` on this sample's finite coils (`shaft_points_at_verge`), if any."""
    pts = finite_coils(coils_m)
    if len(pts) < 2:
        return pts
    if anal_verge_m is not None:
        if hit is None:
            hit = shaft_point_at_verge(pts, anal_verge_m)
        if hit.beyond_last_coil:
            return np.vstack([pts, anal_verge_m])
        cut = pts[hit.segment] + hit.u * (pts[hit.segment + 1] - pts[hit.segment])
        return np.vstack([pts[: hit.segment + 1], cut])
    if math.isfinite(inserted_length_m):
        return _cut_from_tip(pts, inserted_length_m)
    return pts


# --- analysis ------------------------------------------------------------------------------------------------------


def _tip_at(samples: ScoreSamples, t: float) -> np.ndarray:
    return np.array([interpolate_finite(np.array([t]), samples.t_s, samples.tip_m[:, a])[0] for a in range(3)])


def analyse_loops(samples: ScoreSamples, s_m: np.ndarray, config: LoopConfig | None = None) -> LoopAnalysis:
    """Loop state per sample and loop episodes. s_m: (N,) progress along the reference path (`progress_along`)."""
    config = config or LoopConfig()
    n = samples.n_samples
    t = samples.t_s
    ell = samples.inserted_length_m
    s = np.asarray(s_m, dtype=float)
    with np.errstate(invalid="ignore"):
        excess = ell - s
        ratio = ell / np.maximum(s, config.ratio_min_progress_m)
        flag = np.nan_to_num(excess, nan=-np.inf) > config.excess_threshold_m

    t_cecum = samples.cecum_time_s()
    # CCD rule: flexure lines count only before the first Cecum, and the last such line wins.
    left_times = [x for x in samples.event_times(EventLabel.FLEXURE_LEFT) if t_cecum is None or x <= t_cecum]
    right_times = [x for x in samples.event_times(EventLabel.FLEXURE_RIGHT) if t_cecum is None or x <= t_cecum]
    t_left = left_times[-1] if left_times else None
    t_right = right_times[-1] if right_times else None
    s_left = float(interpolate_finite(np.array([t_left]), t, s)[0]) if t_left is not None else None
    marker_up = []
    for tm in (t_left, t_right):
        if tm is not None:
            p = _tip_at(samples, tm)
            marker_up.append(config.frontal_signs[1] * p[config.frontal_axes[1]])
    ax = list(config.frontal_axes)
    signs = np.asarray(config.frontal_signs, dtype=float)

    crossings = np.zeros(n, dtype=np.int64)
    turning = np.full(n, np.nan)
    shape = [SHAPE_NONE] * n
    hand: list[str | None] = [None] * n
    near_closed = math.radians(config.near_closed_turning_deg)
    verge = samples.anal_verge_m
    hits = None if verge is None else shaft_points_at_verge(samples.coils_m, verge)  # one vectorised pass
    for i in range(n):
        hit = None
        if hits is not None:
            if hits.segment[i] < 0:
                continue  # no tip reading
            hit = ShaftPoint(hits.arc_from_tip_m[i], int(hits.segment[i]), hits.u[i], bool(hits.beyond_last_coil[i]))
        shaft = in_body_shaft(samples.coils_m[i], ell[i], verge, hit)
        if len(shaft) < 3:
            continue
        q = np.ascontiguousarray(shaft[::-1][:, ax] * signs)  # insertion order: anus -> tip
        total, count, loop_turn = _frontal_loop(q)
        turning[i] = math.degrees(total)
        crossings[i] = count
        if t_left is not None:
            sigmoid_phase = t[i] < t_left
        elif config.left_flexure_s_m is not None and math.isfinite(s[i]):
            sigmoid_phase = s[i] < config.left_flexure_s_m
        else:
            sigmoid_phase = True  # no flexure information: the sigmoid is where loops mostly form
        if count >= 1:
            shape[i] = SHAPE_ALPHA if sigmoid_phase else SHAPE_CROSSING
            hand[i] = "counterclockwise" if loop_turn > 0 else "clockwise"
        elif abs(total) >= near_closed - 1e-9:
            shape[i] = SHAPE_NEAR_CLOSED
            hand[i] = "counterclockwise" if total > 0 else "clockwise"
        elif sigmoid_phase:
            p3 = np.ascontiguousarray(shaft[::-1])
            if _n_loop_kernel(p3, q, config.rectum_length_m, config.n_loop_arc_chord_min, config.n_loop_apex_min_m):
                shape[i] = SHAPE_N
        elif t_left is not None and s_left is not None and marker_up and math.isfinite(s[i]) and s[i] > s_left:
            part = _cut_from_tip(shaft, s[i] - s_left)
            lowest = float(np.min(part[:, ax[1]] * signs[1]))
            if min(marker_up) - lowest > config.transverse_sag_m:
                shape[i] = SHAPE_TRANSVERSE

    looped = flag | np.array([x != SHAPE_NONE for x in shape])
    analysis = LoopAnalysis(
        t_s=t, excess_m=excess, excess_ratio=ratio, excess_flag=flag, crossings=crossings, turning_deg=turning,
        shape=shape, handedness=hand, looped=looped,
    )
    analysis.episodes = _episodes(analysis)
    analysis.straightening_attempts = _straightening_attempts(t, ell, s, looped, config)
    for episode in analysis.episodes:
        episode.straightened = any(
            a.start_s <= episode.end_s <= a.end_s + config.straighten_end_tolerance_s
            for a in analysis.straightening_attempts
        )
    analysis.paradoxical = paradoxical_motion(t, ell, s, config)
    return analysis


def _episodes(a: LoopAnalysis) -> list[LoopEpisode]:
    episodes = []
    n = a.t_s.size
    i = 0
    while i < n:
        if not a.looped[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and a.looped[j + 1]:
            j += 1
        end = a.t_s[j + 1] if j + 1 < n else a.t_s[j]
        shapes = Counter(x for x in a.shape[i : j + 1] if x != SHAPE_NONE)
        hands = Counter(h for h in a.handedness[i : j + 1] if h is not None)
        excess = a.excess_m[i : j + 1]
        episodes.append(
            LoopEpisode(
                start_s=float(a.t_s[i]),
                end_s=float(end),
                loop_type=shapes.most_common(1)[0][0] if shapes else TYPE_EXCESS,
                handedness=hands.most_common(1)[0][0] if hands else None,
                max_excess_m=optional_float(np.nanmax(excess)) if np.isfinite(excess).any() else None,
            )
        )
        i = j + 1
    return episodes


def _straightening_attempts(t, ell, s, looped, config: LoopConfig) -> list[StraighteningAttempt]:
    ok = np.flatnonzero(np.isfinite(ell) & np.isfinite(s))
    attempts = []
    for swing in zigzag_swings(ell[ok], config.straighten_reversal_m):
        i0, i1 = ok[swing.start], ok[swing.end]
        s_change = float(s[i1] - s[i0])
        if -swing.change >= config.straighten_pull_m and abs(s_change) < config.straighten_s_tolerance_m:
            if looped[i0:i1 + 1].any():
                attempts.append(StraighteningAttempt(float(t[i0]), float(t[i1]), -swing.change, s_change))
    return attempts


def paradoxical_motion(t_s, ell_m, s_m, config: LoopConfig | None = None) -> list[ParadoxicalInterval]:
    """Intervals where the shaft was pushed in (Δℓ > `paradox_min_push_m` per increment) while the tip did not
    progress (Δs <= 0), on the increment grid of `config.increment_step_s`. t_s, ell_m, s_m: (N,)."""
    config = config or LoopConfig()
    if not np.isfinite(ell_m).any() or not np.isfinite(s_m).any():
        return []
    grid = increment_grid(float(t_s[0]), float(t_s[-1]), config.increment_step_s, t_s)
    ell_g = interpolate_finite(grid, t_s, ell_m)
    s_g = interpolate_finite(grid, t_s, s_m)
    push = np.diff(ell_g)
    bad = (push > config.paradox_min_push_m) & (np.diff(s_g) <= 0)
    intervals = []
    k = 0
    while k < bad.size:
        if not bad[k]:
            k += 1
            continue
        m = k
        while m + 1 < bad.size and bad[m + 1]:
            m += 1
        intervals.append(
            ParadoxicalInterval(
                float(grid[k]), float(grid[m + 1]), float(ell_g[m + 1] - ell_g[k]), float(s_g[m + 1] - s_g[k])
            )
        )
        k = m + 1
    return intervals
