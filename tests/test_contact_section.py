"""The wall's cross-section as contact geometry (physics/contact.py `wall_section_distance`) on rings a scope has
deformed: a ring folded into a C-shaped slit, whose centroid lies outside the polygon.

The earlier contact cast a ray from the ring centroid and missed such a ring; it reported scope points a metre
"outside" and skipped their contact (bench/autopilot.py at the sigmoid apex). The oracle here is independent of
physics/contact.py: matplotlib's point-in-polygon test and the distance to the polygon's edges with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path

from physics.contact import scope_wall_clearance, wall_section_distance

P = 20


def _folded_ring(z_m: float) -> np.ndarray:
    """(P, 3) ring in the plane z = z_m, folded into a C-shaped slit: half its particles on an arc of radius
    15 mm over 300°, the other half back along radius 9 mm (a lumen squashed flat around a bend, the way the
    bending section leaves it at a hairpin). Its centroid lies in the gap, outside the polygon."""
    outer = np.radians(np.linspace(-150.0, 150.0, P // 2))
    inner = outer[::-1]
    xy = np.concatenate((0.015 * np.stack((np.cos(outer), np.sin(outer)), axis=1),
                         0.009 * np.stack((np.cos(inner), np.sin(inner)), axis=1)))
    return np.column_stack((xy, np.full(P, z_m)))


def _oracle(polygon_xy: np.ndarray, point_xy: np.ndarray) -> float:
    """Signed distance of a point from a closed polygon: + inside, - outside (matplotlib + numpy)."""
    a = polygon_xy
    b = np.roll(polygon_xy, -1, axis=0)
    ab = b - a
    w = np.clip(np.einsum("ij,ij->i", point_xy - a, ab) / np.einsum("ij,ij->i", ab, ab), 0.0, 1.0)
    dist = np.linalg.norm(a + w[:, None] * ab - point_xy, axis=1).min()
    return dist if Path(polygon_xy).contains_point(point_xy) else -dist


@pytest.fixture(scope="module")
def wall():
    return np.concatenate((_folded_ring(0.0), _folded_ring(0.005)))


def test_the_folded_ring_has_its_centroid_outside(wall):
    ring = wall[:P, :2]
    assert not Path(ring).contains_point(ring.mean(axis=0))


@pytest.mark.parametrize("point_xy", [(0.012, 0.0), (0.0, 0.0125), (-0.009, -0.008), (0.0, 0.0), (0.005, 0.0),
                                      (0.020, 0.0), (-0.012, 0.0), (0.0, -0.016)])
def test_signed_distance_matches_the_polygon(wall, point_xy):
    """Inside the slit, at the centroid, in the gap and outside the ring: sign and distance as the oracle's, at a
    sample halfway between the two rings."""
    e = np.empty(3)
    x = np.array([point_xy[0], point_xy[1], 0.0025])
    d, j, w = wall_section_distance(wall, 0, P, 0.5, x[0], x[1], x[2], 0.0, 0.0, 1.0, e)
    expected = _oracle(wall[:P, :2], np.asarray(point_xy))
    assert j >= 0
    assert d == pytest.approx(expected, abs=1e-9)
    # e points from the lumen toward the wall, so x + d e is the nearest wall point (d < 0: back across it).
    assert abs(np.linalg.norm(e) - 1.0) < 1e-12 and abs(e[2]) < 1e-12
    on_wall = np.asarray(point_xy) + d * e[:2]
    assert abs(_oracle(wall[:P, :2], on_wall)) < 1e-9


@pytest.mark.parametrize("half", [(1, 1), (2, 2), (3, 2)])
@pytest.mark.parametrize("where", [(5, 0.3, 19, 0.8), (0, 0.0, 0, 0.0), (7, 0.999, 10, 0.5)])
def test_wall_patch_is_centred_on_the_contact_point(half, where):
    """The patch a contact moves (physics/contact.py `wall_patch`): weights sum to 1, their centre is the contact
    point (rings k + f along s, particles jw + ww round the ring, across the seam j = P - 1 -> 0), so the force on
    the wall keeps its point of application; the edge weights are the contact edge's bilinear weights; half-widths
    1 and 1 give exactly those four."""
    from physics.contact import wall_patch

    rings = 12
    k, f, jw, ww = where
    hr, hp = half
    size = 4 * hr * hp
    idx = np.empty(size, dtype=np.int64)
    wt = np.empty(size)
    edge = np.empty(size)
    n = wall_patch(k, f, jw, ww, P, rings, hr, hp, idx, wt, edge)
    idx, wt, edge = idx[:n], wt[:n], edge[:n]
    assert wt.sum() == pytest.approx(1.0, abs=1e-12) and (wt > 0).all()
    ring, around = idx // P, idx % P
    # Round the ring, unwrapped about the contact edge.
    around = np.where(around - jw > P // 2, around - P, np.where(jw - around > P // 2, around + P, around))
    assert np.dot(wt, around) == pytest.approx(jw + ww, abs=1e-12)
    if k - hr + 1 >= 0:  # the patch is cut at ring 0 and renormalised there
        assert np.dot(wt, ring) == pytest.approx(k + f, abs=1e-12)
    bilinear = {(k, jw): (1 - f) * (1 - ww), (k, (jw + 1) % P): (1 - f) * ww, (k + 1, jw): f * (1 - ww),
                (k + 1, (jw + 1) % P): f * ww}
    for i, e in zip(idx, edge):
        assert e == pytest.approx(bilinear.get((i // P, i % P), 0.0), abs=1e-12)
    if half == (1, 1):
        got = {(i // P, i % P): w for i, w in zip(idx, wt)}
        assert got == pytest.approx({key: w for key, w in bilinear.items() if w > 0}, abs=1e-12)
    else:
        assert n > 4 and wt.max() < 0.5


def test_a_sample_that_lost_its_piece_finds_it_again_beside_its_neighbour_on_the_shaft():
    """physics/contact.py, "Shaft continuity": a centreline doubled back on itself (a hairpin: out along +z for
    0.3 m, 40 mm across, back along -z), a straight shaft of samples 3.3 mm apart in the first limb. Every sample
    holds its true piece except one, which holds a piece of the other limb 40 mm away, far along s (a sample whose
    colon was dragged off it). Its own window alone keeps it on the wrong limb; with its handle-side neighbour's
    window it comes back to the piece it lies in (worked out here from the geometry: z / 5 mm). A sample whose
    window overlaps its neighbour's is left where its own window puts it."""
    from physics.contact import locate_samples_local

    step = 0.005
    out = np.column_stack((np.zeros(61), np.zeros(61), np.arange(61) * step))
    across = np.column_stack((np.linspace(0.0, 0.04, 9)[1:-1], np.zeros(7), np.full(7, 0.3)))
    back = out[::-1] + [0.04, 0.0, 0.0]
    centroid = np.concatenate((out, across, back))
    z = 0.0512 + 0.0033 * np.arange(12)
    points = np.column_stack((np.full(12, 0.002), np.zeros(12), z))
    truth = (z // step).astype(np.int64)
    piece = truth.copy()
    lost = 7
    piece[lost] = len(centroid) - 2 - truth[lost]  # the same height on the way back
    own_only = piece.copy()
    locate_samples_local(points[lost:lost + 1], centroid, own_only[lost:lost + 1], 3)
    assert abs(own_only[lost] - truth[lost]) > 50  # alone, it stays on the other limb
    locate_samples_local(points, centroid, piece, 3)
    assert np.array_equal(piece, truth)


def _bent_tube(bend_deg: float, radius_m: float = 0.015, gap_m: float = 0.005) -> np.ndarray:
    """(5 P, 3) five circular rings: rings 0-2 along +z, rings 3-4 along +z turned by bend_deg toward +y about ring
    2's centre, each ring in the plane normal to its own tangent (the mean of its two pieces' directions)."""
    a = np.radians(bend_deg)
    d_in = np.array([0.0, 0.0, 1.0])
    d_out = np.array([0.0, np.sin(a), np.cos(a)])
    centres = [(-2 + k) * gap_m * d_in for k in range(3)] + [k * gap_m * d_out for k in (1, 2)]
    tangents = [d_in, d_in, d_in + d_out, d_out, d_out]
    theta = np.linspace(0.0, 2.0 * np.pi, P, endpoint=False)
    rings = []
    for c, t in zip(centres, tangents):
        t = t / np.linalg.norm(t)
        u = np.array([1.0, 0.0, 0.0])  # normal to every tangent here (the bend is about x)
        v = np.cross(t, u)
        rings.append(c + radius_m * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v))
    return np.concatenate(rings)


