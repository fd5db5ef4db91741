"""The procedural adult colon: a generalised cylinder generated deterministically from a seed and `ColonParams`.

Method
1. Draw per-seed segment lengths, lumen diameters and flexure angles around their defaults, inside the ranges of
   anatomy.md (Segments table).
2. Lay out knots in the LPS patient frame following the mean landmark layout of anatomy.md (Frame table): anal
   canal and rectum on the sacral curve, a sigmoid loop rising anteriorly, descending colon on the left flank up to
   a high acute splenic flexure, a transverse colon that sags anteriorly, hepatic flexure, ascending colon on the
   right down to the cecum in the right iliac fossa. One shape knob per segment (a bulge, the sigmoid loop height,
   the transverse sag) is solved by least squares so every segment has its drawn length.
3. Interpolate the knots with a cubic spline, resample uniformly and carry parallel-transport frames.
4. Build r(s, theta): a smoothed diameter profile, three taeniae with semilunar haustral folds between them
   (a triangular lumen in the transverse colon), three rectal valves, the ileocecal valve lip, the appendiceal
   orifice, and a rounded cecal pole.
5. Check the tube: inside the abdomen box, bends not tighter than the (inner-wall-compressed) lumen, clearance
   between parts far apart along s, no ring folding over its neighbour, and no two triangles of the mesh crossing.
   A draw that fails is redrawn from the same random stream, so the result stays a pure function of
   (seed, params).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.interpolate import BSpline
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from sim.colon.anatomy import LIMB_SEGMENTS, ColonParams, load_colon_params
from sim.colon.asset import SEGMENT_NAMES, ColonAsset, Landmark
from sim.colon.frames import (arc_length, curvature, parallel_transport_frames, resample_uniform, surface_points,
                              tangents)
from sim.colon.mesh_checks import self_intersections
from sim.colon.tube_mesh import tube_faces, tube_vertices

#: Segments whose shape knob is solved for length, in knot order (the anal canal is straight).
_KNOB_SEGMENTS = ("rectum", "sigmoid", "descending", "transverse", "ascending", "cecum")
#: Distance (m) of the knots placed on each limb next to a flexure: sets how tight the flexure turns.
_FLEXURE_ARM_M = 0.055
#: Gaussian smoothing (m) of the centreline: removes tight spots between control points.
_SMOOTHING_M = 0.012
#: How far (m) a fitted segment length may miss its drawn length before the draw is rejected.
_LENGTH_TOLERANCE_M = 0.002
#: Smallest allowed bend radius as a multiple of the local maximum lumen radius. Tighter than 1 is allowed because
#: the wall on the inner side of a bend is compressed (capped at `_INNER_WALL_FRACTION` of the bend radius), as the
#: inner wall of an acute flexure is.
_MIN_BEND_RADIUS_FACTOR = 0.6
#: On the inner side of a bend the lumen radius stays below this fraction of the bend radius, so neighbouring
#: rings never cross (a tube is locally embedded while r * kappa < 1).
_INNER_WALL_FRACTION = 0.8
#: How far (m) along the centreline a tight bend narrows the inner wall (about a lumen diameter).
_INNER_WALL_REACH_M = 0.03
#: Minimum wall-to-wall gap (m) between parts of the tube far apart in s.
_MIN_WALL_GAP_M = 0.004


class ColonGenerationError(RuntimeError):
    """No valid colon could be drawn for the given seed and parameters."""


@dataclass
class _Draw:
    """Per-seed anatomy: lengths (m) per segment, radii (m), flexure angles (rad) and layout jitters."""

    length: dict[str, float]
    radius: dict[str, float]
    splenic_angle: float
    hepatic_angle: float
    jitter: np.ndarray  # (12,) unit-variance normal draws that move the layout
    fold_phase: float
    valve_depth: np.ndarray
    valve_extent: np.ndarray
    icv_above_pole: float


def generate_colon(seed: int = 0, params: ColonParams | None = None, ring_spacing_m: float = 0.0015,
                   n_theta: int = 48, max_attempts: int = 40) -> ColonAsset:
    """Generate the procedural colon for `seed`.

    ring_spacing_m: distance between mesh rings along the centreline (folds are ~3 mm wide, so keep <= 2 mm).
    n_theta: samples around each ring (a multiple of 3 keeps the three taeniae on vertices).
    Returns a ColonAsset whose mesh is open at the anal verge and closed at the cecal pole.
    """
    params = params or load_colon_params()
    if not 0.0005 <= ring_spacing_m <= 0.005:
        raise ValueError(f"ring_spacing_m must lie in [0.0005, 0.005] m, got {ring_spacing_m}")
    if not 12 <= n_theta <= 256:
        raise ValueError(f"n_theta must lie in [12, 256], got {n_theta}")
    rng = np.random.default_rng(seed)
    failures = []
    for attempt in range(max_attempts):
        draw = _draw_anatomy(params, rng)
        centre, junction_s = _build_centreline(draw, params, ring_spacing_m)
        if centre is None:
            failures.append(junction_s["problem"])
            continue
        labels = _ring_labels(arc_length(centre), junction_s, params.flexure_zone_length_m)
        max_radius = _max_radius_profile(draw, labels, params)
        problem = _tube_problem(centre, max_radius, params)
        if problem is None:
            asset = _finish(centre, junction_s, labels, draw, params, n_theta, seed, attempt, rng)
            problem = ring_fold(asset) or _mesh_crossing(asset)
            if problem is None:
                return asset
        failures.append(problem)
    raise ColonGenerationError(f"seed {seed}: no valid colon in {max_attempts} draws; last problems: "
                               + "; ".join(failures[-3:]))


# ---- 1. per-seed draws ---------------------------------------------------------------------------------------
def _draw_anatomy(p: ColonParams, rng: np.random.Generator) -> _Draw:
    default_total = sum(p.segments[n].length_m for n in LIMB_SEGMENTS) + 2 * p.flexure_zone_length_m
    scale = p.total_length_m / default_total
    redundancy = {"sigmoid": p.sigmoid_redundancy, "transverse": p.transverse_redundancy}
    length, radius = {}, {}
    for name in LIMB_SEGMENTS:
        spec = p.segments[name]
        lo, hi = spec.length_range_m
        mean = spec.length_m * scale * redundancy.get(name, 1.0)
        # Stay a little inside the range so that measuring a segment on the resampled tube cannot fall out.
        margin = 0.01 * (hi - lo)
        length[name] = float(np.clip(mean * np.exp(p.variation * rng.standard_normal()), lo + margin, hi - margin))
        dlo, dhi = spec.diameter_range_m
        d = spec.diameter_m * p.diameter_scale * np.exp(0.5 * p.variation * rng.standard_normal())
        radius[name] = 0.5 * float(np.clip(d, dlo, dhi))
    s_lo, s_hi = p.splenic_angle_range_deg
    h_lo, h_hi = p.hepatic_angle_range_deg
    splenic = np.clip(p.splenic_angle_deg + 10.0 * rng.standard_normal(), s_lo + 3, s_hi - 3)
    hepatic = np.clip(p.hepatic_angle_deg + 10.0 * rng.standard_normal(), h_lo + 3, h_hi - 3)
    n_valves = len(p.rectal_valve_s_m)
    return _Draw(
        length=length, radius=radius,
        splenic_angle=float(np.radians(splenic)), hepatic_angle=float(np.radians(hepatic)),
        jitter=rng.standard_normal(12),
        fold_phase=float(rng.uniform(0.0, 2 * np.pi / p.taenia_count)),
        valve_depth=rng.uniform(*p.rectal_valve_depth_range_m, size=n_valves),
        valve_extent=np.radians(rng.uniform(*p.rectal_valve_extent_range_deg, size=n_valves)),
        icv_above_pole=float(rng.uniform(*p.ileocecal_valve_above_pole_range_m)),
    )


# ---- 2. centreline layout --------------------------------------------------------------------------------------
def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _orthogonal(v, axis) -> np.ndarray:
    """The part of v orthogonal to the unit vector `axis`, normalised."""
    v = np.asarray(v, dtype=np.float64)
    return _unit(v - np.dot(v, axis) * axis)


def _limb(a: np.ndarray, b: np.ndarray, n_inner: int, shape, ta: np.ndarray | None = None,
          tb: np.ndarray | None = None) -> list[np.ndarray]:
    """Interior control points of a limb from a to b, displaced by shape(f) (3,) at fractions f in (0, 1).

    Without end directions the points lie evenly on the chord; with unit directions ta (leaving a) and tb
    (arriving at b) they lie on the cubic Hermite curve with those tangents, so the limb joins the corners on
    either side without a kink. Returns n_inner points.
    """
    chord = float(np.linalg.norm(b - a))
    ta = (b - a) / chord if ta is None else ta
    tb = (b - a) / chord if tb is None else tb
    chord *= 0.6  # tangent length: enough to leave and meet the corners smoothly without looping
    out = []
    for f in np.arange(1, n_inner + 1) / (n_inner + 1):
        h00, h10, h01, h11 = 2 * f**3 - 3 * f**2 + 1, f**3 - 2 * f**2 + f, -2 * f**3 + 3 * f**2, f**3 - f**2
        out.append(h00 * a + h10 * chord * ta + h01 * b + h11 * chord * tb + shape(f))
    return out


def _knots(draw: _Draw, knobs: np.ndarray, zone_m: float) -> tuple[np.ndarray, dict[str, int]]:
    """Control points (K, 3) for given shape knobs, and the control-point index of each junction.

    knobs: (6,) rectum bulge (m), sigmoid loop size (m), descending chord factor, transverse sag (m), ascending
    chord factor, cecum chord factor. Positions follow anatomy.md's Frame table, moved by the draw's jitter (about +-20 % of the
    layout). Each limb's length grows monotonically with its knob, which is what the length fit relies on.
    """
    j = draw.jitter * 0.01  # metres per unit jitter
    L = draw.length
    b_rect, h_sig, c_desc, sag, c_asc, c_cec = knobs
    pts: list[np.ndarray] = []
    junction: dict[str, int] = {}

    def add(points, name=None):
        for n_point, q in enumerate(points):
            if name and n_point == 0:
                junction[name] = len(pts)
            pts.append(np.asarray(q, dtype=np.float64))

    x_hat, y_hat, z_hat = np.eye(3)
    arch = lambda f: np.sin(np.pi * f)  # noqa: E731  (0 at both ends, 1 in the middle)

    # Anal canal: straight, upward and slightly anterior.
    u_ac = _unit([0.0, -0.25, 1.0])
    av = np.zeros(3)
    arj = L["anal_canal"] * u_ac
    add([av], "anal_verge")
    add(_limb(av, arj, 1, lambda f: np.zeros(3)))
    # Rectum: along the sacral curve to the rectosigmoid junction (~(0.01, 0.06, 0.13)), bulging posteriorly.
    u_r = _unit([0.01 + j[0], 0.06 + j[1], 0.12])
    rs = arj + 0.92 * L["rectum"] * u_r
    post = _orthogonal(y_hat, u_r)
    add([arj], "rectum")
    add(_limb(arj, rs, 3, lambda f: b_rect * arch(f) * post))
    # Sigmoid: a loop that rises anteriorly (apex left of the midline), swinging left then right, down to the
    # sigmoid-descending junction in the left iliac fossa (~(0.10, 0.03, 0.15)).
    sd = np.array([0.10 + j[2], 0.02 + 0.5 * j[3], 0.15 + j[4]])
    u_d = _unit([0.02 + 0.5 * j[6], 0.05 + 0.5 * j[7], 0.25])
    # The sigmoid-descending junction is an acute turn: the loop comes down laterally into it.
    u_sig_end = _unit([1.0, 0.3, -0.8])
    corner_sd = _corner(sd, u_sig_end, u_d, 0.05)
    up_ant = _unit([0.1 * j[5] / 0.01, 0.1, 1.0])
    add([rs], "sigmoid")
    add(_limb(rs, corner_sd[0], 5, lambda f: h_sig * (arch(f) * up_ant + 0.25 * np.sin(2 * np.pi * f) * x_hat)
                                             + 0.01 * arch(f) * y_hat, ta=u_r, tb=u_sig_end))
    add(corner_sd[:3])
    add(corner_sd[3:4], "descending")
    add(corner_sd[4:])
    # Descending colon: up the left flank to the splenic flexure (~(0.12, 0.08, 0.40)), bulging laterally.
    sf = sd + c_desc * L["descending"] * u_d
    lateral_d = _orthogonal(x_hat, u_d)
    # Splenic flexure: the transverse leaves at the drawn interior angle, medially and anteriorly; the corner is
    # rounded by an arc tangent to both limbs.
    side = _orthogonal([-1.0, -0.3, 0.0], u_d)
    u_to = np.cos(draw.splenic_angle) * (-u_d) + np.sin(draw.splenic_angle) * side
    arc = _corner(sf, u_d, u_to, _FLEXURE_ARM_M)
    add(_limb(corner_sd[-1], arc[0], 2, lambda f: 0.01 * arch(f) * lateral_d, ta=u_d, tb=u_d))
    add(arc[:3])
    add(arc[3:4], "splenic_flexure")
    add(arc[4:])
    # Hepatic flexure (~(-0.11, 0.04, 0.33)) and the ascending direction (down the right flank).
    hf = np.array([-0.11 + j[8], 0.04 + 0.5 * j[9], 0.33 + j[10]])
    u_asc = _unit([0.02, -0.04 + 0.3 * j[11], -0.21])
    side_h = _orthogonal([1.0, -0.3, -0.1], u_asc)
    u_back = np.cos(draw.hepatic_angle) * u_asc + np.sin(draw.hepatic_angle) * side_h  # from HF into transverse
    arc_h = _corner(hf, -u_back, u_asc, _FLEXURE_ARM_M)
    # Transverse colon: sags anteriorly and caudally between the flexures.
    sag_dir = _unit([-0.1, -0.7, -1.0])
    # A rounded U: two legs along the sag direction and a bottom spread across the width, so the transverse
    # keeps a wide turn however deep it hangs.
    a, b = arc[-1], arc_h[0]
    add([a + 0.02 * u_to + 0.35 * sag * sag_dir,
         a + 0.2 * (b - a) + 0.85 * sag * sag_dir,
         a + 0.5 * (b - a) + sag * sag_dir,
         a + 0.8 * (b - a) + 0.85 * sag * sag_dir,
         b - 0.02 * u_back + 0.35 * sag * sag_dir])
    add(arc_h[:3])
    add(arc_h[3:4], "hepatic_flexure")
    add(arc_h[4:])
    # Ascending colon down to the cecum, which ends at the pole in the right iliac fossa.
    cs = hf + c_asc * L["ascending"] * u_asc
    lateral_a = _orthogonal(-x_hat, u_asc)
    add(_limb(arc_h[-1], cs, 2, lambda f: 0.005 * arch(f) * lateral_a, ta=u_asc, tb=u_asc))
    add([cs], "cecum")
    u_cec = _unit(u_asc + np.array([0.05, -0.1, 0.0]))
    pole = cs + c_cec * L["cecum"] * u_cec
    add(_limb(cs, pole, 1, lambda f: np.zeros(3)))
    add([pole], "cecal_pole")
    return np.array(pts), junction


def _knot_radius_bound(draw: _Draw, junction: dict[str, int], n_knots: int, p: ColonParams) -> np.ndarray:
    """Upper bound of the lumen radius (m) at each control point (K,), from the segment it lies in."""
    order = ["anal_canal", "rectum", "sigmoid", "descending", "transverse", "ascending", "cecum"]
    starts = [junction[n] for n in ("anal_verge", "rectum", "sigmoid", "descending", "splenic_flexure",
                                    "hepatic_flexure", "cecum")]
    bound = np.empty(n_knots)
    for name, a, b in zip(order, starts, starts[1:] + [n_knots]):
        bound[a:b] = draw.radius[name]
    # Flexures and junctions carry the larger of the neighbouring radii.
    bound = np.maximum(bound, np.concatenate([bound[:1], bound[:-1]]))
    bound = np.maximum(bound, np.concatenate([bound[1:], bound[-1:]]))
    return bound * _bulge_factor(p)


def _corner_arc(corner: np.ndarray, u_in: np.ndarray, u_out: np.ndarray, arm_m: float, n: int = 5) -> np.ndarray:
    """Points (n, 3) on the circular arc tangent to the line arriving at `corner` along `u_in` and the line leaving
    along `u_out`, touching each at `arm_m` from the corner (a rounded flexure instead of a kink)."""
    start, end = corner - arm_m * u_in, corner + arm_m * u_out
    turn = np.arccos(np.clip(np.dot(u_in, u_out), -1.0, 1.0))  # exterior angle; interior = pi - turn
    radius = arm_m / np.tan(0.5 * turn)
    toward_centre = _orthogonal(u_out - u_in, u_in)
    centre = start + radius * toward_centre
    a0, a1 = start - centre, end - centre
    # Slerp between the two radius vectors around the arc's centre.
    angles = np.linspace(0.0, 1.0, n) * turn
    return centre + (np.sin(turn - angles)[:, None] * a0 + np.sin(angles)[:, None] * a1) / np.sin(turn)


def _corner(corner: np.ndarray, u_in: np.ndarray, u_out: np.ndarray, arm_m: float,
            lead_m: float = 0.03) -> np.ndarray:
    """Control points (7, 3) that turn a corner smoothly: a lead point on each straight arm `lead_m` before the
    arc, and the 5 points of `_corner_arc`. The middle point (index 3) stands for the corner itself."""
    arc = _corner_arc(corner, u_in, u_out, arm_m)
    return np.vstack([arc[0] - lead_m * u_in, arc, arc[-1] + lead_m * u_out])


def _spline_path(knots: np.ndarray, spacing_m: float, knot_radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clamped cubic B-spline with the knots as control points, sampled every `spacing_m` of arc length, smoothed
    and curvature-limited.

    An approximating (not interpolating) spline is C2, stays inside the control hull and never overshoots. Each
    knot's place on the curve is taken at its Greville abscissa. knot_radius (K,) bounds the lumen radius near
    each knot, so bends are kept wider than the lumen. Returns (points (P, 3), arc length of each knot's place (K,)).
    """
    n, k = len(knots), 3
    chord = arc_length(knots)
    u = chord / chord[-1]
    # Knot vector by de Boor's averaging of the control-polygon parameters (clamped at both ends).
    inner = np.array([u[j:j + k].mean() for j in range(1, n - k)])
    t = np.concatenate([np.zeros(k + 1), inner, np.ones(k + 1)])
    spline = BSpline(t, knots, k)
    greville = np.array([t[j + 1:j + k + 1].mean() for j in range(n)])
    fine_u = np.unique(np.concatenate([np.linspace(0.0, 1.0, int(chord[-1] / 0.0005) + 2), greville]))
    fine = spline(fine_u)
    fine_s = arc_length(fine)
    # Uniform arc-length samples: smoothing and relaxation then act over real distances, even where the spline
    # parameter crawls (a fold in the control polygon).
    n_samples = max(8, int(round(fine_s[-1] / spacing_m)) + 1)
    even_s = np.linspace(0.0, fine_s[-1], n_samples)
    pts = np.stack([np.interp(even_s, fine_s, fine[:, c]) for c in range(3)], axis=1)
    pts = _smooth_path(pts, spacing_m, _SMOOTHING_M)
    radius = np.interp(even_s, np.interp(greville, fine_u, fine_s), knot_radius)
    pts = _limit_curvature(pts, radius * _MIN_BEND_RADIUS_FACTOR * 1.05, reach=max(2, int(0.01 / spacing_m)))
    # The relaxation can leave a sample-to-sample zigzag at the edge of the region it moved; a light pass removes
    # it (a zigzag makes neighbouring rings tilt into each other).
    pts = _smooth_path(pts, spacing_m, 0.004)
    s = arc_length(pts)
    knot_index = np.interp(greville, fine_u, fine_s) / (fine_s[-1] / (n_samples - 1))
    return pts, np.interp(knot_index, np.arange(n_samples), s)


