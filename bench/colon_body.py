"""Benchmark: the deformable colon wall (physics/colon_body.py) of the procedural default colon (seed 0).

Every wall particle is simulated. The colon is inflated while one sigmoid ring is pushed sideways (a load that
moves the wall and keeps the self-contact search busy). Prints ms per step and the real-time factor at
dt = 1/240 s with the default substeps, then the same at 2x and 4x the particle count (rings closer together and
more particles per ring) with the substeps `recommended_substeps` gives those grids (smaller cells need shorter
substeps), then one line of name=value pairs.

    .venv/bin/python bench/colon_body.py [--steps N] [--substeps N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from physics.colon_body import (  # noqa: E402
    ColonControls,
    build_colon_body,
    colon_outputs,
    recommended_substeps,
    rest_state,
    step_colon,
)
from sim.colon.asset import SEGMENT_NAMES  # noqa: E402
from sim.colon.procedural import generate_colon  # noqa: E402

DT_S = 1.0 / 240.0
#: (label, ring spacing m, particles per ring): 1x, 2x, 4x particles.
RESOLUTIONS = (("1x", 0.005, 20), ("2x", 0.0025, 20), ("4x", 0.0025, 40))


def run(asset, spacing_m: float, per_ring: int, steps: int, substeps: int | None) -> dict:
    model = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES, ring_spacing_m=spacing_m,
                             particles_per_ring=per_ring)
    substeps = substeps or recommended_substeps(model, DT_S)
    state = rest_state(model)
    rings = np.flatnonzero(model.ring_segment == SEGMENT_NAMES.index("sigmoid"))
    k = rings[len(rings) // 2]
    p = model.particles_per_ring
    force = np.zeros((model.particle_count, 3))
    direction = model.rest_ring_frame[k][:, 0]

    def controls(n: int) -> ColonControls:
        force[k * p:(k + 1) * p] = (1.0 + math.sin(2.0 * n * DT_S)) / p * direction  # 0-2 N on the ring
        return ColonControls(insufflation=0.8, external_force_N=force)

    t0 = time.perf_counter()
    step_colon(model, state, controls(0), DT_S, substeps)  # numba load/compile
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in range(steps):
        step_colon(model, state, controls(n + 1), DT_S, substeps)
    elapsed = time.perf_counter() - t0
    out = colon_outputs(model, state)
    return {
        "particles": model.particle_count, "constraints": model.constraint_count, "rings": model.ring_count,
        "ms_per_step": 1e3 * elapsed / steps, "realtime_factor": DT_S * steps / elapsed, "first_s": first_s,
        "finite": bool(np.isfinite(state.position_m).all()), "max_strain": float(out.wall_strain.max()),
        "contacts": int(state.contact_count), "substeps": substeps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=480, help="timed steps per resolution (default 480 = 2 s)")
    parser.add_argument("--substeps", type=int, default=None,
                        help="substeps for every resolution (default: recommended_substeps of each grid)")
    args = parser.parse_args()
    asset = generate_colon(0)
    print(f"colon: procedural seed 0, {asset.length_m:.3f} m; dt = {DT_S:.6f} s, {args.steps} steps timed per "
          "resolution")
    results = {}
    for label, spacing, per_ring in RESOLUTIONS:
        r = run(asset, spacing, per_ring, args.steps, args.substeps)
        results[label] = r
        print(f"{label}: {r['particles']} particles ({r['rings']} rings x {per_ring}), {r['constraints']} constraints, "
              f"{r['substeps']} substeps: {r['ms_per_step']:.3f} ms per step, "
              f"real-time factor {r['realtime_factor']:.2f} "
              f"(first step incl. numba load {r['first_s']:.2f} s), max wall strain {r['max_strain']:.3f}, "
              f"contact candidates {r['contacts']}, finite={r['finite']}")
    base = results["1x"]
    print(
        f"particles={base['particles']} substeps={base['substeps']} dt_s={DT_S:.6f} steps={args.steps} "
        f"ms_per_step={base['ms_per_step']:.3f} realtime_factor={base['realtime_factor']:.2f} "
        f"ms_per_step_2x={results['2x']['ms_per_step']:.3f} substeps_2x={results['2x']['substeps']} "
        f"ms_per_step_4x={results['4x']['ms_per_step']:.3f} substeps_4x={results['4x']['substeps']} "
        f"particles_4x={results['4x']['particles']} finite={all(r['finite'] for r in results.values())}"
    )


if __name__ == "__main__":
    main()
