"""The one stream of samples every score is computed from (DESIGN.md, "Scoring").

A live session, a replay and a recorded case with no anatomy all become a `ScoreSamples`: times, tip positions,
coil positions (coil 0 = tip), inserted length (NaN when unknown) and events ``(t_s, label)`` with the
coordinate log's labels (``Cecum``, ``Fleksur L``, ...). SI units throughout (m, s).

Inserted length of a recording (reference/metrics.md §1.2, §3.5: "shaft arc length from the coil nearest the anal
verge to the tip") is `inserted_length_from_coils`. It uses the continuous form of that rule: the anal verge is
projected onto the coil polyline (not snapped to the nearest coil, which would quantise the length to the coil
spacing, several cm, and make chase efficiency meaningless), and the length is the shaft arc length from the tip
to that point. Approximations, all documented where they are made:

- Coils outside the body (proximal to the verge) are simply not counted: the length stops at the verge point.
- When every coil is inside the body (the verge lies beyond the most proximal coil), the shaft is assumed to run
  straight from the last coil to the verge: length = arc length to the last coil + distance last coil -> verge.
  This is a lower bound (a curved shaft there would be longer).
- The projection is accepted only when the verge lies near the coil polyline (within `VERGE_NEAR_SHAFT_M`): the
  shaft passes through the verge, so a nearest point farther away than a few cm is not where the shaft leaves the
  body but a part of a deeply inserted shaft that happens to lie nearest (12 coils 0.1 m apart span 1.11 m, so
  deep in an insertion the most proximal coil is still inside and the nearest polyline point can be anywhere on a
  looped shaft). Such a sample falls back to the "all coils inside" rule. The one exception is the tip end (the
  verge projecting before the tip): that is a tip outside the body, length 0, however far out it is.
- A tip outside the body gives 0 (the verge projects onto the tip end).
- The anal verge of a recording is not in the files. `samples_from_log` takes it as an argument (a replay
  registration knows it) and otherwise uses the tip position at ``Endoscopy started`` (else the first sample with a
  tip reading): a recording starts with the tip at the anus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from sim.logs.coordinate_log import CoordinateLog, EventLabel


#: Farthest the anal verge may lie from the coil polyline for its projection to count as where the shaft crosses
#: the verge (m): a lumen diameter and a half, more than the coils' reading noise and the shaft's sag between coils.
VERGE_NEAR_SHAFT_M = 0.04

#: Optional per-sample force magnitudes of `ScoreSamples` (N), used by the safety scores.
FORCE_FIELDS = ("tip_force_N", "shaft_force_N", "tether_force_N", "handle_force_N")


@dataclass
class ScoreSamples:
    """Samples of one procedure, in one frame, SI units.

    Attributes:
        t_s: (N,) sample times in s, strictly increasing.
        tip_m: (N, 3) tip (camera) positions in m; NaN rows = no reading.
        coils_m: (N, K, 3) shaft coil positions in m ordered tip -> proximal (coil 0 = tip); NaN = no reading.
        inserted_length_m: (N,) inserted shaft length in m; NaN where unknown (None -> all NaN).
        events: (t_s, label) pairs sorted by time (stable), labels as in the coordinate log.
        anal_verge_m: (3,) anal verge position in m, None if unknown.
        tip_force_N, shaft_force_N, tether_force_N, handle_force_N: optional (N,) force magnitudes in N for the
            safety scores (a simulated procedure has them, a recording does not; None = not measured): the wall
            force on the tip segment, the largest wall force on any shaft segment, the largest mesentery tether
            force, and the axial force at the handle (+ pushing in).
    """

    t_s: np.ndarray
    tip_m: np.ndarray
    coils_m: np.ndarray
    inserted_length_m: np.ndarray | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    anal_verge_m: np.ndarray | None = None
    tip_force_N: np.ndarray | None = None
    shaft_force_N: np.ndarray | None = None
    tether_force_N: np.ndarray | None = None
    handle_force_N: np.ndarray | None = None

    def __post_init__(self):
        self.t_s = np.asarray(self.t_s, dtype=float)
        n = self.t_s.size
        if self.t_s.ndim != 1 or n == 0:
            raise ValueError(f"t_s must have shape (N,) with N >= 1, got {self.t_s.shape}")
        if not np.all(np.isfinite(self.t_s)) or np.any(np.diff(self.t_s) <= 0):
            raise ValueError("t_s must be finite and strictly increasing")
        self.tip_m = np.asarray(self.tip_m, dtype=float)
        if self.tip_m.shape != (n, 3):
            raise ValueError(f"tip_m must have shape ({n}, 3), got {self.tip_m.shape}")
        self.coils_m = np.asarray(self.coils_m, dtype=float)
        if self.coils_m.ndim != 3 or self.coils_m.shape[0] != n or self.coils_m.shape[2] != 3:
            raise ValueError(f"coils_m must have shape ({n}, K, 3), got {self.coils_m.shape}")
        if self.inserted_length_m is None:
            self.inserted_length_m = np.full(n, np.nan)
        self.inserted_length_m = np.asarray(self.inserted_length_m, dtype=float)
        if self.inserted_length_m.shape != (n,):
            raise ValueError(f"inserted_length_m must have shape ({n},), got {self.inserted_length_m.shape}")
        if self.anal_verge_m is not None:
            self.anal_verge_m = np.asarray(self.anal_verge_m, dtype=float).reshape(3)
        self.events = sorted(((float(t), str(label)) for t, label in self.events), key=lambda e: e[0])
        for name in FORCE_FIELDS:
            values = getattr(self, name)
            if values is not None:
                values = np.asarray(values, dtype=float)
                if values.shape != (n,):
                    raise ValueError(f"{name} must have shape ({n},), got {values.shape}")
                setattr(self, name, values)

    @property
    def n_samples(self) -> int:
        return int(self.t_s.size)

    @property
    def n_coils(self) -> int:
        return int(self.coils_m.shape[1])

    def event_times(self, label: str) -> list[float]:
        """Times (s) of the events named exactly `label`, in time order."""
        return [t for t, name in self.events if name == label]

    def first_event_time(self, label: str) -> float | None:
        times = self.event_times(label)
        return times[0] if times else None

    def start_time_s(self) -> float:
        """``Endoscopy started`` if logged (metrics.md §5.2: CIT counts from it), else the first sample."""
        start = self.first_event_time(EventLabel.ENDOSCOPY_STARTED)
        return float(self.t_s[0]) if start is None else start

    def cecum_time_s(self) -> float | None:
        """The first ``Cecum`` event (the CCD code uses only the first)."""
        return self.first_event_time(EventLabel.CECUM)

    def end_time_s(self) -> float:
        """The last ``Endoscopy ended`` / ``Recording ended`` event (the last one wins), else the last sample."""
        ends = [t for t, name in self.events if name in (EventLabel.ENDOSCOPY_ENDED, EventLabel.RECORDING_ENDED)]
        return ends[-1] if ends else float(self.t_s[-1])

    def to_dict(self) -> dict:
        """JSON-serialisable copy (NaN -> None)."""
        return {
            "t_s": self.t_s.tolist(),
            "tip_m": nan_to_none(self.tip_m),
            "coils_m": nan_to_none(self.coils_m),
            "inserted_length_m": nan_to_none(self.inserted_length_m),
            "events": [[t, label] for t, label in self.events],
            "anal_verge_m": None if self.anal_verge_m is None else self.anal_verge_m.tolist(),
            **{name: nan_to_none(getattr(self, name)) for name in FORCE_FIELDS},
        }


def nan_to_none(values) -> object:
    """Nested lists from an array (or a float), NaN replaced by None so that `json.dumps` writes valid JSON."""
    if values is None:
        return None
    if isinstance(values, float | int | np.floating | np.integer):
        value = float(values)
        return None if math.isnan(value) else value
    array = np.asarray(values, dtype=float)
    return np.where(np.isnan(array), None, array).tolist()


def optional_float(value) -> float | None:
    """float(value), or None for None / NaN (results keep "unknown" as None, never NaN, so JSON stays valid)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# --- shaft geometry ------------------------------------------------------------------------------------------------