def _smooth_path(points: np.ndarray, step_m: float, sigma_m: float) -> np.ndarray:
    """Gaussian-smooth a path (P, 3) sampled every `step_m` of arc length.

    Caps the curvature of any tight spot the control points leave (the length fit then restores the segment
    lengths). The ends are extended along their tangents first, which Gaussian smoothing leaves unchanged, so the
    anal verge stays at the origin and the pole in place.
    """
    pad = int(4 * sigma_m / step_m) + 1
    head = points[0] - (points[1] - points[0]) * np.arange(pad, 0, -1)[:, None]
    tail = points[-1] + (points[-1] - points[-2]) * np.arange(1, pad + 1)[:, None]
    padded = np.vstack([head, points, tail])
    return gaussian_filter1d(padded, sigma=sigma_m / step_m, axis=0, mode="nearest")[pad:-pad]


def _limit_curvature(points: np.ndarray, min_radius_m: np.ndarray, reach: int, max_iterations: int = 600) -> np.ndarray:
    """Relax the path where its bend radius is below `min_radius_m` (P,): Laplacian steps on the offending points
    and `reach` neighbours on each side, until no bend is too tight (or the budget is spent; the tube check then
    rejects the draw). Returns (P, 3)."""
    pts = np.ascontiguousarray(points, dtype=np.float64).copy()
    _relax_tight_bends(pts, np.ascontiguousarray(min_radius_m, dtype=np.float64), reach, max_iterations)
    return pts


