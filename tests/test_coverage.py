"""Mucosal coverage (sim/scoring/coverage.py) against figures worked out by hand.

A straight tube of radius r along +z, camera on the axis at z0 looking along +z (field of view 140°, half-angle
70°). A wall point at axial distance z > 0 ahead is at angle atan(r / z) from the axis and distance d = sqrt(r² + z²);
its normal is radial, so the cosine of the incidence angle is r / d. Hence, on the band of wall ahead of the camera
(all of it visible: the inside of a cylinder hides nothing from its axis):
- in the field of view when z >= r / tan(70°);
- seen when also d <= 100 mm, i.e. z <= sqrt(0.1² - r²);
- inspectable when d <= 50 mm and incidence <= 75° (d <= r / cos 75°), i.e. z <= sqrt(min(0.05, r / cos 75°)² - r²);
- inspected after 0.5 s of dwell.
The fraction of the tube's wall is the band's length over the tube's length (every theta is covered). The raster
resolves s to a quarter of the 5 mm ring spacing, so each band end is placed within half of 1.25 mm: tolerance
2 x 0.625 mm over the 0.4 m tube (plus the 64-gon's chord sag, under 0.2 %).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sim.scoring.coverage import (
    INSERTION,
    WITHDRAWAL,
    CoverageAccumulator,
    CoverageConfig,
    CoverageGrid,
    CoverageResult,
)

TUBE_LENGTH_M = 0.4
RING_SPACING_M = 0.005
CAMERA_Z_M = 0.1
HALF_FOV_RAD = math.radians(70.0)
BAND_TOLERANCE = 2 * 0.000625 / TUBE_LENGTH_M + 0.002


def tube_grid(radius_m, particles=64, radius_of_z=None):
    """A straight tube along +z from 0 to TUBE_LENGTH_M: rings every 5 mm, two segments (first and second half)."""
    z = np.arange(0.0, TUBE_LENGTH_M + 1e-9, RING_SPACING_M)
    theta = 2 * np.pi * np.arange(particles) / particles
    radii = np.full(z.size, radius_m) if radius_of_z is None else radius_of_z(z)
    pos = np.stack([(radii[:, None] * np.cos(theta)).ravel(), (radii[:, None] * np.sin(theta)).ravel(),
                    np.repeat(z, particles)], axis=1)
    segment = (z > TUBE_LENGTH_M / 2).astype(np.int64)
    return CoverageGrid(z.size, particles, z, segment, ("proximal", "distal"), pos)


def look_along_axis(acc, grid, times_s, z_m=CAMERA_Z_M, phase=INSERTION):
    for t in times_s:
        acc.update(t, [0.0, 0.0, z_m], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], grid.rest_position_m, phase)


def band_fraction(radius_m, max_distance_m):
    z_near = radius_m / math.tan(HALF_FOV_RAD)
    z_far = math.sqrt(max_distance_m**2 - radius_m**2)
    return (z_far - z_near) / TUBE_LENGTH_M


@pytest.mark.parametrize(
    ("radius_m", "limit"),
    [
        # r = 20 mm: r / cos 75° = 77 mm > 50 mm, so the 50 mm distance limits inspection.
        pytest.param(0.020, "distance", id="r20-distance-limited"),
        # r = 10 mm: r / cos 75° = 38.6 mm < 50 mm, so the incidence limits inspection.
        pytest.param(0.010, "incidence", id="r10-incidence-limited"),
    ],
)
def test_straight_tube_seen_from_its_axis_matches_the_analytic_fraction(radius_m, limit):
    grid = tube_grid(radius_m)
    acc = CoverageAccumulator(grid, CoverageConfig())
    look_along_axis(acc, grid, np.arange(10) * 0.1)  # 1 s still: dwell 1 s >= 0.5 s everywhere in view
    result = acc.result()
    inspect_d = min(0.05, radius_m / math.cos(math.radians(75.0)))
    assert (inspect_d < 0.05) == (limit == "incidence")
    # r = 20 mm: seen (97.98 - 7.28) / 400 = 0.2268, inspected (45.83 - 7.28) / 400 = 0.0964.
    # r = 10 mm: seen (99.50 - 3.64) / 400 = 0.2396, inspected (37.26 - 3.64) / 400 = 0.0840.
    assert result.fraction(result.seen_mask()) == pytest.approx(band_fraction(radius_m, 0.1), abs=BAND_TOLERANCE)
    assert result.fraction(result.inspected_mask()) == pytest.approx(band_fraction(radius_m, inspect_d),
                                                                      abs=BAND_TOLERANCE)
    # Nothing behind the camera, every theta in the band.
    rows_seen = result.seen_mask().any(axis=1)
    assert not rows_seen[result.s_m < CAMERA_Z_M].any()
    band = (result.s_m > CAMERA_Z_M + 0.01) & (result.s_m < CAMERA_Z_M + 0.09)
    assert result.seen_mask()[band].all()


def test_dwell_below_half_a_second_sees_but_does_not_inspect():
    grid = tube_grid(0.02)
    acc = CoverageAccumulator(grid, CoverageConfig())
    look_along_axis(acc, grid, [0.0, 0.1, 0.2, 0.3])  # 4 updates x 0.1 s = 0.4 s of dwell < 0.5 s
    result = acc.result()
    assert result.fraction(result.seen_mask()) == pytest.approx(band_fraction(0.02, 0.1), abs=BAND_TOLERANCE)
    assert result.fraction(result.inspected_mask()) == 0.0
    look_along_axis(acc, grid, [0.4])  # the fifth update brings it to 0.5 s
    assert acc.inspected_fraction() == pytest.approx(band_fraction(0.02, 0.05), abs=BAND_TOLERANCE)


def test_phases_segments_and_their_union():
    grid = tube_grid(0.02)
    acc = CoverageAccumulator(grid, CoverageConfig())
    look_along_axis(acc, grid, np.arange(6) * 0.1, z_m=0.05, phase=INSERTION)  # band 57-148 mm: both segments
    look_along_axis(acc, grid, 1.0 + np.arange(6) * 0.1, z_m=0.25, phase=WITHDRAWAL)  # band 257-348 mm: distal
    result = acc.result()
    payload = result.to_dict()
    json.dumps(payload, allow_nan=False)
    one_band = band_fraction(0.02, 0.1)
    assert payload["insertion"]["seen_fraction"] == pytest.approx(one_band, abs=BAND_TOLERANCE)
    assert payload["withdrawal"]["seen_fraction"] == pytest.approx(one_band, abs=BAND_TOLERANCE)
    assert payload["overall"]["seen_fraction"] == pytest.approx(2 * one_band, abs=2 * BAND_TOLERANCE)
    # Per segment (each half of the tube, 0.2 m): insertion saw 57.3-148 mm of the proximal half (0.4535) and
    # 0.2-... nothing of the distal one; withdrawal only the distal half: (348 - 257.3) / 200 = 0.4535.
    per_segment = payload["withdrawal"]["per_segment"]
    assert per_segment["proximal"]["seen_fraction"] == 0.0
    assert per_segment["distal"]["seen_fraction"] == pytest.approx(2 * one_band, abs=2 * BAND_TOLERANCE)
    assert payload["insertion"]["per_segment"]["distal"]["seen_fraction"] == 0.0


def test_a_fold_hides_the_wall_behind_it():
    # A fold: the ring at z = 130 mm has radius 10 mm in a 20 mm tube. From the axis at z0 = 100 mm, the line past
    # the fold's crest (r = 10 mm at 30 mm ahead) meets the 20 mm wall 60 mm ahead, at z = 160 mm: the wall from the
    # fold to about 160 mm is in its shadow, the wall beyond is seen. The depth image resolves silhouettes to about
    # one pixel (140° / 48 = 2.9°): at 175 mm the wall is 3.5° inside the crest's direction (atan(20/75) = 14.9°
    # against atan(10/30) = 18.4°), clear of that blur.
    def radius(z):
        return np.where(np.isclose(z, 0.13), 0.010, 0.020)

    grid = tube_grid(0.02, radius_of_z=radius)
    acc = CoverageAccumulator(grid, CoverageConfig())
    look_along_axis(acc, grid, [0.0])
    result = acc.result()
    seen_rows = result.seen_mask().mean(axis=1)
    shadow = (result.s_m > 0.137) & (result.s_m < 0.155)
    beyond = (result.s_m > 0.175) & (result.s_m < 0.195)
    assert seen_rows[shadow].max() == 0.0
    assert seen_rows[beyond].min() == 1.0
    # Without the fold the same band is seen.
    plain = tube_grid(0.02)
    acc_plain = CoverageAccumulator(plain, CoverageConfig())
    look_along_axis(acc_plain, plain, [0.0])
    assert acc_plain.result().seen_mask()[shadow].all()


def test_red_out_counts_nothing_and_long_red_out_is_a_lost_view_episode():
    grid = tube_grid(0.02)
    acc = CoverageAccumulator(grid, CoverageConfig())
    # Camera 1 mm from the wall, looking into it: every ray ends within 4 mm.
    for t in np.arange(13) * 0.1:
        view = acc.update(t, [0.019, 0.0, 0.2], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], grid.rest_position_m)
        assert view.red_out
    look_along_axis(acc, grid, [1.3])
    result = acc.result()
    assert result.fraction(result.seen_mask()) == pytest.approx(band_fraction(0.02, 0.1), abs=BAND_TOLERANCE)
    assert result.lost_view_episodes == [(0.0, pytest.approx(1.3))]


def test_deterministic_and_save_load_round_trip(tmp_path):
    grid = tube_grid(0.02, particles=20)
    results = []
    for _ in range(2):
        acc = CoverageAccumulator(grid, CoverageConfig())
        for k, t in enumerate(np.arange(8) * 0.1):
            # A camera wandering off the axis and turning: exercises occlusion and incidence in every direction.
            ang = 0.3 * k
            fwd = np.array([0.4 * math.sin(ang), 0.4 * math.cos(ang), 1.0])
            acc.update(t, [0.008 * math.cos(ang), 0.008 * math.sin(ang), 0.1 + 0.01 * k], fwd, [0.0, 1.0, 0.0],
                       grid.rest_position_m)
        results.append(acc.result())
    a, b = results
    assert np.array_equal(a.seen, b.seen) and np.array_equal(a.dwell_s, b.dwell_s)
    path = a.save(tmp_path / "coverage.npz")
    c = CoverageResult.load(path)
    assert np.array_equal(c.seen, a.seen) and np.array_equal(c.dwell_s, a.dwell_s)
    assert c.to_dict() == a.to_dict()
    (tmp_path / "bad.npz").write_bytes(b"")
    np.savez(tmp_path / "other.npz", x=np.zeros(1))
    with pytest.raises(ValueError, match=r"other\.npz: not a coverage file \(missing s_m"):
        CoverageResult.load(tmp_path / "other.npz")