@pytest.mark.parametrize("bend_deg", [20.0, 40.0])
def test_a_sample_on_the_outside_of_a_bend_measures_the_same_from_either_piece(bend_deg):
    """A scope sample in the wedge on the outside of a bend lies beyond the end of the piece before the bend's ring
    and before the start of the piece after it; either piece may hold it (the samples change piece as the scope
    moves). Both must give the same clearance, or the contact jumps when the sample changes piece: with each
    piece's chord as the section's normal the two measured the shared ring in planes the bend's angle apart (the
    tip at the sigmoid apex: 1.4 mm outside on one piece, 4.4 mm on the next)."""
    wall = _bent_tube(bend_deg)
    outer = np.array([[0.0, -0.014, 0.002]])  # beside ring 2 (the bend's ring, at the origin), on the outer side
    clearance = {}
    for piece in (1, 2):
        out_c, out_s = np.empty(1), np.empty(1)
        scope_wall_clearance(outer, wall, 5, P, np.array([piece]), 0.0, out_c, out_s)
        assert out_s[0] == pytest.approx(2.0)  # clamped onto the shared ring from either side
        clearance[piece] = out_c[0]
    assert clearance[1] == pytest.approx(clearance[2], abs=1e-9)
    # Measured in ring 2's own plane (normal d_in + d_out), the point is this far inside the 15 mm circle.
    t = np.array([0.0, np.sin(np.radians(bend_deg)), 1.0 + np.cos(np.radians(bend_deg))])
    t /= np.linalg.norm(t)
    in_plane = outer[0] - (outer[0] @ t) * t
    assert clearance[1] == pytest.approx(0.015 - np.linalg.norm(in_plane), abs=2e-4)
