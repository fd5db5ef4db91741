"""The procedural colon: anatomy inside anatomy.md's ranges, a clean tube, determinism, exact save/load.

Figures come from ../shared/reference/anatomy.md (Segments, Wall and folds) through assets/colon/default.toml.
"""

import numpy as np
import pytest
import trimesh

from sim.colon.anatomy import LIMB_SEGMENTS, load_colon_params
from sim.colon.asset import LANDMARK_NAMES, SEGMENT_NAMES, load_asset
from sim.colon.mesh_checks import self_intersections
from sim.colon.procedural import _tube_problem, generate_colon, ring_fold

QUICK_SEEDS = [0, 1]
MANY_SEEDS = list(range(2, 10))


@pytest.fixture(scope="module")
def params():
    return load_colon_params()


@pytest.fixture(scope="module")
def colons():
    """Generated once per module: seeds -> asset."""
    return {seed: generate_colon(seed) for seed in QUICK_SEEDS}


def _unit(v):
    return v / np.linalg.norm(v)


def check_anatomy(asset, params):
    ring = asset.s_m[1] - asset.s_m[0]
    lengths = asset.segment_lengths()
    # Total length: anatomy.md, Segments: 1.2-2.0 m.
    assert 1.2 <= asset.length_m <= 2.0
    for name in LIMB_SEGMENTS:
        lo, hi = params.segments[name].length_range_m
        # Segment boundaries fall on rings, so allow one ring spacing at each end.
        assert lo - 2 * ring <= lengths[name] <= hi + 2 * ring, (name, lengths[name])
        # Lumen diameter: the mean radius over the middle half of the segment, where neighbours do not blend in.
        # Folds and the pole cap pull the mean below the drawn diameter, taeniae corners above it: 15 % slack.
        a, b = asset.segment_ranges()[name]
        mid = (asset.s_m > a + 0.25 * (b - a)) & (asset.s_m < b - 0.25 * (b - a))
        diameter = 2 * np.median(asset.mean_radius_m()[mid])
        dlo, dhi = params.segments[name].diameter_range_m
        assert 0.85 * dlo <= diameter <= 1.15 * dhi, (name, diameter)
    # Flexure angles between the limbs, 100 mm either side of the flexure (anatomy.md: 40-90 and 60-110 deg).
    for name, (lo, hi) in (("splenic_flexure", params.splenic_angle_range_deg),
                           ("hepatic_flexure", params.hepatic_angle_range_deg)):
        s0 = asset.landmarks[name].s_m
        c0 = asset.centreline_at(s0)
        angle = np.degrees(np.arccos(np.dot(_unit(asset.centreline_at(s0 - 0.1) - c0),
                                            _unit(asset.centreline_at(s0 + 0.1) - c0))))
        assert lo <= angle <= hi, (name, angle)
    # Haustral fold spacing (anatomy.md: 0.015-0.040 m): the median distance between fold crests.
    for name in ("sigmoid", "transverse", "ascending"):
        a, b = asset.segment_ranges()[name]
        m = (asset.s_m > a) & (asset.s_m < b)
        # The median around the ring: folds span two thirds of it, while the compressed inner wall of a bend
        # (a few angles) would add ripples to the minimum.
        typical = np.median(asset.radius_m[m], axis=1)
        crest = np.flatnonzero((typical[1:-1] < typical[:-2]) & (typical[1:-1] < typical[2:])
                               & (typical[1:-1] < np.median(typical) - 0.002)) + 1
        spacing = np.median(np.diff(asset.s_m[m][crest]))
        assert 0.015 <= spacing <= 0.040, (name, spacing)
    # The rectum is smooth apart from its valves: no haustral folds between the valves and the junction.
    a, b = asset.segment_ranges()["rectum"]
    smooth = (asset.s_m > 0.13) & (asset.s_m < b - 0.015)
    if smooth.any():
        assert np.ptp(asset.mean_radius_m()[smooth]) < 0.006
    # Inside a plausible abdomen.
    assert np.all(asset.centreline_m >= np.array(params.abdomen_min_m))
    assert np.all(asset.centreline_m <= np.array(params.abdomen_max_m))


