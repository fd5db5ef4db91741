"""The recording folder every session writes (DESIGN.md, "Controls, devices, recordings").

One folder per session, `<replays>/session-<UTC time>-<colon>` unless named:

- ``session.json``: what the session ran (colosim version, colon source and seed or file, scope file, time step,
  initial depth, coil sample interval, driver) and, once it ends, ``final``: steps, simulated time and a SHA-256
  digest of the final world state (what `colosim replay --exact` checks).
- ``controls.jsonl``: one JSON object per physics step, ``{"k": step, ...}`` with the `ScopeControls` fields that
  differ from their defaults; the exact replay re-runs these through the same `HandState` and physics. JSON floats
  are written with Python's shortest round-trip repr, so they read back bit-identical. A session reset (scope and
  colon back to the start) is the line ``{"reset_before": step}``.
- ``X.txt Y.txt Z.txt T.txt LogFile_P.txt``: coil coordinates (mm, tip first) and events in the coordinate-log
  layout, through `sim.logs.coordinate_log.CoordinateLogWriter` (flushed every simulated second).
- ``session.log``: a human-readable line per simulated second and per event (``t_s;kind;text``), line-buffered.
- ``pictures/``: captures (the `capture` button).

Crash tolerance: controls, coordinates and the session log are flushed at least once per simulated second, so a
crash loses at most the last second; `read_controls_log` skips an unfinished last line (with a warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from physics.world import WorldState
from sim import __version__
from sim.controls import ScopeControls
from sim.logs.coordinate_log import CoordinateLogWriter, EventLabel

SESSION_FILE = "session.json"
CONTROLS_FILE = "controls.jsonl"
SESSION_LOG_FILE = "session.log"
PICTURES_DIR = "pictures"
FORMAT_NAME = "colosim-session"
FORMAT_VERSION = 1
_DEFAULT_CONTROLS = ScopeControls().to_dict()


@dataclass
class SessionInfo:
    """What `session.json` says about a session (everything the exact replay needs to rebuild it).

    colon: {"procedural_seed": int} or {"path": str}; scope_path: a scope TOML or None (bundled default);
    dt_s: physics step; initial_depth_m; coil_sample_steps: coordinate-log sample every that many steps;
    driver: a name for people ("autopilot", "keyboard", ...); final: filled at the end.
    """

    colon: dict
    scope_path: str | None = None
    dt_s: float = 1.0 / 240.0
    initial_depth_m: float = 0.0
    coil_sample_steps: int = 4
    driver: str = ""
    colosim_version: str = __version__
    created_utc: str = ""
    final: dict | None = None
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path | str) -> "SessionInfo":
        """Read `<folder>/session.json`; errors name the file and the field."""
        path = Path(folder) / SESSION_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no session file (is {folder} a colosim session recording?)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"{path}: field 'format' is {data.get('format')!r}, expected {FORMAT_NAME!r}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: field 'format_version' is {data.get('format_version')!r}, expected "
                             f"{FORMAT_VERSION}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}; expected some of {sorted(known)}")
        if not isinstance(data.get("colon"), dict) or not ({"procedural_seed", "path"} & set(data["colon"])):
            raise ValueError(f"{path}: field 'colon' must be {{\"procedural_seed\": int}} or {{\"path\": str}}, got "
                             f"{data.get('colon')!r}")
        for name, kind in (("dt_s", float), ("initial_depth_m", float), ("coil_sample_steps", int)):
            if name in data and not isinstance(data[name], (int, float)):
                raise ValueError(f"{path}: field {name!r} must be a number, got {data[name]!r}")
        return cls(**data)


def state_digest(state: WorldState) -> str:
    """SHA-256 (hex) of the world state's arrays and time: equal digests mean bit-identical states."""
    h = hashlib.sha256()
    for arr in (state.rod.position_m, state.rod.orientation, state.rod.velocity_m_s,
                state.rod.angular_velocity_rad_s, state.colon.position_m, state.colon.velocity_m_s,
                np.array([state.time_s, state.rod.insertion_depth_m, state.rod.roll_rad, state.colon.pressure_Pa])):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def controls_line(step: int, controls: ScopeControls) -> str:
    """One controls-log line: the step number and the fields that differ from the defaults."""
    data = {"k": int(step)}
    for key, value in controls.to_dict().items():
        if value != _DEFAULT_CONTROLS[key]:
            data[key] = value
    return json.dumps(data, separators=(",", ":"))


def read_controls_log(folder: Path | str) -> list[ScopeControls]:
    """The controls of every step, in order, from `<folder>/controls.jsonl` (see `read_controls_and_resets`)."""
    return read_controls_and_resets(folder)[0]


