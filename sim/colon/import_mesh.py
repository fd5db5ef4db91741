"""Import a segmented colon surface (CT colonography, anatomy atlas) as a `ColonAsset`.

`import_colon` reads the file (`mesh_io`), converts it to the LPS metre world frame (DESIGN.md "Units and frames"),
repairs what can be repaired with a `ColonImportWarning` (extra components, holes, duplicate triangles, winding),
refuses what cannot with a `ColonImportError` (non-manifold edges, a branching tube, something that is not a tube),
extracts the centreline (`centreline.py`), samples r(s, theta) on the asset's grid from plane sections of the
surface, skins every original vertex by (s, theta, offset), and labels segments and landmarks from given landmark
points or from `anatomy.default_segment_fractions()`. The original triangles are the asset's render mesh.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from sim.colon.anatomy import default_segment_fractions, load_colon_params
from sim.colon.asset import LANDMARK_NAMES, SEGMENT_NAMES, ColonAsset, Landmark
from sim.colon.centreline import (REFINE_WINDOW_M, Centreline, boundary_loops, double_sweep, extract_centreline,
                                  find_split, geodesic_distance, ring_sections, section_radii, section_window_m,
                                  skin)
from sim.colon.mesh_io import ColonImportError, ColonImportWarning, read_surface

__all__ = ["import_colon", "ColonImportError", "ColonImportWarning"]

#: A raw extent above this (file units) cannot be metres for a colon (which spans 0.1-0.6 m): it is millimetres.
MM_DETECT_EXTENT = 5.0
#: Vertices closer than this (m, world) are one vertex: float32 files resolve ~0.02 um at 0.3 m, and no
#: segmented surface has edges near 1 um.
MERGE_TOL_M = 1e-6
#: A boundary loop shorter than this (m) is a hole in the wall, not the anal opening (anal canal ~20 mm across).
MIN_ANAL_PERIMETER_M = 0.025
#: Below this centreline length / mean diameter the surface is a blob, not a tube (sphere ~2.5, box ~2.6,
#: colon ~30).
MIN_LENGTH_OVER_DIAMETER = 4.0
#: A geodesic band that splits into two large rings over at least this length (m), and over 1.5 diameters, is a
#: branch (small bowel attached), not a haustral pocket.
MIN_BRANCH_LENGTH_M = 0.04
#: Landmarks on the wall (their position is a wall point); the others lie on the centreline (asset.py).
WALL_LANDMARKS = ("rectal_valve_1", "rectal_valve_2", "rectal_valve_3", "ileocecal_valve", "appendiceal_orifice")
#: Landmarks that fix segment boundaries: landmark -> (segment, fraction of that segment where it sits).
JUNCTION_LANDMARKS = {
    "rectosigmoid_junction": ("sigmoid", 0.0),
    "sigmoid_descending_junction": ("descending", 0.0),
    "splenic_flexure": ("splenic_flexure", 0.5),
    "hepatic_flexure": ("hepatic_flexure", 0.5),
    "ileocecal_valve": ("cecum", 0.0),
}
_STAGES = ("read", "repair", "ends", "centreline", "surface", "labels")


def import_colon(path: str | Path, *, units: str = "auto", frame: str = "LPS",
                 source_to_world: np.ndarray | None = None, anal_point=None, cecal_point=None,
                 landmarks: dict | None = None, ring_spacing_m: float = 0.0025, n_theta: int = 48,
                 progress: bool = False) -> ColonAsset:
    """Turn a colon surface file into a ColonAsset.

    path: a surface readable by `mesh_io.read_surface` (STL, OBJ, PLY, OFF, GLB, legacy VTK polydata).
    units: "auto" (a raw extent > 5 means millimetres, converted with a warning), "mm" or "m".
    frame: "LPS" (DICOM patient axes, the world frame) or "RAS" (x and y negated).
    source_to_world: (4, 4) explicit transform from the file's coordinates (its frame and units) to LPS metres;
        replaces `units` and `frame`.
    anal_point, cecal_point: (3,) points in the file's frame and units that name the two ends (nearest opening or
        vertex); by default the largest open boundary loop is the anal verge (else the lower of the two geodesic
        extremities) and the cecal pole is the farthest point along the surface.
    landmarks: {name in LANDMARK_NAMES: (3,) point in the file's frame and units}; the junction landmarks fix the
        segment boundaries, the rest are placed by `default_segment_fractions()` (with a warning).
    ring_spacing_m: centreline ring spacing (m); n_theta: samples of r(s, theta) around each ring.
    progress: show a tqdm bar over the stages.
    Returns a checked ColonAsset whose mesh is the file's triangles in world metres, outward-facing.
    Raises ColonImportError (a ValueError) naming the file and the problem.
    """
    from tqdm import tqdm

    path = Path(path)
    if not 0.0005 <= ring_spacing_m <= 0.01:
        raise ColonImportError(f"{path}: ring_spacing_m must lie in [0.0005, 0.01] m, got {ring_spacing_m}")
    if not 8 <= int(n_theta) <= 256:
        raise ColonImportError(f"{path}: n_theta must lie in [8, 256], got {n_theta}")
    landmarks = dict(landmarks or {})
    unknown = sorted(set(landmarks) - set(LANDMARK_NAMES))
    if unknown:
        raise ColonImportError(f"{path}: unknown landmark(s) {', '.join(unknown)}; known: {', '.join(LANDMARK_NAMES)}")
    repairs: list[str] = []

    def warn(message: str) -> None:
        repairs.append(message)
        warnings.warn(f"{path}: {message}", ColonImportWarning, stacklevel=3)

    bar = tqdm(total=len(_STAGES), desc=f"import {path.name}", disable=not progress, unit="stage")
    try:
        bar.set_postfix_str("read")
        raw = read_surface(path)
        transform, units_used, frame_used = _source_transform(path, raw.vertices, units, frame, source_to_world, warn)
        to_world = lambda p: _apply(transform, p)  # noqa: E731
        anal_world = None if anal_point is None else to_world(_point(path, "anal_point", anal_point))
        cecal_world = None if cecal_point is None else to_world(_point(path, "cecal_point", cecal_point))
        given = {name: to_world(_point(path, f"landmarks['{name}']", p)) for name, p in landmarks.items()}
        bar.update()

        bar.set_postfix_str("repair")
        mesh = _clean(path, raw, transform, warn)
        mesh, anal_edges = _open_ends(path, mesh, anal_world, warn)
        bar.update()

        bar.set_postfix_str("ends")
        start, end, distance = _ends(mesh, anal_edges, anal_world, cecal_world)
        _check_tube(path, mesh, distance, end, transform)
        bar.update()

        bar.set_postfix_str("centreline")
        try:
            # first_normal +x (patient's left) as the procedural generator: theta = 0 is "left" at the verge.
            cl, vertex_s = extract_centreline(
                mesh, start, end, ring_spacing_m, start_open=anal_edges is not None, start_edges=anal_edges,
                pin_start=None if anal_edges is not None or anal_world is None else mesh.vertices[start[0]],
                pin_end=None if cecal_world is None else mesh.vertices[end], first_normal=np.array([1.0, 0.0, 0.0]),
                distance=distance)
        except ValueError as exc:
            raise ColonImportError(f"{path}: no centreline: {exc}") from exc
        bar.update()

        bar.set_postfix_str("surface")
        if _faces_inward(mesh, cl, vertex_s):
            mesh.invert()
            warn("triangles were wound inward; flipped them to face outward")
        theta = 2 * np.pi * np.arange(int(n_theta)) / int(n_theta)
        radius = _radius_grid(mesh, cl, vertex_s, theta, anal_edges)
        v_s, v_theta, v_offset = skin(mesh.vertices, cl, vertex_s, REFINE_WINDOW_M)
        bar.update()

        bar.set_postfix_str("labels")
        starts, marks = _segments_and_landmarks(path, cl, radius, theta, given, warn)
        ring_segment = (np.searchsorted(starts, cl.s, side="right") - 1).astype(np.int8)
        vertex_segment = (np.searchsorted(starts, v_s, side="right") - 1).astype(np.int8)
        bar.update()
    finally:
        bar.close()

    source = {
        "kind": "imported",
        "file": str(path),
        "units": units_used,
        "frame": frame_used,
        "anal_point": None if anal_point is None else [float(x) for x in np.ravel(anal_point)],
        "cecal_point": None if cecal_point is None else [float(x) for x in np.ravel(cecal_point)],
        "landmarks_given": {k: [float(x) for x in np.ravel(v)] for k, v in landmarks.items()},
        "ring_spacing_m": float(ring_spacing_m),
        "n_theta": int(n_theta),
        "anal_end": "opening" if anal_edges is not None else "closed",
        "repairs": repairs,
    }
    asset = ColonAsset(
        centreline_m=cl.points, s_m=cl.s, tangent=cl.tangent, normal=cl.normal, binormal=cl.binormal,
        theta_rad=theta, radius_m=radius, ring_segment=ring_segment, landmarks=marks,
        vertices_m=np.asarray(mesh.vertices, dtype=np.float64), faces=np.asarray(mesh.faces, dtype=np.int64),
        vertex_s_m=v_s, vertex_theta_rad=v_theta, vertex_offset_m=v_offset, vertex_segment=vertex_segment,
        source_to_world=transform, source=source,
    )
    asset.check()
    return asset


# ---- frame and units -----------------------------------------------------------------------------------------
def _source_transform(path: Path, vertices: np.ndarray, units: str, frame: str, source_to_world, warn):
    """The 4x4 source-to-world transform and how it was chosen (units, frame) for the asset's `source`."""
    if source_to_world is not None:
        if units != "auto" or frame != "LPS":
            raise ColonImportError(f"{path}: give either source_to_world or units/frame, not both")
        m = np.asarray(source_to_world, dtype=np.float64)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m[:3, :3])) < 1e-12:
            raise ColonImportError(f"{path}: source_to_world must be an invertible 4x4 matrix, got shape {m.shape}")
        return m, "matrix", "matrix"
    extent = float(np.ptp(vertices, axis=0).max())
    if units == "auto":
        if extent > MM_DETECT_EXTENT:
            units = "mm"
            warn(f"coordinates span {extent:.4g} units, too large for metres (a colon spans 0.1-0.6 m): "
                 "taken as millimetres (pass units='m' or 'mm' to choose)")
        else:
            units = "m"
    if units not in ("mm", "m"):
        raise ColonImportError(f"{path}: units must be 'auto', 'mm' or 'm', got {units!r}")
    if frame not in ("LPS", "RAS"):
        raise ColonImportError(f"{path}: frame must be 'LPS' or 'RAS' (or pass source_to_world), got {frame!r}")
    scale = 0.001 if units == "mm" else 1.0
    axes = np.diag([-1.0, -1.0, 1.0]) if frame == "RAS" else np.eye(3)
    m = np.eye(4)
    m[:3, :3] = scale * axes
    extent_m = extent * scale
    if not 0.05 <= extent_m <= 1.0:
        warn(f"the surface spans {extent_m:.3g} m in {units}, outside what a colon spans (0.1-0.6 m): "
             "check the units")
    return m, units, frame


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to points (..., 3)."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def _point(path: Path, what: str, value) -> np.ndarray:
    p = np.asarray(value, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ColonImportError(f"{path}: {what} must be a finite 3-vector (x, y, z), got {value!r}")
    return p


# ---- repairs -------------------------------------------------------------------------------------------------
def _clean(path: Path, raw, transform: np.ndarray, warn):
    """World-frame mesh with merged corners, without degenerate or duplicate triangles, one component, consistent
    winding. Raises if edges stay shared by more than two triangles."""
    import trimesh

    vertices, faces = _merge_close_vertices(_apply(transform, raw.vertices), raw.faces)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    f = mesh.faces
    # Triangles whose corners merged into one point (a tube's pole ring of zero radius) are not surface: drop them
    # silently. Repeated triangles make edges non-manifold: drop them with a warning.
    collapsed = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    unique = mesh.unique_faces()
    n_duplicate = int((~collapsed & ~unique).sum())
    if collapsed.any() or n_duplicate:
        mesh.update_faces(~collapsed & unique)
    mesh.remove_unreferenced_vertices()  # stray points are not surface (and have no geodesic distance)
    if n_duplicate:
        warn(f"removed {n_duplicate} duplicate triangles")
    if len(mesh.faces) == 0:
        raise ColonImportError(f"{path}: no usable triangles (all degenerate)")
    per_edge = np.bincount(mesh.edges_unique_inverse)
    bad = np.flatnonzero(per_edge > 2)
    if len(bad):
        where = _apply(np.linalg.inv(transform), mesh.vertices[mesh.edges_unique[bad[0], 0]])
        raise ColonImportError(
            f"{path}: non-manifold surface: {len(bad)} edges are shared by more than two triangles (the first near "
            f"({where[0]:.4g}, {where[1]:.4g}, {where[2]:.4g}) in the file's frame), which trimesh cannot repair; "
            "re-mesh the segmentation (e.g. marching cubes with one closed surface)")

    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
    counts = np.bincount(labels)
    if len(counts) > 1:
        area = np.bincount(labels, weights=mesh.area_faces)
        keep = int(np.argmax(area))
        others = np.sort(np.delete(counts, keep))[::-1]
        listed = ", ".join(map(str, others[:5])) + (", ..." if len(others) > 5 else "")
        warn(f"{len(counts)} separate components: kept the largest ({counts[keep]} triangles), dropped "
             f"{len(others)} with {listed} triangles")
        mesh.update_faces(labels == keep)
        mesh.remove_unreferenced_vertices()
    if not mesh.is_winding_consistent:
        trimesh.repair.fix_winding(mesh)
        warn("triangle winding was inconsistent: made consistent")
    return mesh


def _merge_close_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weld vertices closer than MERGE_TOL_M (world metres), transitively. Returns (vertices (V', 3), faces).

    STL and some OBJ writers store one vertex per corner, and a tube's pole ring of (nearly) zero radius is a
    cluster of points micrometres apart. trimesh.merge_vertices rounds coordinates to a grid, which splits such a
    cluster into a few points and leaves edges shared by three or more triangles; welding whole clusters (pairs
    within the tolerance, then connected components) collapses the ring into one point as it should. Each cluster
    keeps its lowest-index vertex, so the order of the file's vertices is kept.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(vertices).query_pairs(MERGE_TOL_M, output_type="ndarray")
    if len(pairs) == 0:
        return vertices, faces
    n = len(vertices)
    _, label = connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)),
                                    directed=False)
    first = np.full(label.max() + 1, n)
    np.minimum.at(first, label, np.arange(n))  # lowest vertex index of each cluster
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    new_index = np.cumsum(keep) - 1
    return vertices[keep], new_index[first[label]][faces]


