"""Mucosal coverage: how much of the colon wall the camera has seen and inspected (reference/metrics.md §4.2).

Geometry. The deformed wall is the colon body's particle grid: R rings of P particles (ring r, particle p at index
r P + p). Cell (r, p) is the quad between rings r, r + 1 and particles p, p + 1 (wrapping in p). The grid is the
`(s, theta)` parametrisation (DESIGN.md, "Colon body"): a point at bilinear coordinates (a, b) in cell (r, p) sits at
s = ring_s[r] + a (ring_s[r+1] - ring_s[r]), theta = 2 pi (p + b) / P. Coverage is kept on a raster K times finer
than the grid in both directions (K = `CoverageConfig.subsamples`); each raster point is a bilinear point of its cell
and carries the cell's rest area / K^2 (rest areas: a fraction of "the mucosa" must not change as the wall
stretches).

Per coverage update (every `update_interval_s` of simulated time, 10 Hz by default):

1. Depth image by ray casting (the visibility pass, metrics.md §4.2 step 2, like C3VD's ID buffer): G x G rays on an
   equidistant fisheye image of the camera's field of view (image radius rho in [0, 1] <-> angle from the optical
   axis rho * FOV / 2), cast against the triangles of the cells within `window_m` of arc of the camera's ring (the
   s-locality that bounds the cost), each ring band culled by its bounding sphere first. Depth = first hit.
2. Every raster point of the window is tested on its own (so the figures do not depend on the ray spacing):
   in_fov (angle from the axis <= FOV / 2), visible (its distance is not behind the depth image at its direction,
   inverse depth interpolated bilinearly, within `visibility_tolerance`), distance (<= 100 mm: seen; <= 50 mm:
   close enough to inspect) and incidence (angle between the wall normal and the line of sight <= 75 degrees).
3. Seen points are marked; points meeting the inspection criteria gain dwell time (the time since the previous
   update, at most `max_dwell_step_s`). A point is inspected once its dwell reaches 0.5 s (BMC Med Educ 2017
   illumination criterion, metrics.md §4.1). Nothing counts while the view is red (most rays end within
   `red_out_depth_m`: the lens is on the mucosa).

Phases: the caller says whether a sample belongs to insertion (before the cecum) or withdrawal; each phase has its
own seen / dwell rasters, and "overall" is their union (dwell added).

Outputs: `CoverageResult` (the rasters) with area fractions overall, per phase and per segment, clear-view and
lost-view figures, and `save` / `load` (``coverage.npz``, which `colosim score` reads beside a recording).

Everything is deterministic (fixed ray directions, no random sampling) and headless (no OpenGL). Kernels are numba
(cached, nogil) and single-threaded on purpose: a session calls them on its physics thread beside a render thread on
a 2-core machine, where a parallel ray pass measured more CPU time (8 ms against 3.6 ms per update) and no less wall
time under load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

#: Phases of a procedure (index into the per-phase rasters).
INSERTION = 0
WITHDRAWAL = 1
PHASE_NAMES = ("insertion", "withdrawal")

#: metrics.md §4.2 step 3: "seen" within the C3VD depth cap, "inspected" within the diminutive-polyp distance.
SEEN_DISTANCE_M = 0.100
INSPECT_DISTANCE_M = 0.050
#: metrics.md §4.2 step 4: oblique views (behind folds, along the wall) do not count as inspected.
MAX_INCIDENCE_RAD = math.radians(75.0)
#: metrics.md §4.2 step 5: inspected once illuminated for 0.5 s in total (BMC Med Educ 2017).
INSPECT_DWELL_S = 0.5
#: metrics.md §4.2 step 1 default field of view when no scope model gives one.
DEFAULT_FIELD_OF_VIEW_RAD = math.radians(140.0)
#: The issue's rate: coverage at least every 0.1 s of simulated time.
UPDATE_INTERVAL_S = 0.1
#: metrics.md §4.2 "clear view": lumen centre (the deepest ray) within the central 50 % of the image radius.
CLEAR_VIEW_IMAGE_RADIUS = 0.5
#: metrics.md §4.2 "lost-view episodes": red-out lasting at least 1 s.
LOST_VIEW_MIN_S = 1.0
#: Absolute slack of the visibility test (see `CoverageConfig.visibility_tolerance`).
VISIBILITY_SLACK_M = 0.001
#: The camera's ring is searched within this many rings of the last one (0.2 m at 5 mm rings: 2 s at the fastest
#: hand speed, far more than the 0.1 s between updates) ...
TRACK_RINGS = 40
#: ... unless the nearest ring centroid there is farther than this (beyond any lumen radius: the camera jumped).
TRACK_LOST_M = 0.05


@dataclass(frozen=True)
class CoverageConfig:
    """Thresholds (metrics.md §4.2) and the cost knobs of the coverage pass.

    - field_of_view_rad: full cone angle of the camera.
    - seen_distance_m, inspect_distance_m, max_incidence_rad, inspect_dwell_s: the §4.2 criteria.
    - window_m: only rings within this arc length of the camera's ring are cast against and scored (bounds the cost;
      more than the 100 mm seen distance so a bend does not cut the view short).
    - image_size: rays across the fisheye image (about 0.785 G^2 rays in the image disc).
    - subsamples: raster points per grid cell along s and along theta.
    - visibility_tolerance: a point is visible when its distance is at most (1 + tol) times the depth image there
      (plus 1 mm): the depth image is coarse, and a point on the first surface must not shadow itself.
    - update_interval_s: live scoring updates coverage this often (simulated time).
    - max_dwell_step_s: dwell credited per update at most (a gap in the samples is not looking).
    - red_out_depth_m, red_out_fraction: the view is red when this fraction of rays end closer than this.
    """

    field_of_view_rad: float = DEFAULT_FIELD_OF_VIEW_RAD
    seen_distance_m: float = SEEN_DISTANCE_M
    inspect_distance_m: float = INSPECT_DISTANCE_M
    max_incidence_rad: float = MAX_INCIDENCE_RAD
    inspect_dwell_s: float = INSPECT_DWELL_S
    window_m: float = 0.15
    image_size: int = 48
    subsamples: int = 4
    visibility_tolerance: float = 0.05
    update_interval_s: float = UPDATE_INTERVAL_S
    max_dwell_step_s: float = 0.2
    red_out_depth_m: float = 0.004
    red_out_fraction: float = 0.5

    def __post_init__(self):
        if not 0 < self.field_of_view_rad < 2 * math.pi:
            raise ValueError(f"field_of_view_rad must be in (0, 2 pi), got {self.field_of_view_rad}")
        if self.image_size < 4 or self.subsamples < 1:
            raise ValueError(f"image_size must be >= 4 and subsamples >= 1, got {self.image_size}, {self.subsamples}")
        if not 0 < self.inspect_distance_m <= self.seen_distance_m:
            raise ValueError("need 0 < inspect_distance_m <= seen_distance_m")


@dataclass(frozen=True)
class CoverageGrid:
    """The wall grid coverage is measured on (R rings of P particles).

    ring_s_m (R,): arc length of each ring from the anal verge; ring_segment (R,) int: index into segment_names;
    rest_position_m (R P, 3): the rest wall (gives the area weights).
    """

    ring_count: int
    particles_per_ring: int
    ring_s_m: np.ndarray
    ring_segment: np.ndarray
    segment_names: tuple
    rest_position_m: np.ndarray

    def __post_init__(self):
        if self.ring_count < 2 or self.particles_per_ring < 3:
            raise ValueError(f"need >= 2 rings of >= 3 particles, got {self.ring_count} x {self.particles_per_ring}")
        if np.shape(self.rest_position_m) != (self.ring_count * self.particles_per_ring, 3):
            raise ValueError(f"rest_position_m must have shape ({self.ring_count * self.particles_per_ring}, 3)")

    @classmethod
    def from_colon(cls, colon) -> CoverageGrid:
        """The grid of a `physics.colon_body.ColonBodyModel`."""
        return cls(int(colon.ring_count), int(colon.particles_per_ring), np.asarray(colon.ring_s_m, dtype=float),
                   np.asarray(colon.ring_segment, dtype=np.int64), tuple(colon.segment_names),
                   np.ascontiguousarray(colon.rest_position_m, dtype=np.float64))


# --- kernels ------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _ray_triangle(ox, oy, oz, dx, dy, dz, a, b, c):  # pragma: no cover - compiled
    """Distance along the unit ray (o, d) to triangle (a, b, c) (each (3,)), or inf (Moller-Trumbore, two-sided)."""
    e1x, e1y, e1z = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    e2x, e2y, e2z = c[0] - a[0], c[1] - a[1], c[2] - a[2]
    px, py, pz = dy * e2z - dz * e2y, dz * e2x - dx * e2z, dx * e2y - dy * e2x
    det = e1x * px + e1y * py + e1z * pz
    if abs(det) < 1e-18:
        return np.inf
    inv = 1.0 / det
    tx, ty, tz = ox - a[0], oy - a[1], oz - a[2]
    u = (tx * px + ty * py + tz * pz) * inv
    if u < 0.0 or u > 1.0:
        return np.inf
    qx, qy, qz = ty * e1z - tz * e1y, tz * e1x - tx * e1z, tx * e1y - ty * e1x
    v = (dx * qx + dy * qy + dz * qz) * inv
    if v < 0.0 or u + v > 1.0:
        return np.inf
    t = (e2x * qx + e2y * qy + e2z * qz) * inv
    return t if t > 1e-9 else np.inf


@njit(cache=True, nogil=True)
def _bounding_spheres(pos, P, ring_lo, ring_hi, band_centre, band_radius, quad_centre, quad_radius):  # pragma: no cover
    """Bounding spheres of each ring band r in [ring_lo, ring_hi) (rings r and r + 1; band_centre (B, 3),
    band_radius (B,)) and of each of its quads (quad_centre (B, P, 3), quad_radius (B, P))."""
    for b in range(ring_hi - ring_lo):
        r = ring_lo + b
        cx = cy = cz = 0.0
        for k in range(2 * P):
            i = r * P + k
            cx += pos[i, 0]
            cy += pos[i, 1]
            cz += pos[i, 2]
        cx /= 2 * P
        cy /= 2 * P
        cz /= 2 * P
        rr = 0.0
        for k in range(2 * P):
            i = r * P + k
            rr = max(rr, (pos[i, 0] - cx) ** 2 + (pos[i, 1] - cy) ** 2 + (pos[i, 2] - cz) ** 2)
        band_centre[b, 0], band_centre[b, 1], band_centre[b, 2] = cx, cy, cz
        band_radius[b] = math.sqrt(rr) + 1e-6
        for p in range(P):
            q = (p + 1) % P
            corners = (r * P + p, r * P + q, (r + 1) * P + p, (r + 1) * P + q)
            qx = qy = qz = 0.0
            for i in corners:
                qx += 0.25 * pos[i, 0]
                qy += 0.25 * pos[i, 1]
                qz += 0.25 * pos[i, 2]
            rr = 0.0
            for i in corners:
                rr = max(rr, (pos[i, 0] - qx) ** 2 + (pos[i, 1] - qy) ** 2 + (pos[i, 2] - qz) ** 2)
            quad_centre[b, p, 0], quad_centre[b, p, 1], quad_centre[b, p, 2] = qx, qy, qz
            quad_radius[b, p] = math.sqrt(rr) + 1e-6


@njit(cache=True, nogil=True)
def _sphere_missed(cx, cy, cz, radius, dx, dy, dz, best):  # pragma: no cover - compiled
    """True if the unit ray from the origin along d cannot hit the sphere (centre c relative to the ray's origin)
    before distance `best`."""
    tc = cx * dx + cy * dy + cz * dz
    c2 = cx * cx + cy * cy + cz * cz
    r2 = radius * radius
    if c2 <= r2:
        return False  # the origin is inside
    return tc < 0.0 or c2 - tc * tc > r2 or tc - radius > best


@njit(cache=True, nogil=True)
def _depth_image(pos, P, ring_lo, ring_hi, ring_cam, origin, forward, right, up, half_fov, G,
                 depth):  # pragma: no cover - compiled
    """Cast the G x G fisheye rays against the bands [ring_lo, ring_hi); depth (G, G) = first hit (inf: none).

    Pixel (i, j) has image coordinates x = (j + 0.5) 2 / G - 1 (right), y = (i + 0.5) 2 / G - 1 (up); its ray is at
    angle rho * half_fov from the axis (rho = |(x, y)|). Pixels beyond a 2-pixel margin outside the disc are skipped.
    Bands are visited outward from the camera's ring `ring_cam`, so a near hit lets the bounding spheres (per band,
    then per quad) skip most of the far geometry.
    """
    nb = ring_hi - ring_lo
    band_centre = np.empty((max(nb, 1), 3))
    band_radius = np.empty(max(nb, 1))
    quad_centre = np.empty((max(nb, 1), P, 3))
    quad_radius = np.empty((max(nb, 1), P))
    _bounding_spheres(pos, P, ring_lo, ring_hi, band_centre, band_radius, quad_centre, quad_radius)
    order = np.empty(max(nb, 1), dtype=np.int64)
    start = min(max(ring_cam - ring_lo, 0), max(nb - 1, 0))
    k = 0
    for step in range(nb + 1):
        for b in (start - step, start + step + 1):
            if 0 <= b < nb and k < nb:
                order[k] = b
                k += 1
    rho_max = 1.0 + 4.0 / G
    ox, oy, oz = origin[0], origin[1], origin[2]
    for i in range(G):
        y = (i + 0.5) * 2.0 / G - 1.0
        for j in range(G):
            x = (j + 0.5) * 2.0 / G - 1.0
            rho = math.sqrt(x * x + y * y)
            depth[i, j] = np.inf
            if rho > rho_max:
                continue
            alpha = min(rho * half_fov, math.pi)
            sa = math.sin(alpha)
            ca = math.cos(alpha)
            cphi = x / rho if rho > 0 else 1.0
            sphi = y / rho if rho > 0 else 0.0
            dx = ca * forward[0] + sa * (cphi * right[0] + sphi * up[0])
            dy = ca * forward[1] + sa * (cphi * right[1] + sphi * up[1])
            dz = ca * forward[2] + sa * (cphi * right[2] + sphi * up[2])
            best = np.inf
            for kb in range(nb):
                b = order[kb]
                if _sphere_missed(band_centre[b, 0] - ox, band_centre[b, 1] - oy, band_centre[b, 2] - oz,
                                  band_radius[b], dx, dy, dz, best):
                    continue
                r = ring_lo + b
                for p in range(P):
                    if _sphere_missed(quad_centre[b, p, 0] - ox, quad_centre[b, p, 1] - oy, quad_centre[b, p, 2] - oz,
                                      quad_radius[b, p], dx, dy, dz, best):
                        continue
                    q = (p + 1) % P
                    i00, i01 = r * P + p, r * P + q
                    i10, i11 = (r + 1) * P + p, (r + 1) * P + q
                    t = _ray_triangle(ox, oy, oz, dx, dy, dz, pos[i00], pos[i01], pos[i11])
                    if t < best:
                        best = t
                    t = _ray_triangle(ox, oy, oz, dx, dy, dz, pos[i00], pos[i11], pos[i10])
                    if t < best:
                        best = t
            depth[i, j] = best


@njit(cache=True, nogil=True, inline="always")
def _bilinear_point(pos, P, r, p, a, b):  # pragma: no cover - compiled
    """Point x, d/da and d/db of the bilinear patch of cell (r, p) at (a, b) in [0, 1]^2 (a along s, b along theta),
    as 9 scalars (x, y, z, da_x, da_y, da_z, db_x, db_y, db_z): no arrays, this runs for every raster point."""
    q = (p + 1) % P
    i00, i01, i10, i11 = r * P + p, r * P + q, (r + 1) * P + p, (r + 1) * P + q
    w00, w01, w10, w11 = (1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b
    x = w00 * pos[i00, 0] + w01 * pos[i01, 0] + w10 * pos[i10, 0] + w11 * pos[i11, 0]
    y = w00 * pos[i00, 1] + w01 * pos[i01, 1] + w10 * pos[i10, 1] + w11 * pos[i11, 1]
    z = w00 * pos[i00, 2] + w01 * pos[i01, 2] + w10 * pos[i10, 2] + w11 * pos[i11, 2]
    dax = (1 - b) * (pos[i10, 0] - pos[i00, 0]) + b * (pos[i11, 0] - pos[i01, 0])
    day = (1 - b) * (pos[i10, 1] - pos[i00, 1]) + b * (pos[i11, 1] - pos[i01, 1])
    daz = (1 - b) * (pos[i10, 2] - pos[i00, 2]) + b * (pos[i11, 2] - pos[i01, 2])
    dbx = (1 - a) * (pos[i01, 0] - pos[i00, 0]) + a * (pos[i11, 0] - pos[i10, 0])
    dby = (1 - a) * (pos[i01, 1] - pos[i00, 1]) + a * (pos[i11, 1] - pos[i10, 1])
    dbz = (1 - a) * (pos[i01, 2] - pos[i00, 2]) + a * (pos[i11, 2] - pos[i10, 2])
    return x, y, z, dax, day, daz, dbx, dby, dbz


@njit(cache=True, nogil=True)
def _raster_areas(rest, R, P, K, area):  # pragma: no cover - compiled
    """Rest area (m^2) of every raster point: area ((R - 1) K, P K) = |d/da x d/db| / K^2 at the point."""
    for r in range(R - 1):
        for p in range(P):
            for ka in range(K):
                for kb in range(K):
                    _, _, _, a0, a1, a2, b0, b1, b2 = _bilinear_point(rest, P, r, p, (ka + 0.5) / K, (kb + 0.5) / K)
                    nx = a1 * b2 - a2 * b1
                    ny = a2 * b0 - a0 * b2
                    nz = a0 * b1 - a1 * b0
                    area[r * K + ka, p * K + kb] = math.sqrt(nx * nx + ny * ny + nz * nz) / (K * K)


@njit(cache=True, nogil=True)
def _inverse_depth_at(inv_depth, G, x, y):  # pragma: no cover - compiled
    """Bilinear interpolation of the inverse depth image (G, G) at image coordinates (x, y) in [-1, 1]^2."""
    fj = (x + 1.0) * 0.5 * G - 0.5
    fi = (y + 1.0) * 0.5 * G - 0.5
    j0 = int(math.floor(fj))
    i0 = int(math.floor(fi))
    wj = fj - j0
    wi = fi - i0
    total = 0.0
    weight = 0.0
    for di in range(2):
        ii = min(max(i0 + di, 0), G - 1)
        w_i = wi if di == 1 else 1.0 - wi
        for dj in range(2):
            jj = min(max(j0 + dj, 0), G - 1)
            w = w_i * (wj if dj == 1 else 1.0 - wj)
            v = inv_depth[ii, jj]
            if v >= 0.0:  # -1 marks pixels that were not cast
                total += w * v
                weight += w
    return total / weight if weight > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _score_points(pos, P, K, ring_lo, ring_hi, origin, forward, right, up, half_fov, inv_depth, G, tol,
                  seen_d, inspect_d, cos_incidence, dwell_step, seen, dwell, seen_now):  # pragma: no cover
    """Test every raster point of cells in rings [ring_lo, ring_hi - 1); mark `seen` and add `dwell_step` to
    `dwell` where the inspection criteria hold. seen_now: the same raster (zeroed by the caller), set to 1 for points
    seen this update. Returns the number of points seen now."""
    count = 0
    for r in range(ring_lo, ring_hi - 1):
        for p in range(P):
            for ka in range(K):
                for kb in range(K):
                    row, col = r * K + ka, p * K + kb
                    x0, x1, x2, a0, a1, a2, b0, b1, b2 = _bilinear_point(pos, P, r, p, (ka + 0.5) / K,
                                                                         (kb + 0.5) / K)
                    vx, vy, vz = x0 - origin[0], x1 - origin[1], x2 - origin[2]
                    d = math.sqrt(vx * vx + vy * vy + vz * vz)
                    if d > seen_d or d <= 0.0:
                        continue
                    cf = (vx * forward[0] + vy * forward[1] + vz * forward[2]) / d
                    alpha = math.acos(min(1.0, max(-1.0, cf)))
                    if alpha > half_fov:
                        continue
                    cr = (vx * right[0] + vy * right[1] + vz * right[2]) / d
                    cu = (vx * up[0] + vy * up[1] + vz * up[2]) / d
                    lateral = math.sqrt(cr * cr + cu * cu)
                    rho = alpha / half_fov
                    ix = rho * cr / lateral if lateral > 0 else 0.0
                    iy = rho * cu / lateral if lateral > 0 else 0.0
                    inv = _inverse_depth_at(inv_depth, G, ix, iy)
                    # Visible unless the depth image shows a surface clearly in front of the point.
                    if inv > 0.0 and d > (1.0 + tol) / inv + VISIBILITY_SLACK_M:
                        continue
                    seen[row, col] = True
                    seen_now[row, col] = 1
                    count += 1
                    if d > inspect_d:
                        continue
                    nx = a1 * b2 - a2 * b1
                    ny = a2 * b0 - a0 * b2
                    nz = a0 * b1 - a1 * b0
                    nn = math.sqrt(nx * nx + ny * ny + nz * nz)
                    if nn == 0.0:
                        continue
                    if abs(nx * vx + ny * vy + nz * vz) / (nn * d) >= cos_incidence:
                        dwell[row, col] += dwell_step
    return count


@njit(cache=True, nogil=True)
def _nearest_ring(pos, P, x, ring_lo, ring_hi):  # pragma: no cover - compiled
    """Index of the ring in [ring_lo, ring_hi) whose centroid is nearest to x (3,), and that distance squared."""
    best = ring_lo
    best_d2 = np.inf
    for r in range(ring_lo, ring_hi):
        cx = cy = cz = 0.0
        for p in range(P):
            cx += pos[r * P + p, 0]
            cy += pos[r * P + p, 1]
            cz += pos[r * P + p, 2]
        d2 = (cx / P - x[0]) ** 2 + (cy / P - x[1]) ** 2 + (cz / P - x[2]) ** 2
        if d2 < best_d2:
            best_d2 = d2
            best = r
    return best, best_d2


# --- records ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageView:
    """One coverage update: the camera's ring, how many raster points it saw, whether the view was red or clear."""

    t_s: float
    ring: int
    points_seen: int
    red_out: bool
    clear_view: bool


