"""Curves along a centreline: arc length, uniform resampling, parallel-transport frames, surface points.

Shared by the procedural generator and the mesh importer so both describe a colon the same way
(DESIGN.md, "Colon body: a generalised cylinder").
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import make_interp_spline


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length of a polyline.

    points: (N, 3). Returns (N,) with 0 at the first point.
    """
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate(([0.0], np.cumsum(seg)))


def resample_uniform(points: np.ndarray, spacing_m: float, smooth_degree: int = 3) -> np.ndarray:
    """Resample a polyline at (nearly) uniform arc-length spacing through a spline of the given degree.

    points: (N, 3) distinct consecutive points. Returns (K, 3) with K = round(length / spacing) + 1, the first and
    last points kept. Two passes: the second re-parametrises by the arc length of the first, so the spacing is
    uniform to well under 1 % even where the input spacing was not.
    """
    pts = np.asarray(points, dtype=np.float64)
    for _ in range(2):
        s = arc_length(pts)
        keep = np.concatenate(([True], np.diff(s) > 1e-12))
        pts, s = pts[keep], s[keep]
        k = min(smooth_degree, len(pts) - 1)
        spline = make_interp_spline(s, pts, k=k)
        n = max(2, int(round(s[-1] / spacing_m)) + 1)
        pts = spline(np.linspace(0.0, s[-1], n))
    return pts


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents of a polyline by central differences (one-sided at the ends).

    points: (N, 3). Returns (N, 3).
    """
    t = np.gradient(points, axis=0)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def parallel_transport_frames(points: np.ndarray, first_normal: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation-minimising frames along a polyline.

    points: (N, 3). first_normal: (3,) hint for the first normal (projected to be orthogonal to the first tangent);
    defaults to the axis least aligned with the first tangent. Returns (tangent, normal, binormal), each (N, 3),
    right-handed: binormal = tangent x normal.
    """
    t = tangents(points)
    if first_normal is None:
        first_normal = np.eye(3)[np.argmin(np.abs(t[0]))]
    n0 = np.asarray(first_normal, dtype=np.float64) - np.dot(first_normal, t[0]) * t[0]
    n = np.empty_like(t)
    n[0] = n0 / np.linalg.norm(n0)
    for i in range(1, len(t)):
        # Rotate the previous normal by the rotation taking t[i-1] to t[i] (the double-reflection method
        # reduces to this projection-and-renormalise for the small turn between neighbouring samples).
        v = n[i - 1] - np.dot(n[i - 1], t[i]) * t[i]
        n[i] = v / np.linalg.norm(v)
    b = np.cross(t, n)
    return t, n, b


def curvature(points: np.ndarray) -> np.ndarray:
    """Curvature (1/m) of a uniformly sampled polyline from the turning angle between neighbouring segments.

    points: (N, 3). Returns (N,), zero at the two ends.
    """
    d = np.diff(points, axis=0)
    lengths = np.linalg.norm(d, axis=1)
    u = d / lengths[:, None]
    cosang = np.clip(np.einsum("ij,ij->i", u[:-1], u[1:]), -1.0, 1.0)
    k = np.zeros(len(points))
    k[1:-1] = np.arccos(cosang) / (0.5 * (lengths[:-1] + lengths[1:]))
    return k


def surface_points(centreline: np.ndarray, normal: np.ndarray, binormal: np.ndarray, theta: np.ndarray,
                   radius: np.ndarray) -> np.ndarray:
    """Points of the generalised cylinder: centre + r * (cos(theta) * normal + sin(theta) * binormal).

    centreline, normal, binormal: (N, 3); theta: (M,); radius: (N, M). Returns (N, M, 3).
    """
    c, s_ = np.cos(theta), np.sin(theta)
    direction = c[None, :, None] * normal[:, None, :] + s_[None, :, None] * binormal[:, None, :]
    return centreline[:, None, :] + radius[:, :, None] * direction