def _open_ends(path: Path, mesh, anal_world: np.ndarray | None, warn):
    """Pick the anal opening among the open boundary loops and fill every other one (holes in the wall, a cut
    cecal end) with a fan around its centroid. Returns (mesh, anal opening's boundary edges (B, 2) or None).

    trimesh.repair.fill_holes would close the anal opening too (it fills every loop), so the fan is built here the
    way trimesh does it, per loop: each boundary edge (a, b) gets the triangle (b, a, centre), which winds like
    its neighbour.
    """
    import trimesh

    edges, loop, perimeter = boundary_loops(mesh)
    if len(perimeter) == 0:
        return mesh, None
    anal = None
    if anal_world is not None:
        centroids = np.stack([_loop_centroid(mesh.vertices, edges[loop == k]) for k in range(len(perimeter))])
        dist = np.linalg.norm(centroids - anal_world, axis=1)
        k = int(np.argmin(dist))
        if dist[k] <= max(perimeter[k] / np.pi, 0.02):
            anal = k
    elif perimeter[0] >= MIN_ANAL_PERIMETER_M:
        anal = 0
    holes = [k for k in range(len(perimeter)) if k != anal]
    if holes:
        new_vertices, new_faces = [], []
        base = len(mesh.vertices)
        for j, k in enumerate(holes):
            e = edges[loop == k]
            new_vertices.append(_loop_centroid(mesh.vertices, e))
            new_faces.append(np.column_stack([e[:, 1], e[:, 0], np.full(len(e), base + j)]))
        mesh = trimesh.Trimesh(np.vstack([mesh.vertices, np.array(new_vertices)]),
                               np.vstack([mesh.faces, *new_faces]), process=False)
        sizes = ", ".join(f"{perimeter[k] * 1000:.0f}" for k in holes[:5]) + (", ..." if len(holes) > 5 else "")
        warn(f"filled {len(holes)} hole(s) in the surface (perimeter {sizes} mm)"
             + ("" if anal is not None else "; no opening was taken as the anal verge"))
    anal_edges = None if anal is None else edges[loop == anal]
    return mesh, anal_edges


