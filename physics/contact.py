"""Contact between the scope rod (physics/scope_rod.py) and the colon wall (physics/colon_body.py).

DESIGN.md, "Solver"; prior-art.md §3.1 ("Tunnelling in particle shells", "compute contact in lumen coordinates").

Formulation: the scope is a chain of capsules of radius `scope_radius_m` (the scope's outer radius). Each capsule
is sampled by points on its axis (`samples_per_segment` per segment, evenly spread, plus the distal face of the tip
segment); a capsule is the union of spheres of radius r along its axis, and with samples 3.3 mm apart on 10 mm
segments the surface between two samples lies at most r - sqrt(r² - (1.67 mm)²) = 0.2 mm inside the true capsule.

Each sample point x is located in **lumen coordinates** of the deformed colon: the piece k of the deformed
centreline (ring centroid g_k to g_{k+1}) nearest to x gives the arc position (k, f), and the section's normal t
is the tube's tangent there: ring k's tangent (g_{k+1} - g_{k-1}, normalised) blended into ring k + 1's along the
piece, so that the section turns continuously from one piece into the next round a bend.
At that s the wall's cross-section is the polygon of the P points (1 - f) x_{k,j} + f x_{k+1,j} (where the bilinear
wall strip between the two rings meets the sample's s), projected onto the plane through x normal to t. With d the
signed distance of x from that polygon (positive inside, by the even-odd rule; |d| the distance to the nearest
edge, particles j -> j + 1 at fraction w) the one-sided constraint is

    C = d - scope_radius_m >= 0        (the scope's surface stays inside the deformed wall's section at its s)

solved as an XPBD contact with (by default) zero compliance: gradient -e on the scope point (a point of a rigid
segment: translation and rotation through the lever arm), e the unit in-plane normal from the lumen toward the wall
at the nearest point, and +w_i e on the four wall particles of the nearest edge (bilinear weights w_i over the two
rings and the edge's two particles, summing to 1). Corrections are mass-weighted, so pushing the scope deforms the
colon and a light wall yields more than the heavier scope.

Wall patch: the wall's share of a correction moves a patch around the contact point, not only the edge's four
particles: a hat of half-width `patch_half_rings` rings along s times a hat of half-width `patch_half_particles`
particles round the ring (`wall_patch`; default 2 and 2, about the scope's 13 mm width against 5 mm rings and 5-9 mm
between particles). The weights sum to 1 and are centred on the contact point, so the force on the wall keeps its
total and its point of application. The constraint's wall inverse mass is how far the contact edge moves per unit
multiplier when the patch moves (the sum over the patch of edge weight times patch weight over mass): the wall
yields as a patch of the scope's width. Why: through four particles, a scope leaning 10-13 N on the wall drew single
particles 2.4-2.6 times the ring's radius out of their ring, their links at 4-6 times rest length against the
strain limit of 1.5 (ColonMaterial.max_stretch): the contact, projected last, out-voted the wall's links, the scope
sat in the tent outside the ring's polygon, and the tent snapped back at 10-14 m/s when the shaft moved. Measured
with bench/autopilot.py (90 s; four particles -> patch): seed 0 worst scope point outside the wall 2.27 -> 1.26 mm,
fastest wall particle 7.0 -> 5.2 m/s; seed 4 4.59 -> 1.62 mm, 11.5 -> 9.3 m/s; tip progress unchanged (0.92 and
0.80 m). With --slack 0.10: 9.5 -> 5.5 mm and 57 -> 15 m/s (seed 0), 7.1 -> 3.7 mm and 14 -> 10 m/s (seed 4). Half-
widths of 3 went no further on the lax colon (7.5 and 10.2 mm).

Why it cannot invert (tunnel): a particle-versus-capsule projection pushes along the closest-point direction, which
flips once a particle passes the capsule axis in one substep, so a fast scope can end up on the wrong side. Here the
classification does not depend on how far anything moved: a point is "outside" when it lies outside the wall's
section at its s, wherever it is, and the correction always moves it back across the nearest wall. Nothing depends
on the ring centroid being inside its ring either (an earlier version cast a ray from the centroid; once the
scope tented a ring into a spike or folded it into a slit, the centroid lay outside and the ray missed, measured at
the sigmoid apex of bench/autopilot.py). What remains is attributing the point to the wrong part of the colon,
which the `s` locality prevents: every sample keeps the piece index it had in the last substep and searches only
`search_window_rings` pieces either side of it (a scope point moves 0.05 mm per 0.5 ms substep at 0.1 m/s against
5 mm rings), so a neighbouring loop of the colon that touches the wall from outside is never mistaken for the lumen
around the scope. A global nearest-piece search runs only for samples that have no piece yet
(`locate_samples_global`, at build time). The `s` locality is this contact's spatial hash: the scope lives inside
the lumen, so the only wall it can touch is the section around it (colon-colon contact is colon_body's
self-contact, which does use a spatial search).

Shaft continuity: a sample can still lose its place when the colon around it is dragged along the shaft: a
withdrawing scope pulled a pleated sigmoid down beside the rectum, and samples that had ridden out with it into
the anal canal kept their sigmoid pieces (64-67, 29 mm away; their neighbours on the shaft were at pieces 0-1), so
their contact pulled the sigmoid through the rectal wall onto the shaft (bench/autopilot.py --root sigmoid
transverse --autopilot loop_target_m=-0.2, seed 1 at 49.7 s: 855 N of contact load, wall particles at 57 m/s).
The scope is one rod in one lumen, so consecutive samples (3.3 mm apart) lie in neighbouring pieces: when a
sample's window and the window around the piece just found for the sample before it (handle side) do not overlap,
it takes the nearer of the two windows' nearest pieces (`locate_samples_local`). Where they overlap, as they do
whenever the scope is where it was, nothing changes.

Friction: Coulomb (mu = 0.15, anatomy.md Mechanics, scope-mucosa wet), position-based as in Müller et al. 2020
("Detailed rigid body simulation with extended position based dynamics"): after the normal correction of a
contact, the tangential displacement over the substep of the scope's surface point (the axis point's motion plus
the segment's spin about its own axis, so handle roll rubs the wall) relative to the wall's material point (the same
bilinear blend of particle displacements) is cancelled. The friction impulse is accumulated per sample as a vector
and clamped to mu times the normal multiplier (static when it fits the cone, kinetic at its edge), so a later pass
that finds the slip reversed takes impulse back. Friction is re-solved in every pass for every sample that has pushed
in the substep (normal multiplier > 0), also once it needs no more normal correction, and the world's contact
iterations (physics/world.py) solve it too: they move the rod (its joints) after the main friction pass, and a
friction left out of them never sees that motion. Measured on a rigid straight tube, scope pressed sideways: with
normal-only contact iterations the handle's roll drove the rod's twist back through every segment friction had
held, so friction only ever cancelled one substep's slip against a segment's own inertia (a velocity-like drag, not
Coulomb's): the spin moment at 1 rad/s handle roll was 0.10 mu N r (0.03 at 0.5 rad/s), and axial sliding friction
0.81 mu N; with friction in the iterations and for all pushing samples 0.99 mu N r and 0.99 mu N.

Forces: the multipliers over h² are forces. Per step the kernel reports, averaged over the step's substeps, the
force and moment (about the segment centre) on each rod segment and the force on each wall particle; by
construction the two sum to equal and opposite totals (the wall weights sum to 1, and a fixed particle still takes
its share: it is the anchor's reaction).

Known limitations: the cecal pole is open in the colon grid, so a sample beyond the last ring is held only radially
(clamped to the last piece); samples behind the anal verge (projection before ring 0) are outside the body and
skipped, and so are samples of kinematic (handle-held) segments in the first piece, the anal canal: the anal ring is
fixed and the rest of such a segment is outside. The polygon is the straight-edged ring (the render mesh's folds
are not collision geometry).
Units: SI throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from physics.colon_body import ring_centroid_normal
from physics.scope_rod import apply_segment_correction, axis_points, quat_rotate_scalar, segment_rotation_weight

#: Scope-mucosa friction coefficient (anatomy.md Mechanics: 0.15, range 0.05-0.3, wet and lubricated).
DEFAULT_FRICTION_COEFFICIENT = 0.15
#: Below this a length is treated as zero.
_TINY_M = 1e-12
#: Half-widths of the wall patch a contact moves, in rings along s and particles around a ring (module docstring,
#: "Wall patch").
DEFAULT_PATCH_HALF_RINGS = 2
DEFAULT_PATCH_HALF_PARTICLES = 2


@dataclass(frozen=True)
class ContactModel:
    """Static contact parameters and the scope's sample points (Q samples). float64 unless noted.

    - scope_radius_m: capsule radius (the scope's outer radius).
    - friction_coefficient: Coulomb mu, scope against mucosa.
    - compliance_m_N: XPBD compliance of the normal contact (0: hard; the wall's own compliance does the yielding).
    - sample_segment (Q,) int64: rod segment of each sample; sample_offset_m (Q,): offset from the segment centre
      along the segment's body +z axis (toward the tip).
    - search_window_rings: pieces searched either side of a sample's last piece each substep.
    - patch_half_rings, patch_half_particles: half-widths of the wall patch a contact moves (`wall_patch`; 1 and 1:
      only the four particles of the contact edge).
    """

    scope_radius_m: float
    friction_coefficient: float
    compliance_m_N: float
    sample_segment: np.ndarray
    sample_offset_m: np.ndarray
    search_window_rings: int
    patch_half_rings: int = DEFAULT_PATCH_HALF_RINGS
    patch_half_particles: int = DEFAULT_PATCH_HALF_PARTICLES

    @property
    def sample_count(self) -> int:
        return int(self.sample_segment.shape[0])


@dataclass
class ContactState:
    """Arrays of the contact that change every step (Q samples, S segments, N wall particles).

    - sample_piece (Q,) int64: centreline piece (between rings k and k + 1) each sample was found in last; -1 unknown.
    - normal_multiplier (Q,): accumulated XPBD multiplier of the last substep (N·s²); friction_multiplier (Q, 3):
      accumulated tangential friction impulse on the scope (N·s², world frame), |.| <= mu * normal_multiplier.
    - normal (Q, 3): last contact normal, unit, from the lumen toward the wall (zero: no contact in the last substep).
    - segment_force_N (S, 3), segment_moment_Nm (S, 3): contact force on each rod segment and its moment about the
      segment centre, mean over the last step's substeps (world frame).
    - particle_force_N (N, 3): contact force on each wall particle, mean over the last step's substeps.
    """

    sample_piece: np.ndarray
    normal_multiplier: np.ndarray
    friction_multiplier: np.ndarray
    normal: np.ndarray
    segment_force_N: np.ndarray
    segment_moment_Nm: np.ndarray
    particle_force_N: np.ndarray

    def copy(self) -> "ContactState":
        """A deep copy (arrays copied)."""
        return ContactState(**{k: v.copy() for k, v in self.__dict__.items()})


def build_contact(segment_length_m: np.ndarray, scope_radius_m: float,
                  friction_coefficient: float = DEFAULT_FRICTION_COEFFICIENT, compliance_m_N: float = 0.0,
                  samples_per_segment: int = 3, search_window_rings: int = 3,
                  patch_half_rings: int = DEFAULT_PATCH_HALF_RINGS,
                  patch_half_particles: int = DEFAULT_PATCH_HALF_PARTICLES) -> ContactModel:
    """Sample points for a rod of S segments (segment_length_m (S,)): `samples_per_segment` evenly spread over each
    segment (offsets ((k + 0.5) / n - 0.5) l) plus the distal face of the tip segment (the capsule's end cap)."""
    if not (scope_radius_m > 0 and friction_coefficient >= 0 and compliance_m_N >= 0 and samples_per_segment >= 1
            and search_window_rings >= 1 and patch_half_rings >= 1 and patch_half_particles >= 1):
        raise ValueError("build_contact: radius must be positive, friction, compliance >= 0, samples, window and "
                         "patch half-widths >= 1")
    seg_len = np.asarray(segment_length_m, dtype=np.float64)
    s = seg_len.shape[0]
    n = int(samples_per_segment)
    frac = (np.arange(n) + 0.5) / n - 0.5
    segment = np.repeat(np.arange(s), n)
    offset = (seg_len[:, None] * frac[None, :]).reshape(-1)
    segment = np.append(segment, s - 1).astype(np.int64)
    offset = np.append(offset, 0.5 * seg_len[-1])
    return ContactModel(scope_radius_m=float(scope_radius_m), friction_coefficient=float(friction_coefficient),
                        compliance_m_N=float(compliance_m_N), sample_segment=segment, sample_offset_m=offset,
                        search_window_rings=int(search_window_rings), patch_half_rings=int(patch_half_rings),
                        patch_half_particles=int(patch_half_particles))


def empty_contact_state(model: ContactModel, segment_count: int, particle_count: int) -> ContactState:
    """No contacts and no sample located yet (call `locate_samples_global` before the first step)."""
    q = model.sample_count
    return ContactState(
        sample_piece=np.full(q, -1, dtype=np.int64), normal_multiplier=np.zeros(q),
        friction_multiplier=np.zeros((q, 3)),
        normal=np.zeros((q, 3)), segment_force_N=np.zeros((segment_count, 3)),
        segment_moment_Nm=np.zeros((segment_count, 3)), particle_force_N=np.zeros((particle_count, 3)),
    )


# --------------------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------------------


#: World positions (Q, 3) of the contact samples on the rod axis: `axis_points(rod_position_m, rod_orientation,
#: sample_segment, sample_offset_m, out)`, the same placement as the coils.
sample_points = axis_points


@njit(cache=True, nogil=True)
def _piece_distance2(x0, x1, x2, centroid, k):
    """Squared distance of point x from the centreline piece centroid[k] -> centroid[k + 1] (clamped)."""
    a0 = centroid[k + 1, 0] - centroid[k, 0]
    a1 = centroid[k + 1, 1] - centroid[k, 1]
    a2 = centroid[k + 1, 2] - centroid[k, 2]
    d0 = x0 - centroid[k, 0]
    d1 = x1 - centroid[k, 1]
    d2 = x2 - centroid[k, 2]
    ll = a0 * a0 + a1 * a1 + a2 * a2
    f = (d0 * a0 + d1 * a1 + d2 * a2) / ll if ll > _TINY_M * _TINY_M else 0.0
    f = min(max(f, 0.0), 1.0)
    e0 = d0 - f * a0
    e1 = d1 - f * a1
    e2 = d2 - f * a2
    return e0 * e0 + e1 * e1 + e2 * e2


@njit(cache=True, nogil=True)
def _nearest_piece(points_m, q, centroid, lo, hi):
    """Index of the centreline piece in [lo, hi] nearest to sample q (the first one on ties)."""
    best = 1e300
    best_k = lo
    for k in range(lo, hi + 1):
        d2 = _piece_distance2(points_m[q, 0], points_m[q, 1], points_m[q, 2], centroid, k)
        if d2 < best:
            best = d2
            best_k = k
    return best_k


@njit(cache=True, nogil=True)
def locate_samples_global(points_m, centroid, sample_piece):
    """Nearest centreline piece (R - 1 pieces of centroid (R, 3)) for every sample (points_m (Q, 3)) whose
    sample_piece (Q,) is -1. O(Q R); used once, when a state has no locality yet."""
    r = centroid.shape[0]
    for q in range(points_m.shape[0]):
        if sample_piece[q] >= 0:
            continue
        sample_piece[q] = _nearest_piece(points_m, q, centroid, 0, r - 2)


@njit(cache=True, nogil=True)
def locate_samples_local(points_m, centroid, sample_piece, window):
    """Update each sample's piece (Q,) to the nearest piece within `window` pieces of its last one (s locality)
    or of the piece just found for the sample before it on the shaft (module docstring, "Shaft continuity").
    Samples are in shaft order, handle first."""
    r = centroid.shape[0]
    for q in range(points_m.shape[0]):
        k0 = sample_piece[q]
        k = _nearest_piece(points_m, q, centroid, max(0, k0 - window), min(r - 2, k0 + window))
        if q > 0:
            kn = sample_piece[q - 1]
            if kn < k0 - 2 * window or kn > k0 + 2 * window:  # the two windows do not overlap
                k1 = _nearest_piece(points_m, q, centroid, max(0, kn - window), min(r - 2, kn + window))
                if (_piece_distance2(points_m[q, 0], points_m[q, 1], points_m[q, 2], centroid, k1)
                        < _piece_distance2(points_m[q, 0], points_m[q, 1], points_m[q, 2], centroid, k)):
                    k = k1
        sample_piece[q] = k


@njit(cache=True, nogil=True)
def _ring_centroid(position_m, k, p, centroid, fresh):
    """Make row k of centroid (R, 3) ring k's centroid of the current particle positions, recomputing it only when
    fresh[k] (R,) bool is False (the callers clear a ring's flag whenever they move one of its particles). The same
    sum in the same order every time, so a cached row equals a recomputed one bit for bit."""
    if fresh[k]:
        return
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    for j in range(p):
        c0 += position_m[k * p + j, 0]
        c1 += position_m[k * p + j, 1]
        c2 += position_m[k * p + j, 2]
    centroid[k, 0] = c0 / p
    centroid[k, 1] = c1 / p
    centroid[k, 2] = c2 / p
    fresh[k] = True


@njit(cache=True, nogil=True)
def wall_section_distance(position_m, k, p, f, x0, x1, x2, t0, t1, t2, e_out):
    """Signed distance of point x from the wall's cross-section at fraction f of piece k (rings k and k + 1 of P
    particles in position_m (N, 3)), measured in the plane normal to the unit vector t (`_piece_position`).

    The cross-section is the polygon of the P points (1 - f) x_{k,j} + f x_{k+1,j} (where the bilinear wall strip
    between the two rings meets the sample's s), projected onto that plane. Returns (d, j, w): d > 0 inside the
    polygon (even-odd rule), d < 0 outside, |d| the distance to its nearest edge, particles j -> j + 1 at fraction
    w. e_out (3,) gets the unit in-plane normal from the lumen toward the wall at the nearest point (the
    direction in which moving x lowers d, and moving the wall raises it). j = -1: degenerate (x on the wall or
    the polygon collapsed to a point).

    Nothing here depends on the ring centroid, so a ring folded into a slit or tented into a spike keeps a
    well-defined inside, unlike a ray from the centroid (which misses the polygon once the centroid lies outside
    it)."""
    # In-plane basis (u, v) normal to t.
    if abs(t0) < 0.9:
        u0, u1, u2 = 0.0, -t2, t1  # x cross t
    else:
        u0, u1, u2 = t2, 0.0, -t0  # y cross t
    ul = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
    u0 /= ul
    u1 /= ul
    u2 /= ul
    v0 = t1 * u2 - t2 * u1
    v1 = t2 * u0 - t0 * u2
    v2 = t0 * u1 - t1 * u0
    g = 1.0 - f
    ia = k * p + p - 1
    ib = ia + p
    d0 = g * position_m[ia, 0] + f * position_m[ib, 0] - x0
    d1 = g * position_m[ia, 1] + f * position_m[ib, 1] - x1
    d2 = g * position_m[ia, 2] + f * position_m[ib, 2] - x2
    a_u = d0 * u0 + d1 * u1 + d2 * u2  # previous vertex relative to x, in-plane
    a_v = d0 * v0 + d1 * v1 + d2 * v2
    best = 1e300
    best_j = -1
    best_w = 0.0
    c_u = 0.0
    c_v = 0.0
    inside = False
    for j in range(p):
        ia = k * p + j
        ib = ia + p
        d0 = g * position_m[ia, 0] + f * position_m[ib, 0] - x0
        d1 = g * position_m[ia, 1] + f * position_m[ib, 1] - x1
        d2 = g * position_m[ia, 2] + f * position_m[ib, 2] - x2
        b_u = d0 * u0 + d1 * u1 + d2 * u2
        b_v = d0 * v0 + d1 * v1 + d2 * v2
        # Edge (j - 1) -> j; x is the origin. Even-odd rule with a ray along +u.
        if (a_v > 0.0) != (b_v > 0.0):
            if a_u + (0.0 - a_v) * (b_u - a_u) / (b_v - a_v) > 0.0:
                inside = not inside
        e_u = b_u - a_u
        e_v = b_v - a_v
        ll = e_u * e_u + e_v * e_v
        # An edge whose line lies further than the best edge so far cannot be nearer: skip its division (the
        # margin keeps the choice the one the full computation makes, ties within 1e-9 included).
        cross = a_u * e_v - a_v * e_u
        if cross * cross > best * ll * (1.0 + 1e-9):
            a_u = b_u
            a_v = b_v
            continue
        w = -(a_u * e_u + a_v * e_v) / ll if ll > _TINY_M * _TINY_M else 0.0
        w = min(max(w, 0.0), 1.0)
        q_u = a_u + w * e_u
        q_v = a_v + w * e_v
        dd = q_u * q_u + q_v * q_v
        if dd < best:
            best = dd
            best_j = (j - 1 + p) % p
            best_w = w
            c_u = q_u
            c_v = q_v
        a_u = b_u
        a_v = b_v
    dist = math.sqrt(best)
    if dist < 1e-12:
        return 0.0, -1, 0.0
    # Toward the wall: from x to the nearest point when inside, from the nearest point on past x when outside.
    s = 1.0 / dist if inside else -1.0 / dist
    e_out[0] = s * (c_u * u0 + c_v * v0)
    e_out[1] = s * (c_u * u1 + c_v * v1)
    e_out[2] = s * (c_u * u2 + c_v * v2)
    return (dist if inside else -dist), best_j, best_w


@njit(cache=True, nogil=True)
def project_scope_wall_contacts(rod_position_m, rod_orientation, rod_prev_position_m, rod_prev_orientation,
                                rod_inv_mass, rod_inv_inertia_body, wall_position_m, wall_prev_position_m,
                                wall_inv_mass, ring_count, particles_per_ring, sample_segment, sample_offset_m,
                                sample_piece, scope_radius_m, friction_coefficient, compliance_m_N, normal_multiplier,
                                friction_multiplier, normal_out, segment_force_N, segment_moment_Nm, particle_force_N,
                                force_scale, h_s, old_overlap_m, patch_half_rings, patch_half_particles,
                                touching_only=False):
    """One Gauss-Seidel pass over the Q scope samples: lumen-coordinate normal contact, then Coulomb friction.

    Rod: rod_position_m (S, 3), rod_orientation (S, 4) updated in place; rod_prev_* (S, 3) / (S, 4) are the poses at
    the start of the substep (friction needs the substep's motion); rod_inv_mass (S,), rod_inv_inertia_body (S, 3)
    (zero for kinematic segments, which then push the wall without yielding). Wall: wall_position_m (N, 3) updated
    in place, wall_prev_position_m (N, 3), wall_inv_mass (N,), R rings of P particles. sample_piece (Q,): current
    pieces (from `locate_samples_local`). normal_multiplier (Q,) and friction_multiplier (Q, 3) accumulate (reset
    per substep); normal_out (Q, 3) the contact normals (from lumen to wall). segment_force_N, segment_moment_Nm (S, 3)
    and particle_force_N (N, 3) accumulate force_scale * multiplier (force_scale = 1 / (h² substeps) gives the
    step's mean force). old_overlap_m (Q,): how far each sample's capsule was already outside the wall at the
    start of the substep (m, >= 0), used up in place: that much of its correction is also applied to the previous
    positions (the scope segment's translation and the wall particles), so a residual overlap the last substep left
    is removed without turning into velocity (pre-stabilisation, as colon_body.project_self_contact; under a loop
    pressing 100 N the residuals reached millimetres and flung wall particles at tens of m/s). touching_only: skip
    the samples that have not pushed yet in this substep (normal_multiplier 0; the world's contact iterations,
    which only settle contacts the main passes found). Friction is solved for every sample with a positive normal
    multiplier, whether or not it still overlaps the wall (module docstring, "Friction").
    Returns the number of samples overlapping the wall.
    """
    p = particles_per_ring
    r = ring_count
    alpha = compliance_m_N / (h_s * h_s)
    # Ring centroids, each computed when a sample first needs it and again only after a contact moved the ring.
    centroid = np.empty((r, 3))
    fresh = np.zeros(r, dtype=np.bool_)
    e = np.empty(3)
    patch_size = 4 * patch_half_rings * patch_half_particles
    sp_idx = np.empty(patch_size, dtype=np.int64)
    sp_wt = np.empty(patch_size)
    sp_edge = np.empty(patch_size)
    touching = 0
    for q in range(sample_segment.shape[0]):
        i = sample_segment[q]
        k = sample_piece[q]
        if k < 0 or k > r - 2:
            continue
        if touching_only and normal_multiplier[q] == 0.0:
            continue
        if k == 0 and rod_inv_mass[i] == 0.0:
            continue  # the handle's part at the verge: the anal ring is fixed, and most of it is outside the body
        o = rod_orientation[i]
        # Lever arm of the axis point from the segment centre.
        ax, ay, az = quat_rotate_scalar(o[0], o[1], o[2], o[3], 0.0, 0.0, sample_offset_m[q])
        x0 = rod_position_m[i, 0] + ax
        x1 = rod_position_m[i, 1] + ay
        x2 = rod_position_m[i, 2] + az
        f, t0, t1, t2 = _piece_position(wall_position_m, k, p, x0, x1, x2, centroid, fresh)
        if f < 0.0:
            continue
        sd, jw, ww = wall_section_distance(wall_position_m, k, p, f, x0, x1, x2, t0, t1, t2, e)
        if jw < 0:
            continue
        cval = sd - scope_radius_m
        if cval >= 0.0 and normal_multiplier[q] == 0.0:
            continue  # not touching, and has not pushed in this substep
        if cval < 0.0:
            touching += 1
        n_sp = wall_patch(k, f, jw, ww, p, r, patch_half_rings, patch_half_particles, sp_idx, sp_wt, sp_edge)
        # How far the contact edge moves per unit multiplier when the whole patch moves (edge weight times the
        # patch particle's share): the wall's generalised inverse mass in this contact.
        w_wall = 0.0
        for m in range(n_sp):
            w_wall += sp_edge[m] * sp_wt[m] * wall_inv_mass[sp_idx[m]]
        im = rod_inv_mass[i]
        iib = rod_inv_inertia_body[i]
        # Scope gradient -e at lever arm a: generalised inverse mass 1/m + (a x e)^T I^-1 (a x e).
        u0 = ay * e[2] - az * e[1]
        u1 = az * e[0] - ax * e[2]
        u2 = ax * e[1] - ay * e[0]
        w_scope = im + segment_rotation_weight(o, iib, u0, u1, u2)
        wsum = w_scope + w_wall
        if wsum + alpha <= 0.0:
            continue
        # A sample that pushed earlier in this substep but needs no more normal correction (dl = 0) still gets its
        # friction re-solved below: the rod joints may have moved it since (the world's contact iterations).
        dl = max((-cval - alpha * normal_multiplier[q]) / (wsum + alpha), 0.0)
        if normal_multiplier[q] + dl <= 0.0:
            continue
        normal_multiplier[q] += dl
        pre = min(old_overlap_m[q], wsum * dl)
        if pre > 0.0:
            old_overlap_m[q] -= pre
            dl_pre = pre / wsum
            rod_prev_position_m[i, 0] -= im * dl_pre * e[0]
            rod_prev_position_m[i, 1] -= im * dl_pre * e[1]
            rod_prev_position_m[i, 2] -= im * dl_pre * e[2]
            for m in range(n_sp):
                s_pre = sp_wt[m] * wall_inv_mass[sp_idx[m]] * dl_pre
                wall_prev_position_m[sp_idx[m], 0] += s_pre * e[0]
                wall_prev_position_m[sp_idx[m], 1] += s_pre * e[1]
                wall_prev_position_m[sp_idx[m], 2] += s_pre * e[2]
        normal_out[q, 0] = e[0]
        normal_out[q, 1] = e[1]
        normal_out[q, 2] = e[2]
        if im > 0.0:
            apply_segment_correction(rod_position_m[i], o, im, iib, ax, ay, az, -e[0], -e[1], -e[2], dl)
        for m in range(n_sp):
            pi = sp_idx[m]
            s = sp_wt[m] * wall_inv_mass[pi] * dl
            wall_position_m[pi, 0] += s * e[0]
            wall_position_m[pi, 1] += s * e[1]
            wall_position_m[pi, 2] += s * e[2]
            fresh[pi // p] = False
            fs = sp_wt[m] * dl * force_scale
            particle_force_N[pi, 0] += fs * e[0]
            particle_force_N[pi, 1] += fs * e[1]
            particle_force_N[pi, 2] += fs * e[2]
        fn = dl * force_scale
        segment_force_N[i, 0] -= fn * e[0]
        segment_force_N[i, 1] -= fn * e[1]
        segment_force_N[i, 2] -= fn * e[2]
        # Moment about the segment centre of the force -e fn at the axis point (the surface point a + r e gives
        # the same moment: e x e = 0).
        segment_moment_Nm[i, 0] -= fn * u0
        segment_moment_Nm[i, 1] -= fn * u1
        segment_moment_Nm[i, 2] -= fn * u2

        # Friction: relative tangential motion over the substep of the scope's surface point and the wall point.
        if friction_coefficient <= 0.0:
            continue
        o = rod_orientation[i]
        po = rod_prev_orientation[i]
        # Slip of the scope's surface point r e off the axis, as the axis point's motion plus the segment's spin
        # about its own axis t (phi r t x e). The tilt the normal correction gives the segment is left out: it
        # would move the surface point along the axis and count as slip that friction then fights (measured on a
        # rigid straight tube: sliding friction at 30 % of mu N with it, 95 % without).
        ax, ay, az = quat_rotate_scalar(o[0], o[1], o[2], o[3], 0.0, 0.0, sample_offset_m[q])
        bx, by, bz = quat_rotate_scalar(po[0], po[1], po[2], po[3], 0.0, 0.0, sample_offset_m[q])
        m0 = (rod_position_m[i, 0] + ax) - (rod_prev_position_m[i, 0] + bx)
        m1 = (rod_position_m[i, 1] + ay) - (rod_prev_position_m[i, 1] + by)
        m2 = (rod_position_m[i, 2] + az) - (rod_prev_position_m[i, 2] + bz)
        tx, ty, tz = quat_rotate_scalar(o[0], o[1], o[2], o[3], 0.0, 0.0, 1.0)
        # Rotation o * conj(po) over the substep; small: rotation vector 2 (x, y, z) (sign of w taken).
        dw = o[0] * po[0] + o[1] * po[1] + o[2] * po[2] + o[3] * po[3]
        dx = -o[0] * po[1] + o[1] * po[0] - o[2] * po[3] + o[3] * po[2]
        dy = -o[0] * po[2] + o[1] * po[3] + o[2] * po[0] - o[3] * po[1]
        dz = -o[0] * po[3] - o[1] * po[2] + o[2] * po[1] + o[3] * po[0]
        spin = (2.0 if dw >= 0.0 else -2.0) * (dx * tx + dy * ty + dz * tz) * scope_radius_m
        m0 += spin * (ty * e[2] - tz * e[1])
        m1 += spin * (tz * e[0] - tx * e[2])
        m2 += spin * (tx * e[1] - ty * e[0])
        # The friction impulse acts at the surface point (lever arm r from the segment centre).
        r0 = ax + scope_radius_m * e[0]
        r1 = ay + scope_radius_m * e[1]
        r2 = az + scope_radius_m * e[2]
        for m in range(n_sp):  # the wall's material point: the contact edge's bilinear blend (zero off the edge)
            pi = sp_idx[m]
            m0 -= sp_edge[m] * (wall_position_m[pi, 0] - wall_prev_position_m[pi, 0])
            m1 -= sp_edge[m] * (wall_position_m[pi, 1] - wall_prev_position_m[pi, 1])
            m2 -= sp_edge[m] * (wall_position_m[pi, 2] - wall_prev_position_m[pi, 2])
        mn = m0 * e[0] + m1 * e[1] + m2 * e[2]
        m0 -= mn * e[0]
        m1 -= mn * e[1]
        m2 -= mn * e[2]
        slip = math.sqrt(m0 * m0 + m1 * m1 + m2 * m2)
        if slip < 1e-15:
            continue
        n0 = -m0 / slip  # the direction the scope point must move to cancel the slip
        n1 = -m1 / slip
        n2 = -m2 / slip
        v0 = r1 * n2 - r2 * n1
        v1 = r2 * n0 - r0 * n2
        v2 = r0 * n1 - r1 * n0
        w_t = im + segment_rotation_weight(o, iib, v0, v1, v2) + w_wall
        if w_t <= 0.0:
            continue
        # Accumulated tangential impulse, clamped to the Coulomb cone as a vector: a later pass (or a contact
        # iteration) that finds the slip reversed takes impulse back instead of spending more of the cone on the
        # other side (a scalar budget let alternating passes cancel each other: measured on a rigid straight tube,
        # the sliding friction came out at 30 % of mu N, and at -60 % with contact iterations).
        dlt = slip / w_t
        old0 = friction_multiplier[q, 0]
        old1 = friction_multiplier[q, 1]
        old2 = friction_multiplier[q, 2]
        l0 = old0 + dlt * n0
        l1 = old1 + dlt * n1
        l2 = old2 + dlt * n2
        lm = math.sqrt(l0 * l0 + l1 * l1 + l2 * l2)
        limit = friction_coefficient * normal_multiplier[q]
        if lm > limit:  # kinetic: the Coulomb cone's edge
            scale = limit / lm if lm > 0.0 else 0.0
            l0 *= scale
            l1 *= scale
            l2 *= scale
        friction_multiplier[q, 0] = l0
        friction_multiplier[q, 1] = l1
        friction_multiplier[q, 2] = l2
        n0 = l0 - old0
        n1 = l1 - old1
        n2 = l2 - old2
        dlt = math.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
        if dlt < 1e-300:
            continue
        n0 /= dlt
        n1 /= dlt
        n2 /= dlt
        v0 = r1 * n2 - r2 * n1
        v1 = r2 * n0 - r0 * n2
        v2 = r0 * n1 - r1 * n0
        if im > 0.0:
            apply_segment_correction(rod_position_m[i], o, im, iib, r0, r1, r2, n0, n1, n2, dlt)
        for m in range(n_sp):
            pi = sp_idx[m]
            s = sp_wt[m] * wall_inv_mass[pi] * dlt
            wall_position_m[pi, 0] -= s * n0
            wall_position_m[pi, 1] -= s * n1
            wall_position_m[pi, 2] -= s * n2
            fresh[pi // p] = False
            fs = sp_wt[m] * dlt * force_scale
            particle_force_N[pi, 0] -= fs * n0
            particle_force_N[pi, 1] -= fs * n1
            particle_force_N[pi, 2] -= fs * n2
        ft = dlt * force_scale
        segment_force_N[i, 0] += ft * n0
        segment_force_N[i, 1] += ft * n1
        segment_force_N[i, 2] += ft * n2
        segment_moment_Nm[i, 0] += ft * v0
        segment_moment_Nm[i, 1] += ft * v1
        segment_moment_Nm[i, 2] += ft * v2
    return touching


@njit(cache=True, nogil=True)
def wall_patch(k, f, jw, ww, p, r, half_rings, half_particles, idx, wt, edge):
    """The wall patch a contact moves, for a contact at ring position k + f along s and particle position jw + ww
    round the ring (edge jw -> jw + 1 at fraction ww) on R rings of P particles: the particles weighted by a hat of
    half-width `half_rings` rings along s times a hat of half-width `half_particles` particles round the ring
    (weights sum to 1; rings beyond the grid are dropped and the rest renormalised). Half-widths 1 and 1 give the
    edge's own bilinear weights. Fills idx (particle indices), wt (weights) and edge (each particle's bilinear
    weight in the contact edge, zero off the edge's four particles), each of length >= 4 half_rings half_particles;
    returns the count filled."""
    n = 0
    total = 0.0
    sigma = k + f
    phi = jw + ww
    for a in range(k - half_rings + 1, k + half_rings + 1):
        if a < 0 or a > r - 1:
            continue
        wa = 1.0 - abs(a - sigma) / half_rings
        if wa <= 0.0:
            continue
        ea = (1.0 - f) if a == k else (f if a == k + 1 else 0.0)
        for b in range(jw - half_particles + 1, jw + half_particles + 1):
            wb = 1.0 - abs(b - phi) / half_particles
            if wb <= 0.0:
                continue
            eb = (1.0 - ww) if b == jw else (ww if b == jw + 1 else 0.0)
            idx[n] = a * p + (b % p)
            wt[n] = wa * wb
            edge[n] = ea * eb
            total += wa * wb
            n += 1
    for m in range(n):
        wt[m] /= total
    return n


@njit(cache=True, nogil=True)
def _piece_position(wall_position_m, k, p, x0, x1, x2, centroid, fresh):
    """Where point x lies along piece k: returns (f, t0, t1, t2), f in [0, 1] the fraction along the piece
    (clamped: beyond the last ring, the open pole, or past a bend's outer joint the piece holds it in its end ring's
    plane, the plane the next piece starts with) and t the section's unit normal, the ring tangents blended by f;
    f = -1 when x is behind the anal verge (k = 0, outside the body) or the piece has no length. Ring centroids
    come from centroid (R, 3), refreshed where fresh (R,) bool says a ring moved (`_ring_centroid`): a sample
    shares its four rings with its neighbours on the shaft, and only a sample that pushes moves them."""
    for m in range(max(k - 1, 0), min(k + 3, centroid.shape[0])):
        _ring_centroid(wall_position_m, m, p, centroid, fresh)
    t0 = centroid[k + 1, 0] - centroid[k, 0]
    t1 = centroid[k + 1, 1] - centroid[k, 1]
    t2 = centroid[k + 1, 2] - centroid[k, 2]
    tl = math.sqrt(t0 * t0 + t1 * t1 + t2 * t2)
    if tl < _TINY_M:
        return -1.0, 0.0, 0.0, 1.0
    t0 /= tl
    t1 /= tl
    t2 /= tl
    f = ((x0 - centroid[k, 0]) * t0 + (x1 - centroid[k, 1]) * t1 + (x2 - centroid[k, 2]) * t2) / tl
    if f < 0.0 and k == 0:
        return -1.0, t0, t1, t2
    f = min(max(f, 0.0), 1.0)
    # The section plane turns with the tube: its normal passes from ring k's tangent to ring k + 1's (each the
    # central difference of its neighbours' centroids), so a sample that changes piece at a bend is measured in the
    # same plane on either side (with the chord of each piece, one at f = 1 and the next at f = 0 measured the
    # shared ring in two planes the bend's angle apart: 1.4 against 4.4 mm outside, the tip at the sigmoid apex).
    r = centroid.shape[0]
    ta0, ta1, ta2 = t0, t1, t2
    if k >= 1:
        ta0, ta1, ta2 = _unit(centroid[k + 1, 0] - centroid[k - 1, 0], centroid[k + 1, 1] - centroid[k - 1, 1],
                              centroid[k + 1, 2] - centroid[k - 1, 2], t0, t1, t2)
    tb0, tb1, tb2 = t0, t1, t2
    if k + 2 <= r - 1:
        tb0, tb1, tb2 = _unit(centroid[k + 2, 0] - centroid[k, 0], centroid[k + 2, 1] - centroid[k, 1],
                              centroid[k + 2, 2] - centroid[k, 2], t0, t1, t2)
    n0, n1, n2 = _unit((1.0 - f) * ta0 + f * tb0, (1.0 - f) * ta1 + f * tb1, (1.0 - f) * ta2 + f * tb2, t0, t1, t2)
    return f, n0, n1, n2


@njit(cache=True, nogil=True)
def _unit(x, y, z, d0, d1, d2):
    """(x, y, z) / |(x, y, z)|, or (d0, d1, d2) when it has no length."""
    n = math.sqrt(x * x + y * y + z * z)
    if n < _TINY_M:
        return d0, d1, d2
    return x / n, y / n, z / n


@njit(cache=True, nogil=True)
def scope_wall_clearance(points_m, wall_position_m, ring_count, particles_per_ring, sample_piece, scope_radius_m,
                         out_clearance, out_s_fraction):
    """Clearance (Q,) of each sample's capsule surface from the deformed wall: the signed distance of the axis
    point from the wall's cross-section at its s (`wall_section_distance`) minus scope_radius_m (negative: that
    far outside the wall). out_s_fraction (Q,) gets k + f (the sample's position along the rings). Samples behind
    the anal verge get +inf and -1. Does not move anything."""
    p = particles_per_ring
    centroid = np.empty((ring_count, 3))
    fresh = np.zeros(ring_count, dtype=np.bool_)  # nothing moves here: each ring's centroid is computed once
    e = np.empty(3)
    for q in range(points_m.shape[0]):
        out_clearance[q] = np.inf
        out_s_fraction[q] = -1.0
        k = sample_piece[q]
        if k < 0 or k > ring_count - 2:
            continue
        x0, x1, x2 = points_m[q, 0], points_m[q, 1], points_m[q, 2]
        f, t0, t1, t2 = _piece_position(wall_position_m, k, p, x0, x1, x2, centroid, fresh)
        if f < 0.0:
            continue
        out_s_fraction[q] = k + f
        sd, _j, _w = wall_section_distance(wall_position_m, k, p, f, x0, x1, x2, t0, t1, t2, e)
        out_clearance[q] = sd - scope_radius_m


#: A ring's plane crossed by the scope's axis between two neighbouring samples counts for them
#: (`scope_ring_crossing_clearance`) when the ring lies within this many rings of the samples' ring positions:
#: nearer rings are those the samples' sections blend, further ones another part of the colon, whose plane the
#: scope cuts far from its wall.
CROSSING_RING_MARGIN = 1.5


@njit(cache=True, nogil=True)
def scope_ring_crossing_clearance(points_m, ring_position, wall_position_m, ring_count, particles_per_ring,
                                  scope_radius_m, out):
    """out (R,): for each ring, the least clearance (m; negative: outside the wall by that much) of the scope where
    its axis (the polyline of the Q contact samples' axis points, points_m (Q, 3), in shaft order) crosses the
    ring's plane (centroid and area normal): the signed distance of the crossing point from the ring's polygon in
    that plane (`wall_section_distance`) minus scope_radius_m; +inf where the scope does not cross it. A crossing
    between samples q - 1 and q counts only for the rings within CROSSING_RING_MARGIN of their ring positions
    (ring_position (Q,), k + f as `scope_wall_clearance` gives it, -1 behind the anal verge), so a plane cut far
    away, by the scope in another part of the colon, is not counted.

    This checks every ring the scope passes, not only those a contact sample is attributed to: where the wall is
    crowded (a tight bend's inside, a tube telescoped into itself) neighbouring samples 3.3 mm apart on the shaft
    can be attributed to pieces several rings apart, and a shaft that cuts through the rings between them is seen
    by no sample (`scope_wall_clearance`). Does not move anything."""
    p = particles_per_ring
    r = ring_count
    g = np.empty((r, 3))
    n = np.empty((r, 3))
    e = np.empty(3)
    for k in range(r):
        out[k] = np.inf
        ring_centroid_normal(wall_position_m, k, p, g[k], n[k])
    for q in range(1, points_m.shape[0]):
        ka, kb = ring_position[q - 1], ring_position[q]
        if ka < 0.0 or kb < 0.0:
            continue
        for k in range(max(int(math.ceil(min(ka, kb) - CROSSING_RING_MARGIN)), 0),
                       min(int(math.floor(max(ka, kb) + CROSSING_RING_MARGIN)), r - 1) + 1):
            a = ((points_m[q - 1, 0] - g[k, 0]) * n[k, 0] + (points_m[q - 1, 1] - g[k, 1]) * n[k, 1]
                 + (points_m[q - 1, 2] - g[k, 2]) * n[k, 2])
            b = ((points_m[q, 0] - g[k, 0]) * n[k, 0] + (points_m[q, 1] - g[k, 1]) * n[k, 1]
                 + (points_m[q, 2] - g[k, 2]) * n[k, 2])
            if (a > 0.0) == (b > 0.0):
                continue
            t = a / (a - b)
            x0 = points_m[q - 1, 0] + t * (points_m[q, 0] - points_m[q - 1, 0])
            x1 = points_m[q - 1, 1] + t * (points_m[q, 1] - points_m[q - 1, 1])
            x2 = points_m[q - 1, 2] + t * (points_m[q, 2] - points_m[q - 1, 2])
            if k < r - 1:
                d, _j, _w = wall_section_distance(wall_position_m, k, p, 0.0, x0, x1, x2, n[k, 0], n[k, 1], n[k, 2], e)
            else:
                d, _j, _w = wall_section_distance(wall_position_m, k - 1, p, 1.0, x0, x1, x2, n[k, 0], n[k, 1],
                                                  n[k, 2], e)
            out[k] = min(out[k], d - scope_radius_m)
