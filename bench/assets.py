"""Asset figures: procedural colon generation time (default colon) and mesh import time for a ~100k-triangle
colon surface. Prints a name=value line at the end.

Run: .venv/bin/python bench/assets.py
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

from sim.colon.import_mesh import import_colon
from sim.colon.procedural import generate_colon


def main() -> None:
    generate_colon(0)  # warm the numba cache and imports; not timed
    times = []
    for seed in range(3):
        t0 = time.perf_counter()
        asset = generate_colon(seed)
        times.append(time.perf_counter() - t0)
        print(f"generate seed {seed}: {times[-1]:.2f} s, {len(asset.faces)} triangles, "
              f"{asset.source['attempt'] + 1} draw(s)")
    # A ~100k-triangle surface: the default colon at 1.5 mm rings x 52 around.
    big = generate_colon(0, ring_spacing_m=0.0015, n_theta=52)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "colon.stl"
        big.save(path)
        landmarks = {k: v.position_m.tolist() for k, v in big.landmarks.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            imported = import_colon(path, units="m", landmarks=landmarks)
            t_import = time.perf_counter() - t0
    print(f"import {len(big.faces)} triangles: {t_import:.2f} s; centreline {imported.length_m * 1000:.0f} mm "
          f"(generated {big.length_m * 1000:.0f} mm)")
    mean_gen = sum(times) / len(times)
    print(f"generate_default_s={times[0]:.2f} generate_mean_s={mean_gen:.2f} "
          f"import_triangles={len(big.faces)} import_s={t_import:.2f}")


if __name__ == "__main__":
    main()
