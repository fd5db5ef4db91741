"""Batch scoring of recorded procedures (`colosim score DIR...`): many coordinate-log folders, in parallel across
cores, into one JSON per case, one CSV summary and the pictures of each case.

A case is a folder in the coordinate-log layout (DESIGN.md, "Coordinate logs"). It is scored without anatomy
(reference path from the recording, metrics.md §1.2), unless the folder also holds what a simulated session knows:

- ``coverage.npz``: the procedure's coverage rasters (`CoverageResult.save`, written by `LiveScorer.save`); its
  figures go into the report and its map into the pictures;
- ``forces.npz``: ``t_s`` (on the log's clock: s since the first sample, as T.txt counts) and any of the
  `ScoreSamples` force fields (``tip_force_N`` ...) per sample; they are interpolated onto the log's sample times
  (the session may log them at another rate) for the safety scores;
- ``session.json`` (a colosim session recording) when the log has no ``Cecum`` event: without it there is no
  reference path from the recording (metrics.md §1.2 needs the scope shape at the cecum), but a colosim
  recording names its colon (procedural seed or asset file) and was written in that colon's frame, so the colon's
  centreline is the reference and its first point the anal verge (a recording that starts deep in, such as a
  withdrawal, has no tip at the verge to estimate it from). Cases with a ``Cecum`` stay anatomy-free.

Output in OUT: ``<case>/scores.json`` ({case, folder, warnings, error, scores}), ``<case>/*.png`` and
``scores.csv`` (one row per case, in input order; the scalar figures of the report flattened with dotted names).
A case that cannot be read or scored becomes a row with its error (the file, line and what was expected, from
the reader) and does not stop the batch.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.logs.coordinate_log import TIME_FILE, CoordinateLogError, read_coordinate_log
from sim.scoring.cohort import ReferenceCohort
from sim.scoring.coverage import CoverageResult
from sim.scoring.samples import FORCE_FIELDS, interpolate_finite, samples_from_log

COVERAGE_FILE = "coverage.npz"
FORCES_FILE = "forces.npz"
SCORES_JSON = "scores.json"
SUMMARY_CSV = "scores.csv"
#: Report sections whose scalars become CSV columns (lists and the per-segment tables stay in the JSON).
CSV_SECTIONS = ("insertion", "withdrawal", "loops", "safety", "coverage", "badges")
_CSV_SKIP_KEYS = ("per_segment",)


@dataclass(frozen=True)
class BatchOptions:
    """pictures: write the PNGs (most of the time per case); dpi of the pictures; cohorts: the reference cohorts
    the composites are scored against, by section ("progression", "retraction"; `sim.scoring.cohort.load_cohorts`),
    none by default (the command line passes the shipped expert cohort)."""

    pictures: bool = True
    dpi: int = 100
    cohorts: Mapping[str, ReferenceCohort] = field(default_factory=dict)


@dataclass
class CaseOutcome:
    """One scored case: name (unique in the batch), folder, error (None if scored), reader warnings, the flat CSV
    row, and the wall-clock seconds it took (for the benchmark; not written to the outputs)."""

    case: str
    folder: str
    error: str | None
    warnings: list[str] = field(default_factory=list)
    row: dict = field(default_factory=dict)
    n_samples: int = 0
    seconds: float = 0.0


@dataclass
class BatchResult:
    outcomes: list[CaseOutcome]
    csv_path: Path

    @property
    def n_failed(self) -> int:
        return sum(o.error is not None for o in self.outcomes)


def find_cases(paths: Iterable[Path | str]) -> list[Path]:
    """Procedure folders under `paths`: a path holding ``T.txt`` is a case, else every folder below it holding one
    (sorted). Raises FileNotFoundError naming a path that does not exist or holds no case."""
    cases: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a folder (expected a procedure folder or a folder of them)")
        if (path / TIME_FILE).is_file():
            cases.append(path)
            continue
        found = sorted(p.parent for p in path.rglob(TIME_FILE))
        if not found:
            raise FileNotFoundError(f"{path}: no procedure folder in it (none holds {TIME_FILE})")
        cases.extend(found)
    return cases


def case_names(folders: Sequence[Path]) -> list[str]:
    """Unique output names: the folder name, with its parents' names prepended while two cases share one."""
    names = [f.name for f in folders]
    depth = 1
    while len(set(names)) < len(names) and depth < 8:
        depth += 1
        names = ["__".join(f.parts[-depth:]) for f in folders]
    if len(set(names)) < len(names):
        names = [f"{n}__{i}" for i, n in enumerate(names)]
    return names


def flatten_scalars(payload: dict, prefix: str = "") -> dict:
    """Dotted-name scalars of a nested dict (lists and `_CSV_SKIP_KEYS` tables left out)."""
    out: dict = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if key not in _CSV_SKIP_KEYS:
                out.update(flatten_scalars(value, name + "."))
        elif not isinstance(value, list | tuple):
            out[name] = value
    return out


def summary_row(scores: dict) -> dict:
    """The CSV columns of one report's `to_dict`."""
    row = {"reference_path.source": scores["reference_path"]["source"],
           "reference_path.length_m": scores["reference_path"]["length_m"]}
    for section in CSV_SECTIONS:
        if scores.get(section) is not None:
            row.update(flatten_scalars(scores[section], section + "."))
    return row