def check_tube(asset, params):
    labels = asset.ring_segment
    # Segments in anatomical order along s, every one present.
    assert np.all(np.diff(labels) >= 0)
    assert sorted(set(labels.tolist())) == list(range(len(SEGMENT_NAMES)))
    # Landmarks in insertion order.
    s = [asset.landmarks[n].s_m for n in LANDMARK_NAMES]
    assert s == sorted(s) and s[0] == 0.0 and s[-1] == pytest.approx(asset.length_m)
    # Watertight except at the anal verge: the only boundary is ring 0; every other edge has two faces.
    mesh = trimesh.Trimesh(asset.vertices_m, asset.faces, process=False)
    edges, counts = np.unique(mesh.edges_sorted, axis=0, return_counts=True)
    boundary = edges[counts == 1]
    assert len(boundary) == len(asset.theta_rad)
    assert np.all(boundary < len(asset.theta_rad))
    assert np.all(counts <= 2)
    # Closing the verge with a fan gives a consistently wound closed surface with outward normals.
    centre = len(mesh.vertices)
    k = np.arange(len(asset.theta_rad))
    fan = np.stack([np.full_like(k, centre), (k + 1) % len(k), k], axis=1)
    closed = trimesh.Trimesh(np.vstack([mesh.vertices, asset.centreline_m[0]]), np.vstack([mesh.faces, fan]),
                             process=False)
    assert closed.is_watertight and closed.is_winding_consistent and closed.volume > 0
    # No self-intersection: bends wider than the inner wall, parts far apart along s never touch.
    max_radius = asset.radius_m.max(axis=1)
    assert _tube_problem(asset.centreline_m, max_radius, params) is None
    # Neighbouring rings never cross: every point of ring i+1 lies ahead of ring i's plane (an independent check
    # of the local part of the tube test, on the mesh itself).
    assert ring_fold(asset) is None
    # And on the triangles themselves: no two non-neighbouring triangles cross.
    assert len(self_intersections(asset.vertices_m, asset.faces)) == 0
    assert np.all(np.isfinite(asset.vertices_m))


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_anatomy_in_reference_ranges(colons, params, seed):
    check_anatomy(colons[seed], params)


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_tube_is_clean(colons, params, seed):
    check_tube(colons[seed], params)


@pytest.mark.slow
@pytest.mark.parametrize("seed", MANY_SEEDS)
def test_many_seeds(params, seed):
    asset = generate_colon(seed)
    check_anatomy(asset, params)
    check_tube(asset, params)