def _loop_centroid(vertices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    w = np.linalg.norm(b - a, axis=1)
    return ((a + b) * 0.5 * w[:, None]).sum(0) / max(w.sum(), 1e-300)


# ---- ends and sanity -----------------------------------------------------------------------------------------
def _nearest_vertex(mesh, point: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(mesh.vertices - point, axis=1)))


def _ends(mesh, anal_edges, anal_world, cecal_world) -> tuple[np.ndarray, int, np.ndarray]:
    """Anal start vertices (K,), cecal end vertex, and the geodesic distance (V,) from the start."""
    if anal_edges is not None:
        start = np.unique(anal_edges)
    elif anal_world is not None:
        start = np.array([_nearest_vertex(mesh, anal_world)])
    elif cecal_world is not None:
        d_cecal = geodesic_distance(mesh, np.array([_nearest_vertex(mesh, cecal_world)]))
        start = np.array([int(np.argmax(np.where(np.isfinite(d_cecal), d_cecal, -1)))])
    else:
        a, b = double_sweep(mesh)
        # The anal verge is the more caudal end (lowest z in LPS).
        start = np.array([a if mesh.vertices[a, 2] <= mesh.vertices[b, 2] else b])
    distance = geodesic_distance(mesh, start)
    if cecal_world is not None:
        end = _nearest_vertex(mesh, cecal_world)
    else:
        end = int(np.argmax(np.where(np.isfinite(distance), distance, -1)))
    return start, end, distance


