"""The reference colon path (anal verge -> cecum) and the tip's progress `s` along it (reference/metrics.md §1.2).

Sources, in order of preference:
1. the simulator's colon centreline, given as an (N, 3) polyline from the anal verge to the cecal pole;
2. for a recording without anatomy: the scope shape at cecal intubation reversed, `R = reverse(coils(t_c))` (the
   shaft then lies in the lumen from anus to cecum), cut at the anal verge and resampled every 5 mm;
3. fallback (one coil only, or no usable shape at t_c): the smoothed tip path during withdrawal (cecum -> end),
   reversed, resampled every 5 mm. A withdrawal path retraces itself where the tip went back and forth, so its
   length overestimates the colon's; it is the last resort the spec names, not a good reference.

`progress_along` projects the tip on the path but searches only within ±40 mm of the previous progress, so the
projection cannot jump between limbs of the colon that touch (sigmoid loops, flexures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.ndimage import gaussian_filter1d

from sim.scoring.samples import ScoreSamples, finite_coils, polyline_arc_length, shaft_point_at_verge

#: Resampling step of reference paths built from recordings (metrics.md §1.2).
RESAMPLE_SPACING_M = 0.005
#: Half-width of the progress search window (metrics.md §1.2).
PROJECTION_WINDOW_M = 0.040
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
def _windowed_projection(points, s_nodes, tips, window, s_start):  # pragma: no cover - compiled
    n = tips.shape[0]
    m = points.shape[0]
    out = np.full(n, np.nan)
    s_prev = s_start
    for i in range(n):
        x0, x1, x2 = tips[i, 0], tips[i, 1], tips[i, 2]
        if not (np.isfinite(x0) and np.isfinite(x1) and np.isfinite(x2)):
            continue
        if np.isnan(s_prev):
            lo_s, hi_s = -np.inf, np.inf
            k0, k1 = 0, m - 1
        else:
            lo_s, hi_s = s_prev - window, s_prev + window
            k0 = max(np.searchsorted(s_nodes, lo_s, side="right") - 1, 0)
            k1 = min(np.searchsorted(s_nodes, hi_s, side="left"), m - 1)
        best_d2 = np.inf
        best_s = np.nan
        for k in range(k0, k1):
            seg = s_nodes[k + 1] - s_nodes[k]
            d0 = points[k + 1, 0] - points[k, 0]
            d1 = points[k + 1, 1] - points[k, 1]
            d2 = points[k + 1, 2] - points[k, 2]
            u = ((x0 - points[k, 0]) * d0 + (x1 - points[k, 1]) * d1 + (x2 - points[k, 2]) * d2) / (seg * seg)
            # Only the part of the segment inside the window may be chosen.
            u_lo = max(0.0, (lo_s - s_nodes[k]) / seg)
            u_hi = min(1.0, (hi_s - s_nodes[k]) / seg)
            u = min(max(u, u_lo), u_hi)
            e0 = points[k, 0] + u * d0 - x0
            e1 = points[k, 1] + u * d1 - x1
            e2 = points[k, 2] + u * d2 - x2
            dist2 = e0 * e0 + e1 * e1 + e2 * e2
            if dist2 < best_d2:
                best_d2 = dist2
                best_s = s_nodes[k] + u * seg
        out[i] = best_s
        s_prev = best_s
    return out


def progress_along(
    path: ReferencePath, tip_m: np.ndarray, window_m: float = PROJECTION_WINDOW_M, s_start_m: float | None = None
) -> np.ndarray:
    """Progress s (arc length of the tip's projection on `path`) for each sample.

    tip_m: (N, 3) in the path's frame. Each projection is searched only within ±`window_m` of the previous
    sample's s (the first one over the whole path, or around `s_start_m` if given), so s moves continuously along
    the colon and cannot jump to a limb that merely passes close by. A sample without a tip reading gives NaN and
    leaves the window where it was. Returns (N,) in m, in [0, L].
    """
    tips = np.ascontiguousarray(np.asarray(tip_m, dtype=float).reshape(-1, 3))
    start = np.nan if s_start_m is None else float(s_start_m)
    return _windowed_projection(
        np.ascontiguousarray(path.points_m), np.ascontiguousarray(path.s_m), tips, float(window_m), start
    )