def test_same_seed_same_bytes_different_seed_differs(colons, tmp_path):
    again = generate_colon(0)
    a = colons[0]
    for name in ("centreline_m", "radius_m", "vertices_m", "faces", "vertex_offset_m", "ring_segment"):
        assert getattr(a, name).tobytes() == getattr(again, name).tobytes(), name
    a.save(tmp_path / "a" / "colon.ply")
    again.save(tmp_path / "b" / "colon.ply")
    for name in ("colon.ply", "colon.colon.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not np.array_equal(colons[1].centreline_m[:100], a.centreline_m[:100])


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".stl", ".glb"])
def test_save_load_is_lossless(colons, tmp_path, suffix):
    a = colons[0]
    mesh_path, side = a.save(tmp_path / f"colon{suffix}")
    b = load_asset(mesh_path)
    for name in ("centreline_m", "s_m", "tangent", "normal", "binormal", "theta_rad", "radius_m", "ring_segment",
                 "vertices_m", "faces", "vertex_s_m", "vertex_theta_rad", "vertex_offset_m", "vertex_segment",
                 "source_to_world"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert {k: (v.s_m, v.position_m.tolist()) for k, v in a.landmarks.items()} == \
        {k: (v.s_m, v.position_m.tolist()) for k, v in b.landmarks.items()}
    assert b.source == a.source
    assert load_asset(side).length_m == a.length_m


def test_edited_mesh_is_reported(colons, tmp_path):
    mesh_path, _ = colons[0].save(tmp_path / "colon.ply")
    mesh = trimesh.load(mesh_path, process=False, force="mesh")
    mesh.vertices[10] += 0.01
    mesh.export(mesh_path)
    with pytest.raises(ValueError, match=r"colon\.ply: vertices differ from the sidecar by up to 0\.01 m"):
        load_asset(mesh_path)


def test_named_parameters_move_the_anatomy(params):
    short_sigmoid = generate_colon(0, params.with_overrides(sigmoid_redundancy=0.7))
    short_total = generate_colon(0, params.with_overrides(total_length_m=1.35))
    base = generate_colon(0)
    assert short_sigmoid.segment_lengths()["sigmoid"] < 0.85 * base.segment_lengths()["sigmoid"]
    assert short_total.length_m < base.length_m - 0.08
    with pytest.raises(ValueError, match="field 'sigmoid_redundancy' must be a number in .* not laid out yet"):
        params.with_overrides(sigmoid_redundancy=1.5)


def test_bad_parameter_file_names_file_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((load_colon_params.__globals__["asset_path"]("colon", "default.toml")).read_text()
                   .replace("length_m = 0.13\n", "length_m = 0.5\n"))
    with pytest.raises(ValueError, match=r"bad\.toml: \[segments\.rectum\] length_m = 0\.5 must lie in its range"):
        load_colon_params(bad)


def test_fold_and_touch_checks_catch_bad_tubes(colons, params):
    """The checks the generator and the tests rely on do fail on a bad tube."""
    import copy

    folded = copy.deepcopy(colons[0])
    n, m = folded.radius_m.shape
    i = n // 2
    # Pull ring i+1 back behind ring i's plane.
    folded.vertices_m[(i + 1) * m:(i + 2) * m] -= 3 * (folded.s_m[1] - folded.s_m[0]) * folded.tangent[i]
    assert "rings fold over at s=" in ring_fold(folded)
    # A centreline that comes back within a lumen of itself: a U whose arms are 20 mm apart.
    t = np.linspace(0, np.pi, 200)
    arm = np.linspace(0, 0.2, 200)
    u = np.concatenate([np.stack([np.zeros(200), np.zeros(200), arm], 1)[:-1],
                        np.stack([0.01 - 0.01 * np.cos(t), np.zeros(200), 0.2 + 0.01 * np.sin(t)], 1)[1:-1],
                        np.stack([np.full(200, 0.02), np.zeros(200), arm[::-1]], 1)[1:]])
    problem = _tube_problem(u + np.array([0.0, 0.0, 0.05]), np.full(len(u), 0.015), params)
    assert problem is not None and ("touches itself" in problem or "too tight" in problem)


def test_self_intersection_check_on_known_meshes():
    a = trimesh.creation.icosphere(subdivisions=3)
    b = trimesh.creation.icosphere(subdivisions=3)
    b.vertices += [1.0, 0.0, 0.0]  # unit spheres 1 apart: they cross along a circle
    assert len(self_intersections(*_merged(a, b))) > 0
    b.vertices += [1.5, 0.0, 0.0]  # now 2.5 apart: no contact
    assert len(self_intersections(*_merged(a, b))) == 0
    # A single closed sphere and a tube never cross themselves (neighbours share vertices and are skipped).
    assert len(self_intersections(a.vertices, a.faces)) == 0
    tube = trimesh.creation.cylinder(radius=0.02, height=0.2, sections=32)
    assert len(self_intersections(tube.vertices, tube.faces)) == 0


def _merged(a, b):
    m = trimesh.util.concatenate([a, b])
    return m.vertices, m.faces
