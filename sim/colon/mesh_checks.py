"""Surface checks trimesh does not offer: self-intersection of a triangle mesh.

Two triangles that do not share a vertex intersect (outside coplanar contact) exactly when an edge of one crosses
the other, so the check tests every edge against the triangles near it. A uniform grid with cells as large as the
longest edge finds the candidates: a triangle or an edge then touches at most 2 x 2 x 2 cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def self_intersections(vertices: np.ndarray, faces: np.ndarray, max_hits: int = 1000) -> np.ndarray:
    """Pairs of triangles that cross each other, ignoring pairs that share a vertex (neighbours).

    vertices: (V, 3) float; faces: (F, 3) int. Returns (K, 2) int64 pairs (face whose edge crosses, face crossed),
    at most `max_hits` of them, each pair once, sorted. An empty result means no self-intersection.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    edge_list = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edge_face = np.concatenate([np.arange(len(faces))] * 3).astype(np.int64)
    lengths = np.linalg.norm(vertices[edge_list[:, 0]] - vertices[edge_list[:, 1]], axis=1)
    cell = float(lengths.max()) * 1.0001
    origin = vertices.min(axis=0) - cell
    hits = _edge_triangle_hits(vertices, faces, edge_list, edge_face, origin, cell, max_hits)
    if len(hits) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(hits, axis=0)


@njit(cache=True)
def _cell_key(ix, iy, iz, n):  # pragma: no cover - compiled
    return (ix * n + iy) * n + iz


@njit(cache=True, nogil=True)
def _edge_triangle_hits(vertices, faces, edges, edge_face, origin, cell, max_hits):  # pragma: no cover - compiled
    n_faces = faces.shape[0]
    extent = 0.0
    for d in range(3):
        extent = max(extent, (vertices[:, d].max() - origin[d]) / cell)
    n = np.int64(extent) + 3
    # Bin every triangle into each cell its bounding box touches (<= 8 cells).
    keys = np.empty(n_faces * 8, dtype=np.int64)
    owners = np.empty(n_faces * 8, dtype=np.int64)
    count = 0
    for f in range(n_faces):
        lo = np.empty(3, dtype=np.int64)
        hi = np.empty(3, dtype=np.int64)
        for d in range(3):
            a = vertices[faces[f, 0], d]
            b = vertices[faces[f, 1], d]
            c = vertices[faces[f, 2], d]
            lo[d] = np.int64((min(a, b, c) - origin[d]) / cell)
            hi[d] = np.int64((max(a, b, c) - origin[d]) / cell)
        for ix in range(lo[0], hi[0] + 1):
            for iy in range(lo[1], hi[1] + 1):
                for iz in range(lo[2], hi[2] + 1):
                    keys[count] = _cell_key(ix, iy, iz, n)
                    owners[count] = f
                    count += 1
    order = np.argsort(keys[:count])
    keys = keys[:count][order]
    owners = owners[:count][order]

    out = np.empty((max_hits, 2), dtype=np.int64)
    n_hits = 0
    eps = 1e-12
    for e in range(edges.shape[0]):
        i0 = edges[e, 0]
        i1 = edges[e, 1]
        p0 = vertices[i0]
        p1 = vertices[i1]
        lo = np.empty(3, dtype=np.int64)
        hi = np.empty(3, dtype=np.int64)
        for d in range(3):
            lo[d] = np.int64((min(p0[d], p1[d]) - origin[d]) / cell)
            hi[d] = np.int64((max(p0[d], p1[d]) - origin[d]) / cell)
        dx = p1[0] - p0[0]
        dy = p1[1] - p0[1]
        dz = p1[2] - p0[2]
        for ix in range(lo[0], hi[0] + 1):
            for iy in range(lo[1], hi[1] + 1):
                for iz in range(lo[2], hi[2] + 1):
                    key = _cell_key(ix, iy, iz, n)
                    k = np.searchsorted(keys, key)
                    while k < keys.shape[0] and keys[k] == key:
                        f = owners[k]
                        k += 1
                        a = faces[f, 0]
                        b = faces[f, 1]
                        c = faces[f, 2]
                        if a == i0 or a == i1 or b == i0 or b == i1 or c == i0 or c == i1:
                            continue
                        # Moller-Trumbore with the segment p0 -> p1 (t in [0, 1]).
                        e1x = vertices[b, 0] - vertices[a, 0]
                        e1y = vertices[b, 1] - vertices[a, 1]
                        e1z = vertices[b, 2] - vertices[a, 2]
                        e2x = vertices[c, 0] - vertices[a, 0]
                        e2y = vertices[c, 1] - vertices[a, 1]
                        e2z = vertices[c, 2] - vertices[a, 2]
                        px = dy * e2z - dz * e2y
                        py = dz * e2x - dx * e2z
                        pz = dx * e2y - dy * e2x
                        det = e1x * px + e1y * py + e1z * pz
                        scale = (abs(e1x) + abs(e1y) + abs(e1z)) * (abs(e2x) + abs(e2y) + abs(e2z)) * (
                            abs(dx) + abs(dy) + abs(dz))
                        if abs(det) <= eps * scale:
                            continue  # edge parallel to the triangle's plane
                        inv = 1.0 / det
                        tx = p0[0] - vertices[a, 0]
                        ty = p0[1] - vertices[a, 1]
                        tz = p0[2] - vertices[a, 2]
                        u = (tx * px + ty * py + tz * pz) * inv
                        if u < 0.0 or u > 1.0:
                            continue
                        qx = ty * e1z - tz * e1y
                        qy = tz * e1x - tx * e1z
                        qz = tx * e1y - ty * e1x
                        v = (dx * qx + dy * qy + dz * qz) * inv
                        if v < 0.0 or u + v > 1.0:
                            continue
                        t = (e2x * qx + e2y * qy + e2z * qz) * inv
                        if t < 0.0 or t > 1.0:
                            continue
                        if n_hits < max_hits:
                            out[n_hits, 0] = edge_face[e]
                            out[n_hits, 1] = f
                            n_hits += 1
    return out[:n_hits]
