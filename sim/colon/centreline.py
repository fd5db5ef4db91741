"""Centreline of a tubular surface (a segmented colon): geodesic seeding, then cross-section centroids.

Method (why each step):
1. Geodesic distance from the anal end over the edge graph (`scipy.sparse.csgraph.dijkstra`, multi-source from
   the anal opening's boundary loop). Its level sets are rings around the tube whatever its shape, collapsed or
   distended, so binning vertices by it and taking area-weighted centroids gives a first centreline that is
   topologically right (one pass from anus to pole, never jumping between limbs that touch).
2. That first guess cuts corners at flexures (the level sets tilt: the inner wall is geodesically shorter) and a
   plain "centroid of the vertices nearest to each ring" is biased toward the outer wall of a bend by about
   r^2 / (2 R) (the outer wall has more area per unit s) — 10 mm at a tight flexure. So the refinement cuts the
   surface with the plane normal to the current centreline at each ring instead, keeps the closed contour that
   winds around the current centre (winding number, so other limbs cut by the same plane are ignored), and moves
   the ring centre to the contour's centre (`section_centroid`: the wall circle fitted without the folds and
   valves that reach into the lumen, or the perimeter centroid of a flattened lumen). A plane section of a tube is
   centred on its axis whether the lumen is round, flattened (collapsed) or triangular, and an oblique section of
   a straight piece is still centred, so a few passes converge from a rough start. Candidate triangles per ring
   come from an s-window (vertices' arc lengths from an s-local nearest-centreline search), so work per ring is
   small and parts of the colon far away along s cannot be picked.
3. Smoothing along s (8 mm Gaussian with twicing, `_smooth`: ring planes stop wobbling at deep folds, flexures
   keep their radius) and uniform resampling with `frames.resample_uniform`. The ends stay pinned: the anal
   opening's centroid, and at a closed end the pole where a line fitted to the last centimetres of centreline meets
   the wall (the sections inside a rounded pole shrink and stray, so they are bridged).

The same plane sections give r(s, theta): rays in each ring plane from the centre to the contour
(`section_radii`). Everything is vectorised per ring; Python loops run over rings (hundreds), never vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from sim.colon.frames import arc_length, parallel_transport_frames, resample_uniform

#: Gaussian smoothing of the ring centres along s (m), applied with twicing (see `_smooth`). Tuned on the procedural
#: colon (r(s, theta) round-trip RMS 0.9 mm with a plain 3 mm Gaussian, 0.45 mm with 8 mm and twicing) against a
#: collapsed tube with 15 mm-radius flexures (its length error grows past 10 mm).
SMOOTH_SIGMA_M = 0.008
#: Search window (m) in s around a vertex's previous arc length when matching it to its nearest ring: larger on
#: the first pass, where the geodesic prior can be off by half a circumference at a flexure.
FIRST_WINDOW_M = 0.25
REFINE_WINDOW_M = 0.04
#: Number of nearest ring centres considered per vertex before the s-window filter.
NEAREST_RINGS = 16
#: Length (m) of centreline before a closed end whose line fit gives the direction of the ray to the pole.
POLE_FIT_M = 0.03


@dataclass
class Centreline:
    """A centreline with frames. N rings.

    points (N, 3), s (N,) arc length from the anal end, tangent/normal/binormal (N, 3) parallel-transport frames.
    start_open: the anal end is an opening (ring 0 is its boundary loop), not a closed pole.
    """

    points: np.ndarray
    s: np.ndarray
    tangent: np.ndarray
    normal: np.ndarray
    binormal: np.ndarray
    start_open: bool


@dataclass
class Section:
    """One ring's plane section: the closed contour around the centre, as segments (S, 2, 3) in world
    coordinates, or None when the plane has no contour around the centre (beyond a pole)."""

    segments: np.ndarray | None


# ---- mesh graph helpers ------------------------------------------------------------------------------------------
def vertex_areas(mesh) -> np.ndarray:
    """A third of the area of each triangle given to each of its corners. Returns (V,) m^2."""
    return np.bincount(mesh.faces.ravel(), weights=np.repeat(mesh.area_faces / 3.0, 3),
                       minlength=len(mesh.vertices))


def geodesic_distance(mesh, sources: np.ndarray) -> np.ndarray:
    """Shortest-path distance over mesh edges from the nearest of `sources` (vertex indices (K,)). Returns (V,).

    Edge-graph paths overestimate true geodesics by a few per cent; only the ordering along the tube matters here.
    """
    n = len(mesh.vertices)
    e = mesh.edges_unique
    graph = coo_matrix((mesh.edges_unique_length, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return dijkstra(graph, directed=False, indices=np.atleast_1d(sources), min_only=True)


def boundary_loops(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open boundary loops of a surface.

    Returns (edges (B, 2) boundary edges directed as in their triangles, loop (B,) loop index of each edge,
    perimeter (K,) length of each loop in mesh units). Loops are numbered by decreasing perimeter.
    """
    from trimesh.grouping import group_rows

    idx = group_rows(mesh.edges_sorted, require_count=1)
    edges = mesh.edges[idx]
    if len(edges) == 0:
        return edges.reshape(0, 2), np.zeros(0, dtype=np.int64), np.zeros(0)
    n = len(mesh.vertices)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, vlabel = connected_components(graph, directed=False)
    raw = vlabel[edges[:, 0]]
    _, raw = np.unique(raw, return_inverse=True)
    lengths = np.linalg.norm(mesh.vertices[edges[:, 0]] - mesh.vertices[edges[:, 1]], axis=1)
    perimeter = np.bincount(raw, weights=lengths)
    order = np.argsort(-perimeter, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return edges, rank[raw], perimeter[order]


def loop_centroid(vertices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Perimeter-weighted centroid of a closed loop given by its edges (B, 2). Returns (3,)."""
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    w = np.linalg.norm(b - a, axis=1)
    return ((a + b) * 0.5 * w[:, None]).sum(0) / w.sum()


def double_sweep(mesh) -> tuple[int, int]:
    """The two geodesic extremities of a closed tube: farthest vertex from vertex 0, then farthest from that."""
    d0 = geodesic_distance(mesh, np.array([0]))
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    da = geodesic_distance(mesh, np.array([a]))
    b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
    return a, b


def find_split(mesh, distance: np.ndarray, band_m: float, min_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic bands that fall apart into several large rings (a tube that branches).

    distance: (V,) geodesic distance from the anal end. Triangles are grouped in bands of width `band_m` by their
    mean distance; a band's pieces are its triangles connected through edges inside the band. A piece is large if
    it holds at least `min_fraction` of the band's area (small pieces are haustral pockets reached from the side).
    Returns (band_start (B,) distance at the start of each band, n_large (B,) number of large pieces per band).
    """
    face_d = distance[mesh.faces].mean(axis=1)
    band = np.floor(face_d / band_m).astype(np.int64)
    n_bands = int(band.max()) + 1
    adj = mesh.face_adjacency
    same = band[adj[:, 0]] == band[adj[:, 1]]
    nf = len(mesh.faces)
    graph = coo_matrix((np.ones(int(same.sum())), (adj[same, 0], adj[same, 1])), shape=(nf, nf))
    n_pieces, piece = connected_components(graph, directed=False)
    area = mesh.area_faces
    piece_area = np.bincount(piece, weights=area, minlength=n_pieces)
    piece_band = np.zeros(n_pieces, dtype=np.int64)
    piece_band[piece] = band
    band_area = np.bincount(band, weights=area, minlength=n_bands)
    large = piece_area >= min_fraction * band_area[piece_band]
    n_large = np.bincount(piece_band[large], minlength=n_bands)
    return np.arange(n_bands) * band_m, n_large


def ray_hit(mesh, origin: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
    """First intersection (3,) of the ray origin + t * direction (t > 0) with the surface, or None.

    One ray against all triangles, vectorised (Moller-Trumbore): cheaper than building trimesh's ray index for a
    single query when embree is not installed.
    """
    tri = mesh.vertices[mesh.faces]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-18
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    tvec = origin - tri[:, 0]
    u = np.einsum("ij,ij->i", tvec, p) * inv
    q = np.cross(tvec, e1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
    if not hit.any():
        return None
    return origin + t[hit].min() * direction


# ---- centreline <-> vertices -------------------------------------------------------------------------------------
def project_to_centreline(points: np.ndarray, centre: np.ndarray, s: np.ndarray, s_prior: np.ndarray | None = None,
                          window_m: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Nearest point on the centreline polyline for each point, searched locally in s.

    points: (P, 3); centre: (N, 3) with arc lengths s (N,). The nearest ring centre is chosen among the
    NEAREST_RINGS closest ones whose arc length lies within `window_m` of `s_prior` (P,) (so a vertex never jumps to a
    limb of the colon lying against its own), then the point is projected onto the two polyline pieces beside that
    ring. Points with no candidate in the window keep the ring at `s_prior`.
    Returns (s (P,) continuous arc length of the foot point, ring (P,) index of the chosen ring).
    """
    k = min(NEAREST_RINGS, len(centre))
    dist, idx = cKDTree(centre).query(points, k=k)
    dist, idx = dist.reshape(len(points), k), idx.reshape(len(points), k)
    if s_prior is not None and np.isfinite(window_m):
        dist = np.where(np.abs(s[idx] - s_prior[:, None]) <= window_m, dist, np.inf)
    best = np.argmin(dist, axis=1)
    ring = idx[np.arange(len(points)), best]
    if s_prior is not None:
        lost = ~np.isfinite(dist[np.arange(len(points)), best])
        ring[lost] = np.clip(np.searchsorted(s, s_prior[lost]), 0, len(s) - 1)
    # Project onto the pieces (ring-1, ring) and (ring, ring+1) and keep the closer foot.
    n = len(centre)
    a0 = np.clip(ring - 1, 0, n - 2)
    a1 = np.clip(ring, 0, n - 2)
    out_s = np.empty(len(points))
    best_d = np.full(len(points), np.inf)
    for a in (a0, a1):
        p0, p1 = centre[a], centre[a + 1]
        e = p1 - p0
        lam = np.clip(np.einsum("ij,ij->i", points - p0, e) / np.einsum("ij,ij->i", e, e), 0.0, 1.0)
        d = np.linalg.norm(points - (p0 + lam[:, None] * e), axis=1)
        closer = d < best_d
        out_s[closer] = (s[a] + lam * (s[a + 1] - s[a]))[closer]
        best_d[closer] = d[closer]
    return out_s, ring


def frame_at(cl: Centreline, s_query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre, tangent, normal and binormal at arc lengths s_query (P,), linear between rings and re-orthonormalised.

    Returns four (P, 3) arrays.
    """
    s = np.clip(s_query, cl.s[0], cl.s[-1])
    i = np.clip(np.searchsorted(cl.s, s, side="right") - 1, 0, len(cl.s) - 2)
    w = ((s - cl.s[i]) / (cl.s[i + 1] - cl.s[i]))[:, None]
    lerp = lambda a: (1 - w) * a[i] + w * a[i + 1]  # noqa: E731
    c, t, n = lerp(cl.points), lerp(cl.tangent), lerp(cl.normal)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n -= np.einsum("ij,ij->i", n, t)[:, None] * t
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return c, t, n, np.cross(t, n)


def skin(points: np.ndarray, cl: Centreline, s_prior: np.ndarray | None = None,
         window_m: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skinning coordinates (s, theta, offset) of points (P, 3) on a centreline.

    s: arc length of the nearest centreline point (continuous, so centreline(s) + offset * (cos theta * normal(s) +
    sin theta * binormal(s)) gives the point back up to its tiny along-tangent residual); theta in [0, 2 pi) from
    the normal toward the binormal; offset: distance from the centreline in the ring plane (m). Each (P,).
    """
    s, _ = project_to_centreline(points, cl.points, cl.s, s_prior, window_m)
    c, t, n, b = frame_at(cl, s)
    rel = points - c
    rel -= np.einsum("ij,ij->i", rel, t)[:, None] * t
    x, y = np.einsum("ij,ij->i", rel, n), np.einsum("ij,ij->i", rel, b)
    return s, np.mod(np.arctan2(y, x), 2 * np.pi), np.hypot(x, y)


# ---- plane sections ----------------------------------------------------------------------------------------------
def ring_sections(mesh, cl: Centreline, vertex_s: np.ndarray, window_m: float) -> list[Section]:
    """Cut the surface with each ring's plane and keep the closed contour that winds around the ring centre.

    vertex_s: (V,) arc length of each vertex (from `project_to_centreline`); only triangles whose mean vertex arc
    length lies within `window_m` of the ring are cut. Returns N Sections.
    """
    faces = mesh.faces
    verts = mesh.vertices
    face_s = vertex_s[faces].mean(axis=1)
    order = np.argsort(face_s, kind="stable")
    sorted_s = face_s[order]
    face_edges = mesh.faces_unique_edges  # (F, 3) unique-edge index of edges (0,1), (1,2), (2,0)
    edges_unique = mesh.edges_unique
    out: list[Section] = []
    for i in range(len(cl.s)):
        lo, hi = np.searchsorted(sorted_s, [cl.s[i] - window_m, cl.s[i] + window_m])
        cand = order[lo:hi]
        out.append(Section(_section(verts, faces[cand], face_edges[cand], edges_unique, cl.points[i],
                                    cl.tangent[i], cl.normal[i], cl.binormal[i])))
    return out


def _section(verts, faces, face_edges, edges_unique, centre, tangent, normal, binormal) -> np.ndarray | None:
    """Segments (S, 2, 3) of the contour around `centre` in the plane (centre, tangent), or None."""
    if len(faces) == 0:
        return None
    side = (verts[faces] - centre) @ tangent >= 0  # (K, 3); points exactly on the plane count as in front
    crossing = side.any(axis=1) & ~side.all(axis=1)
    if crossing.sum() < 3:
        return None
    fe = face_edges[crossing]  # (C, 3)
    sd = side[crossing]
    # Edge k = (corner k, corner k+1) is cut when its ends are on different sides: one cut edge enters the front
    # side and one leaves it, in the triangle's own corner order. Going from the entering cut to the leaving cut
    # orients every segment the same way around the contour (the winding is consistent), which the winding
    # number below needs.
    ahead = np.roll(sd, -1, axis=1)
    edge_ids = np.stack([fe[~sd & ahead], fe[sd & ~ahead]], axis=1)  # (C, 2) unique-edge ids: entering, leaving
    used, inverse = np.unique(edge_ids, return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    # The cut point of each unique edge, from its canonical (sorted) orientation so both triangles agree.
    ends = edges_unique[used]
    pa, pb = verts[ends[:, 0]], verts[ends[:, 1]]
    da, db = (pa - centre) @ tangent, (pb - centre) @ tangent
    pts = pa + (pb - pa) * (da / (da - db))[:, None]
    comp = _cycle_labels(len(used), inverse[:, 0], inverse[:, 1])
    n_comp = len(used)
    seg_comp = comp[inverse[:, 0]]
    rel = pts - centre
    x, y = rel @ normal, rel @ binormal
    x0, y0, x1, y1 = x[inverse[:, 0]], y[inverse[:, 0]], x[inverse[:, 1]], y[inverse[:, 1]]
    # Winding number about the centre: a contour around the lumen sums to +-2 pi, other cuts to about 0.
    angle = np.arctan2(x0 * y1 - y0 * x1, x0 * x1 + y0 * y1)
    winding = np.abs(np.bincount(seg_comp, weights=angle, minlength=n_comp))
    around = np.flatnonzero(winding > np.pi)
    if len(around) == 0:
        return None
    n_seg = np.maximum(np.bincount(seg_comp, minlength=n_comp), 1)
    mean_r = np.bincount(seg_comp, weights=np.hypot(x0, y0), minlength=n_comp) / n_seg
    keep = around[np.argmin(mean_r[around])]
    sel = seg_comp == keep
    return np.stack([pts[inverse[sel, 0]], pts[inverse[sel, 1]]], axis=1)


def _cycle_labels(n_nodes: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Label (n_nodes,) of the contour each node is on, for oriented segments start -> end (each node starts and
    ends at most one segment, so contours are closed cycles or open chains).

    Pointer jumping both ways: after k rounds every node knows the smallest label within 2^k steps ahead and
    behind, so a contour of n nodes carries its smallest node's label after log2(n) rounds. Same labels as a
    sparse graph's connected components here, without their set-up cost, which dominates for a hundred segments.
    """
    nxt = np.arange(n_nodes)
    prv = np.arange(n_nodes)
    nxt[start] = end
    prv[end] = start
    label = np.arange(n_nodes)
    for _ in range(int(np.ceil(np.log2(max(n_nodes, 2)))) + 1):
        label = np.minimum(label, np.minimum(label[nxt], label[prv]))
        nxt, prv = nxt[nxt], prv[prv]
    return label


#: Contour points deeper inside the fitted wall circle than this fraction of its radius are folds or valves.
FOLD_DEPTH_FRACTION = 0.08
#: Reweighting passes of the wall circle fit.
WALL_FIT_PASSES = 4
#: Sections with a larger ratio of principal axes are flattened, not round: no circle fit.
MAX_ROUND_ASPECT = 1.5


def section_centroid(segments: np.ndarray, normal: np.ndarray, binormal: np.ndarray) -> np.ndarray:
    """Centre (3,) of a plane section given as contour segments (S, 2, 3) in the plane spanned by normal, binormal.

    Folds, haustral ridges and rectal valves reach into the lumen from one side and would pull a plain centroid
    toward the other; they only ever reach inward. So the centre of a roundish section is that of the wall's outer
    circle: a
    least-squares circle (Kasa's algebraic fit, weighted by contour length) refitted a few times without the
    points lying deeper inside it than FOLD_DEPTH_FRACTION of its radius. A rectal valve that flattens a third of
    the wall then no longer moves the centre; round, flattened and triangular lumens are symmetric about their
    centre and the fit stays there. If the fit is degenerate, strays by more than half the radius from the
    contour's perimeter-weighted centroid, or lands outside the contour (a bent, non-convex collapsed lumen), that
    centroid is used instead.
    """
    seg_len = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    centroid = (segments.mean(axis=1) * seg_len[:, None]).sum(0) / seg_len.sum()
    to2d = lambda p: np.stack([(p - centroid) @ normal, (p - centroid) @ binormal], -1)  # noqa: E731
    a, b = to2d(segments[:, 0]), to2d(segments[:, 1])
    mid = 0.5 * (a + b)
    design = np.column_stack([mid, np.ones(len(mid))])
    target = -(mid**2).sum(1)
    weight = seg_len.copy()
    mean_r = float((np.hypot(mid[:, 0], mid[:, 1]) * seg_len).sum() / seg_len.sum())
    # A flattened (collapsed) lumen is no circle: fitted to its two rounded ends, a circle's centre would slide
    # along the short axis. Its perimeter centroid is already its centre, by symmetry.
    second = np.cov(mid.T, aweights=seg_len)
    eig = np.linalg.eigvalsh(second)
    if eig[0] <= 0 or eig[1] / eig[0] > MAX_ROUND_ASPECT**2:
        return centroid
    centre = np.zeros(2)
    for _ in range(WALL_FIT_PASSES):
        sw = np.sqrt(weight)
        # x^2 + y^2 + D x + E y + F = 0 in the least-squares sense; centre (-D/2, -E/2), radius^2 = |c|^2 - F.
        sol, _, rank, _ = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)
        if rank < 3:
            return centroid
        centre = -0.5 * sol[:2]
        radius = np.sqrt(max(centre @ centre - sol[2], 1e-30))
        inside = radius - np.hypot(*(mid - centre).T)
        keep = inside < FOLD_DEPTH_FRACTION * radius
        if keep.sum() < 3 or seg_len[keep].sum() < 0.3 * seg_len.sum():
            break
        weight = np.where(keep, seg_len, 0.0)
    if np.hypot(*centre) > 0.5 * mean_r:
        return centroid
    p, q = a - centre, b - centre
    winding = np.arctan2(p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0], (p * q).sum(1)).sum()
    if abs(winding) < np.pi:
        return centroid
    return centroid + centre[0] * normal + centre[1] * binormal


def section_size(segments: np.ndarray, centre: np.ndarray) -> float:
    """Mean distance (m) of a contour's segment midpoints from a centre (3,): the section's size."""
    return float(np.linalg.norm(segments.mean(axis=1) - centre, axis=1).mean())


def _full_size(s: np.ndarray, size: np.ndarray, valid: np.ndarray, start_open: bool,
               end_m: float = 0.05, fraction: float = 0.8, trim_radii: float = 1.0) -> np.ndarray:
    """Mask (N,) that drops the rings at a closed end whose section is smaller than `fraction` of the median size
    (mean radius) over the `end_m` before them, and `trim_radii` such radii more. Inside a rounded pole the planes
    meet the cap obliquely and the centroids stray (each pass would tilt the end further), so the last radius or
    so is bridged by the ray to the pole instead. s: (N,) place of each ring along the tube; size: (N,)."""
    keep = np.ones(len(s), dtype=bool)
    idx = np.flatnonzero(valid)
    if len(idx) < 4:
        return keep
    ends = [(s[-1] - s, idx[::-1])] + ([] if start_open else [(s - s[0], idx)])
    for dist_from_end, order in ends:
        ref_band = (dist_from_end[idx] > end_m) & (dist_from_end[idx] <= 2 * end_m)
        if not ref_band.any():
            continue
        ref = np.median(size[idx[ref_band]])
        for i in order:  # walk inward from the end until the first full-size section (a few rings)
            if size[i] >= fraction * ref:
                keep[np.abs(dist_from_end - dist_from_end[i]) < trim_radii * ref] = False
                keep[dist_from_end < dist_from_end[i]] = False
                break
            keep[i] = False
    return keep


def section_radii(segments: np.ndarray, centre: np.ndarray, normal: np.ndarray, binormal: np.ndarray,
                  theta: np.ndarray) -> np.ndarray:
    """Distance from the centre to the contour along the in-plane rays cos(theta) * normal + sin(theta) * binormal.

    segments: (S, 2, 3) contour, projected onto the ring plane; theta: (M,). Returns (M,), NaN where a ray misses
    (an open contour).
    """
    p = np.stack([(segments[:, 0] - centre) @ normal, (segments[:, 0] - centre) @ binormal], -1)  # (S, 2)
    q = np.stack([(segments[:, 1] - centre) @ normal, (segments[:, 1] - centre) @ binormal], -1)
    e = q - p
    ux, uy = np.cos(theta)[None, :], np.sin(theta)[None, :]  # (1, M)
    denom = ux * e[:, 1:2] - uy * e[:, 0:1]  # (S, M): u x e
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (p[:, 0:1] * e[:, 1:2] - p[:, 1:2] * e[:, 0:1]) / denom  # distance along the ray
        lam = (p[:, 0:1] * uy - p[:, 1:2] * ux) / denom  # place along the segment
    hit = (np.abs(denom) > 1e-15) & (lam >= 0) & (lam <= 1) & (t > 0)
    t = np.where(hit, t, np.inf).min(axis=0)
    return np.where(np.isfinite(t), t, np.nan)


# ---- extraction --------------------------------------------------------------------------------------------------
def make_centreline(points: np.ndarray, spacing_m: float, start_open: bool,
                    first_normal: np.ndarray | None = None) -> Centreline:
    """Resample points (K, 3) uniformly at `spacing_m` and attach parallel-transport frames."""
    pts = resample_uniform(points, spacing_m)
    s = arc_length(pts)
    if first_normal is not None:
        t0 = pts[1] - pts[0]
        t0 /= np.linalg.norm(t0)
        if np.linalg.norm(np.cross(t0, first_normal)) < 0.1:  # nearly parallel: let frames.py choose
            first_normal = None
    t, n, b = parallel_transport_frames(pts, first_normal)
    return Centreline(pts, s, t, n, b, start_open)


def _smooth(points: np.ndarray, spacing_m: float) -> np.ndarray:
    """Smooth a uniformly spaced polyline (K, 3) along its length, ends pinned.

    A Gaussian (SMOOTH_SIGMA_M) removes the ring-to-ring jitter of the section centres (a deep haustral fold
    moves a centre by a millimetre, which would tilt the ring planes by 20 degrees), but on its own it also cuts
    flexures, by about sigma^2 / (2 R). Smoothing the residual once more and adding it back ("twicing",
    transfer function 2G - G^2) keeps the noise suppression and shrinks that bias to the order of sigma^4.
    Callers resample linearly first: an interpolating cubic through raw, unevenly spaced centroids can overshoot
    by centimetres where two of them nearly coincide.
    """
    sigma = max(SMOOTH_SIGMA_M / spacing_m, 0.5)
    once = gaussian_filter1d(points, sigma=sigma, axis=0, mode="nearest")
    out = once + gaussian_filter1d(points - once, sigma=sigma, axis=0, mode="nearest")
    out[0], out[-1] = points[0], points[-1]
    return out


def _pole(mesh, centres: np.ndarray, back_m: float, spacing_m: float, fallback: np.ndarray) -> np.ndarray:
    """Where the centreline's end direction meets the wall.

    centres: (K, 3) uniformly spaced ring centres ending at the last ring with a full-size section. The direction is
    the principal axis of the last `back_m` of centres (a line fit: one noisy ring cannot tilt it); the ray starts at
    the last centre. Returns (3,), `fallback` if the ray misses.
    """
    k = int(min(len(centres), max(3, round(back_m / spacing_m) + 1)))
    tail = centres[-k:]
    mean = tail.mean(axis=0)
    direction = np.linalg.svd(tail - mean)[2][0]
    if np.dot(direction, tail[-1] - tail[0]) < 0:
        direction = -direction
    hit = ray_hit(mesh, tail[-1], direction)
    return fallback if hit is None else hit


def extract_centreline(mesh, start: np.ndarray, end: int, spacing_m: float, *, start_open: bool,
                       start_edges: np.ndarray | None = None, pin_start: np.ndarray | None = None,
                       pin_end: np.ndarray | None = None, first_normal: np.ndarray | None = None,
                       iterations: int = 3, distance: np.ndarray | None = None) -> tuple[Centreline, np.ndarray]:
    """Centreline of a tube from its anal end to its cecal end (see the module docstring for the method).

    mesh: one connected trimesh in metres. start: (K,) vertex indices of the anal end (the opening's boundary loop
    when start_open, with its boundary edges `start_edges` (B, 2); else one vertex at a closed end). end: vertex
    index at the cecal end. pin_start / pin_end: (3,) points the centreline must start / end at (a user-given
    anal or cecal point); by default the opening's centroid, or the pole where the end direction meets the wall.
    distance: (V,) geodesic distance from `start` if already computed.
    Returns (centreline, vertex_s (V,) arc length of each vertex on it). Raises ValueError when the ring planes
    find no sections around the centreline.
    """
    verts = mesh.vertices
    d = geodesic_distance(mesh, start) if distance is None else distance
    area = vertex_areas(mesh)
    edge_m = float(np.median(mesh.edges_unique_length))
    bin_m = max(2.0 * spacing_m, 2.0 * edge_m)
    d_end = d[end]
    inside = np.isfinite(d) & (d <= d_end)
    b = np.floor(d[inside] / bin_m).astype(np.int64)
    w = area[inside]
    count = np.bincount(b, weights=w)
    centroid_all = np.stack([np.bincount(b, weights=w * verts[inside, k]) for k in range(3)], -1)
    has = count > 0
    centroid_all[has] /= count[has, None]
    centroid = centroid_all[has]
    bin_d = (np.flatnonzero(has) + 0.5) * bin_m

    # Band sizes (area-weighted mean distance from the band centroid) tell how far the blunt ends reach: bands
    # within about a diameter of a closed end are caps whose centroids follow the (arbitrary) farthest vertex, so
    # they are dropped and the pole is found by a ray along the tube instead.
    dist_to_centroid = np.linalg.norm(verts[inside] - centroid_all[b], axis=1)
    size = np.bincount(b, weights=w * dist_to_centroid)[has] / count[has]
    keep = _full_size(bin_d, size, np.ones(len(bin_d), dtype=bool), start_open, trim_radii=2.0)
    centroid, bin_d = centroid[keep], bin_d[keep]
    if start_open:
        first = loop_centroid(verts, start_edges) if pin_start is None else pin_start
    else:
        first = pin_start if pin_start is not None else _pole(mesh, centroid[::-1], POLE_FIT_M, bin_m, verts[start[0]])
    last = pin_end if pin_end is not None else _pole(mesh, centroid, POLE_FIT_M, bin_m, verts[end])
    guess = np.vstack([first, centroid, last])
    cl = make_centreline(_smooth(resample_uniform(guess, bin_m, smooth_degree=1), bin_m), spacing_m, start_open,
                         first_normal)
    # Prior arc length of each vertex: its geodesic distance mapped through the bins' place on the first guess.
    guess_s = arc_length(guess)[1:1 + len(bin_d)] * cl.s[-1] / max(arc_length(guess)[-1], 1e-12)
    s_prior = np.interp(d, bin_d, guess_s)
    window = FIRST_WINDOW_M
    for _ in range(iterations):
        vertex_s, _ = project_to_centreline(verts, cl.points, cl.s, s_prior, window)
        sections = ring_sections(mesh, cl, vertex_s, section_window_m(mesh, cl, vertex_s, spacing_m))
        valid = np.array([sec.segments is not None for sec in sections])
        centres = cl.points.copy()
        size = np.zeros(len(sections))
        for i in np.flatnonzero(valid):
            centres[i] = section_centroid(sections[i].segments, cl.normal[i], cl.binormal[i])
            size[i] = section_size(sections[i].segments, centres[i])
        valid &= _full_size(cl.s, size, valid, start_open)
        centres = _pinned_ends(mesh, centres, valid, cl, spacing_m, start_open, start_edges, first, last,
                               pin_start, pin_end)
        length_old = cl.s[-1]
        cl = make_centreline(_smooth(resample_uniform(centres, spacing_m, smooth_degree=1), spacing_m), spacing_m,
                             start_open, first_normal)
        s_prior = vertex_s * cl.s[-1] / length_old
        window = REFINE_WINDOW_M
    vertex_s, _ = project_to_centreline(verts, cl.points, cl.s, s_prior, window)
    return cl, vertex_s


def section_window_m(mesh, cl: Centreline, vertex_s: np.ndarray, spacing_m: float) -> float:
    """Half-width (m) of the s-window of triangles cut per ring.

    A vertex's arc length is its projection on the current centreline, so the triangles a ring's normal plane cuts
    have vertex arc lengths within about an edge of the ring's, even in a bend; the window adds margin for oblique
    triangles (a quarter of the 98th-percentile wall distance, three long edges, six rings) and keeps out the
    other parts of the tube that the same plane cuts far away.
    """
    c = np.stack([np.interp(vertex_s, cl.s, cl.points[:, k]) for k in range(3)], -1)
    r98 = float(np.percentile(np.linalg.norm(mesh.vertices - c, axis=1), 98))
    edge99 = float(np.percentile(mesh.edges_unique_length, 99))
    return max(0.25 * r98, 3.0 * edge99, 6.0 * spacing_m)


def _pinned_ends(mesh, centres, valid, cl, spacing_m, start_open, start_edges, first, last, pin_start, pin_end):
    """Drop rings without a section at the two ends and put back the end points: the anal opening's centroid (or a
    given point), and at a closed end the pole hit by the ray along the end direction (or a given point)."""
    idx = np.flatnonzero(valid)
    if len(idx) < 4:
        raise ValueError(f"only {len(idx)} of {len(valid)} ring planes cut the surface in a contour around the "
                         "centreline (not a tube, or triangles wound inconsistently)")
    # Interior rings without a section (rare: a fold cut tangentially) are interpolated along s.
    inner = np.arange(idx[0], idx[-1] + 1)
    for k in range(3):
        centres[inner, k] = np.interp(cl.s[inner], cl.s[idx], centres[idx, k])
    body = centres[idx[0]:idx[-1] + 1]
    back_m = POLE_FIT_M
    if start_open:
        head = first if pin_start is None else pin_start
        body = body[1:] if idx[0] == 0 else body
    else:
        head = pin_start if pin_start is not None else _pole(mesh, body[::-1], back_m, spacing_m, first)
    tail = pin_end if pin_end is not None else _pole(mesh, body, back_m, spacing_m, last)
    pts = np.vstack([head, body, tail])
    return pts[np.concatenate(([True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9))]
