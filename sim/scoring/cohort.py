"""Reference cohorts: the statistics a composite score is measured against (metrics.md §1.2 item 4, §2.2).

A composite is ``Σ_j w_j (f_j - μ_j) / σ_j`` over a cohort's measures: each procedure's measure f_j as a z-score
against the cohort (mean μ_j, sd σ_j), weighted by a loading w_j whose sign says which direction is expert-like.

`fit_cohort` fits (μ, σ, w) on a cohort's procedures, the way metrics.md names:

- "mean" (the 3D-CoPS-style progression composite): w_j = orientation_j / J, so the composite is the average of
  the z-scores with signs flipped so that expert-like is positive (travel length, tip progression, chase
  efficiency and looping negative; shaft movement without tip progression positive, loop reduction being an
  expert's manoeuvre);
- "pc1" (the CoRS-like retraction composite): w = the first principal component of the cohort's z-scores (unit
  length), its sign chosen so that it agrees with the orientation (longer, more exploratory withdrawals, more tip
  travel and lower retraction efficiency, score higher: metrics.md calls this orientation an assumption, the
  publication oriented its component against adenoma detection, which we do not have).

Until real data is at hand the cohort is colosim's own expert driver: `assets/cohorts/colosim_expert.json`, made
by ``scripts/make_expert_cohort.py`` (the autopilot on procedural colons other than the tests' seeds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sim.resources import asset_path

#: +1 where a larger value is more expert-like (module doc). Keys are `ProgressionResult.measures()` names.
PROGRESSION_ORIENTATION = {
    "travel_length_m": -1.0,
    "tip_progression_m": -1.0,
    "chase_efficiency": -1.0,
    "shaft_movement_without_tip_progression_m": 1.0,
    "looping_time_s": -1.0,
}
#: The three CoRS-like measures the publication names (Tip Retraction, Retraction Efficiency, Retraction Distance;
#: metrics.md §2.1-2.2), keys of `RetractionResult.measures()` (module doc). Tip retraction is the total tip
#: travel, not the travel per minute: a rate rewards a hurried withdrawal (8 cm/s gives about three times the
#: travel per minute of the autopilot's 2 cm/s with its survey circle, tests/test_expert_vs_poor.py).
RETRACTION_ORIENTATION = {
    "tip_retraction_m": 1.0,
    "retraction_efficiency": -1.0,
    "retraction_distance_m": 1.0,
}
#: The cohort file's sections: which scores each one serves.
SECTIONS = ("progression", "retraction")


@dataclass(frozen=True)
class MeasureReference:
    """One measure's statistics in a reference cohort: mean and standard deviation (the measure's units) and its
    loading (weight, sign = orientation) in the composite."""

    mean: float
    sd: float
    loading: float

    def __post_init__(self):
        if not self.sd > 0:
            raise ValueError(f"a reference sd must be > 0, got {self.sd}")


@dataclass(frozen=True)
class ReferenceCohort:
    """Statistics of a reference cohort: measure name (as in a result's `measures()`) -> `MeasureReference`."""

    name: str
    measures: Mapping[str, MeasureReference]

    @classmethod
    def from_dict(cls, data: Mapping) -> ReferenceCohort:
        """From ``{"name": ..., "measures": {"retraction_distance_m": {"mean": .., "sd": .., "loading": ..}}}``."""
        return cls(
            name=str(data.get("name", "")),
            measures={key: MeasureReference(**value) for key, value in data["measures"].items()},
        )

    @classmethod
    def from_json(cls, path: Path | str) -> ReferenceCohort:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict:
        return {"name": self.name, "measures": {k: asdict(v) for k, v in self.measures.items()}}


def cohort_composite(values: Mapping[str, float | None], cohort: ReferenceCohort | None) -> float | None:
    """``Σ_j w_j (f_j - μ_j) / σ_j`` over the cohort's measures; None without a cohort or if a measure is missing."""
    if cohort is None:
        return None
    total = 0.0
    for name, ref in cohort.measures.items():
        value = values.get(name)
        if value is None or not math.isfinite(value):
            return None
        total += ref.loading * (value - ref.mean) / ref.sd
    return total


def fit_cohort(
    name: str,
    rows: Sequence[Mapping[str, float | None]],
    orientation: Mapping[str, float],
    method: str = "mean",
    labels: Sequence[str] | None = None,
) -> ReferenceCohort:
    """Fit a cohort on its procedures (module doc).

    rows: one mapping per procedure holding at least the measures of `orientation` (measure -> +1 / -1); labels:
    the procedures' names for error messages (default "procedure <i>"). method: "mean" or "pc1". The sd is the
    sample sd (n - 1). Raises ValueError naming the procedure and measure for a missing or non-finite value, and the
    measure when it does not vary across the cohort (a z-score needs a spread)."""
    if method not in ("mean", "pc1"):
        raise ValueError(f"cohort method must be 'mean' or 'pc1', got {method!r}")
    names = list(orientation)
    labels = list(labels) if labels is not None else [f"procedure {i}" for i in range(len(rows))]
    if len(rows) < 2:
        raise ValueError(f"a cohort needs at least two procedures to have a spread, got {len(rows)}")
    values = np.empty((len(rows), len(names)))
    for i, row in enumerate(rows):
        for j, measure in enumerate(names):
            value = row.get(measure)
            if value is None or not math.isfinite(float(value)):
                raise ValueError(f"cohort {name!r}: {labels[i]} has no value for {measure} (got {value!r})")
            values[i, j] = float(value)
    mean = values.mean(axis=0)
    sd = values.std(axis=0, ddof=1)
    for j, measure in enumerate(names):
        if not sd[j] > 1e-12 * max(1.0, abs(mean[j])):
            raise ValueError(f"cohort {name!r}: {measure} is {mean[j]:.6g} in every procedure; it has no spread "
                             "to measure a z-score against (leave it out)")
    signs = np.array([float(np.sign(orientation[m])) for m in names])
    if method == "mean":
        loadings = signs / len(names)
    else:
        z = (values - mean) / sd
        # PC1 = the first right singular vector of the centred z-scores; its sign is arbitrary, so orient it.
        loadings = np.linalg.svd(z, full_matrices=False)[2][0]
        if float(loadings @ signs) < 0.0:
            loadings = -loadings
    return ReferenceCohort(name, {m: MeasureReference(float(mean[j]), float(sd[j]), float(loadings[j]))
                                  for j, m in enumerate(names)})


def load_cohorts(path: Path | str) -> dict[str, ReferenceCohort]:
    """The cohorts of a cohort file (``{"progression": cohort, "retraction": cohort}``, either may be left out), by
    section. Raises ValueError naming the file and the section or field that is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(data) - set(SECTIONS) - {"about"})
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(unknown)}; expected {', '.join(SECTIONS)}")
    cohorts = {}
    for section in SECTIONS:
        if section not in data:
            continue
        try:
            cohorts[section] = ReferenceCohort.from_dict(data[section])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: section {section!r}: expected {{name, measures: {{measure: {{mean, sd, "
                             f"loading}}}}}} ({type(exc).__name__}: {exc})") from None
    return cohorts


def expert_cohort_path() -> Path:
    """The shipped cohort of colosim's expert driver (module doc)."""
    return asset_path("cohorts", "colosim_expert.json")