def _check_tube(path: Path, mesh, distance: np.ndarray, end: int, transform: np.ndarray) -> None:
    """Refuse blobs (length/diameter too small) and branching tubes, with the figures."""
    length = float(distance[end])
    diameter = float(mesh.area) / (np.pi * max(length, 1e-12))
    ratio = length / diameter
    if ratio < MIN_LENGTH_OVER_DIAMETER:
        raise ColonImportError(
            f"{path}: not a tube: the surface is about {length * 1000:.0f} mm long (along the surface, end to end) "
            f"and {diameter * 1000:.0f} mm across, length/diameter {ratio:.1f} < {MIN_LENGTH_OVER_DIAMETER:g} "
            "(a colon is about 30); expected a colon surface")
    # Bands must be a few triangles wide, or a ring of triangles would fall apart into pieces by itself.
    band_m = max(0.01, 3.0 * float(np.median(mesh.edges_unique_length)))
    band_start, n_large = find_split(mesh, np.where(np.isfinite(distance), distance, 0.0), band_m)
    split = n_large >= 2
    if not split.any():
        return
    # Longest run of consecutive split bands.
    edges = np.diff(np.concatenate(([0], split.astype(np.int8), [0])))
    run_start, run_end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(run_end - run_start))
    run_m = (run_end[k] - run_start[k]) * band_m
    if run_m < max(MIN_BRANCH_LENGTH_M, 1.5 * diameter):
        return
    d0 = band_start[run_start[k]]
    near = np.abs(distance - d0) < band_m
    where = _apply(np.linalg.inv(transform), mesh.vertices[near].mean(axis=0))
    raise ColonImportError(
        f"{path}: the tube branches about {d0:.2f} m from the anal end (measured along the surface, near "
        f"({where[0]:.4g}, {where[1]:.4g}, {where[2]:.4g}) in the file's frame): two separate tubes continue for "
        f"{run_m:.2f} m. Small bowel attached? Cut the surface at the ileocecal valve and import again")


