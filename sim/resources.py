"""Where the bundled data folders (`assets/`, `scenarios/`, `replays/`) live, in a checkout and after install.

In a source checkout they sit beside the `sim` package; a wheel carries copies under `sim/_data/` (see
`pyproject.toml`, `force-include`).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder of bundled data `name` ("assets", "scenarios" or "replays").

    Raises FileNotFoundError naming every place looked in when the folder is missing (a broken install).
    """
    candidates = (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"colosim data folder '{name}' not found; looked in: {looked}")


def asset_path(*parts: str) -> Path:
    """Path of a file under `assets/`, e.g. `asset_path("colon", "default.toml")`."""
    path = data_dir("assets").joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"bundled asset not found: {path}")
    return path
