"""Scope model files (`assets/scopes/*.toml`) -> `physics.scope_rod.ScopeSpec`.

A scope file is flat TOML: one key per ScopeSpec field, lengths in metres, rigidities in N·m², angles in degrees
(converted to radians here: physics is SI throughout, DESIGN.md "Units and frames"). physics/ does no I/O, which is
why loading lives here. Every problem is a ValueError that names the file, the field and what was expected, e.g.
"adult_colonoscope.toml: field 'outer_diameter_m' must be a positive number, got -1".
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from physics.scope_rod import ScopeSpec
from sim.resources import asset_path

DEFAULT_SCOPE_FILE = ("scopes", "adult_colonoscope.toml")

_POSITIVE = "a positive number"
_NON_NEGATIVE = "a number >= 0"
_ANGLE = "an angle in degrees in (0, 180]"
_COUNT = "an integer >= 0"
_TEXT = "a text string"

#: File key -> (what it must be, ScopeSpec field, factor from file units to SI).
_FIELDS: dict[str, tuple[str, str, float]] = {
    "name": (_TEXT, "name", 1.0),
    "working_length_m": (_POSITIVE, "working_length_m", 1.0),
    "outer_diameter_m": (_POSITIVE, "outer_diameter_m", 1.0),
    "segment_length_m": (_POSITIVE, "segment_length_m", 1.0),
    "bending_section_length_m": (_POSITIVE, "bending_section_length_m", 1.0),
    "angulation_up_deg": (_ANGLE, "angulation_up_rad", math.pi / 180.0),
    "angulation_down_deg": (_ANGLE, "angulation_down_rad", math.pi / 180.0),
    "angulation_left_deg": (_ANGLE, "angulation_left_rad", math.pi / 180.0),
    "angulation_right_deg": (_ANGLE, "angulation_right_rad", math.pi / 180.0),
    "flexural_rigidity_Nm2": (_POSITIVE, "flexural_rigidity_Nm2", 1.0),
    "bending_section_flexural_rigidity_Nm2": (_POSITIVE, "bending_section_flexural_rigidity_Nm2", 1.0),
    "torsional_rigidity_Nm2": (_POSITIVE, "torsional_rigidity_Nm2", 1.0),
    "mass_per_length_kg_m": (_POSITIVE, "mass_per_length_kg_m", 1.0),
    "field_of_view_deg": (_ANGLE, "field_of_view_rad", math.pi / 180.0),
    "coil_count": (_COUNT, "coil_count", 1.0),
    "coil_tip_offset_m": (_NON_NEGATIVE, "coil_tip_offset_m", 1.0),
    "coil_spacing_m": (_POSITIVE, "coil_spacing_m", 1.0),
}


def _is_number(value: object) -> bool:
    # bool is an int in Python; `true` in a scope file is a mistake, not 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(file_name: str, key: str, value: object, expected: str) -> None:
    ok = {
        _TEXT: isinstance(value, str) and value.strip() != "",
        _POSITIVE: _is_number(value) and value > 0,
        _NON_NEGATIVE: _is_number(value) and value >= 0,
        _ANGLE: _is_number(value) and 0 < value <= 180,
        _COUNT: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
    }[expected]
    if not ok:
        raise ValueError(f"{file_name}: field '{key}' must be {expected}, got {value!r}")


def scope_spec_from_mapping(data: dict, file_name: str) -> ScopeSpec:
    """Validate a parsed scope file and convert it to a ScopeSpec (SI). `file_name` is used in error messages."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(
            f"{file_name}: unknown field '{unknown[0]}' (expected only: {', '.join(_FIELDS)})"
        )
    values: dict[str, object] = {}
    for key, (expected, spec_field, factor) in _FIELDS.items():
        if key not in data:
            raise ValueError(f"{file_name}: missing field '{key}' ({expected})")
        value = data[key]
        _check(file_name, key, value, expected)
        values[spec_field] = value * factor if expected not in (_TEXT, _COUNT) else value

    # Consistency between fields.
    length = data["working_length_m"]
    if data["bending_section_length_m"] >= length:
        raise ValueError(
            f"{file_name}: field 'bending_section_length_m' must be shorter than working_length_m ({length} m), "
            f"got {data['bending_section_length_m']!r}"
        )
    if data["segment_length_m"] > data["bending_section_length_m"]:
        raise ValueError(
            f"{file_name}: field 'segment_length_m' must be at most bending_section_length_m "
            f"({data['bending_section_length_m']} m), got {data['segment_length_m']!r}"
        )
    if data["coil_count"] > 0:
        last_coil = data["coil_tip_offset_m"] + (data["coil_count"] - 1) * data["coil_spacing_m"]
        if last_coil > length:
            raise ValueError(
                f"{file_name}: field 'coil_count' must put every coil within working_length_m ({length} m); "
                f"got {data['coil_count']!r} coils, the last at {last_coil:.4g} m from the tip"
            )
    return ScopeSpec(**values)


def load_scope(path: str | Path | None = None) -> ScopeSpec:
    """Load a scope file; `None` loads the bundled default (`assets/scopes/adult_colonoscope.toml`).

    Raises FileNotFoundError if the file is missing and ValueError (naming file, field, expectation) if it is bad.
    """
    file_path = asset_path(*DEFAULT_SCOPE_FILE) if path is None else Path(path)
    name = file_path.name
    try:
        with open(file_path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{name}: not valid TOML ({exc})") from exc
    return scope_spec_from_mapping(data, name)
