"""Anatomical parameters of the procedural colon, read from `assets/colon/default.toml` (numbers from anatomy.md).

`ColonParams` is the plain record the generator consumes; `load_colon_params` reads it from TOML and reports bad
input with the file, the field and what was expected.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.resources import asset_path

#: Segments with a length of their own (flexures are short zones between them), insertion order.
LIMB_SEGMENTS = ("anal_canal", "rectum", "sigmoid", "descending", "transverse", "ascending", "cecum")


@dataclass(frozen=True)
class SegmentSpec:
    """Default length and lumen diameter of one segment, with the ranges the generator stays inside."""

    length_m: float
    length_range_m: tuple[float, float]
    diameter_m: float
    diameter_range_m: tuple[float, float]


@dataclass(frozen=True)
class ColonParams:
    """Everything the procedural generator needs besides the seed. See assets/colon/default.toml for meanings."""

    segments: dict[str, SegmentSpec]
    total_length_m: float = 1.50
    sigmoid_redundancy: float = 1.0
    transverse_redundancy: float = 1.0
    diameter_scale: float = 1.0
    fold_depth_m: float = 0.006
    fold_spacing_m: float = 0.025
    variation: float = 0.12
    splenic_angle_deg: float = 65.0
    splenic_angle_range_deg: tuple[float, float] = (40.0, 90.0)
    hepatic_angle_deg: float = 85.0
    hepatic_angle_range_deg: tuple[float, float] = (60.0, 110.0)
    flexure_zone_length_m: float = 0.025
    taenia_count: int = 3
    fold_width_m: float = 0.003
    fold_depth_factor: dict[str, float] = field(default_factory=dict)
    fold_spacing_factor: dict[str, float] = field(default_factory=dict)
    triangularity: dict[str, float] = field(default_factory=dict)
    rectal_valve_s_m: tuple[float, ...] = (0.07, 0.10, 0.12)
    rectal_valve_side: tuple[str, ...] = ("left", "right", "left")
    rectal_valve_depth_range_m: tuple[float, float] = (0.005, 0.010)
    rectal_valve_extent_range_deg: tuple[float, float] = (120.0, 180.0)
    ileocecal_valve_above_pole_range_m: tuple[float, float] = (0.03, 0.05)
    appendiceal_orifice_above_pole_m: float = 0.012
    abdomen_min_m: tuple[float, float, float] = (-0.17, -0.16, -0.01)
    abdomen_max_m: tuple[float, float, float] = (0.17, 0.13, 0.50)

    def with_overrides(self, **overrides) -> "ColonParams":
        """A copy with some scale parameters changed (None values are ignored), checked like a file."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(clean) - set(self.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown colon parameter(s): {', '.join(unknown)}")
        params = replace(self, **clean)
        _check_scales(params, "overrides")
        return params


_SCALE_BOUNDS = {
    # field: (low, high, why)
    "total_length_m": (1.2, 2.0, "anatomy.md, Segments: total 1.2-2.0 m"),
    # anatomy.md allows sigmoids to 0.90 m (2.25x); the generator's layout has no room for loops longer than about
    # 1.2x the default yet (they collide with the transverse colon), so it says so instead of failing slowly.
    "sigmoid_redundancy": (0.375, 1.2, "sigmoids longer than 1.2x the default are not laid out yet"),
    "transverse_redundancy": (0.67, 1.44, "keeps the transverse colon inside 0.30-0.65 m"),
    "diameter_scale": (0.8, 1.25, "keeps diameters near their anatomy.md ranges"),
    "fold_depth_m": (0.0, 0.012, "anatomy.md, Wall and folds: fold height up to 0.012 m"),
    "fold_spacing_m": (0.015, 0.040, "anatomy.md, Wall and folds: fold spacing 0.015-0.040 m"),
    "variation": (0.0, 0.3, "relative spread of per-seed variation"),
}


def _check_scales(params: ColonParams, where: str) -> None:
    for name, (low, high, why) in _SCALE_BOUNDS.items():
        value = getattr(params, name)
        if not isinstance(value, (int, float)) or not (low <= value <= high):
            raise ValueError(f"{where}: field '{name}' must be a number in [{low}, {high}] ({why}), got {value!r}")