def _load_forces(folder: Path, t_s: np.ndarray) -> dict[str, np.ndarray]:
    """Force fields from ``forces.npz`` interpolated at `t_s`; ValueError naming the file for a bad one."""
    path = folder / FORCES_FILE
    with np.load(path, allow_pickle=False) as data:
        if "t_s" not in data.files:
            raise ValueError(f"{path}: no 't_s' array (expected t_s and some of {', '.join(FORCE_FIELDS)})")
        t_force = np.asarray(data["t_s"], dtype=float)
        out = {}
        for name in FORCE_FIELDS:
            if name in data.files:
                values = np.asarray(data[name], dtype=float)
                if values.shape != t_force.shape:
                    raise ValueError(f"{path}: {name} has shape {values.shape}, expected {t_force.shape} like t_s")
                out[name] = interpolate_finite(t_s, t_force, values)
    return out


def _session_centreline(folder: Path) -> np.ndarray | None:
    """The centreline (M, 3) of the colon a colosim session recording in `folder` ran on (module doc), None when
    the folder has no ``session.json``. Errors name the file and field."""
    path = folder / "session.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    colon = data.get("colon") if isinstance(data, dict) else None
    if isinstance(colon, dict) and "procedural_seed" in colon:
        from sim.colon.procedural import generate_colon

        return np.asarray(generate_colon(int(colon["procedural_seed"])).centreline_m, dtype=float)
    if isinstance(colon, dict) and "path" in colon:
        from sim.colon.asset import load_asset

        if not Path(colon["path"]).is_file():
            raise ValueError(f"{path}: field 'colon.path' names {colon['path']}, which does not exist")
        return np.asarray(load_asset(colon["path"]).centreline_m, dtype=float)
    raise ValueError(f"{path}: field 'colon' must be {{\"procedural_seed\": int}} or {{\"path\": str}}, got {colon!r}")


def score_case(folder: Path | str, out_folder: Path | str, name: str,
               options: BatchOptions = BatchOptions()) -> CaseOutcome:
    """Read, score and write one case (module doc). Never raises for a bad case: the error is in the outcome."""
    from sim.scoring import score_samples  # the package imports this module's siblings; import late

    start = time.perf_counter()
    folder, out_folder = Path(folder), Path(out_folder)
    outcome = CaseOutcome(case=name, folder=str(folder), error=None)
    scores = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            log = read_coordinate_log(folder, require_cecum=False)
        outcome.warnings = [str(w.message) for w in caught]
        outcome.n_samples = log.n_samples
        centreline = _session_centreline(folder) if log.cecum_event is None else None
        samples = samples_from_log(log, None if centreline is None else centreline[0])
        if (folder / FORCES_FILE).is_file():
            for key, values in _load_forces(folder, samples.t_s).items():
                setattr(samples, key, values)
        coverage = CoverageResult.load(folder / COVERAGE_FILE) if (folder / COVERAGE_FILE).is_file() else None
        report = score_samples(samples, centreline, coverage=coverage,
                               progression_cohort=options.cohorts.get("progression"),
                               retraction_cohort=options.cohorts.get("retraction"))
        scores = report.to_dict()
        outcome.row = summary_row(scores)
        if options.pictures:
            from sim.scoring.pictures import write_report_pictures

            write_report_pictures(samples, report, out_folder, title=name, dpi=options.dpi)
    except (CoordinateLogError, ValueError, OSError) as exc:
        outcome.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop a batch of 1,500; it is reported
        outcome.error = f"internal error ({type(exc).__name__}): {exc}"
    out_folder.mkdir(parents=True, exist_ok=True)
    payload = {"case": name, "folder": str(folder), "warnings": outcome.warnings, "error": outcome.error,
               "scores": scores}
    (out_folder / SCORES_JSON).write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _csv_value(value) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def write_summary_csv(outcomes: Sequence[CaseOutcome], path: Path | str) -> Path:
    """One row per case: case, folder, error, n_warnings, n_samples, then the report's columns (union over cases,
    in first-seen order)."""
    path = Path(path)
    columns: dict[str, None] = {}
    for outcome in outcomes:
        for key in outcome.row:
            columns.setdefault(key, None)
    head = ["case", "folder", "error", "n_warnings", "n_samples"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(head + list(columns))
        for o in outcomes:
            writer.writerow([o.case, o.folder, o.error or "", len(o.warnings), o.n_samples]
                            + [_csv_value(o.row.get(key)) for key in columns])
    return path


def score_folders(folders: Sequence[Path | str], out_dir: Path | str, *, workers: int | None = None,
                  options: BatchOptions = BatchOptions(), progress: bool = True) -> BatchResult:
    """Score every case folder into `out_dir` (module doc) with `workers` processes (None: one per core; 1: in
    this process), a progress bar on stderr when `progress`. Returns the outcomes in input order and the CSV path."""
    from tqdm import tqdm

    folders = [Path(f) for f in folders]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = case_names(folders)
    workers = max(1, min(workers or multiprocessing.cpu_count(), len(folders) or 1))
    outcomes: list[CaseOutcome | None] = [None] * len(folders)
    with tqdm(total=len(folders), desc="scoring", unit="case", disable=not progress) as bar:
        if workers == 1:
            for i, (folder, name) in enumerate(zip(folders, names)):
                outcomes[i] = score_case(folder, out_dir / name, name, options)
                bar.update(1)
        else:
            # spawn: workers start clean (no copy of the parent's numba / matplotlib state).
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {pool.submit(score_case, folder, out_dir / name, name, options): i
                           for i, (folder, name) in enumerate(zip(folders, names))}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    bar.update(1)
    done = [o for o in outcomes if o is not None]
    return BatchResult(done, write_summary_csv(done, out_dir / SUMMARY_CSV))
