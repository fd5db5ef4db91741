"""Benchmark: our XPBD scope rod against the PyBullet reference chain, same scope, same controls, same run.

The default scope (1.33 m, 133 segments) is inserted 1.2 m along a horizontal axis with gravity on, and the handle
feeds, rolls and works both wheels with bench/scope_rod.py's motion (`controls_at`). Each step the same
RodControls go to `physics.scope_rod.step_rod` (default substeps) and to `PyBulletScope.step` (one Bullet step:
Featherstone multibody, 133 spherical joints with torque springs, one handle constraint, 50 solver iterations).
Both are timed step by step in the same loop at dt = 1/240 s; the numba compile and the PyBullet build are left
out. The PyBullet time is the whole `PyBulletScope.step` (engine plus the Python that computes the joint springs,
which Bullet cannot do itself: physics/pybullet_scope.py); the engine's share (stepSimulation alone) is printed
too, as the lower bound a C++ driver could reach. Prints ms per step and real-time factors, the ratio (how many
times faster our rod is), the tip distance
between the two at the end (the PyBullet chain lags: physics/pybullet_scope.py, "Limits"), then one line of
name=value pairs.

    .venv/bin/python bench/pybullet_scope.py [--steps N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from bench.scope_rod import DT_S, GRAVITY_M_S2, controls_at  # noqa: E402
from physics.pybullet_scope import build_pybullet_scope  # noqa: E402
from physics.scope_rod import DEFAULT_SUBSTEPS, build_rod, rod_outputs, step_rod, straight_state  # noqa: E402
from sim.scope_file import load_scope  # noqa: E402

INSERTION_AXIS = np.array([1.0, 0.0, 0.0])
START_DEPTH_M = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=960, help="timed steps (default 960 = 4 s simulated)")
    args = parser.parse_args()

    model = build_rod(load_scope())
    state = straight_state(model, np.zeros(3), INSERTION_AXIS, insertion_depth_m=START_DEPTH_M)
    t0 = time.perf_counter()
    step_rod(model, state, controls_at(0.0), DT_S, DEFAULT_SUBSTEPS, gravity_m_s2=GRAVITY_M_S2)  # numba load/compile
    rod_first_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    scope = build_pybullet_scope(model, insertion_depth_m=START_DEPTH_M, dt_s=DT_S, gravity_m_s2=GRAVITY_M_S2)
    build_s = time.perf_counter() - t0
    with scope:
        scope.step(controls_at(0.0), DT_S)  # the same first step, untimed
        scope.engine_time_s = 0.0
        rod_s = 0.0
        pybullet_s = 0.0
        for k in range(args.steps):
            controls = controls_at((k + 1) * DT_S)
            t0 = time.perf_counter()
            step_rod(model, state, controls, DT_S, DEFAULT_SUBSTEPS, gravity_m_s2=GRAVITY_M_S2)
            t1 = time.perf_counter()
            scope.step(controls, DT_S)
            t2 = time.perf_counter()
            rod_s += t1 - t0
            pybullet_s += t2 - t1
        ours, theirs = rod_outputs(model, state), scope.outputs()
        pos, _ = scope.segment_poses()

    rod_ms = 1e3 * rod_s / args.steps
    pybullet_ms = 1e3 * pybullet_s / args.steps
    rod_rtf = DT_S * 1e3 / rod_ms
    pybullet_rtf = DT_S * 1e3 / pybullet_ms
    ratio = pybullet_ms / rod_ms
    engine_ms = 1e3 * scope.engine_time_s / args.steps
    tip_gap_mm = 1e3 * float(np.linalg.norm(ours.tip_position_m - theirs.tip_position_m))
    finite = bool(np.isfinite(state.position_m).all() and np.isfinite(pos).all())
    print(f"scope: {model.spec.name}, {model.segment_count} segments, {model.working_length_m} m, "
          f"{START_DEPTH_M} m inserted, gravity on, dt = {DT_S:.6f} s, {args.steps} steps timed")
    print(f"rod (XPBD, {DEFAULT_SUBSTEPS} substeps): {rod_ms:.3f} ms per step, real-time factor {rod_rtf:.2f} "
          f"(first step incl. numba load/compile {rod_first_s:.2f} s)")
    print(f"pybullet (multibody, {model.segment_count - 1} spherical joints): {pybullet_ms:.3f} ms per step, "
          f"real-time factor {pybullet_rtf:.2f} (build {build_s:.2f} s); of which {engine_ms:.3f} ms in "
          f"stepSimulation, the rest the per-step Python of physics/pybullet_scope.py (joint springs, handle)")
    print(f"ours faster by {ratio:.1f}x; tip gap at the end {tip_gap_mm:.1f} mm "
          f"(rod tip {np.round(ours.tip_position_m, 4)}, pybullet tip {np.round(theirs.tip_position_m, 4)} m)")
    print(
        f"rod_ms={rod_ms:.3f} pybullet_ms={pybullet_ms:.3f} pybullet_ratio={ratio:.2f} rod_realtime_factor={rod_rtf:.2f} "
        f"pybullet_realtime_factor={pybullet_rtf:.2f} pybullet_engine_ms={engine_ms:.3f} "
        f"pybullet_engine_ratio={engine_ms / rod_ms:.2f} tip_gap_mm={tip_gap_mm:.1f} segments={model.segment_count} "
        f"dt_s={DT_S:.6f} steps={args.steps} finite={finite}"
    )


if __name__ == "__main__":
    main()