@dataclass
class CoverageResult:
    """Coverage rasters of a procedure (rows along s, columns around theta; PH = 2 phases).

    - s_m (S,), theta_rad (T,): raster point coordinates; segment (S,) int: segment index of each row.
    - area_m2 (S, T): rest wall area of each raster point.
    - seen (PH, S, T) bool; dwell_s (PH, S, T): per phase (0 insertion, 1 withdrawal).
    - segment_names, config thresholds used (inspect_dwell_s), time figures (updates, clear view, lost view).
    """

    s_m: np.ndarray
    theta_rad: np.ndarray
    segment: np.ndarray
    segment_names: tuple
    area_m2: np.ndarray
    seen: np.ndarray
    dwell_s: np.ndarray
    inspect_dwell_s: float = INSPECT_DWELL_S
    phase_time_s: np.ndarray = field(default_factory=lambda: np.zeros(2))
    clear_view_time_s: np.ndarray = field(default_factory=lambda: np.zeros(2))
    red_out_time_s: np.ndarray = field(default_factory=lambda: np.zeros(2))
    lost_view_episodes: list[tuple[float, float]] = field(default_factory=list)

    def seen_mask(self, phase: int | None = None) -> np.ndarray:
        """(S, T) bool: seen in `phase` (None: in either)."""
        return self.seen.any(axis=0) if phase is None else self.seen[phase]

    def inspected_mask(self, phase: int | None = None) -> np.ndarray:
        """(S, T) bool: dwell in `phase` (None: both phases added) reached `inspect_dwell_s`."""
        dwell = self.dwell_s.sum(axis=0) if phase is None else self.dwell_s[phase]
        return dwell >= self.inspect_dwell_s - 1e-9

    def fraction(self, mask: np.ndarray, segment: int | None = None) -> float | None:
        """Area fraction of `mask` (S, T) over the wall (or one segment's rows); None for a segment with no rows."""
        area = self.area_m2 if segment is None else self.area_m2[self.segment == segment]
        m = mask if segment is None else mask[self.segment == segment]
        total = float(area.sum())
        return None if total <= 0 else float(area[m].sum() / total)

    def to_dict(self) -> dict:
        """The metrics.md §6 coverage payload: overall and per phase, per segment, clear view and lost view."""
        out: dict = {}
        for name, phase in (("overall", None), ("insertion", INSERTION), ("withdrawal", WITHDRAWAL)):
            seen, inspected = self.seen_mask(phase), self.inspected_mask(phase)
            out[name] = {
                "seen_fraction": self.fraction(seen),
                "inspected_fraction": self.fraction(inspected),
                "per_segment": {
                    self.segment_names[k]: {
                        "seen_fraction": self.fraction(seen, k),
                        "inspected_fraction": self.fraction(inspected, k),
                    }
                    for k in np.unique(self.segment).tolist()
                },
            }
        total_t = float(self.phase_time_s.sum())
        out["clear_view_fraction"] = None if total_t <= 0 else float(self.clear_view_time_s.sum() / total_t)
        out["red_out_time_s"] = float(self.red_out_time_s.sum())
        out["lost_view_episodes"] = [{"start_s": a, "end_s": b} for a, b in self.lost_view_episodes]
        out["wall_area_m2"] = float(self.area_m2.sum())
        return out

    def save(self, path: Path | str) -> Path:
        """Write the rasters to an ``.npz`` (what `colosim score` reads as ``coverage.npz``)."""
        path = Path(path)
        lost = np.array(self.lost_view_episodes, dtype=float).reshape(-1, 2)
        np.savez_compressed(path, s_m=self.s_m, theta_rad=self.theta_rad, segment=self.segment,
                            segment_names=np.array(self.segment_names), area_m2=self.area_m2, seen=self.seen,
                            dwell_s=self.dwell_s, inspect_dwell_s=self.inspect_dwell_s,
                            phase_time_s=self.phase_time_s, clear_view_time_s=self.clear_view_time_s,
                            red_out_time_s=self.red_out_time_s, lost_view_episodes=lost)
        return path

    @classmethod
    def load(cls, path: Path | str) -> CoverageResult:
        """Read a `save`d result; a ValueError names the file and the missing array."""
        path = Path(path)
        with np.load(path, allow_pickle=False) as data:
            needed = ("s_m", "theta_rad", "segment", "segment_names", "area_m2", "seen", "dwell_s")
            missing = [k for k in needed if k not in data.files]
            if missing:
                raise ValueError(f"{path}: not a coverage file (missing {', '.join(missing)})")
            get = lambda k, default: data[k] if k in data.files else default  # noqa: E731
            return cls(data["s_m"], data["theta_rad"], data["segment"], tuple(str(s) for s in data["segment_names"]),
                       data["area_m2"], data["seen"].astype(bool), data["dwell_s"],
                       float(get("inspect_dwell_s", INSPECT_DWELL_S)), get("phase_time_s", np.zeros(2)),
                       get("clear_view_time_s", np.zeros(2)), get("red_out_time_s", np.zeros(2)),
                       [tuple(map(float, row)) for row in get("lost_view_episodes", np.zeros((0, 2)))])