def polyline_arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length of a polyline. points: (M, D). Returns (M,) starting at 0."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate(([0.0], np.cumsum(seg)))


@dataclass(frozen=True)
class ShaftPoint:
    """Where the anal verge meets a coil polyline ordered tip -> proximal.

    arc_from_tip_m: shaft arc length from the tip to the verge point (the inserted length).
    segment: index of the polyline segment holding the point; u in [0, 1] along it.
    beyond_last_coil: the verge lies past the most proximal coil (all coils in the body); the point is then that
        coil and `arc_from_tip_m` includes the straight gap from it to the verge.
    """

    arc_from_tip_m: float
    segment: int
    u: float
    beyond_last_coil: bool


def shaft_point_at_verge(points_tip_first: np.ndarray, anal_verge_m: np.ndarray) -> ShaftPoint:
    """Project the anal verge onto a coil polyline (tip first) as the CCD rule needs (see the module doc).

    points_tip_first: (M, 3) finite coil positions, tip first, M >= 1; anal_verge_m: (3,).
    """
    pts = np.ascontiguousarray(np.asarray(points_tip_first, dtype=float).reshape(-1, 3))
    verge = np.ascontiguousarray(np.asarray(anal_verge_m, dtype=float).reshape(3))
    arc, segment, u, beyond, _ = verge_crossing(pts, verge, VERGE_NEAR_SHAFT_M, np.empty(len(pts), dtype=np.int64))
    return ShaftPoint(float(arc), int(segment), float(u), bool(beyond))


