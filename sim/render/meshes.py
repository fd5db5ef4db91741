"""Per-frame mesh work for the views: vertex normals of the deformed colon, the scope tube and its coil markers.

Normals are recomputed every frame because the colon deforms; that loop runs in numba (area-weighted face
normals accumulated per vertex), never in Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from physics.scope_rod import quat_rotate


@njit(cache=True, nogil=True)
def vertex_normals(vertices, faces, out):  # pragma: no cover - compiled
    """Unit area-weighted vertex normals of vertices (V, 3) float32/64 over faces (F, 3) int into out (V, 3)
    (faces must index into vertices). Vertices on no face get (0, 0, 0). Returns out."""
    out[:] = 0.0
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        e1x = vertices[b, 0] - vertices[a, 0]
        e1y = vertices[b, 1] - vertices[a, 1]
        e1z = vertices[b, 2] - vertices[a, 2]
        e2x = vertices[c, 0] - vertices[a, 0]
        e2y = vertices[c, 1] - vertices[a, 1]
        e2z = vertices[c, 2] - vertices[a, 2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        for v in (a, b, c):
            out[v, 0] += nx
            out[v, 1] += ny
            out[v, 2] += nz
    for v in range(out.shape[0]):
        n = np.sqrt(out[v, 0] ** 2 + out[v, 1] ** 2 + out[v, 2] ** 2)
        if n > 0.0:
            out[v, 0] /= n
            out[v, 1] /= n
            out[v, 2] /= n
    return out


def tube_around_polyline(points_m: np.ndarray, frames_x: np.ndarray, frames_y: np.ndarray, radius_m: float,
                         n_around: int) -> tuple[np.ndarray, np.ndarray]:
    """Ring vertices and outward normals of a tube through points (P, 3) with per-point cross-section axes
    frames_x, frames_y (P, 3): returns vertices (P * n_around, 3) and normals (P * n_around, 3) in the ring-major
    order of `sim.colon.tube_mesh.tube_faces(P, n_around, cap=False)`."""
    ang = np.linspace(0.0, 2.0 * np.pi, n_around, endpoint=False)
    c, s = np.cos(ang), np.sin(ang)
    normals = c[None, :, None] * frames_x[:, None, :] + s[None, :, None] * frames_y[:, None, :]
    verts = points_m[:, None, :] + radius_m * normals
    return verts.reshape(-1, 3), normals.reshape(-1, 3)


def scope_centreline(position_m: np.ndarray, orientation: np.ndarray, half_length_m: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scope's axis as points through its segment centres plus the distal face: points (S + 1, 3) and the
    cross-section axes (S + 1, 3) x2 from each segment's body x and y (rod segments: body +z along the rod,
    toward the tip)."""
    ex = quat_rotate(orientation, np.tile([1.0, 0.0, 0.0], (len(orientation), 1)))
    ey = quat_rotate(orientation, np.tile([0.0, 1.0, 0.0], (len(orientation), 1)))
    ez = quat_rotate(orientation[-1:], np.array([[0.0, 0.0, 1.0]]))[0]
    tip = position_m[-1] + half_length_m * ez
    return (np.vstack([position_m, tip[None, :]]), np.vstack([ex, ex[-1:]]), np.vstack([ey, ey[-1:]]))
