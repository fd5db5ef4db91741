"""Benchmark: the whole world (physics/world.py): colon wall + scope rod + contact, one XPBD substep loop, and the
same scene in PyBullet (physics/pybullet_world.py) in the same run.

Default scene: every wall particle of the procedural default colon (seed 0; 5 mm rings of 20 particles) and the
full default scope (133 segments) with 0.3 m inserted, laid along the colon's rest centreline, so it presses on
the rectum and sigmoid from the first step. The handle then feeds in and out around 0.3 m (+-2 cm), rolls and
works both wheels, with the colon half insufflated. Prints ms per step and the real-time factor at dt = 1/240 s
with the world's default substeps, on one thread and with the wall's ring blocks on numba's threads
(`threaded=True`, bit-identical), then on one thread at 2x and 4x the particle count (rings closer together and
more particles per ring; substeps as `WorldModel.default_substeps` gives those grids). Then the 1x grid with the
scope DEEP_DEPTH_M in (about where the autopilot stalls, past the splenic flexure): three times the contact samples
and free segments of the default scene, so this is the step time of the middle of a procedure (`*_deep`).

PyBullet peer, in the same run: the same world model built in PyBullet (all rings; colon as a mass-spring soft body
with anchors, scope as the multibody chain; see physics/pybullet_world.py for what differs) and ours, both driven
by the same controls from the same start: scope at the anal verge, fed straight in at 0.05 m/s (PyBullet cannot
start with the scope bent along the colon). `pybullet_ratio` = PyBullet ms per step / ours (above 1: ours is
faster). Also, as before, the PyBullet reference scope alone (no colon) with the default scene's handle motion:
`world_over_pybullet_scope` = our whole world's step time / PyBullet's scope-only step time.

The machine is shared: timings are the minimum over blocks of steps, A and B interleaved where they are compared.
Ends with one line of name=value pairs.

    .venv/bin/python bench/physics.py [--steps N] [--pybullet-steps M]
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
#: The deep scene's insertion (m): the autopilot has 1.0-1.1 m in when it stalls past the splenic flexure.
DEEP_DEPTH_M = 1.0
#: (label, ring spacing m, particles per ring): 1x, 2x, 4x particles.
RESOLUTIONS = (("1x", 0.005, 20), ("2x", 0.0025, 20), ("4x", 0.0025, 40))


def rod_controls_at(t_s: float, depth_m: float = DEPTH_M) -> RodControls:
    """Handle motion at time t: feed in and out around depth_m, roll, both wheels (slow, within their limits)."""
    return RodControls(
        insertion_depth_m=depth_m + 0.02 * math.sin(1.0 * t_s),
        roll_rad=0.5 * math.sin(0.7 * t_s),
        wheel_up_down_rad=1.5 * math.sin(1.1 * t_s),
        wheel_left_right_rad=1.0 * math.sin(0.9 * t_s),
    )


def build(asset, rod_model, spacing_m: float, per_ring: int):
    colon = build_colon_body(asset.centreline_m, asset.s_m, asset.normal, asset.binormal, asset.theta_rad,
                             asset.radius_m, asset.ring_segment, SEGMENT_NAMES, ring_spacing_m=spacing_m,
                             particles_per_ring=per_ring)
    return build_world(rod_model, colon)


def run(model, steps: int, threaded: bool = False, depth_m: float = DEPTH_M, block: int = 40) -> dict:
    """Default-scene run with the scope depth_m in; ms per step is the minimum over blocks of `block` steps (x the
    blocks for the total)."""
    colon, rod_model = model.colon, model.rod
    substeps = model.default_substeps
    state = initial_world_state(model, insertion_depth_m=depth_m)

    def controls(n: int) -> WorldControls:
        return WorldControls(rod_controls_at(n * DT_S, depth_m), ColonControls(insufflation=0.5))

    t0 = time.perf_counter()
    step_world(model, state, controls(0), DT_S, substeps, threaded=threaded)  # numba load/compile
    first_s = time.perf_counter() - t0
    worst_out = 0.0
    best = math.inf
    for b0 in range(0, steps, block):
        t0 = time.perf_counter()
        for n in range(b0, min(steps, b0 + block)):
            step_world(model, state, controls(n + 1), DT_S, substeps, threaded=threaded)
        best = min(best, (time.perf_counter() - t0) / (min(steps, b0 + block) - b0))
        clearance, _ = scope_clearance(model, state)  # untimed check
        worst_out = max(worst_out, -float(clearance.min()))
    elapsed = best * steps
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


def pybullet_peer(model, steps: int, block: int = 20) -> dict | None:
    """Both backends, the same model and controls: straight insertion at 0.05 m/s from the verge. Interleaved
    blocks of `block` steps; ms per step = minimum over blocks. None when pybullet is missing."""
    try:
        from physics.pybullet_world import build_pybullet_world
    except ImportError:
        return None
    t0 = time.perf_counter()
    pb = build_pybullet_world(model)
    build_s = time.perf_counter() - t0
    try:
        state = initial_world_state(model)

        def controls(n: int) -> WorldControls:
            return WorldControls(RodControls(insertion_depth_m=0.05 * (n + 1) * DT_S))

        step_world(model, state, controls(0), DT_S)  # numba load
        pb.step(controls(0), DT_S)
        best_ours = best_pb = math.inf
        engine0 = pb.engine_time_s
        best_engine = math.inf
        for b0 in range(1, steps + 1, block):
            n1 = min(steps + 1, b0 + block)
            t0 = time.perf_counter()
            for n in range(b0, n1):
                step_world(model, state, controls(n), DT_S)
            best_ours = min(best_ours, (time.perf_counter() - t0) / (n1 - b0))
            t0 = time.perf_counter()
            engine0 = pb.engine_time_s
            for n in range(b0, n1):
                pb.step(controls(n), DT_S)
            best_pb = min(best_pb, (time.perf_counter() - t0) / (n1 - b0))
            best_engine = min(best_engine, (pb.engine_time_s - engine0) / (n1 - b0))
        ours, theirs = world_outputs(model, state), pb.outputs()
        return {"ours_ms": 1e3 * best_ours, "pybullet_ms": 1e3 * best_pb, "engine_ms": 1e3 * best_engine,
                "build_s": build_s, "nodes": pb.rest_position_m.shape[0], "substeps": pb.substeps,
                "tip_gap_mm": 1e3 * float(np.linalg.norm(ours.rod.tip_position_m - theirs.rod.tip_position_m)),
                "finite": bool(np.isfinite(theirs.wall_position_m).all()),
                "wall_moved_mm": 1e3 * theirs.max_wall_displacement_m}
    finally:
        pb.close()


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
    parser.add_argument("--pybullet-steps", type=int, default=60,
                        help="steps of the PyBullet peer comparison (default 60 = 0.25 s)")
    args = parser.parse_args()
    asset = generate_colon(0)
    rod_model = build_rod(load_scope())
    print(f"world: procedural colon seed 0 ({asset.length_m:.3f} m), scope {rod_model.spec.name} "
          f"({rod_model.segment_count} segments), {DEPTH_M} m inserted ({DEEP_DEPTH_M} m for the deep scene); "
          f"dt = {DT_S:.6f} s, {args.steps} steps timed")
    results = {}
    models = {}
    for label, spacing, per_ring in RESOLUTIONS:
        models[label] = build(asset, rod_model, spacing, per_ring)
    runs = [("1x", False, DEPTH_M), ("1x_threaded", True, DEPTH_M), ("2x", False, DEPTH_M), ("4x", False, DEPTH_M),
            ("1x_deep", False, DEEP_DEPTH_M)]
    for label, threaded, depth in runs:
        r = run(models[label.split("_")[0]], args.steps, threaded=threaded, depth_m=depth)
        results[label] = r
        print(f"{label} ({depth} m in): {r['particles']} particles ({r['rings']} rings), {r['segments']} segments, "
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
    peer = pybullet_peer(models["1x"], args.pybullet_steps)
    if peer is None:
        peer_text = "pybullet_ms_per_step=nan pybullet_ratio=nan"
    else:
        pb_ratio = peer["pybullet_ms"] / peer["ours_ms"]
        peer_text = f"pybullet_ms_per_step={peer['pybullet_ms']:.3f} pybullet_ratio={pb_ratio:.2f}"
        print(f"pybullet peer, whole scene ({peer['nodes']} soft-body nodes, {peer['substeps']} Bullet steps per "
              f"step, built in {peer['build_s']:.1f} s), straight insertion at 0.05 m/s, {args.pybullet_steps} steps, "
              f"same controls: PyBullet {peer['pybullet_ms']:.2f} ms per step ({peer['engine_ms']:.2f} in "
              f"stepSimulation), ours {peer['ours_ms']:.3f} ms per step: PyBullet takes {pb_ratio:.1f}x ours; tips "
              f"{peer['tip_gap_mm']:.2f} mm apart, PyBullet wall moved up to {peer['wall_moved_mm']:.2f} mm, "
              f"finite={peer['finite']}")
    print(
        f"particles={base['particles']} segments={base['segments']} substeps={base['substeps']} dt_s={DT_S:.6f} "
        f"steps={args.steps} ms_per_step={base['ms_per_step']:.3f} realtime_factor={base['realtime_factor']:.2f} "
        f"ms_per_step_threaded={results['1x_threaded']['ms_per_step']:.3f} "
        f"realtime_factor_threaded={results['1x_threaded']['realtime_factor']:.2f} "
        f"ms_per_step_2x={results['2x']['ms_per_step']:.3f} ms_per_step_4x={results['4x']['ms_per_step']:.3f} "
        f"particles_2x={results['2x']['particles']} particles_4x={results['4x']['particles']} "
        f"substeps_4x={results['4x']['substeps']} ms_per_step_deep={results['1x_deep']['ms_per_step']:.3f} "
        f"realtime_factor_deep={results['1x_deep']['realtime_factor']:.2f} {ratio_text} {peer_text} "
        f"worst_outside_mm={max(r['worst_outside_mm'] for r in results.values()):.3f} "
        f"finite={all(r['finite'] for r in results.values())}"
    )


if __name__ == "__main__":
    main()
