"""A normal (non-editable) install carries the bundled data: build the wheel, install it into a fresh folder, and
use it from outside the checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_assets_and_finds_them(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("colosim-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("sim/_data/assets/colon/default.toml", "sim/_data/assets/scopes/adult_colonoscope.toml",
                     "sim/_data/scenarios/README.md", "sim/cli.py", "physics/scope_rod.py"):
        assert expected in names, expected
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    probe = ("import sim.resources as r, sim.colon.anatomy as a; "
             "print(r.asset_path('colon', 'default.toml')); print(a.load_colon_params().total_length_m)")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    path, total = run.stdout.split()
    assert Path(path).is_relative_to(site) and float(total) == 1.5
