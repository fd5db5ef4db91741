"""The reference colon path (anal verge -> cecum) and the tip's progress `s` along it (reference/metrics.md §1.2).

Sources, in order of preference:
1. the simulator's colon centreline, given as an (N, 3) polyline from the anal verge to the cecal pole;
2. for a recording without anatomy: the scope shape at cecal intubation reversed, `R = reverse(coils(t_c))` (the
   shaft then lies in the lumen from anus to cecum), cut at the anal verge and resampled every 5 mm;
3. fallback (one coil only, or no usable shape at t_c): the smoothed tip path during withdrawal (cecum -> end),
   reversed, resampled every 5 mm. A withdrawal path retraces itself where the tip went back and forth, so its
   length overestimates the colon's; it is the last resort the spec names, not a good reference.

Progress (`progress_along`, `samples_progress`): the arc length of the tip's projection on the path, searched in a
window so that it cannot jump between limbs of the colon that touch (sigmoid loops, flexures):

- Tip only (metrics.md §1.2): within ±40 mm of the previous sample's progress. Its weakness is memory: once the
  tip passes close to another limb while the colon is displaced from the path (the path is the rest centreline,
  the colon moves), the window follows that limb and keeps to it. Measured on the autopilot's withdrawal (seed 0,
  tests/test_expert_vs_poor.py): s climbed from 0.40 to 0.52 m down the sigmoid's far limb, its tip 3-10 mm from
  that limb's rest centreline, while the shaft came out from 0.36 to 0.03 m. The shaft walk puts it at 0.40 m
  falling to 0.03 m, never more than 0.055 m ahead of the inserted length (seeds 0 and 1).
- Shaft walk (when the samples have coils and an anal verge): each sample starts afresh at the verge (s = 0)
  and walks the shaft's in-body coils to the tip, each point searched from `SHAFT_BACK_SLACK_M` behind the one
  before it to that one's s plus the shaft length between them plus `SHAFT_FORWARD_SLACK_M`. The shaft lies in
  the lumen, so its progress grows toward the tip by at most about its own length; the tip is then where the
  shaft leads, with no memory to go wrong. It is the scoring counterpart of the contact's shaft continuity
  (physics/contact.py). When every coil is inside, the first step (verge to last coil) is the inserted length
  minus the coils' span (the simulator's exact shaft), else the straight gap (the CCD rule's lower bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.ndimage import gaussian_filter1d

from sim.scoring.samples import (
    VERGE_NEAR_SHAFT_M,
    ScoreSamples,
    distance_3d,
    finite_coils,
    polyline_arc_length,
    shaft_point_at_verge,
    verge_crossing,
)

#: Resampling step of reference paths built from recordings (metrics.md §1.2).
RESAMPLE_SPACING_M = 0.005
#: Half-width of the progress search window (metrics.md §1.2).
PROJECTION_WINDOW_M = 0.040
#: Shaft walk (module doc): how far (m) a point of the shaft may project behind the point before it toward the
#: anus. The shaft lies in the lumen, so s grows toward the tip; this allows for the colon's displacement from the
#: rest path the projection is made on.
SHAFT_BACK_SLACK_M = 0.030
#: Shaft walk: how much further along the colon (m) than the shaft's length between two points the next may
#: project: the shaft cuts the inside of bends, so the path between two of its points is longer than the shaft.
SHAFT_FORWARD_SLACK_M = 0.040
#: Gaussian smoothing (s) of the withdrawal tip path used as the fallback reference.
WITHDRAWAL_SMOOTHING_S = 2.0


@dataclass
class ReferencePath:
    """A polyline from the anal verge (s = 0) to the cecum (s = L).

    points_m: (M, 3), M >= 2; s_m: (M,) cumulative arc length (computed); source: where it came from
    ("centreline", "scope_shape_at_cecum", "withdrawal_tip_path").
    """

    points_m: np.ndarray
    source: str

    def __post_init__(self):
        pts = np.asarray(self.points_m, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2 or not np.all(np.isfinite(pts)):
            raise ValueError(f"a reference path needs (M>=2, 3) finite points, got shape {pts.shape}")
        # Repeated points would make zero-length segments; they carry no direction.
        keep = np.concatenate(([True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-12))
        self.points_m = pts[keep]
        if len(self.points_m) < 2:
            raise ValueError("a reference path needs two distinct points")
        self.s_m = polyline_arc_length(self.points_m)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def to_dict(self, include_points: bool = False) -> dict:
        out = {"source": self.source, "length_m": self.length_m, "n_points": int(len(self.points_m))}
        if include_points:
            out["points_m"] = self.points_m.tolist()
        return out


def resample_polyline(points_m: np.ndarray, spacing_m: float = RESAMPLE_SPACING_M) -> np.ndarray:
    """Linear resampling at (at most) `spacing_m`, ends kept. points_m: (M, 3). Returns (R, 3).

    Linear, not a spline: the length of a path made of coil positions stays what the coils say (a spline through
    a few coils 10 cm apart would invent curvature)."""
    pts = np.asarray(points_m, dtype=float)
    s = polyline_arc_length(pts)
    keep = np.concatenate(([True], np.diff(s) > 1e-12))
    pts, s = pts[keep], s[keep]
    if len(pts) < 2:
        return pts
    n = max(2, int(math.ceil(s[-1] / spacing_m - 1e-9)) + 1)
    query = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(query, s, pts[:, axis]) for axis in range(3)], axis=1)


def reference_from_centreline(centreline_m: np.ndarray) -> ReferencePath:
    """The simulator's centreline (N, 3), anal verge first, used as given (it is already finely sampled)."""
    return ReferencePath(np.asarray(centreline_m, dtype=float), "centreline")


