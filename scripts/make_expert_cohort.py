"""Fit the expert reference cohort shipped in `assets/cohorts/colosim_expert.json` (run once; takes a few minutes).

    .venv/bin/python scripts/make_expert_cohort.py [--seeds 10 11 12 13 14 15] [--insertion-s 24] [--workers 2]
    .venv/bin/python scripts/make_expert_cohort.py --refit    # refit the procedures in the file, no simulation

Until real recordings are at hand, the cohort the composites are scored against is colosim's own expert driver
(issue 5; `sim.scoring.cohort`): the autopilot on procedural colons whose seeds the tests do not use (the tests
score seeds 0-2 against this cohort, so it must not be fitted on them). The autopilot does not reach the cecum yet
(README, "Autopilot"), so each procedure is timed, as in tests/test_expert_vs_poor.py: `--insertion-s` of
insertion (`AutopilotConfig.insertion_limit_s`), then the withdrawal from wherever the tip got to, scored with the
turn as the start of the withdrawal (`LiveScorer.report(turn_time_s=...)`) and T_ref = the insertion time.

Fitted: the progression composite by the average of sign-flipped z-scores ("mean"), the CoRS-like retraction
composite by its first principal component ("pc1"), as metrics.md names them (`sim.scoring.cohort`). The file also
keeps every procedure's measures, so the fit can be checked by hand. Deterministic: the same code gives the same
file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from sim import __version__
from sim.drivers.autopilot import Autopilot, AutopilotConfig
from sim.drivers.drive import drive
from sim.scene import build_scene
from sim.scoring import ProgressionConfig
from sim.scoring.cohort import PROGRESSION_ORIENTATION, RETRACTION_ORIENTATION, fit_cohort
from sim.scoring.live import LiveScorer

DEFAULT_SEEDS = (10, 11, 12, 13, 14, 15)
DEFAULT_INSERTION_S = 24.0


def timed_procedure(seed: int, insertion_s: float) -> dict:
    """The autopilot's timed procedure on the colon of `seed`, scored: {"seed", "progression", "retraction"} with
    each result's `measures()`."""
    scene = build_scene(seed=seed)
    config = AutopilotConfig(insertion_limit_s=insertion_s)
    pilot = Autopilot(scene, config)
    scorer = LiveScorer(scene, cohorts={})  # the composites are what this fits: none yet
    limit_s = insertion_s + scene.rod.max_insertion_m / config.withdrawal_speed_m_s + 5.0
    drive(scene, pilot, limit_s, on_sample=lambda t_s, outputs, state: scorer.update(t_s, outputs, state))
    if pilot.phase != "done" or pilot.withdrawal_start_s is None:
        raise RuntimeError(f"seed {seed}: the autopilot did not finish its withdrawal (phase {pilot.phase})")
    for t_s, label in pilot.events:
        scorer.event(t_s, label)
    report = scorer.report(progression_config=ProgressionConfig(t_ref_s=insertion_s),
                           turn_time_s=pilot.withdrawal_start_s)
    return {"seed": seed, "progression": report.progression.measures(), "retraction": report.retraction.measures()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--insertion-s", type=float, default=DEFAULT_INSERTION_S)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("assets/cohorts/colosim_expert.json"))
    parser.add_argument("--refit", action="store_true",
                        help="Refit the procedures already in --out (after a change to the fitting), no simulation.")
    args = parser.parse_args(argv)

    if args.refit:
        about = json.loads(args.out.read_text(encoding="utf-8"))["about"]
        rows, args.seeds, args.insertion_s = about["procedures"], about["seeds"], about["insertion_s"]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
            futures = [pool.submit(timed_procedure, seed, args.insertion_s) for seed in args.seeds]
            rows = [future.result() for future in tqdm(futures, desc="expert procedures", unit="procedure")]
    labels = [f"seed {row['seed']}" for row in rows]
    progression = fit_cohort("colosim expert (autopilot), progression", [r["progression"] for r in rows],
                             PROGRESSION_ORIENTATION, "mean", labels)
    retraction = fit_cohort("colosim expert (autopilot), retraction", [r["retraction"] for r in rows],
                            RETRACTION_ORIENTATION, "pc1", labels)
    payload = {
        "about": {
            "made_by": "scripts/make_expert_cohort.py",
            "colosim_version": __version__,
            "driver": "sim.drivers.autopilot.Autopilot, default AutopilotConfig with insertion_limit_s",
            "seeds": list(args.seeds),
            "insertion_s": args.insertion_s,
            "procedures": rows,
        },
        "progression": progression.to_dict(),
        "retraction": retraction.to_dict(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    for cohort in (progression, retraction):
        print(cohort.name)
        for name, ref in cohort.measures.items():
            print(f"  {name:42s} mean {ref.mean:10.4f}  sd {ref.sd:9.4f}  loading {ref.loading:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
