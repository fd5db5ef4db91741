"""Benchmark: how far the autopilot gets, seed by seed, and what the physics did on the way (issue 3 acceptance).

For each seed: the procedural colon, the autopilot inserting for at most --seconds of simulated time; printed per
seed: furthest tip progress along the deformed centreline and the landmark passed, the time of the splenic flexure
and of the cecum, loop reductions and back-offs, when the assistant's hand went on the abdomen (and where the tip
was), the worst scope point outside the wall (contact's own clearance), the fastest wall particle and scope
segment, wall-clock time. A picture (frontal projection, patient's left on the right of the picture as on a scope
guide) of each tip path coloured by time over the rest centreline, with a red cross where the tip was when the hand
went on, goes to --out. Ends with one name=value line.

    .venv/bin/python bench/autopilot.py [--seeds 0 1 2] [--seconds 120] [--out out/autopilot_paths.png]

What-if options (defaults: the shipped calibration), for experiments on how far the colon lets the scope get:
--mobility (sim.scene.TETHER_MOBILITY_FACTOR), --slack M (sim.scene.TETHER_SLACK_M, the mobile segments' tether
slack), --ramp M (sim.scene.TETHER_RAMP_M, the tether compliance's ramp between segments), --root [SEGMENT ...]
(sim.scene.TETHER_ROOT_SEGMENTS, the segments hanging from their mesentery's root), --root-taper M
(ColonMaterial.tether_root_taper_m, their ropes shortening to nothing at the segments' ends), --compression-factor
(ColonMaterial.compression_compliance_factor), --ring-gap (ColonMaterial.min_ring_gap_fraction), --ring-span
(ColonMaterial.ring_order_span_rings, with --ring-gap), --scope FILE
(another scope model, e.g. a longer working length), --friction MU, --autopilot FIELD=VALUE (any AutopilotConfig
field, repeatable: --autopilot soft_load_N=110 --autopilot loop_target_m=-0.3; --autopilot press_segment= runs
without the assistant's hand on the abdomen), --gather SEGMENT=FRACTION ...
(ColonMaterial.gather_min_fraction: the wall pleats onto the scope below the grid's scale), --gather-yield COMPRESS
STRETCH. Also printed per seed: the deepest insertion, the most shortening (the least loop excess: negative when
the colon is pleated onto the shaft, tip further along the colon than the inserted length), the most length the
wall's pleats took up, and the worst scope point outside the wall both at the contact samples and where the scope
crosses each ring's plane (sim.drivers.drive).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

# The repository root first: this folder's physics.py (the physics benchmark) would shadow the physics package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from physics.colon_body import ColonMaterial  # noqa: E402
from sim.drivers.autopilot import Autopilot, AutopilotConfig  # noqa: E402
from sim.drivers.drive import drive  # noqa: E402
from sim.scene import (TETHER_MOBILITY_FACTOR, TETHER_RAMP_M, TETHER_ROOT_SEGMENTS, TETHER_SLACK_M,  # noqa: E402
                       build_scene, scene_material)
from sim.scope_file import load_scope  # noqa: E402


def run_seed(seed: int, seconds: float, args: argparse.Namespace) -> dict:
    material = scene_material(replace(ColonMaterial(), compression_compliance_factor=args.compression_factor,
                                      min_ring_gap_fraction=args.ring_gap,
                                      ring_order_span_rings=args.ring_span,
                                      tether_root_taper_m=args.root_taper, gather_min_fraction=args.gather,
                                      **args.gather_yield),
                              mobility=args.mobility, slack_m=args.slack, ramp_m=args.ramp,
                              root_segments=tuple(args.root))
    scene = build_scene(seed=seed, material=material, spec=load_scope(args.scope))
    if args.friction is not None:
        contact = replace(scene.world.contact, friction_coefficient=args.friction)
        scene = replace(scene, world=replace(scene.world, contact=contact))
    pilot = Autopilot(scene, replace(AutopilotConfig(withdraw=False), **args.autopilot))
    best = [0.0]
    deepest = [0.0]
    least_excess = [0.0]
    pleated = [0.0]
    pressed_from = [None]
    gap_rest_m = np.diff(scene.colon.ring_s_m)

    def on_sample(t_s, outputs, state):
        best[0] = max(best[0], pilot.status.tip_s_m)
        deepest[0] = max(deepest[0], float(outputs.rod.inserted_length_m))
        least_excess[0] = min(least_excess[0], pilot.status.excess_m)
        pleated[0] = max(pleated[0], float(np.dot(1.0 - state.colon.gather, gap_rest_m)))
        if pressed_from[0] is None and pilot.status.press:
            pressed_from[0] = (t_s, pilot.status.press, pilot.status.tip_s_m, outputs.rod.tip_position_m.copy())

    t0 = time.perf_counter()
    _, trace = drive(scene, pilot, seconds, on_sample=on_sample)
    wall_s = time.perf_counter() - t0
    marks = sorted(scene.asset.landmarks.items(), key=lambda kv: kv[1].s_m)
    passed = [name for name, mark in marks if mark.s_m <= best[0]]
    event = {label: t for t, label in reversed(pilot.events)}
    return {
        "seed": seed, "scene": scene, "trace": trace, "best_s_m": best[0],
        "length_m": float(scene.colon.ring_s_m[-1]), "landmark": passed[-1] if passed else "-",
        "flexure_s": event.get("Fleksur L"), "cecum_s": event.get("Cecum"), "status": pilot.status,
        "wall_s": wall_s, "deepest_m": deepest[0], "least_excess_m": least_excess[0], "pleated_m": pleated[0],
        "max_insertion_m": float(scene.rod.max_insertion_m), "pressed_from": pressed_from[0],
    }


def picture(results: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 5.2), squeeze=False)
    for ax, r in zip(axes[0], results):
        c = r["scene"].asset.centreline_m
        ax.plot(c[:, 0] * 1e3, c[:, 2] * 1e3, color="0.8", lw=6, solid_capstyle="round")
        tip = np.asarray(r["trace"].tip_m)
        t = np.asarray(r["trace"].t_s)
        if tip.size:
            sc = ax.scatter(tip[:, 0] * 1e3, tip[:, 2] * 1e3, c=t, s=2, cmap="viridis")
            fig.colorbar(sc, ax=ax, label="t (s)", shrink=0.7)
        if r["pressed_from"] is not None:
            at = r["pressed_from"][3] * 1e3
            ax.plot(at[0], at[2], "x", color="red", ms=9, mew=2, label=f"hand on the {r['pressed_from'][1]}")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_title(f"seed {r['seed']}: {r['landmark']}\n{r['best_s_m']:.2f} of {r['length_m']:.2f} m", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("x (mm, patient's left)")
        ax.set_ylabel("z (mm, head)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def autopilot_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    """FIELD=VALUE strings -> AutopilotConfig keyword arguments, typed like the field's default."""
    defaults = AutopilotConfig()
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not hasattr(defaults, name):
            parser.error(f"--autopilot {item!r}: expected FIELD=VALUE with FIELD an AutopilotConfig field")
        kind = type(getattr(defaults, name))
        try:
            out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            parser.error(f"--autopilot {item!r}: {value!r} is not a {kind.__name__}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="simulated seconds per seed (default 120: the abdominal press starts at 40-55 s)")
    parser.add_argument("--out", type=Path, default=Path("out/autopilot_paths.png"))
    parser.add_argument("--mobility", type=float, default=TETHER_MOBILITY_FACTOR,
                        help="tether compliance factor of the mobile segments (default: the scene calibration)")
    parser.add_argument("--slack", type=float, default=TETHER_SLACK_M,
                        help="tether slack (m) of the mobile segments (default: the scene calibration)")
    parser.add_argument("--ramp", type=float, default=TETHER_RAMP_M,
                        help="length (m) of the tether compliance's ramp between segments (default: the scene "
                             "calibration; 0: a step)")
    parser.add_argument("--root", nargs="*", default=list(TETHER_ROOT_SEGMENTS), metavar="SEGMENT",
                        help="segments hanging from their mesentery's root (default: the scene calibration; "
                             "--root alone: none)")
    parser.add_argument("--compression-factor", type=float, default=ColonMaterial().compression_compliance_factor,
                        help="ColonMaterial.compression_compliance_factor")
    parser.add_argument("--ring-gap", type=float, default=ColonMaterial().min_ring_gap_fraction,
                        help="ColonMaterial.min_ring_gap_fraction (default %(default)s: off; 0.25 holds them)")
    parser.add_argument("--ring-span", type=int, default=ColonMaterial().ring_order_span_rings,
                        help="ColonMaterial.ring_order_span_rings (default %(default)s: each ring against its "
                             "neighbour; with --ring-gap, e.g. 10 keeps a tube from turning back inside itself)")
    parser.add_argument("--root-taper", type=float, default=ColonMaterial().tether_root_taper_m,
                        help="ColonMaterial.tether_root_taper_m (m; default %(default)s: no taper): with --root, the "
                             "ropes shorten to nothing over this length at each end of the segment")
    parser.add_argument("--gather", nargs="*", default=[], metavar="SEGMENT=FRACTION",
                        help="ColonMaterial.gather_min_fraction: the segments whose wall pleats onto the scope and the "
                             "smallest fraction of their length each may gather to (default: none)")
    parser.add_argument("--gather-yield", type=float, nargs=2, default=None, metavar=("COMPRESS", "STRETCH"),
                        help="ColonMaterial.gather_yield_strain and ungather_yield_strain")
    parser.add_argument("--friction", type=float, default=None,
                        help="scope-wall friction coefficient (default: physics.contact's, anatomy.md)")
    parser.add_argument("--scope", type=Path, default=None, help="scope model file (default: the bundled one)")
    parser.add_argument("--autopilot", action="append", default=[], metavar="FIELD=VALUE",
                        help="set an AutopilotConfig field (repeatable)")
    args = parser.parse_args()
    if args.out.suffix.lower() not in (".png", ".svg", ".pdf"):
        parser.error(f"--out {args.out}: expected a picture file name ending in .png, .svg or .pdf")
    args.autopilot = autopilot_overrides(parser, args.autopilot)
    gather = {}
    for item in args.gather:
        name, _, value = item.partition("=")
        try:
            gather[name] = float(value)
        except ValueError:
            parser.error(f"--gather {item!r}: expected SEGMENT=FRACTION, e.g. sigmoid=0.35")
    args.gather = gather
    args.gather_yield = ({} if args.gather_yield is None else
                         dict(gather_yield_strain=args.gather_yield[0], ungather_yield_strain=args.gather_yield[1]))
    results = []
    for seed in args.seeds:
        r = run_seed(seed, args.seconds, args)
        tr = r["trace"]
        press = ("no abdominal pressure" if r["pressed_from"] is None else
                 "hand on the {1} from {0:.1f} s (tip at {2:.3f} m)".format(*r["pressed_from"][:3]))
        print(f"seed {seed}: tip {r['best_s_m']:.3f} of {r['length_m']:.3f} m (past {r['landmark']}), splenic "
              f"flexure at {r['flexure_s']} s, cecum at {r['cecum_s']} s, reductions {r['status'].reductions}, "
              f"back-offs {r['status'].back_offs}, {press}, deepest insertion {r['deepest_m']:.3f} of "
              f"{r['max_insertion_m']:.3f} m, least excess {r['least_excess_m']:+.3f} m, colon pleated up to "
              f"{r['pleated_m']:.3f} m, worst outside {1e3 * tr.worst_outside_m:.2f} mm (where the scope crosses "
              f"a ring's plane {1e3 * tr.worst_crossing_outside_m:.2f} mm), max wall speed "
              f"{tr.max_wall_speed_m_s:.2f} m/s, max scope speed "
              f"{tr.max_scope_speed_m_s:.2f} m/s, largest gap between neighbouring shaft samples "
              f"{tr.max_sample_ring_gap:.1f} rings, finite {tr.finite}, {tr.steps * 1.0 / 240.0:.0f} s simulated in "
              f"{r['wall_s']:.0f} s", flush=True)
        results.append(r)
    picture(results, args.out)
    print(f"picture: {args.out}")
    cecum = sum(r["cecum_s"] is not None for r in results)
    flexure = sum(r["flexure_s"] is not None for r in results)
    worst = max(r["trace"].worst_outside_m for r in results)
    crossing = max(r["trace"].worst_crossing_outside_m for r in results)
    gap = max(r["trace"].max_sample_ring_gap for r in results)
    mean_fraction = float(np.mean([r["best_s_m"] / r["length_m"] for r in results]))
    print(f"seeds={len(results)} cecum_reached={cecum} splenic_flexure_passed={flexure} "
          f"mean_progress_fraction={mean_fraction:.3f} worst_outside_mm={1e3 * worst:.2f} "
          f"worst_crossing_outside_mm={1e3 * crossing:.2f} max_sample_ring_gap={gap:.1f}")


if __name__ == "__main__":
    main()