# --- the accumulator ----------------------------------------------------------------------------------------------


class CoverageAccumulator:
    """Accumulates coverage over the samples of one procedure: call `update` per coverage sample, `result` at the end.

    Cost per update is bounded by the window (rings within `window_m` of arc), the ray budget (G^2) and the raster
    points of the window; it does not grow with the colon's length or the procedure's duration.
    """

    def __init__(self, grid: CoverageGrid, config: CoverageConfig | None = None):
        self.grid = grid
        self.config = config or CoverageConfig()
        R, P, K = grid.ring_count, grid.particles_per_ring, self.config.subsamples
        self._area = np.zeros(((R - 1) * K, P * K))
        _raster_areas(np.ascontiguousarray(grid.rest_position_m, dtype=np.float64), R, P, K, self._area)
        ring_s = np.asarray(grid.ring_s_m, dtype=float)
        frac = (np.arange(K) + 0.5) / K
        self.s_m = (ring_s[:-1, None] + frac[None, :] * np.diff(ring_s)[:, None]).reshape(-1)
        self.theta_rad = 2 * math.pi * (np.arange(P * K) + 0.5) / (P * K)
        self.row_segment = np.repeat(np.asarray(grid.ring_segment[:-1], dtype=np.int64), K)
        self._seen = np.zeros((2,) + self._area.shape, dtype=np.bool_)
        self._dwell = np.zeros((2,) + self._area.shape)
        self.seen_now = np.zeros(self._area.shape, dtype=np.int8)
        G = self.config.image_size
        self.depth_m = np.full((G, G), np.inf)
        self._inv_depth = np.zeros((G, G))
        xs = (np.arange(G) + 0.5) * 2.0 / G - 1.0
        self._rho = np.hypot(xs[None, :], xs[:, None])
        self._in_disc = self._rho <= 1.0
        self._phase_time = np.zeros(2)
        self._clear_time = np.zeros(2)
        self._red_time = np.zeros(2)
        self._red_run_start: float | None = None
        self._lost: list[tuple[float, float]] = []
        self._last_t: float | None = None
        self._ring: int | None = None
        self._cached_fractions: tuple[int, float, float] | None = None
        self.last_view: CoverageView | None = None
        self.n_updates = 0

    def update(self, t_s: float, camera_position_m: np.ndarray, camera_forward: np.ndarray, camera_up: np.ndarray,
               wall_position_m: np.ndarray, phase: int = INSERTION) -> CoverageView:
        """One coverage sample at time `t_s`: camera pose (3,) each (forward and up unit, orthogonal), the deformed
        wall (R P, 3) and the phase (INSERTION / WITHDRAWAL). Dwell credited = time since the previous update
        (at most `max_dwell_step_s`; the first update gets `update_interval_s`)."""
        cfg, grid = self.config, self.grid
        R, P, K, G = grid.ring_count, grid.particles_per_ring, cfg.subsamples, cfg.image_size
        t = float(t_s)
        step = cfg.update_interval_s if self._last_t is None else t - self._last_t
        if step < 0:
            raise ValueError(f"coverage samples must come in time order ({t} s after {self._last_t} s)")
        step = min(step, cfg.max_dwell_step_s)
        self._last_t = t
        pos = np.ascontiguousarray(wall_position_m, dtype=np.float64)
        origin = np.ascontiguousarray(camera_position_m, dtype=np.float64).reshape(3)
        forward = np.asarray(camera_forward, dtype=np.float64).reshape(3)
        forward = forward / np.linalg.norm(forward)
        up = np.asarray(camera_up, dtype=np.float64).reshape(3)
        up = up - forward * float(up @ forward)
        up = up / np.linalg.norm(up)
        right = np.cross(forward, up)  # image x: with up as image y, the viewer's right
        ring = self._camera_ring(pos, origin)
        s_cam = grid.ring_s_m[ring]
        lo = int(np.searchsorted(grid.ring_s_m, s_cam - cfg.window_m, side="left"))
        hi = int(np.searchsorted(grid.ring_s_m, s_cam + cfg.window_m, side="right"))
        lo, hi = max(lo, 0), min(max(hi, lo + 2), R)
        half_fov = 0.5 * cfg.field_of_view_rad
        _depth_image(pos, P, lo, hi - 1, ring, origin, forward, right, up, half_fov, G, self.depth_m)
        cast = np.isfinite(self.depth_m) | (self._rho <= 1.0 + 4.0 / G)
        np.divide(1.0, self.depth_m, out=self._inv_depth)
        self._inv_depth[~cast] = -1.0
        disc_depth = self.depth_m[self._in_disc]
        red = bool(np.mean(disc_depth < cfg.red_out_depth_m) >= cfg.red_out_fraction)
        # Lumen centre = the deepest ray (a miss counts as deepest); clear view when it is near the image centre.
        deepest = int(np.argmax(np.where(self._in_disc, self.depth_m, -1.0)))
        clear = (not red) and bool(self._rho.reshape(-1)[deepest] <= CLEAR_VIEW_IMAGE_RADIUS)
        self._phase_time[phase] += step
        if clear:
            self._clear_time[phase] += step
        points = 0
        self.seen_now[:] = 0
        if red:
            self._red_time[phase] += step
            if self._red_run_start is None:
                self._red_run_start = t
        else:
            self._close_red_run(t)
            points = int(_score_points(pos, P, K, lo, hi, origin, forward, right, up, half_fov, self._inv_depth, G,
                                       cfg.visibility_tolerance, cfg.seen_distance_m, cfg.inspect_distance_m,
                                       math.cos(cfg.max_incidence_rad), step, self._seen[phase],
                                       self._dwell[phase], self.seen_now))
        self.n_updates += 1
        self.last_view = CoverageView(t, ring, points, red, clear)
        return self.last_view

    def _camera_ring(self, pos: np.ndarray, origin: np.ndarray) -> int:
        """The camera's ring: the nearest ring centroid within `TRACK_RINGS` of the previous update's ring (so that a
        loop of colon touching the camera's own cannot capture it), or over the whole colon on the first update or
        when the tracked ring is farther than `TRACK_LOST_M` (the camera has jumped: a gap in the samples)."""
        R, P = self.grid.ring_count, self.grid.particles_per_ring
        if self._ring is not None:
            lo, hi = max(self._ring - TRACK_RINGS, 0), min(self._ring + TRACK_RINGS + 1, R)
            ring, d2 = _nearest_ring(pos, P, origin, lo, hi)
            if d2 <= TRACK_LOST_M**2:
                self._ring = int(ring)
                return self._ring
        self._ring = int(_nearest_ring(pos, P, origin, 0, R)[0])
        return self._ring

    def _close_red_run(self, t: float) -> None:
        if self._red_run_start is not None:
            if t - self._red_run_start >= LOST_VIEW_MIN_S:
                self._lost.append((self._red_run_start, t))
            self._red_run_start = None

    def result(self) -> CoverageResult:
        """The rasters so far (copies; an open red-out run is closed at the last update)."""
        lost = list(self._lost)
        if self._red_run_start is not None and self._last_t is not None:
            if self._last_t - self._red_run_start >= LOST_VIEW_MIN_S:
                lost.append((self._red_run_start, self._last_t))
        return CoverageResult(self.s_m.copy(), self.theta_rad.copy(), self.row_segment.copy(),
                              tuple(self.grid.segment_names), self._area.copy(), self._seen.copy(),
                              self._dwell.copy(), self.config.inspect_dwell_s, self._phase_time.copy(),
                              self._clear_time.copy(), self._red_time.copy(), lost)

    def seen_fraction(self) -> float:
        """Area fraction seen so far in either phase (computed once per update: a HUD may ask every frame)."""
        return self._fractions()[0]

    def inspected_fraction(self) -> float:
        """Area fraction inspected so far (both phases' dwell added)."""
        return self._fractions()[1]

    def _fractions(self) -> tuple[float, float]:
        if self._cached_fractions is None or self._cached_fractions[0] != self.n_updates:
            total = self._area.sum()
            seen = float(self._area[self._seen.any(axis=0)].sum() / total)
            inspected_mask = self._dwell.sum(axis=0) >= self.config.inspect_dwell_s - 1e-9
            self._cached_fractions = (self.n_updates, seen, float(self._area[inspected_mask].sum() / total))
        return self._cached_fractions[1], self._cached_fractions[2]
