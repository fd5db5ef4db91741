"""Benchmark: scoring (sim/scoring): `colosim score` throughput, coverage cost per sample, live scoring overhead.

1. Batch: `--cases` synthetic 20-minute procedures (`--minutes`) at the logged rate (`--rate-hz`, default 60 Hz, the
   rate a colosim session logs coils at; the database's own rate is undocumented, metrics.md §3) with 16 coils
   following the procedural colon's centreline (seed 0): insertion to the cecum in 8 min with back-and-forth
   jitter, withdrawal over the rest with pauses, events at the flexures and the cecum, 0.5 mm coil noise. They are
   written as coordinate logs and scored by `score_folders` (what `colosim score` runs) with one process per core,
   with pictures and without. Prints cases per second (measured, and steady: workers / median case time, the
   pool's start-up amortised) and the time for the database's 1,500 procedures at the steady rate (cases are
   independent). Most of a case is reading the files and the loop analysis (profiled: about 2.8 s reading, 2.3 s
   scoring, 0.9 s pictures for 72,000 samples on an idle core); the machine may be shared, so compare runs.
2. Coverage: one `CoverageAccumulator.update` (depth image + raster test) on the default scene's rest wall, the
   camera placed by `initial_world_state` at depths from 0.1 to 1.2 m; median ms per coverage sample, wall clock
   and CPU time of the process (on a shared machine the CPU time is the cost; wall time includes waiting).
3. Live: a scripted session on the default scene (insert at 0.1 m/s, then withdraw turning the wheel) for
   `--steps` physics steps; `LiveScorer.update` time over `step_world` + `world_outputs` time per step (after one
   warm-up run so numba compilation is not counted).

Ends with one line of name=value pairs.

    .venv/bin/python bench/scoring.py [--cases 6] [--minutes 20] [--rate-hz 60] [--steps 480]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from sim.logs import CoordinateLog, LogEvent, write_coordinate_log  # noqa: E402

#: 16 coils 0.1 m apart span 1.51 m, the whole default colon (1.47 m). With 12 (1.11 m) the most proximal coil is
#: still 0.36 m inside at the cecum, and the CCD inserted-length rule (samples.shaft_point_at_verge: the verge's
#: nearest point on the coil polyline) then snaps the verge to the cecal end of the shaft, which lies nearer to it.
N_COILS = 16
COIL_TIP_OFFSET_M = 0.01
COIL_SPACING_M = 0.1
DATABASE_PROCEDURES = 1500
INSERTION_MINUTES = 8.0


def synthetic_procedure(centreline_m: np.ndarray, s_nodes_m: np.ndarray, landmarks_s: dict[str, float],
                        minutes: float, rate_hz: float, seed: int) -> CoordinateLog:
    """A coordinate log of a procedure along `centreline_m` (module doc, item 1)."""
    rng = np.random.default_rng(seed)
    duration = minutes * 60.0
    t = np.arange(0.0, duration, 1.0 / rate_hz)
    length = float(s_nodes_m[-1])
    t_c = min(INSERTION_MINUTES * 60.0, 0.4 * duration)
    ins = np.clip(t / t_c, 0, 1)
    # Insertion with 20-60 mm back-and-forth every 20-40 s; withdrawal with pauses (a slow sine on the speed).
    jitter = 0.03 * np.sin(2 * np.pi * t / (20 + 20 * rng.random())) * np.sin(np.pi * ins)
    wd = np.clip((t - t_c) / (duration - t_c), 0, 1)
    wd = wd - 0.02 * np.sin(2 * np.pi * wd * 12) * np.sin(np.pi * wd)
    s_tip = np.where(t < t_c, length * ins + jitter, length * (1 - wd))
    s_coils = s_tip[:, None] - (COIL_TIP_OFFSET_M + COIL_SPACING_M * np.arange(N_COILS))[None, :]
    inside = np.clip(s_coils, 0.0, length)
    pos = np.stack([np.interp(inside, s_nodes_m, centreline_m[:, k]) for k in range(3)], axis=-1)
    # Outside the body the shaft runs straight back along the first tangent.
    tangent = centreline_m[1] - centreline_m[0]
    tangent /= np.linalg.norm(tangent)
    pos += np.minimum(s_coils, 0.0)[..., None] * tangent
    pos += rng.normal(scale=0.0005, size=pos.shape)
    index = lambda time_s: int(np.clip(round(time_s * rate_hz), 0, t.size - 1))  # noqa: E731
    events = [LogEvent(0.0, "Endoscopy started", 0)]
    for label, landmark in (("Fleksur L", "splenic_flexure"), ("Fleksur R", "hepatic_flexure")):
        t_event = float(np.interp(landmarks_s[landmark] / length, ins[t < t_c], t[t < t_c]))
        events.append(LogEvent(t_event, label, index(t_event)))
    events.append(LogEvent(t_c, "Cecum", index(t_c)))
    events.append(LogEvent(float(t[-1]), "Endoscopy ended", t.size - 1))
    return CoordinateLog(t_s=t, coils_m=pos, events=events)


def bench_batch(args, root: Path) -> dict:
    from sim.colon.procedural import generate_colon
    from sim.scoring.batch import BatchOptions, score_folders

    asset = generate_colon(0)
    landmarks = {name: lm.s_m for name, lm in asset.landmarks.items()}
    t0 = time.perf_counter()
    folders = []
    for k in range(args.cases):
        log = synthetic_procedure(asset.centreline_m, asset.s_m, landmarks, args.minutes, args.rate_hz, seed=k)
        folders.append(write_coordinate_log(root / f"case{k:03d}", log))
    samples = int(round(args.minutes * 60 * args.rate_hz))
    print(f"wrote {args.cases} procedures of {args.minutes:g} min at {args.rate_hz:g} Hz ({samples} samples, "
          f"{N_COILS} coils) in {time.perf_counter() - t0:.1f} s")
    workers = multiprocessing.cpu_count()
    out = {}
    for name, pictures in (("pictures", True), ("no_pictures", False)):
        t0 = time.perf_counter()
        result = score_folders(folders, root / f"out_{name}", workers=workers, options=BatchOptions(pictures=pictures),
                               progress=False)
        wall = time.perf_counter() - t0
        if result.n_failed:
            raise SystemExit(f"scoring failed: {[o.error for o in result.outcomes if o.error]}")
        # A worker's first case also pays its imports (matplotlib, numba caches); the median case is a warm one
        # when each worker gets 3 or more. Steady throughput = workers / median case time; the database figure
        # uses it (1,500 cases amortise the pool's start-up).
        per_case = float(np.median([o.seconds for o in result.outcomes]))
        rate = args.cases / wall
        steady = workers / per_case
        out[name] = {"cases_per_s": rate, "steady_cases_per_s": steady, "s_per_case_in_worker": per_case,
                     "database_h": DATABASE_PROCEDURES / steady / 3600.0}
        print(f"colosim score, {name.replace('_', ' ')}, {workers} workers: {args.cases} cases in {wall:.1f} s = "
              f"{rate:.3f} cases/s including the pool's start-up; median {per_case:.1f} s per case in a worker = "
              f"{steady:.3f} cases/s steady; {DATABASE_PROCEDURES} procedures: {out[name]['database_h']:.2f} h")
    return out


def bench_coverage() -> dict:
    from physics.world import initial_world_state, world_outputs
    from sim.scene import build_scene
    from sim.scoring.coverage import CoverageAccumulator, CoverageConfig, CoverageGrid

    scene = build_scene(seed=0)
    acc = CoverageAccumulator(CoverageGrid.from_colon(scene.colon),
                              CoverageConfig(field_of_view_rad=scene.spec.field_of_view_rad))
    times, cpu = [], []
    t_sim = 0.0
    for depth in np.linspace(0.1, 1.2, 12):
        state = initial_world_state(scene.world, insertion_depth_m=float(depth))
        rod = world_outputs(scene.world, state).rod
        args = (rod.camera_position_m, rod.camera_forward, rod.camera_up, state.colon.position_m)
        acc.update(t_sim, *args)  # compile / warm up
        for _ in range(5):
            t_sim += 0.1
            t0, c0 = time.perf_counter(), time.process_time()
            acc.update(t_sim, *args)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        t_sim += 0.1
    ms = 1000.0 * float(np.median(times))
    cpu_ms = 1000.0 * float(np.median(cpu))
    cfg = acc.config
    rays = int(np.sum(np.hypot(*np.meshgrid(*(2 * [(np.arange(cfg.image_size) + 0.5) * 2 / cfg.image_size - 1])))
                      <= 1.0))
    print(f"coverage: {ms:.2f} ms wall, {cpu_ms:.2f} ms CPU (all threads) per coverage sample (median over 12 camera "
          f"depths x 5; {rays} rays in the image disc, {cfg.subsamples}x{cfg.subsamples} raster points per cell, "
          f"window +-{cfg.window_m:g} m); at {1 / cfg.update_interval_s:g} Hz of simulated time that is "
          f"{cpu_ms / 1000 / cfg.update_interval_s * 100:.1f} % of a core at real time")
    return {"coverage_ms_per_sample": ms, "coverage_cpu_ms_per_sample": cpu_ms, "rays": rays}


def bench_live(steps: int) -> dict:
    from physics.world import initial_world_state, step_world, world_outputs
    from sim.controls import HandState, ScopeControls
    from sim.scene import build_scene
    from sim.scoring.live import LiveScorer

    scene = build_scene(seed=0)
    dt = 1.0 / 240.0
    result = {}
    for run in ("warm-up", "measured"):
        state = initial_world_state(scene.world, insertion_depth_m=0.1)
        hand = HandState(depth_m=0.1)
        live = LiveScorer(scene)
        live.event(0.0, "Endoscopy started")
        t_step = t_score = 0.0
        for k in range(steps):
            inserting = k < steps // 2
            controls = ScopeControls(insertion_velocity_m_s=0.1 if inserting else -0.05,
                                     wheel_up_down_rate_rad_s=0.0 if inserting else 1.0)
            a = time.perf_counter()
            step_world(scene.world, state, hand.apply(controls, dt, scene.rod), dt)
            outputs = world_outputs(scene.world, state)
            b = time.perf_counter()
            live.update(state.time_s, outputs, state)
            c = time.perf_counter()
            t_step += b - a
            t_score += c - b
            if k == steps // 2:
                live.event(state.time_s, "Cecum")
        a = time.perf_counter()
        live.report()
        t_report = time.perf_counter() - a
        result = {"step_ms": 1000 * t_step / steps, "live_update_ms": 1000 * t_score / steps,
                  "live_overhead": t_score / t_step, "report_s": t_report}
    print(f"live: step_world + world_outputs {result['step_ms']:.2f} ms per step, LiveScorer.update "
          f"{result['live_update_ms']:.3f} ms per step on average (coverage every 24th step): overhead "
          f"{100 * result['live_overhead']:.1f} % of step time; final report {result['report_s']:.2f} s for "
          f"{steps * dt:.1f} s simulated")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate-hz", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=480)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="colosim-bench-scoring-"))
    try:
        batch = bench_batch(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    coverage = bench_coverage()
    live = bench_live(args.steps)
    print(
        f"cases={args.cases} minutes={args.minutes:g} rate_hz={args.rate_hz:g} workers={multiprocessing.cpu_count()} "
        f"cases_per_s={batch['pictures']['cases_per_s']:.4f} "
        f"steady_cases_per_s={batch['pictures']['steady_cases_per_s']:.4f} "
        f"database_1500_h={batch['pictures']['database_h']:.2f} "
        f"steady_cases_per_s_no_pictures={batch['no_pictures']['steady_cases_per_s']:.4f} "
        f"database_1500_h_no_pictures={batch['no_pictures']['database_h']:.2f} "
        f"coverage_ms_per_sample={coverage['coverage_ms_per_sample']:.3f} "
        f"coverage_cpu_ms_per_sample={coverage['coverage_cpu_ms_per_sample']:.3f} rays={coverage['rays']} "
        f"step_ms={live['step_ms']:.3f} live_update_ms={live['live_update_ms']:.4f} "
        f"live_overhead_fraction={live['live_overhead']:.4f} finite={all(map(math.isfinite, live.values()))}"
    )


if __name__ == "__main__":
    main()
