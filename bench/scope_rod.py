"""Benchmark: the full default colonoscope rod (physics/scope_rod.py) stepping in free space.

The default scope (1.33 m, 133 segments) is inserted 1.2 m along a horizontal axis, so nearly every segment is
free and sags under gravity, while the handle feeds, rolls and works both wheels. Prints ms per step and the
real-time factor at dt = 1/240 s with the default substeps, then one line of name=value pairs.

    .venv/bin/python bench/scope_rod.py [--steps N] [--substeps N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from physics.scope_rod import DEFAULT_SUBSTEPS, RodControls, build_rod, rod_outputs, step_rod, straight_state  # noqa: E402
from sim.scope_file import load_scope  # noqa: E402

DT_S = 1.0 / 240.0
GRAVITY_M_S2 = (0.0, 0.0, -9.81)


def controls_at(t_s: float) -> RodControls:
    """Handle motion at time t: slow feed in and out around 1.2 m, roll, both wheels."""
    return RodControls(
        insertion_depth_m=1.2 + 0.05 * math.sin(0.5 * t_s),
        roll_rad=0.8 * math.sin(0.7 * t_s),
        wheel_up_down_rad=2.5 * math.sin(1.1 * t_s),
        wheel_left_right_rad=1.5 * math.sin(0.9 * t_s),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=960, help="timed steps (default 960 = 4 s simulated)")
    parser.add_argument("--substeps", type=int, default=DEFAULT_SUBSTEPS)
    args = parser.parse_args()

    model = build_rod(load_scope())
    state = straight_state(model, np.zeros(3), np.array([1.0, 0.0, 0.0]), insertion_depth_m=1.2)

    t0 = time.perf_counter()
    step_rod(model, state, controls_at(0.0), DT_S, args.substeps, gravity_m_s2=GRAVITY_M_S2)  # numba load/compile
    first_step_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for k in range(args.steps):
        step_rod(model, state, controls_at((k + 1) * DT_S), DT_S, args.substeps, gravity_m_s2=GRAVITY_M_S2)
    elapsed_s = time.perf_counter() - t0

    ms_per_step = 1e3 * elapsed_s / args.steps
    realtime_factor = DT_S * args.steps / elapsed_s
    out = rod_outputs(model, state)
    finite = bool(np.isfinite(state.position_m).all())
    print(f"scope: {model.spec.name}, {model.segment_count} segments, {model.working_length_m} m")
    print(f"dt = {DT_S:.6f} s, {args.substeps} substeps, {args.steps} steps timed "
          f"(first step incl. numba load/compile: {first_step_s:.2f} s)")
    print(f"{ms_per_step:.3f} ms per step, real-time factor {realtime_factor:.2f}")
    print(f"tip at {np.round(out.tip_position_m, 4)} m, handle axial force {out.handle_axial_force_N:.3f} N, "
          f"torque {out.handle_torque_Nm:.4f} N·m, finite={finite}")
    print(
        f"rod_segments={model.segment_count} substeps={args.substeps} dt_s={DT_S:.6f} steps={args.steps} "
        f"ms_per_step={ms_per_step:.3f} realtime_factor={realtime_factor:.2f} finite={finite}"
    )


if __name__ == "__main__":
    main()