@njit(cache=True)
def distance_3d(a, b):  # pragma: no cover - compiled
    """Distance between points a and b (3,)."""
    return math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2)


@njit(cache=True)
def verge_crossing(coils, verge, near_m, finite):  # pragma: no cover - compiled
    """`shaft_point_at_verge` for one sample: coils (K, 3) tip first, NaN = no reading (skipped: its neighbours are
    joined directly); verge (3,); near_m: VERGE_NEAR_SHAFT_M; finite (K,) int64 scratch, filled with the indices of
    the coils that have a reading. Returns (arc_from_tip_m, segment, u, beyond_last_coil, m) with segment indexing
    the m finite coils; (NaN, -1, NaN, False, m) when the tip has no reading."""
    m = 0
    for k in range(coils.shape[0]):
        if np.isfinite(coils[k, 0]) and np.isfinite(coils[k, 1]) and np.isfinite(coils[k, 2]):
            finite[m] = k
            m += 1
    if m == 0 or finite[0] != 0:
        return np.nan, -1, np.nan, False, m
    gap = distance_3d(verge, coils[finite[m - 1]])
    if m == 1:
        # One coil: only the straight distance is known (a lower bound, as for the gap past the last coil).
        return gap, 0, 1.0, True, m
    best_k, best_u, best_d2, best_arc, arc = 0, 0.0, np.inf, 0.0, 0.0
    for j in range(m - 1):
        a = coils[finite[j]]
        b = coils[finite[j + 1]]
        d0, d1, d2 = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        len2 = d0 * d0 + d1 * d1 + d2 * d2
        u = 0.0
        if len2 > 0:
            u = min(max(((verge[0] - a[0]) * d0 + (verge[1] - a[1]) * d1 + (verge[2] - a[2]) * d2) / len2, 0.0), 1.0)
        e0, e1, e2 = a[0] + u * d0 - verge[0], a[1] + u * d1 - verge[1], a[2] + u * d2 - verge[2]
        dist2 = e0 * e0 + e1 * e1 + e2 * e2
        seg_len = math.sqrt(len2)
        if dist2 < best_d2:
            best_k, best_u, best_d2, best_arc = j, u, dist2, arc + u * seg_len
        arc += seg_len
    tip_outside = best_k == 0 and best_u <= 0.0
    if (best_k == m - 2 and best_u >= 1.0) or (best_d2 > near_m * near_m and not tip_outside):
        # Past the last coil, or a nearest point too far from the verge to be the crossing (module doc).
        return arc + gap, m - 2, 1.0, True, m
    return best_arc, best_k, best_u, False, m


