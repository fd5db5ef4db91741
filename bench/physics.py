"""Benchmark: the whole world (physics/world.py): colon wall + scope rod + contact, one XPBD substep loop.

Default scene: every wall particle of the procedural default colon (seed 0; 5 mm rings of 20 particles) and the
full default scope (133 segments) with 0.3 m inserted, laid along the colon's rest centreline, so it presses on
the rectum and sigmoid from the first step. The handle then feeds in and out around 0.3 m (+-2 cm), rolls and
works both wheels, with the colon half insufflated. Prints ms per step and the real-time factor at dt = 1/240 s
with the world's default substeps, then the same at 2x and 4x the particle count (rings closer together and more
particles per ring; substeps as `WorldModel.default_substeps` gives those grids).

PyBullet ratio, labelled for what it is: in the same run, the PyBullet reference scope (physics/pybullet_scope.py,
scope only, no colon: there is no PyBullet colon here) is built with the same 0.3 m inserted, straight along the
insertion axis, and stepped with the same handle controls; `world_over_pybullet_scope` is our whole world's step
time divided by PyBullet's scope-only step time (below 1: our world with colon and contact steps faster than
PyBullet steps the scope alone).

Ends with one line of name=value pairs.

    .venv/bin/python bench/physics.py [--steps N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from physics.colon_body import ColonControls, build_colon_body  # noqa: E402
from physics.scope_rod import RodControls, build_rod  # noqa: E402
from physics.world import (  # noqa: E402
    WorldControls,
    build_world,
    initial_world_state,
    scope_clearance,
    step_world,
    world_outputs,
)
from sim.colon.asset import SEGMENT_NAMES  # noqa: E402
from sim.colon.procedural import generate_colon  # noqa: E402
from sim.scope_file import load_scope  # noqa: E402

DT_S = 1.0 / 240.0
DEPTH_M = 0.3
#: (label, ring spacing m, particles per ring): 1x, 2x, 4x particles.
RESOLUTIONS = (("1x", 0.005, 20), ("2x", 0.0025, 20), ("4x", 0.0025, 40))


def rod_controls_at(t_s: float) -> RodControls:
    """Handle motion at time t: feed in and out around DEPTH_M, roll, both wheels (slow, within their limits)."""
    return RodControls(
        insertion_depth_m=DEPTH_M + 0.02 * math.sin(1.0 * t_s),
        roll_rad=0.5 * math.sin(0.7 * t_s),
        wheel_up_down_rad=1.5 * math.sin(1.1 * t_s),
        wheel_left_right_rad=1.0 * math.sin(0.9 * t_s),
    )


def run(asset, rod_model, spacing_m: float, per_ring: int, steps: int) -> dict:
    colon = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES, ring_spacing_m=spacing_m,
                             particles_per_ring=per_ring)
    model = build_world(rod_model, colon)
    substeps = model.default_substeps
    state = initial_world_state(model, insertion_depth_m=DEPTH_M)

    def controls(n: int) -> WorldControls:
        return WorldControls(rod_controls_at(n * DT_S), ColonControls(insufflation=0.5))

    t0 = time.perf_counter()
    step_world(model, state, controls(0), DT_S, substeps)  # numba load/compile
    first_s = time.perf_counter() - t0
    worst_out = 0.0
    elapsed = 0.0
    for n in range(steps):
        t0 = time.perf_counter()
        step_world(model, state, controls(n + 1), DT_S, substeps)
        elapsed += time.perf_counter() - t0
        clearance, _ = scope_clearance(model, state)  # untimed check
        worst_out = max(worst_out, -float(clearance.min()))
    out = world_outputs(model, state)
    return {
        "particles": colon.particle_count, "rings": colon.ring_count, "segments": rod_model.segment_count,
        "samples": model.contact.sample_count, "substeps": substeps, "ms_per_step": 1e3 * elapsed / steps,
        "realtime_factor": DT_S * steps / elapsed, "first_s": first_s,
        "finite": bool(np.isfinite(state.rod.position_m).all() and np.isfinite(state.colon.position_m).all()),
        "worst_outside_mm": 1e3 * worst_out, "contact_load_N": out.contact_load_N,
        "handle_axial_N": out.rod.handle_axial_force_N, "max_strain": out.max_wall_strain,
        "max_tether_N": out.max_tether_force_N,
    }


def pybullet_scope_ms(rod_model, steps: int) -> float | None:
    """ms per step of the PyBullet reference scope alone (same controls), or None when pybullet is missing."""
    try:
        from physics.pybullet_scope import build_pybullet_scope
    except ImportError:
        return None
    with build_pybullet_scope(rod_model, insertion_depth_m=DEPTH_M, dt_s=DT_S) as scope:
        scope.step(rod_controls_at(0.0), DT_S)  # untimed first step
        t0 = time.perf_counter()
        for n in range(steps):
            scope.step(rod_controls_at((n + 1) * DT_S), DT_S)
        return 1e3 * (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=240, help="timed steps per resolution (default 240 = 1 s)")
    args = parser.parse_args()
    asset = generate_colon(0)
    rod_model = build_rod(load_scope())
    print(f"world: procedural colon seed 0 ({asset.length_m:.3f} m), scope {rod_model.spec.name} "
          f"({rod_model.segment_count} segments), {DEPTH_M} m inserted; dt = {DT_S:.6f} s, {args.steps} steps timed")
    results = {}
    for label, spacing, per_ring in RESOLUTIONS:
        r = run(asset, rod_model, spacing, per_ring, args.steps)
        results[label] = r
        print(f"{label}: {r['particles']} particles ({r['rings']} rings x {per_ring}), {r['segments']} segments, "
              f"{r['samples']} contact samples, {r['substeps']} substeps: {r['ms_per_step']:.3f} ms per step, "
              f"real-time factor {r['realtime_factor']:.2f} (first step incl. numba load {r['first_s']:.2f} s); "
              f"worst outside wall {r['worst_outside_mm']:.3f} mm, contact load {r['contact_load_N']:.2f} N, "
              f"handle axial {r['handle_axial_N']:.2f} N, max strain {r['max_strain']:.3f}, "
              f"max tether {r['max_tether_N']:.3f} N, finite={r['finite']}")
    base = results["1x"]
    pb_ms = pybullet_scope_ms(rod_model, args.steps)
    if pb_ms is None:
        ratio_text = "world_over_pybullet_scope=nan pybullet_scope_ms=nan"
        print("pybullet not importable: no ratio")
    else:
        ratio = base["ms_per_step"] / pb_ms
        ratio_text = f"world_over_pybullet_scope={ratio:.3f} pybullet_scope_ms={pb_ms:.3f}"
        print(f"pybullet reference scope alone (no colon, no contact), same controls: {pb_ms:.3f} ms per step; "
              f"our whole world takes {ratio:.2f}x its time per step")
    print(
        f"particles={base['particles']} segments={base['segments']} substeps={base['substeps']} dt_s={DT_S:.6f} "
        f"steps={args.steps} ms_per_step={base['ms_per_step']:.3f} realtime_factor={base['realtime_factor']:.2f} "
        f"ms_per_step_2x={results['2x']['ms_per_step']:.3f} ms_per_step_4x={results['4x']['ms_per_step']:.3f} "
        f"particles_4x={results['4x']['particles']} substeps_4x={results['4x']['substeps']} {ratio_text} "
        f"worst_outside_mm={max(r['worst_outside_mm'] for r in results.values()):.3f} "
        f"finite={all(r['finite'] for r in results.values())}"
    )


if __name__ == "__main__":
    main()