# ---- surface on the grid -------------------------------------------------------------------------------------
def _faces_inward(mesh, cl: Centreline, vertex_s: np.ndarray) -> bool:
    """True when the area-weighted triangle normals point toward the centreline on the whole."""
    face_s = vertex_s[mesh.faces].mean(axis=1)
    centre = np.stack([np.interp(face_s, cl.s, cl.points[:, k]) for k in range(3)], -1)
    outward = np.einsum("ij,ij->i", mesh.triangles_center - centre, mesh.face_normals)
    return float((outward * mesh.area_faces).sum()) < 0.0


def _radius_grid(mesh, cl: Centreline, vertex_s: np.ndarray, theta: np.ndarray, anal_edges) -> np.ndarray:
    """r(s, theta) (N, M): in-plane rays from each ring centre to its plane section of the surface.

    Ring 0 of an opening uses the opening's boundary loop (the plane may miss part of a non-planar rim); a closed
    end's ring sits on the wall (r = 0), like the procedural pole; rings or rays without a section (inside a
    pole's last millimetres) are interpolated along s.
    """
    sections = ring_sections(mesh, cl, vertex_s, section_window_m(mesh, cl, vertex_s, cl.s[1] - cl.s[0]))
    n, m = len(cl.s), len(theta)
    radius = np.full((n, m), np.nan)
    for i, sec in enumerate(sections):
        if sec.segments is not None:
            radius[i] = section_radii(sec.segments, cl.points[i], cl.normal[i], cl.binormal[i], theta)
    if anal_edges is not None:
        segs = mesh.vertices[anal_edges]
        radius[0] = section_radii(segs, cl.points[0], cl.normal[0], cl.binormal[0], theta)
    else:
        radius[0] = 0.0  # a closed anal end: the centreline starts on the wall
    radius[-1] = 0.0  # the cecal end is closed (an open one was filled as a hole): the pole lies on the wall
    for k in range(m):
        col = radius[:, k]
        ok = np.isfinite(col)
        if ok.sum() >= 2:
            radius[:, k] = np.interp(cl.s, cl.s[ok], col[ok])
    if not np.all(np.isfinite(radius)):
        radius = np.where(np.isfinite(radius), radius, np.nanmean(radius))
    return radius