@njit(cache=True)
def _verge_crossings(coils, verge, near_m, arc_out, seg_out, u_out, beyond_out):  # pragma: no cover - compiled
    finite = np.empty(coils.shape[1], dtype=np.int64)
    for i in range(coils.shape[0]):
        arc_out[i], seg_out[i], u_out[i], beyond_out[i], _ = verge_crossing(coils[i], verge, near_m, finite)


def finite_coils(coils_m: np.ndarray) -> np.ndarray:
    """The coils of one sample that have a reading. coils_m: (K, 3). Returns (M, 3), M <= K, order kept."""
    return coils_m[np.all(np.isfinite(coils_m), axis=1)]


@dataclass(frozen=True)
class ShaftPoints:
    """`ShaftPoint` for many samples at once: arrays of shape (N,); NaN / -1 where a sample has no tip reading."""

    arc_from_tip_m: np.ndarray
    segment: np.ndarray
    u: np.ndarray
    beyond_last_coil: np.ndarray


def shaft_points_at_verge(coils_m: np.ndarray, anal_verge_m: np.ndarray) -> ShaftPoints:
    """`shaft_point_at_verge` for every sample. coils_m: (N, K, 3) tip first; anal_verge_m: (3,).

    A coil without a reading is skipped (its neighbours are joined directly), so segment indices refer to the
    sample's finite coils."""
    coils = np.ascontiguousarray(np.asarray(coils_m, dtype=float))
    verge = np.ascontiguousarray(np.asarray(anal_verge_m, dtype=float).reshape(3))
    n = coils.shape[0]
    out = ShaftPoints(np.empty(n), np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.bool_))
    _verge_crossings(coils, verge, VERGE_NEAR_SHAFT_M, out.arc_from_tip_m, out.segment, out.u, out.beyond_last_coil)
    return out


def inserted_length_from_coils(coils_m: np.ndarray, anal_verge_m: np.ndarray) -> np.ndarray:
    """Inserted length by the CCD rule (module doc). coils_m: (N, K, 3) tip first; anal_verge_m: (3,).

    Returns (N,) in m; NaN for a sample with no tip reading.
    """
    return shaft_points_at_verge(coils_m, anal_verge_m).arc_from_tip_m


def estimate_anal_verge(t_s: np.ndarray, tip_m: np.ndarray, events: list[tuple[float, str]]) -> np.ndarray | None:
    """Anal verge of a recording without anatomy: the tip at ``Endoscopy started`` (nearest sample with a tip
    reading at or after it), else the first tip reading. Returns (3,) or None if no sample has a tip."""
    has_tip = np.all(np.isfinite(tip_m), axis=1)
    if not has_tip.any():
        return None
    start = next((t for t, label in events if label == EventLabel.ENDOSCOPY_STARTED), None)
    candidates = np.flatnonzero(has_tip & (t_s >= (start if start is not None else -math.inf) - 1e-9))
    index = candidates[0] if candidates.size else np.flatnonzero(has_tip)[0]
    return tip_m[index].copy()