def read_controls_and_resets(folder: Path | str) -> tuple[list[ScopeControls], set[int]]:
    """The controls of every step, in order, and the step numbers before which the session was reset.

    Errors name the file and line: a line that is not JSON (other than an unfinished last line, which is dropped
    with a warning: a crash mid-write), a step number out of sequence, an unknown field.
    """
    path = Path(folder) / CONTROLS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no controls log")
    lines = path.read_text(encoding="utf-8").split("\n")
    unfinished = lines[-1] != ""
    if not unfinished:
        lines = lines[:-1]
    out: list[ScopeControls] = []
    resets: set[int] = set()
    for n, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines) and unfinished:
                warnings.warn(f"{path}, line {n}: unfinished last line dropped (recording interrupted)",
                              stacklevel=2)
                break
            raise ValueError(f"{path}, line {n}: not a JSON object ({exc.msg})") from None
        if isinstance(data, dict) and set(data) == {"reset_before"}:
            if data["reset_before"] != len(out):
                raise ValueError(f"{path}, line {n}: 'reset_before' is {data['reset_before']!r}, expected "
                                 f"{len(out)} (the next step)")
            resets.add(len(out))
            continue
        if not isinstance(data, dict) or "k" not in data:
            raise ValueError(f"{path}, line {n}: expected an object with the step number 'k', got {line[:80]!r}")
        step = data.pop("k")
        if step != len(out):
            raise ValueError(f"{path}, line {n}: step 'k' is {step}, expected {len(out)} (steps must follow each "
                             f"other from 0)")
        out.append(ScopeControls.from_dict(data, where=f"{path}, line {n}"))
    return out, resets


def new_session_folder(replays_dir: Path | str, label: str = "") -> Path:
    """A fresh folder `<replays_dir>/session-<UTC yyyymmdd-hhmmss>[-label]` (suffixed -2, -3 ... if taken)."""
    base = Path(replays_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"session-{stamp}" + (f"-{label}" if label else "")
    folder = base / name
    n = 2
    while folder.exists():
        folder = base / f"{name}-{n}"
        n += 1
    folder.mkdir(parents=True)
    return folder


class SessionRecorder:
    """Writes a session's recording folder as it runs (module doc). Call `step` after every physics step and
    `close` at the end (or use it as a context manager)."""

    def __init__(self, folder: Path | str, info: SessionInfo, n_coils: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.info = info
        if not info.created_utc:
            info.created_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._write_info()
        self.steps_per_flush = max(1, int(round(1.0 / info.dt_s)))
        self._controls = open(self.folder / CONTROLS_FILE, "w", encoding="utf-8", newline="\n")
        self._log = open(self.folder / SESSION_LOG_FILE, "w", encoding="utf-8", newline="\n", buffering=1)
        self.coords = CoordinateLogWriter(self.folder, n_coils, flush_interval_s=1.0)
        self._pending: list[str] = []
        self._last_second = -1
        self.closed = False
        self.log(0.0, "start", f"colosim {__version__}; colon {info.colon}; driver {info.driver}")

    def _write_info(self) -> None:
        tmp = self.folder / (SESSION_FILE + ".tmp")
        tmp.write_text(self.info.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / SESSION_FILE)

    def log(self, t_s: float, kind: str, text: str) -> None:
        """A line of the human-readable session log (written through at once)."""
        self._log.write(f"{t_s:.3f};{kind};{text}\n")

    def step(self, step: int, t_s: float, controls: ScopeControls, coils_m: np.ndarray | None,
             status: str = "") -> None:
        """Record step number `step` (0-based) that used `controls` and ended at time `t_s`; `coils_m` (K, 3) is a
        coordinate-log sample taken at this step (None: not a sample step). `status` goes into the per-second log
        line."""
        self._pending.append(controls_line(step, controls))
        if coils_m is not None:
            self.coords.append(t_s, coils_m)
        if controls.mark_event:
            self.event(t_s, controls.mark_event)
        if (step + 1) % self.steps_per_flush == 0:
            self.flush()
            if status:
                self.log(t_s, "status", status)

    def reset(self, step: int, t_s: float) -> None:
        """The session was reset before step number `step` (0-based): a marker line for the exact replay."""
        self._pending.append(json.dumps({"reset_before": int(step)}))
        self.log(t_s, "reset", "scope and colon back to the start")

    def event(self, t_s: float, label: str) -> None:
        """An event line in the coordinate log (a coordinate-log label, e.g. "Cecum") and the session log."""
        self.coords.event(t_s, label)
        self.log(t_s, "event", label)

    def flush(self) -> None:
        if self._pending:
            self._controls.write("\n".join(self._pending) + "\n")
            self._pending.clear()
        self._controls.flush()
        self.coords.flush()

    def close(self, final_state: WorldState | None = None, steps: int | None = None,
              end_label: str = EventLabel.RECORDING_ENDED, extra: dict | None = None) -> None:
        """Write everything, the end line of the coordinate log and `final` in session.json."""
        if self.closed:
            return
        self.flush()
        self._controls.close()
        if self.coords.n_samples:
            self.coords.close(end_label)
        else:
            try:
                self.coords.close(end_label)
            except ValueError:
                pass  # no sample recorded: nothing to end
        if final_state is not None:
            self.info.final = {"steps": int(steps if steps is not None else -1), "time_s": float(final_state.time_s),
                               "state_sha256": state_digest(final_state), **(extra or {})}
            self._write_info()
            self.log(float(final_state.time_s), "end", f"{steps} steps, state {self.info.final['state_sha256'][:16]}")
        self._log.close()
        self.closed = True

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.closed:
            if exc_type is not None:
                self.log(-1.0, "error", f"{exc_type.__name__}: {exc}")
            self.close()