def reference_from_scope_shape(
    coils_m: np.ndarray, anal_verge_m: np.ndarray | None = None, spacing_m: float = RESAMPLE_SPACING_M
) -> ReferencePath:
    """Reversed scope shape at cecal intubation. coils_m: (K, 3) tip first (NaN coils dropped).

    With `anal_verge_m` (3,), the path starts at the verge: the coils outside the body are cut off at the point
    where the verge meets the shaft, or, if every coil is inside, a straight piece from the verge to the last coil
    is added (the same approximations as the inserted length, so that s(t_c) = L = inserted length at t_c).
    """
    pts = finite_coils(np.asarray(coils_m, dtype=float))
    if len(pts) < 2:
        raise ValueError("the scope shape at the cecum needs at least two coils with a reading")
    if anal_verge_m is not None:
        verge = np.asarray(anal_verge_m, dtype=float)
        hit = shaft_point_at_verge(pts, verge)
        if hit.beyond_last_coil:
            pts = np.vstack([pts, verge])
        else:
            cut = pts[hit.segment] + hit.u * (pts[hit.segment + 1] - pts[hit.segment])
            pts = np.vstack([pts[: hit.segment + 1], cut])
    return ReferencePath(resample_polyline(pts[::-1], spacing_m), "scope_shape_at_cecum")


def reference_from_withdrawal(
    t_s: np.ndarray,
    tip_m: np.ndarray,
    cecum_time_s: float,
    end_time_s: float | None = None,
    smoothing_s: float = WITHDRAWAL_SMOOTHING_S,
    spacing_m: float = RESAMPLE_SPACING_M,
) -> ReferencePath:
    """Smoothed tip path from the cecum to the end, reversed (anus first). t_s: (N,), tip_m: (N, 3)."""
    end = t_s[-1] if end_time_s is None else end_time_s
    mask = (t_s >= cecum_time_s - 1e-9) & (t_s <= end + 1e-9) & np.all(np.isfinite(tip_m), axis=1)
    if mask.sum() < 2:
        raise ValueError("fewer than two tip readings during the withdrawal: no fallback reference path")
    path = tip_m[mask]
    dt = float(np.median(np.diff(t_s[mask])))
    sigma = smoothing_s / dt if dt > 0 else 0.0
    if sigma > 0:
        path = _smooth_keeping_ends(path, sigma)
    return ReferencePath(resample_polyline(path[::-1], spacing_m), "withdrawal_tip_path")