def samples_from_log(log: CoordinateLog, anal_verge_m: np.ndarray | None = None) -> ScoreSamples:
    """Score samples from a recorded procedure (CCD layout), in the recording's own frame.

    anal_verge_m: (3,) anal verge in the log's frame (m); None -> `estimate_anal_verge`. The inserted length comes
    from the CCD rule (`inserted_length_from_coils`).
    """
    events = [(event.t_s, event.label) for event in log.events]
    verge = estimate_anal_verge(log.t_s, log.tip_m, events) if anal_verge_m is None else np.asarray(anal_verge_m)
    inserted = np.full(log.n_samples, np.nan) if verge is None else inserted_length_from_coils(log.coils_m, verge)
    return ScoreSamples(
        t_s=log.t_s, tip_m=log.tip_m, coils_m=log.coils_m, inserted_length_m=inserted, events=events,
        anal_verge_m=verge,
    )


# --- signal helpers shared by the scores ----------------------------------------------------------------------------


def interpolate_finite(t_query_s: np.ndarray, t_s: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of `values` (N,) at `t_query_s` (Q,) through its finite samples only (NaN gaps are
    bridged). Returns (Q,); all NaN if fewer than one finite sample."""
    ok = np.isfinite(values)
    if not ok.any():
        return np.full(np.shape(t_query_s), np.nan)
    return np.interp(t_query_s, t_s[ok], values[ok])


def increment_grid(t0_s: float, t1_s: float, step_s: float | None, t_s: np.ndarray) -> np.ndarray:
    """Times at which increments (Δs, Δℓ) are taken over [t0_s, t1_s]: every `step_s` plus the end, or the samples
    inside the interval (plus both ends) when `step_s` is None. A fixed step makes thresholds such as "|Δs| < 1 mm"
    independent of the recording's sampling rate. Returns (G,) increasing."""
    if t1_s <= t0_s:
        return np.array([t0_s])
    if step_s is None:
        inside = t_s[(t_s > t0_s) & (t_s < t1_s)]
        return np.concatenate(([t0_s], inside, [t1_s]))
    grid = np.arange(t0_s, t1_s, step_s)
    if t1_s - grid[-1] > 1e-9:
        grid = np.append(grid, t1_s)
    return grid


@dataclass(frozen=True)
class Swing:
    """One monotone run of a signal between two turning points (indices into the signal), `change` = end - start."""

    start: int
    end: int
    change: float


def zigzag_swings(values: np.ndarray, reversal: float) -> list[Swing]:
    """Split a signal into alternating up/down swings, ignoring reversals of `reversal` or less (hysteresis).

    values: (N,) finite. A swing ends at a turning point once the signal has come back from it by more than
    `reversal`; the last swing (still running at the end) is kept if its change exceeds `reversal`.
    """
    x = np.asarray(values, dtype=float)
    swings: list[Swing] = []
    if x.size < 2:
        return swings
    direction = 0
    pivot = 0
    hi = lo = 0  # extremes seen while the direction is still unknown
    ext = 0
    for i in range(1, x.size):
        if direction == 0:
            if x[i] > x[hi]:
                hi = i
            if x[i] < x[lo]:
                lo = i
            if x[i] - x[lo] > reversal:
                direction, pivot, ext = 1, lo, i
            elif x[hi] - x[i] > reversal:
                direction, pivot, ext = -1, hi, i
        elif direction > 0:
            if x[i] >= x[ext]:
                ext = i
            elif x[ext] - x[i] > reversal:
                swings.append(Swing(pivot, ext, float(x[ext] - x[pivot])))
                direction, pivot, ext = -1, ext, i
        else:
            if x[i] <= x[ext]:
                ext = i
            elif x[i] - x[ext] > reversal:
                swings.append(Swing(pivot, ext, float(x[ext] - x[pivot])))
                direction, pivot, ext = 1, ext, i
    if direction != 0 and abs(x[ext] - x[pivot]) > reversal:
        swings.append(Swing(pivot, ext, float(x[ext] - x[pivot])))
    return swings