@njit(cache=True, nogil=True)
def _relax_tight_bends(pts, min_radius, reach, max_iterations):  # pragma: no cover - compiled
    n = pts.shape[0]
    tight = np.zeros(n, dtype=np.bool_)
    region = np.zeros(n, dtype=np.bool_)
    new = np.empty_like(pts)
    for _ in range(max_iterations):
        any_tight = False
        for i in range(1, n - 1):
            a0 = pts[i, 0] - pts[i - 1, 0]
            a1 = pts[i, 1] - pts[i - 1, 1]
            a2 = pts[i, 2] - pts[i - 1, 2]
            b0 = pts[i + 1, 0] - pts[i, 0]
            b1 = pts[i + 1, 1] - pts[i, 1]
            b2 = pts[i + 1, 2] - pts[i, 2]
            la = np.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
            lb = np.sqrt(b0 * b0 + b1 * b1 + b2 * b2)
            c = (a0 * b0 + a1 * b1 + a2 * b2) / (la * lb)
            c = min(1.0, max(-1.0, c))
            kappa = np.arccos(c) / (0.5 * (la + lb))
            tight[i] = kappa * min_radius[i] > 1.0
            any_tight = any_tight or tight[i]
        if not any_tight:
            break
        region[:] = False
        for i in range(1, n - 1):
            if tight[i]:
                for j in range(max(1, i - reach), min(n - 1, i + reach + 1)):
                    region[j] = True
        new[:] = pts
        for i in range(1, n - 1):
            if region[i]:
                for d in range(3):
                    new[i, d] = 0.5 * pts[i, d] + 0.25 * (pts[i - 1, d] + pts[i + 1, d])
        pts[:] = new