# ---- segments and landmarks ----------------------------------------------------------------------------------
def _segments_and_landmarks(path: Path, cl: Centreline, radius: np.ndarray, theta: np.ndarray,
                            given: dict[str, np.ndarray], warn) -> tuple[np.ndarray, dict[str, Landmark]]:
    """Segment start arc lengths (len(SEGMENT_NAMES),) and all landmarks.

    Given junction landmarks anchor the default fractions: an unanchored boundary at fraction f sits at the
    arc length interpolated between the anchors around f (anchors (0, 0) and (1, L) always), so boundaries keep
    their order and their default proportions between the given ones.
    """
    from sim.colon.centreline import project_to_centreline

    params = load_colon_params()
    fractions = default_segment_fractions(params)
    length = float(cl.s[-1])
    given_s = {}
    for name, p in given.items():
        s, _ = project_to_centreline(p[None, :], cl.points, cl.s)
        given_s[name] = float(s[0])
    anchors = [(0.0, 0.0), (1.0, length)]
    for name, (segment, where) in JUNCTION_LANDMARKS.items():
        if name in given_s:
            f0, f1 = fractions[segment]
            anchors.append((f0 + where * (f1 - f0), given_s[name]))
    anchors.sort()
    f_anchor, s_anchor = np.array(anchors).T
    if np.any(np.diff(s_anchor) < 0):
        order = ", ".join(f"{n} at s={given_s[n]:.3f} m" for n in JUNCTION_LANDMARKS if n in given_s)
        raise ColonImportError(f"{path}: junction landmarks out of insertion order along the centreline: {order}")
    at = lambda f: float(np.interp(f, f_anchor, s_anchor))  # noqa: E731
    starts = np.array([0.0] + [at(fractions[name][0]) for name in SEGMENT_NAMES[1:]])
    if not given:
        warn("no landmarks given: segments labelled and all landmarks placed by the default fractions of the "
             "length (anatomy.default_segment_fractions)")

    def seg_range(name):
        i = SEGMENT_NAMES.index(name)
        return starts[i], (starts[i + 1] if i + 1 < len(starts) else length)

    def on_centreline(s):
        return np.array([np.interp(s, cl.s, cl.points[:, k]) for k in range(3)])

    def on_wall(s, direction):
        """Wall point at arc length s toward a world direction (3,) projected into the ring plane."""
        i = int(np.clip(np.searchsorted(cl.s, s), 0, len(cl.s) - 1))
        ang = np.arctan2(direction @ cl.binormal[i], direction @ cl.normal[i])
        r = np.interp(np.mod(ang, 2 * np.pi), np.append(theta, 2 * np.pi), np.append(radius[i], radius[i, 0]))
        return cl.points[i] + r * (np.cos(ang) * cl.normal[i] + np.sin(ang) * cl.binormal[i])

    left = np.array([1.0, 0.0, 0.0])  # patient's left, +x in LPS: the medial side of the cecum
    default_s: dict[str, float] = {"anal_verge": 0.0, "cecal_pole": length}
    for name, (segment, where) in JUNCTION_LANDMARKS.items():
        f0, f1 = fractions[segment]
        default_s[name] = at(f0 + where * (f1 - f0))
    rect = seg_range("rectum")
    for k, vs in enumerate(params.rectal_valve_s_m):
        default_s[f"rectal_valve_{k + 1}"] = float(np.clip(vs, *rect))
    for name, segment, pick in (("sigmoid_apex", "sigmoid", np.argmax), ("transverse_low_point", "transverse",
                                                                           np.argmin)):
        a, b = seg_range(segment)
        inside = np.flatnonzero((cl.s >= a) & (cl.s <= b))
        if len(inside) == 0:
            inside = np.array([int(np.clip(np.searchsorted(cl.s, 0.5 * (a + b)), 0, len(cl.s) - 1))])
        default_s[name] = float(cl.s[inside[pick(cl.points[inside, 2])]])
    default_s["appendiceal_orifice"] = max(length - params.appendiceal_orifice_above_pole_m, 0.0)

    marks: dict[str, Landmark] = {}
    placed = []
    for name in LANDMARK_NAMES:
        if name in given_s:
            s = given_s[name]
            pos = given[name] if name in WALL_LANDMARKS else on_centreline(s)
        else:
            placed.append(name)
            s = default_s[name]
            if name in WALL_LANDMARKS:
                side = -left if name.startswith("rectal_valve") and \
                    params.rectal_valve_side[int(name[-1]) - 1] == "right" else left
                pos = on_wall(s, side)
            else:
                pos = on_centreline(s)
        marks[name] = Landmark(name, float(s), np.asarray(pos, dtype=np.float64))
    if given and placed:
        warn(f"landmarks not given, placed by the default fractions: {', '.join(placed)}")
    return starts, marks
