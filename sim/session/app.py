"""What `colosim run` and `colosim replay` do, apart from parsing their options (sim/cli.py stays thin)."""

from __future__ import annotations

from pathlib import Path

from sim.session.loop import DEFAULT_COIL_SAMPLE_STEPS, DEFAULT_DT_S
from sim.session.recording import SessionInfo


def session_scene(seed: int = 0, colon_path: str | None = None, scope_path: str | None = None):
    """(scene, info) for a session on the procedural colon of `seed` or the colon asset at `colon_path`, with the
    scope model at `scope_path` (default: the bundled adult colonoscope)."""
    from sim.colon.asset import load_asset
    from sim.scene import build_scene
    from sim.scope_file import load_scope

    spec = load_scope(scope_path) if scope_path else None
    if colon_path:
        path = Path(colon_path).resolve()
        scene = build_scene(load_asset(path), spec)
        colon = {"path": str(path)}
    else:
        scene = build_scene(spec=spec, seed=int(seed))
        colon = {"procedural_seed": int(seed)}
    info = SessionInfo(colon=colon, scope_path=str(Path(scope_path).resolve()) if scope_path else None,
                       dt_s=DEFAULT_DT_S, coil_sample_steps=DEFAULT_COIL_SAMPLE_STEPS)
    return scene, info


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); errors say what was expected."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT in pixels, e.g. 640x480; got {text!r}") from None
    if w < 64 or h < 64:
        raise ValueError(f"--size must be at least 64x64, got {text!r}")
    return w, h