def _segment_lengths(knot_s: np.ndarray, junction: dict[str, int], zone_m: float) -> dict[str, float]:
    """Lengths the knob segments have for given knot arc lengths (flexure half-zones removed from the limbs)."""
    s = {name: knot_s[i] for name, i in junction.items()}
    return {
        "rectum": s["sigmoid"] - s["rectum"],
        "sigmoid": s["descending"] - s["sigmoid"],
        "descending": s["splenic_flexure"] - s["descending"] - 0.5 * zone_m,
        "transverse": s["hepatic_flexure"] - s["splenic_flexure"] - zone_m,
        "ascending": s["cecum"] - s["hepatic_flexure"] - 0.5 * zone_m,
        "cecum": s["cecal_pole"] - s["cecum"],
    }


def _build_centreline(draw: _Draw, p: ColonParams, spacing_m: float) -> tuple[np.ndarray | None, dict]:
    """Solve the shape knobs for the drawn lengths; return the uniform centreline (N, 3) and junction arc lengths,
    or (None, {"problem": why}) when the knobs cannot reach the drawn lengths."""
    zone = p.flexure_zone_length_m
    targets = np.array([draw.length[n] for n in _KNOB_SEGMENTS])

    def residual(knobs):
        knots, junction = _knots(draw, knobs, zone)
        _, knot_s = _spline_path(knots, 0.004, _knot_radius_bound(draw, junction, len(knots), p))
        got = _segment_lengths(knot_s, junction, zone)
        return np.array([got[n] for n in _KNOB_SEGMENTS]) - targets

    x0 = np.array([0.02, 0.10, 1.0, 0.08, 1.0, 0.95])
    lower = np.array([-0.03, 0.0, 0.5, 0.02, 0.5, 0.5])
    upper = np.array([0.08, 0.45, 1.5, 0.35, 1.5, 1.3])
    fit = least_squares(residual, x0, bounds=(lower, upper), x_scale=0.02, xtol=1e-10, ftol=1e-10)
    worst = int(np.argmax(np.abs(fit.fun)))
    if abs(fit.fun[worst]) > _LENGTH_TOLERANCE_M:
        # A knob at its bound cannot make the drawn length: reject the draw rather than return other lengths.
        return None, {"problem": f"{_KNOB_SEGMENTS[worst]} length off by {fit.fun[worst] * 1000:.0f} mm "
                                 f"(drawn {targets[worst] * 1000:.0f} mm)"}
    knots, junction = _knots(draw, fit.x, zone)
    dense, knot_s = _spline_path(knots, 0.002, _knot_radius_bound(draw, junction, len(knots), p))
    centre = resample_uniform(dense, spacing_m)
    # Map the junction arc lengths from the dense path onto the resampled one (lengths agree to < 0.1 %).
    ratio = arc_length(centre)[-1] / arc_length(dense)[-1]
    junction_s = {name: float(knot_s[i] * ratio) for name, i in junction.items()}
    return centre, junction_s


