"""Triangulate a generalised cylinder: rings of surface points become a tube open at the first ring and closed by
one apex vertex after the last ring (the anal verge open, the cecal pole closed)."""

from __future__ import annotations

import numpy as np


def tube_faces(n_rings: int, n_around: int, cap: bool = True) -> np.ndarray:
    """Triangles of a ring grid, vertex (i, k) at index i * n_around + k; apex (if `cap`) at n_rings * n_around.

    Winding gives normals pointing away from the centreline when theta turns from normal to binormal and rings
    advance along the tangent (right-handed frames). Returns (F, 3) int64 with
    F = 2 * (n_rings - 1) * n_around (+ n_around with the cap).
    """
    i, k = np.meshgrid(np.arange(n_rings - 1), np.arange(n_around), indexing="ij")
    a = i * n_around + k
    b = i * n_around + (k + 1) % n_around
    c = a + n_around
    d = b + n_around
    quads = np.stack([np.stack([a, b, c], -1), np.stack([b, d, c], -1)], axis=2).reshape(-1, 3)
    if not cap:
        return quads.astype(np.int64)
    last = (n_rings - 1) * n_around + np.arange(n_around)
    apex = np.full(n_around, n_rings * n_around)
    cap_faces = np.stack([last, (last + 1 - (n_rings - 1) * n_around) % n_around + (n_rings - 1) * n_around, apex], -1)
    return np.concatenate([quads, cap_faces]).astype(np.int64)


def tube_vertices(rings: np.ndarray, apex: np.ndarray | None) -> np.ndarray:
    """Flatten rings (N, M, 3) (and the apex (3,), if any) into the vertex order `tube_faces` expects. (V, 3)."""
    verts = rings.reshape(-1, 3)
    return verts if apex is None else np.vstack([verts, apex[None, :]])
