"""Benchmark: registration of a recording not made by colosim (sim/logs/registration.py `fit_registration`).

colosim's own recordings are in the world frame of their colon (``session.json`` names its seed), so their truth is
known: each is moved by a known rigid transform (ROTATION_DEG about ROTATION_AXIS, translation TRANSLATION_M,
0.3 m) and registered back as if it came from another system. The cases: every recording in ``replays/``, plus
``autopilot-insertion`` cut at SHORT_INSERTION_S (a short insertion that stays in the rectum and sigmoid), plus
the recordings under each ``--more`` folder. Two fits per case: ``rest`` (every centreline point alike) and
``fixity`` (`sim.logs.registration.fixity_weights` of the colon asset, what `colosim replay` passes). Printed per
case and fit:

- rot: rotation error (deg), the angle of R_fit @ R_true (0 for a perfect fit); axis / across: its components
  (deg) about the principal axis of the true shaft points the fit used (the roll a nearly straight path cannot
  fix) and across it;
- tip: RMS distance (mm) of the registered tip path to the true one over every sample of the recording;
- spread: standard deviations (mm) of the true fit points along their principal axes (a small second and third
  one: the path is nearly a line, its roll about it undetermined by the lumen's width).

A recording whose first tip reading is more than START_INSIDE_M from the anal verge breaks the registration's
premise (module doc: the first tip reading is the verge) and is left out of the medians. Ends with one line of
name=value pairs (medians over the other cases). The first run generates the colons (about 2 s each).

    .venv/bin/python bench/registration.py [--more DIR ...] [--record DIR]

``--record DIR`` first records the extra set the constants of sim/logs/registration.py were measured on into DIR
(autopilot insertions of 45 s on the procedural colons of seeds 1-4 and of 60 s on seed 0, a poor driver
pushing for 30 s on seed 1; about 8 min of physics on one core; deterministic) and adds it to the cases.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from sim.logs.coordinate_log import CoordinateLog, read_coordinate_log  # noqa: E402
from sim.logs.registration import (  # noqa: E402
    Registration,
    _coil_arcs,
    fit_registration,
    fixity_weights,
    insertion_samples,
)
from sim.session.recording import SessionInfo  # noqa: E402

#: The known move of the recordings (the same as tests/test_replay.py's synthetic case).
ROTATION_AXIS = (0.3, -1.0, 0.5)
ROTATION_DEG = 40.0
TRANSLATION_M = (0.12, -0.30, 0.05)
#: The short insertion: autopilot-insertion up to this time (s).
SHORT_INSERTION_S = 10.0
#: A recording whose first tip reading is farther than this (m) from the verge started inside the body.
START_INSIDE_M = 0.05
#: The extra set `--record` makes: (folder name, seed, seconds, poor driver).
EXTRA_RECORDINGS = (("auto-seed0-60s", 0, 60.0, False), ("auto-seed1-45s", 1, 45.0, False),
                    ("auto-seed2-45s", 2, 45.0, False), ("auto-seed3-45s", 3, 45.0, False),
                    ("auto-seed4-45s", 4, 45.0, False), ("poor-seed1-30s", 1, 30.0, True))


def truncated(log: CoordinateLog, end_s: float) -> CoordinateLog:
    """The samples and events of `log` up to `end_s` (s)."""
    keep = log.t_s <= end_s + 1e-9
    return CoordinateLog(t_s=log.t_s[keep], coils_m=log.coils_m[keep],
                         events=[e for e in log.events if e.t_s <= end_s + 1e-9], folder=log.folder)


def fit_points_true(world: CoordinateLog) -> np.ndarray:
    """(P, 3) the coils inside the body of the insertion samples, in the world frame: what the fit pairs
    (`insertion_samples`, each coil whose arc from the tip is below the sample's inserted length)."""
    length, idx = insertion_samples(world)
    inside = (length[idx, None] - _coil_arcs(world)[None, :]) >= 0.0
    points = world.coils_m[idx][inside]
    return points[np.all(np.isfinite(points), axis=1)]


def case_errors(reg: Registration, moved: Registration, world: CoordinateLog, recorded: CoordinateLog,
                axis: np.ndarray) -> tuple[float, float, float, float]:
    """(rotation error deg, its components about unit `axis` (3,) and across it deg, tip RMS m) of `reg` against the
    truth (`moved` took world to recorded)."""
    err = Rotation.from_matrix(reg.rotation @ moved.rotation).as_rotvec()
    along = float(err @ axis)
    tip = np.linalg.norm(reg.apply(recorded.tip_m) - world.tip_m, axis=1)
    return (math.degrees(float(np.linalg.norm(err))), math.degrees(abs(along)),
            math.degrees(float(np.linalg.norm(err - along * axis))), float(np.sqrt(np.nanmean(tip ** 2))))


def cases(replays: Path, more: list[Path]) -> list[tuple[str, CoordinateLog, int]]:
    """(name, log in the world frame, procedural seed) of every recording in `replays` and the `more` folders,
    plus the short insertion."""
    out = []
    for root in [replays, *more]:
        for folder in sorted(p for p in root.iterdir() if (p / "session.json").is_file()):
            log = read_coordinate_log(folder, require_cecum=False)
            seed = int(SessionInfo.read(folder).colon["procedural_seed"])  # the bench's recordings are procedural
            out.append((folder.name, log, seed))
            if root == replays and folder.name == "autopilot-insertion":
                out.append((f"{folder.name}-{SHORT_INSERTION_S:g}s", truncated(log, SHORT_INSERTION_S), seed))
    return out


def record_extra(out: Path) -> None:
    """Record EXTRA_RECORDINGS into `out` (scripts/make_sample_replays.py's recorder)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_sample_replays as samples

    from sim.drivers.autopilot import Autopilot, AutopilotConfig
    from sim.scene import build_scene

    out.mkdir(parents=True, exist_ok=True)
    for name, seed, seconds, poor in EXTRA_RECORDINGS:
        if (out / name / "session.json").is_file():
            continue
        scene = build_scene(seed=seed)
        config = AutopilotConfig(steer=False, reduce_loops=False) if poor else AutopilotConfig()
        print(f"recording {name} ...", flush=True)
        samples.record(scene, out / name, Autopilot(scene, config), seconds, seed=seed,
                       label="poor: autopilot(steer=False, reduce_loops=False)" if poor else "autopilot")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replays", default=str(Path(__file__).resolve().parent.parent / "replays"))
    ap.add_argument("--more", nargs="*", default=[], help="folders holding more colosim recordings")
    ap.add_argument("--record", default=None, help="record the extra set into this folder first, and use it")
    ap.add_argument("--angle-deg", type=float, default=ROTATION_DEG)
    args = ap.parse_args(argv)
    more = [Path(p) for p in args.more]
    if args.record:
        record_extra(Path(args.record))
        more.append(Path(args.record))

    from sim.colon.procedural import generate_colon

    axis = np.asarray(ROTATION_AXIS) / np.linalg.norm(ROTATION_AXIS)
    moved = Registration(Rotation.from_rotvec(math.radians(args.angle_deg) * axis).as_matrix(),
                         np.asarray(TRANSLATION_M))
    assets: dict[int, object] = {}
    fits = [("rest", None), ("fixity", fixity_weights)]
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in fits}
    print(f"move: {args.angle_deg:g} deg about {ROTATION_AXIS}, translation {TRANSLATION_M} m")
    print(f"{'recording':28s} {'fit':7s} {'rot deg':>7s} {'axis deg':>8s} {'across deg':>10s} {'tip mm':>7s}   "
          "spread mm")
    for name, world, seed in cases(Path(args.replays), more):
        if seed not in assets:
            assets[seed] = generate_colon(seed)
        asset = assets[seed]
        centreline = np.asarray(asset.centreline_m, dtype=float)
        started_inside = float(np.linalg.norm(world.tip_m[0] - centreline[0])) > START_INSIDE_M
        recorded = moved.apply_to_log(world)
        truth = fit_points_true(world)
        _, sd, vt = np.linalg.svd(truth - truth.mean(axis=0), full_matrices=False)
        spread = "/".join(f"{1000 * v / math.sqrt(len(truth)):.0f}" for v in sd)
        for label, weights_of in fits:
            kwargs = {} if weights_of is None else {"centreline_weights": weights_of(asset)}
            reg = fit_registration(recorded, centreline, **kwargs)
            rot, about_axis, across, tip = case_errors(reg, moved, world, recorded, vt[0])
            note = "  (starts inside: not the verge)" if started_inside else ""
            print(f"{name:28s} {label:7s} {rot:7.1f} {about_axis:8.1f} {across:10.1f} {1000 * tip:7.1f}   "
                  f"{spread}{note}", flush=True)
            if not started_inside:
                results[label].append((rot, tip))
    line = []
    for label, rows in results.items():
        a = np.array(rows)
        line.append(f"{label}.rot_deg_median={np.median(a[:, 0]):.1f} "
                    f"{label}.tip_mm_median={1000 * np.median(a[:, 1]):.1f} "
                    f"{label}.tip_mm_max={1000 * a[:, 1].max():.1f} {label}.cases={len(a)}")
    print(" ".join(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