def load_colon_params(path: str | Path | None = None) -> ColonParams:
    """Read colon parameters from a TOML file (default: the bundled `assets/colon/default.toml`)."""
    path = Path(path) if path is not None else asset_path("colon", "default.toml")
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from exc

    def get(table: str, key: str):
        try:
            return doc[table][key] if table else doc[key]
        except KeyError:
            raise ValueError(f"{path}: missing field '{table + '.' if table else ''}{key}'") from None

    segments = {}
    for name in LIMB_SEGMENTS:
        where = f"segments.{name}"
        seg = doc.get("segments", {}).get(name)
        if seg is None:
            raise ValueError(f"{path}: missing table [{where}]")
        try:
            spec = SegmentSpec(float(seg["length_m"]), tuple(map(float, seg["length_range_m"])),
                               float(seg["diameter_m"]), tuple(map(float, seg["diameter_range_m"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: [{where}] needs numbers length_m, diameter_m and two-number ranges "
                             f"length_range_m, diameter_range_m ({exc!r})") from None
        for what, value, (lo, hi) in (("length_m", spec.length_m, spec.length_range_m),
                                      ("diameter_m", spec.diameter_m, spec.diameter_range_m)):
            if not (0 < lo <= value <= hi):
                raise ValueError(f"{path}: [{where}] {what} = {value} must lie in its range [{lo}, {hi}] (> 0)")
        segments[name] = spec

    scale = doc.get("scale", {})
    flex = doc.get("flexures", {})
    folds = doc.get("folds", {})
    valves = doc.get("rectal_valves", {})
    cecum = doc.get("cecum", {})
    abdomen = doc.get("abdomen", {})
    params = ColonParams(
        segments=segments,
        total_length_m=float(get("scale", "total_length_m")),
        sigmoid_redundancy=float(scale.get("sigmoid_redundancy", 1.0)),
        transverse_redundancy=float(scale.get("transverse_redundancy", 1.0)),
        diameter_scale=float(scale.get("diameter_scale", 1.0)),
        fold_depth_m=float(scale.get("fold_depth_m", 0.006)),
        fold_spacing_m=float(scale.get("fold_spacing_m", 0.025)),
        variation=float(scale.get("variation", 0.12)),
        splenic_angle_deg=float(get("flexures", "splenic_angle_deg")),
        splenic_angle_range_deg=tuple(get("flexures", "splenic_angle_range_deg")),
        hepatic_angle_deg=float(get("flexures", "hepatic_angle_deg")),
        hepatic_angle_range_deg=tuple(get("flexures", "hepatic_angle_range_deg")),
        flexure_zone_length_m=float(flex.get("zone_length_m", 0.025)),
        taenia_count=int(folds.get("taenia_count", 3)),
        fold_width_m=float(folds.get("fold_width_m", 0.003)),
        fold_depth_factor=dict(folds.get("depth_factor", {})),
        fold_spacing_factor=dict(folds.get("spacing_factor", {})),
        triangularity=dict(folds.get("triangularity", {})),
        rectal_valve_s_m=tuple(valves.get("s_m", (0.07, 0.10, 0.12))),
        rectal_valve_side=tuple(valves.get("side", ("left", "right", "left"))),
        rectal_valve_depth_range_m=tuple(valves.get("depth_range_m", (0.005, 0.010))),
        rectal_valve_extent_range_deg=tuple(valves.get("extent_range_deg", (120.0, 180.0))),
        ileocecal_valve_above_pole_range_m=tuple(cecum.get("ileocecal_valve_above_pole_range_m", (0.03, 0.05))),
        appendiceal_orifice_above_pole_m=float(cecum.get("appendiceal_orifice_above_pole_m", 0.012)),
        abdomen_min_m=tuple(abdomen.get("min_m", (-0.17, -0.16, -0.01))),
        abdomen_max_m=tuple(abdomen.get("max_m", (0.17, 0.13, 0.50))),
    )
    _check_scales(params, str(path))
    for side in params.rectal_valve_side:
        if side not in ("left", "right"):
            raise ValueError(f"{path}: field 'rectal_valves.side' entries must be 'left' or 'right', got {side!r}")
    if len(params.rectal_valve_side) != len(params.rectal_valve_s_m):
        raise ValueError(f"{path}: fields 'rectal_valves.s_m' and 'rectal_valves.side' must have equal lengths")
    return params


def default_segment_fractions(params: ColonParams | None = None) -> dict[str, tuple[float, float]]:
    """Each segment's default (start, end) as fractions of the total length, flexure zones included.

    Used to label an imported colon when no landmarks are given. Returns {segment name: (f0, f1)}.
    """
    params = params or load_colon_params()
    zone = params.flexure_zone_length_m
    pieces: list[tuple[str, float]] = []
    for name in LIMB_SEGMENTS:
        pieces.append((name, params.segments[name].length_m))
        if name == "descending":
            pieces.append(("splenic_flexure", zone))
        if name == "transverse":
            pieces.append(("hepatic_flexure", zone))
    total = sum(length for _, length in pieces)
    out, acc = {}, 0.0
    for name, length in pieces:
        out[name] = (acc / total, (acc + length) / total)
        acc += length
    return out
