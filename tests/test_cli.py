"""The `colosim` command as a user runs it: real subprocesses, real files."""

import json
import subprocess
import sys

import numpy as np


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_help_on_every_subcommand(tmp_path):
    for args in ([], ["colon"], ["colon", "generate"], ["colon", "import"], ["colon", "info"], ["colon", "show"]):
        out = run(*args, "--help", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Usage:" in out.stdout


def test_generate_info_show(tmp_path):
    out = run("colon", "generate", "--seed", "1", "--out", "c.ply", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.ply").exists() and (tmp_path / "c.colon.npz").exists()
    info = run("colon", "info", "c.ply", "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    seg_total = sum(v["length_m"] for v in data["segments"].values())
    assert abs(seg_total - data["length_m"]) < 1e-5
    assert data["source"]["seed"] == 1
    assert list(data["landmarks"])[0] == "anal_verge" and list(data["landmarks"])[-1] == "cecal_pole"
    text = run("colon", "info", "c.ply", cwd=tmp_path)
    assert "sigmoid" in text.stdout and "cecal_pole" in text.stdout
    shown = run("colon", "show", "c.ply", "--out", "c.png", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    png = (tmp_path / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_bad_input_is_a_clear_error(tmp_path):
    missing = run("colon", "info", "nope.ply", cwd=tmp_path)
    assert missing.returncode != 0 and "nope.colon.npz: colon sidecar not found" in missing.stderr
    bad = run("colon", "generate", "--total-length", "3", "--out", "x.ply", cwd=tmp_path)
    assert bad.returncode != 0 and "field 'total_length_m' must be a number in [1.2, 2.0]" in bad.stderr


def test_import_a_surface_with_landmarks(tmp_path):
    """generate -> a bare STL in millimetres plus a landmarks JSON -> `colon import` -> a loadable asset."""
    import trimesh

    from sim.colon.asset import load_asset

    assert run("colon", "generate", "--seed", "0", "--out", "g.ply", cwd=tmp_path).returncode == 0
    generated = load_asset(tmp_path / "g.ply")
    trimesh.Trimesh(generated.vertices_m * 1000.0, generated.faces, process=False).export(tmp_path / "scan.stl")
    marks = {k: (lm.position_m * 1000.0).tolist() for k, lm in generated.landmarks.items()}
    (tmp_path / "marks.json").write_text(json.dumps(marks))
    out = run("colon", "import", "scan.stl", "--landmarks", "marks.json", "--out", "imported.ply", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "millimetres" in out.stderr  # the unit detection warns
    imported = load_asset(tmp_path / "imported.ply")
    assert abs(imported.length_m - generated.length_m) < 0.02 * generated.length_m
    errors = [np.linalg.norm(imported.landmarks[k].position_m - generated.landmarks[k].position_m) for k in marks]
    assert max(errors) < 0.010
    bad = run("colon", "import", "marks.json", cwd=tmp_path)
    assert bad.returncode != 0 and "marks.json" in bad.stderr