def _smooth_keeping_ends(path: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing along a path (M, 3) that keeps its ends where they are.

    The path is extended at each end by its point reflection through the end point (2 x_0 - x_k), so a straight
    stretch stays straight and the first point stays at the cecum; plain "nearest" padding would pull both ends
    inwards by about a sigma's worth of travel."""
    pad = min(len(path) - 1, int(math.ceil(4 * sigma_samples)))
    if pad < 1:
        return path
    head = 2 * path[0] - path[pad:0:-1]
    tail = 2 * path[-1] - path[-2 : -pad - 2 : -1]
    smoothed = gaussian_filter1d(np.vstack([head, path, tail]), sigma_samples, axis=0, mode="nearest")
    return smoothed[pad : pad + len(path)]


def build_reference_path(
    samples: ScoreSamples, centreline_m: np.ndarray | None = None, cecum_time_s: float | None = None
) -> ReferencePath:
    """The reference path for `samples`: the centreline if given, else the scope shape at the cecum, else the
    withdrawal tip path (module doc). cecum_time_s defaults to the first ``Cecum`` event. Raises ValueError when
    there is neither a centreline nor a cecum time."""
    if centreline_m is not None:
        return reference_from_centreline(centreline_m)
    t_c = samples.cecum_time_s() if cecum_time_s is None else cecum_time_s
    if t_c is None:
        raise ValueError("no centreline and no cecum time: a recording needs a 'Cecum' event for its reference path")
    index = int(np.argmin(np.abs(samples.t_s - t_c)))
    if len(finite_coils(samples.coils_m[index])) >= 2:
        return reference_from_scope_shape(samples.coils_m[index], samples.anal_verge_m)
    return reference_from_withdrawal(samples.t_s, samples.tip_m, t_c, samples.end_time_s())


@njit(cache=True)
def _nearest_in_window(points, s_nodes, x, lo_s, hi_s):  # pragma: no cover - compiled
    """s of the point of the polyline (points (M, 3), arc lengths s_nodes (M,)) nearest to x (3,) among those with
    lo_s <= s <= hi_s (infinite bounds allowed). NaN if the window holds no part of the polyline."""
    m = points.shape[0]
    k0 = max(np.searchsorted(s_nodes, lo_s, side="right") - 1, 0)
    k1 = min(np.searchsorted(s_nodes, hi_s, side="left"), m - 1)
    best_d2 = np.inf
    best_s = np.nan
    for k in range(k0, k1):
        seg = s_nodes[k + 1] - s_nodes[k]
        d0 = points[k + 1, 0] - points[k, 0]
        d1 = points[k + 1, 1] - points[k, 1]
        d2 = points[k + 1, 2] - points[k, 2]
        u = ((x[0] - points[k, 0]) * d0 + (x[1] - points[k, 1]) * d1 + (x[2] - points[k, 2]) * d2) / (seg * seg)
        # Only the part of the segment inside the window may be chosen.
        u = min(max(u, max(0.0, (lo_s - s_nodes[k]) / seg)), min(1.0, (hi_s - s_nodes[k]) / seg))
        e0 = points[k, 0] + u * d0 - x[0]
        e1 = points[k, 1] + u * d1 - x[1]
        e2 = points[k, 2] + u * d2 - x[2]
        dist2 = e0 * e0 + e1 * e1 + e2 * e2
        if dist2 < best_d2:
            best_d2 = dist2
            best_s = s_nodes[k] + u * seg
    return best_s


@njit(cache=True)
def _progress(points, s_nodes, tips, coils, verge, near_m, inserted, window, back, forward,
              s_start):  # pragma: no cover - compiled
    """`progress_along`'s loop. tips (N, 3); coils (N, K, 3) tip first, NaN = no reading (K = 0: no shaft walk);
    verge (3,) (NaN: no shaft walk); near_m: VERGE_NEAR_SHAFT_M; inserted (N,) m, NaN if unknown."""
    n = tips.shape[0]
    out = np.full(n, np.nan)
    s_prev = s_start
    finite = np.empty(coils.shape[1], dtype=np.int64)
    walk = coils.shape[1] >= 2 and np.isfinite(verge[0]) and np.isfinite(verge[1]) and np.isfinite(verge[2])
    for i in range(n):
        tip = tips[i]
        if not (np.isfinite(tip[0]) and np.isfinite(tip[1]) and np.isfinite(tip[2])):
            continue
        m, segment, u, beyond, arc_from_tip = 0, -1, 0.0, False, 0.0
        if walk:
            arc_from_tip, segment, u, beyond, m = verge_crossing(coils[i], verge, near_m, finite)
        lo, hi = -np.inf, np.inf
        if m >= 2 and segment >= 0:
            # Walk the shaft from the verge (s = 0) to the tip, each point searched from the one before it.
            if beyond:
                first = m - 1
                # The shaft from the verge to the last coil: its exact length when the inserted length is known
                # (the simulator's), else the straight gap (the CCD rule's lower bound, in arc_from_tip).
                step = distance_3d(verge, coils[i, finite[first]])
                if np.isfinite(inserted[i]):
                    step = max(step, inserted[i] - (arc_from_tip - step))
            else:
                first = segment
                a = coils[i, finite[first]]
                crossing = a + u * (coils[i, finite[first + 1]] - a)
                step = distance_3d(crossing, a)
            s_walk = 0.0
            for j in range(first, -1, -1):
                point = coils[i, finite[j]]
                s_walk = _nearest_in_window(points, s_nodes, point, s_walk - back, s_walk + step + forward)
                step = distance_3d(point, coils[i, finite[j - 1]] if j > 0 else tip)
            lo, hi = s_walk - back, s_walk + step + forward
        elif not np.isnan(s_prev):
            lo, hi = s_prev - window, s_prev + window
        s = _nearest_in_window(points, s_nodes, tip, lo, hi)
        out[i] = s
        s_prev = s
    return out


def progress_along(
    path: ReferencePath,
    tip_m: np.ndarray,
    window_m: float = PROJECTION_WINDOW_M,
    s_start_m: float | None = None,
    *,
    coils_m: np.ndarray | None = None,
    anal_verge_m: np.ndarray | None = None,
    inserted_length_m: np.ndarray | None = None,
) -> np.ndarray:
    """Progress s (arc length of the tip's projection on `path`) for each sample.

    tip_m: (N, 3) in the path's frame. Without a shaft, each projection is searched only within ±`window_m` of the
    previous sample's s (the first one over the whole path, or around `s_start_m` if given), so s moves
    continuously along the colon and cannot jump to a limb that merely passes close by (metrics.md §1.2).

    With the shaft (coils_m (N, K, 3) tip first, NaN = no reading, and anal_verge_m (3,)), each sample's tip is
    found by walking the shaft instead (module doc, "Shaft walk"); inserted_length_m (N,) (NaN = unknown) sizes the
    first step when every coil is inside. A sample without a tip reading gives NaN and leaves the window where it
    was. Returns (N,) in m, in [0, L].
    """
    tips = np.ascontiguousarray(np.asarray(tip_m, dtype=float).reshape(-1, 3))
    n = len(tips)
    start = np.nan if s_start_m is None else float(s_start_m)
    if coils_m is not None and anal_verge_m is not None:
        coils = np.ascontiguousarray(np.asarray(coils_m, dtype=float).reshape(n, -1, 3))
        verge = np.ascontiguousarray(np.asarray(anal_verge_m, dtype=float).reshape(3))
    else:
        coils, verge = np.zeros((n, 0, 3)), np.full(3, np.nan)
    inserted = np.full(n, np.nan) if inserted_length_m is None else np.asarray(inserted_length_m, dtype=float)
    return _progress(
        np.ascontiguousarray(path.points_m), np.ascontiguousarray(path.s_m), tips, coils, verge, VERGE_NEAR_SHAFT_M,
        np.ascontiguousarray(inserted.reshape(n)), float(window_m), SHAFT_BACK_SLACK_M, SHAFT_FORWARD_SLACK_M, start,
    )


def samples_progress(path: ReferencePath, samples: ScoreSamples) -> np.ndarray:
    """`progress_along` for `samples`, walking the shaft when the samples have coils and an anal verge. (N,) m."""
    return progress_along(path, samples.tip_m, coils_m=samples.coils_m, anal_verge_m=samples.anal_verge_m,
                          inserted_length_m=samples.inserted_length_m)