def _ring_labels(s: np.ndarray, junction_s: dict[str, float], zone_m: float) -> np.ndarray:
    """Segment index (into SEGMENT_NAMES) of each ring from the junction arc lengths. Returns (N,) int8."""
    bounds = [
        ("anal_canal", 0.0),
        ("rectum", junction_s["rectum"]),
        ("sigmoid", junction_s["sigmoid"]),
        ("descending", junction_s["descending"]),
        ("splenic_flexure", junction_s["splenic_flexure"] - 0.5 * zone_m),
        ("transverse", junction_s["splenic_flexure"] + 0.5 * zone_m),
        ("hepatic_flexure", junction_s["hepatic_flexure"] - 0.5 * zone_m),
        ("ascending", junction_s["hepatic_flexure"] + 0.5 * zone_m),
        ("cecum", junction_s["cecum"]),
    ]
    labels = np.zeros(len(s), dtype=np.int8)
    for name, start in bounds:
        labels[s >= start - 1e-12] = SEGMENT_NAMES.index(name)
    return labels


# ---- 3. radius ---------------------------------------------------------------------------------------------------
def _base_radius(draw: _Draw, labels: np.ndarray, spacing_m: float) -> np.ndarray:
    """Mean lumen radius per ring (N,): segment radii, flexures halfway between neighbours, blended over ~2 cm."""
    r = draw.radius
    per_segment = {**r, "splenic_flexure": 0.5 * (r["descending"] + r["transverse"]),
                   "hepatic_flexure": 0.5 * (r["transverse"] + r["ascending"])}
    raw = np.array([per_segment[SEGMENT_NAMES[i]] for i in labels])
    smooth = gaussian_filter1d(raw, sigma=0.012 / spacing_m, mode="nearest")
    return smooth


def _inner_wall_limit(centre: np.ndarray, normal: np.ndarray, binormal: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Largest radius (N, M) each ring may have at each angle without crossing its neighbours: the bend radius
    (times _INNER_WALL_FRACTION) divided by how much that angle faces the centre of curvature; unlimited on the
    outer side."""
    # Rings up to about a lumen diameter apart can cross on the inner side of a tight bend, not only neighbours:
    # take the largest curvature within that reach.
    spacing = float(np.linalg.norm(centre[1] - centre[0]))
    kappa = maximum_filter1d(curvature(centre), size=2 * int(_INNER_WALL_REACH_M / spacing) + 1, mode="nearest")
    second = np.gradient(np.gradient(centre, axis=0), axis=0)
    unit_tangent = tangents(centre)
    toward = second - np.einsum("ij,ij->i", second, unit_tangent)[:, None] * unit_tangent
    norm = np.linalg.norm(toward, axis=1)
    toward = np.where(norm[:, None] > 0, toward / np.maximum(norm, 1e-300)[:, None], 0.0)
    angle = np.arctan2(np.einsum("ij,ij->i", toward, binormal), np.einsum("ij,ij->i", toward, normal))
    facing = np.clip(np.cos(theta[None, :] - angle[:, None]), 0.0, None) * kappa[:, None]
    return np.where(facing > 0, _INNER_WALL_FRACTION / np.maximum(facing, 1e-300), np.inf)


def _pole_profile(s: np.ndarray, length_m: float, cap_m: float, spacing_m: float) -> np.ndarray:
    """Factor (N,) that rounds the cecal pole: an ellipsoidal cap over the last `cap_m` of the centreline that
    closes one ring spacing beyond the last ring (where the apex vertex sits), so no ring collapses to a point."""
    x = np.clip((s - (length_m - cap_m)) / (cap_m + spacing_m), 0.0, 1.0)
    return np.sqrt(np.clip(1.0 - x**2, 0.0, 1.0))


def _bulge_factor(p: ColonParams) -> float:
    """How far r(s, theta) can exceed a segment's radius: the triangular lumen's corners plus the haustral bulge
    (0.06, see `_radius_grid`)."""
    return 1.0 + max(p.triangularity.values(), default=0.0) + 0.06


def _max_radius_profile(draw: _Draw, labels: np.ndarray, p: ColonParams) -> np.ndarray:
    """Upper bound of r(s, theta) per ring, for the tube checks: haustral bulges and the triangular lumen add
    at most this much to the base radius."""
    base = np.array([draw.radius.get(SEGMENT_NAMES[i], 0.0) for i in labels])
    base[labels == SEGMENT_NAMES.index("splenic_flexure")] = max(draw.radius["descending"], draw.radius["transverse"])
    base[labels == SEGMENT_NAMES.index("hepatic_flexure")] = max(draw.radius["transverse"], draw.radius["ascending"])
    return base * _bulge_factor(p)


def _radius_grid(centre: np.ndarray, normal: np.ndarray, binormal: np.ndarray, s: np.ndarray, labels: np.ndarray,
                 theta: np.ndarray, draw: _Draw, p: ColonParams, rng: np.random.Generator,
                 landmarks_s: dict[str, float]) -> tuple[np.ndarray, dict[str, float]]:
    """r(s, theta) (N, M) and the wall angle (rad) of wall landmarks.

    Folds: semilunar folds between the taeniae (they do not cross a taenia), each sector with its own depth;
    haustra bulge between folds; the transverse lumen is triangular (taeniae at the corners). The rectum is smooth
    apart from the three rectal valves.
    """
    spacing = s[1] - s[0]
    length = s[-1]
    base = _base_radius(draw, labels, spacing)
    names = np.array(SEGMENT_NAMES)[labels]
    taeniae = draw.fold_phase + 2 * np.pi * np.arange(p.taenia_count) / p.taenia_count
    k = p.taenia_count
    phi = theta[None, :] - draw.fold_phase  # (1, M)
    # Between two taeniae, sin(k*phi/2) goes 0 -> 1 -> 0: the fold profile across a sector.
    sector_shape = np.abs(np.sin(0.5 * k * phi)) ** 0.7
    sector_index = (np.floor((np.mod(phi, 2 * np.pi)) / (2 * np.pi / k))).astype(int)[0]  # (M,)

    haustrated = ~np.isin(names, ["anal_canal", "rectum"])
    tri = np.array([p.triangularity.get(n, p.triangularity.get("default", 0.0)) for n in names])
    # Taeniae at the corners: cos(k*phi) is 1 on a taenia.
    shape = 1.0 + (tri * haustrated)[:, None] * np.cos(k * phi)

    # Haustral folds: place folds by walking along s with the local spacing.
    depth_factor = np.array([p.fold_depth_factor.get(n, 0.0) for n in names]) * haustrated
    spacing_factor = np.array([p.fold_spacing_factor.get(n, 1.0) for n in names])
    folds = np.zeros((len(s), len(theta)))
    haustra = np.zeros(len(s))
    start = s[np.argmax(haustrated)] + 0.5 * p.fold_spacing_m
    fold_s = []
    x = start
    while x < length - 0.02:
        fold_s.append(x)
        i = min(int(x / spacing), len(s) - 1)
        x += p.fold_spacing_m * spacing_factor[i] * rng.uniform(0.8, 1.2)
    fold_s = np.array(fold_s)
    sector_depth = rng.uniform(0.7, 1.3, size=(len(fold_s), k))
    width = p.fold_width_m
    for n_fold, fs in enumerate(fold_s):
        lo, hi = np.searchsorted(s, [fs - 4 * width, fs + 4 * width])
        along = np.exp(-0.5 * ((s[lo:hi] - fs) / width) ** 2)  # (n,)
        depth = p.fold_depth_m * depth_factor[lo:hi, None] * sector_depth[n_fold, sector_index][None, :]
        folds[lo:hi] = np.maximum(folds[lo:hi], depth * along[:, None] * sector_shape)
    if len(fold_s) > 1:
        # Sacculations bulge outward midway between folds (small, relative to the radius).
        gap = np.interp(s, fold_s, np.arange(len(fold_s)))
        haustra = 0.06 * np.sin(np.pi * np.mod(gap, 1.0)) ** 2 * haustrated
    radius = base[:, None] * shape * (1.0 + haustra[:, None] * sector_shape) - folds

    # Rectal valves: folds over part of the circumference, alternating to the patient's left (+x) and right (-x).
    lateral = np.arctan2(binormal[:, 0], normal[:, 0])  # angle of +x in each ring's frame (N,)
    wall_angle: dict[str, float] = {}
    for n_valve, (vs, side) in enumerate(zip(p.rectal_valve_s_m, p.rectal_valve_side)):
        i = int(np.clip(np.searchsorted(s, vs), 0, len(s) - 1))
        centre_angle = lateral[i] + (0.0 if side == "left" else np.pi)
        half = 0.5 * draw.valve_extent[n_valve]
        dphi = np.angle(np.exp(1j * (theta - centre_angle)))
        across = np.clip(np.cos(0.5 * np.pi * dphi / half), 0.0, None) * (np.abs(dphi) < half)
        along = np.exp(-0.5 * ((s - vs) / 0.004) ** 2)
        radius -= draw.valve_depth[n_valve] * along[:, None] * across[None, :] ** 0.5
        wall_angle[f"rectal_valve_{n_valve + 1}"] = float(np.mod(centre_angle, 2 * np.pi))

    # Ileocecal valve: a lip on the medial wall (toward the patient's left, +x) of the cecum.
    i = int(np.clip(np.searchsorted(s, landmarks_s["ileocecal_valve"]), 0, len(s) - 1))
    medial = lateral[i]
    dphi = np.angle(np.exp(1j * (theta - medial)))
    lip = np.exp(-0.5 * (dphi / 0.35) ** 2)[None, :] * np.exp(-0.5 * ((s - s[i]) / 0.006) ** 2)[:, None]
    radius -= 0.008 * lip
    wall_angle["ileocecal_valve"] = float(np.mod(medial, 2 * np.pi))
    # Appendiceal orifice: a small dimple where the taeniae converge near the pole.
    i = int(np.clip(np.searchsorted(s, landmarks_s["appendiceal_orifice"]), 0, len(s) - 1))
    dphi = np.angle(np.exp(1j * (theta - taeniae[0])))
    dimple = np.exp(-0.5 * (dphi / 0.15) ** 2)[None, :] * np.exp(-0.5 * ((s - s[i]) / 0.003) ** 2)[:, None]
    radius += 0.003 * dimple
    wall_angle["appendiceal_orifice"] = float(np.mod(taeniae[0], 2 * np.pi))

    # Keep the lumen open: folds never close more than 70 % of the local radius.
    radius = np.maximum(radius, 0.3 * base[:, None])
    # Compress the inner wall of bends so neighbouring rings never cross: along the direction toward the centre
    # of curvature the radius stays below _INNER_WALL_FRACTION of the bend radius.
    radius = np.minimum(radius, _inner_wall_limit(centre, normal, binormal, theta))
    # Round the cecal pole.
    radius *= _pole_profile(s, length, 0.8 * draw.radius["cecum"], spacing)[:, None]
    return radius, wall_angle


# ---- 4. checks ---------------------------------------------------------------------------------------------------
def _tube_problem(centre: np.ndarray, max_radius: np.ndarray, p: ColonParams) -> str | None:
    """None when the tube is valid, else what is wrong: outside the abdomen, a bend tighter than the lumen, or
    two parts far apart along s closer than their radii (a self-intersection)."""
    lo, hi = np.array(p.abdomen_min_m), np.array(p.abdomen_max_m)
    if np.any(centre < lo) or np.any(centre > hi):
        worst = np.maximum(lo - centre, centre - hi).max()
        return f"centreline leaves the abdomen box by {worst * 1000:.0f} mm"
    kappa = curvature(centre)
    bend = kappa * max_radius * _MIN_BEND_RADIUS_FACTOR
    if bend.max() >= 1.0:
        return f"bend radius {1000 / kappa.max():.0f} mm is too tight for the lumen"
    s = arc_length(centre)
    tree = cKDTree(centre)
    reach = 2 * max_radius.max() + _MIN_WALL_GAP_M
    pairs = tree.query_pairs(reach, output_type="ndarray")
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        gap = np.linalg.norm(centre[i] - centre[j], axis=1) - max_radius[i] - max_radius[j]
        # Neighbours along s are allowed to be close; only parts further apart than a half turn of the local
        # bend count (pi * radius is the arc a tube needs to turn back on itself).
        far = np.abs(s[i] - s[j]) > np.pi * (max_radius[i] + max_radius[j])
        bad = far & (gap < _MIN_WALL_GAP_M)
        if np.any(bad):
            k = np.argmin(np.where(bad, gap, np.inf))
            return (f"tube touches itself between s={s[i[k]]:.3f} m and s={s[j[k]]:.3f} m "
                    f"(gap {gap[k] * 1000:.1f} mm)")
    return None


def ring_fold(asset: ColonAsset) -> str | None:
    """None when every ring of the mesh lies ahead of the previous ring's plane, else where the rings fold over
    (neighbouring rings crossing each other would make the surface intersect itself)."""
    n, m = asset.radius_m.shape
    rings = asset.vertices_m[: n * m].reshape(n, m, 3)
    ahead = np.einsum("imk,ik->im", rings[1:] - asset.centreline_m[:-1, None, :], asset.tangent[:-1]).min(axis=1)
    if ahead.min() > 0.0:
        return None
    i = int(np.argmin(ahead))
    return f"rings fold over at s={asset.s_m[i]:.3f} m (by {-ahead[i] * 1000:.2f} mm)"


def _mesh_crossing(asset: ColonAsset) -> str | None:
    """None when no two non-neighbouring triangles of the mesh cross, else where the first crossing is."""
    hits = self_intersections(asset.vertices_m, asset.faces, max_hits=1)
    if len(hits) == 0:
        return None
    s = asset.vertex_s_m[asset.faces[hits[0]]].mean(axis=1)
    return f"surface crosses itself between s={s[0]:.3f} m and s={s[1]:.3f} m"


# ---- 5. assemble -------------------------------------------------------------------------------------------------
def _finish(centre: np.ndarray, junction_s: dict[str, float], labels: np.ndarray, draw: _Draw, p: ColonParams,
            n_theta: int, seed: int, attempt: int, rng: np.random.Generator) -> ColonAsset:
    s = arc_length(centre)
    length = float(s[-1])
    # Start the frames with the normal toward the patient's left (+x), so theta = 0 is "left" at the verge.
    tangent, normal, binormal = parallel_transport_frames(centre, first_normal=np.array([1.0, 0.0, 0.0]))
    theta = 2 * np.pi * np.arange(n_theta) / n_theta

    sig = (s >= junction_s["sigmoid"]) & (s <= junction_s["descending"])
    tra = (s >= junction_s["splenic_flexure"]) & (s <= junction_s["hepatic_flexure"])
    landmarks_s = {
        "anal_verge": 0.0,
        **{f"rectal_valve_{i + 1}": float(v) for i, v in enumerate(p.rectal_valve_s_m)},
        "rectosigmoid_junction": junction_s["sigmoid"],
        "sigmoid_apex": float(s[sig][np.argmax(centre[sig, 2])]),
        "sigmoid_descending_junction": junction_s["descending"],
        "splenic_flexure": junction_s["splenic_flexure"],
        "transverse_low_point": float(s[tra][np.argmin(centre[tra, 2])]),
        "hepatic_flexure": junction_s["hepatic_flexure"],
        "ileocecal_valve": length - draw.icv_above_pole,
        "appendiceal_orifice": length - p.appendiceal_orifice_above_pole_m,
        "cecal_pole": length,
    }
    radius, wall_angle = _radius_grid(centre, normal, binormal, s, labels, theta, draw, p, rng, landmarks_s)

    rings = surface_points(centre, normal, binormal, theta, radius)
    apex = centre[-1] + (s[1] - s[0]) * tangent[-1]  # the pole vertex, where the ellipsoidal cap closes
    vertices = tube_vertices(rings, apex)
    faces = tube_faces(len(s), n_theta, cap=True)
    n_ring_vertices = len(s) * n_theta
    vertex_s = np.concatenate([np.repeat(s, n_theta), [length]])
    vertex_theta = np.concatenate([np.tile(theta, len(s)), [0.0]])
    vertex_offset = np.concatenate([radius.reshape(-1), [0.0]])
    vertex_segment = np.concatenate([np.repeat(labels, n_theta), [labels[-1]]]).astype(np.int8)
    assert len(vertices) == n_ring_vertices + 1

    landmarks = {}
    for name, ls in landmarks_s.items():
        i = int(np.clip(np.searchsorted(s, ls), 0, len(s) - 1))
        if name in wall_angle:
            k = int(np.round(wall_angle[name] / (2 * np.pi) * n_theta)) % n_theta
            pos = rings[i, k]
        else:
            pos = np.array([np.interp(ls, s, centre[:, c]) for c in range(3)])
        landmarks[name] = Landmark(name, float(ls), np.asarray(pos, dtype=np.float64))

    source = {
        "kind": "procedural",
        "seed": int(seed),
        "attempt": int(attempt),
        "ring_spacing_m": float(s[1] - s[0]),
        "n_theta": int(n_theta),
        "params": {k: getattr(p, k) for k in ("total_length_m", "sigmoid_redundancy", "transverse_redundancy",
                                              "diameter_scale", "fold_depth_m", "fold_spacing_m", "variation")},
        "flexure_angles_deg": {"splenic": float(np.degrees(draw.splenic_angle)),
                               "hepatic": float(np.degrees(draw.hepatic_angle))},
    }
    asset = ColonAsset(
        centreline_m=centre, s_m=s, tangent=tangent, normal=normal, binormal=binormal, theta_rad=theta,
        radius_m=radius, ring_segment=labels, landmarks=landmarks, vertices_m=vertices, faces=faces,
        vertex_s_m=vertex_s, vertex_theta_rad=vertex_theta, vertex_offset_m=vertex_offset,
        vertex_segment=vertex_segment, source=source,
    )
    asset.check()
    return asset
