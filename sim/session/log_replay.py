"""`colosim replay DIR` without --exact: drive the virtual scope from a recorded procedure's coordinate logs.

1. Read the coordinate log (`read_coordinate_log`) and choose the colon: the scene of a colosim recording's
   ``session.json`` (its seed or colon file, its scope), else the procedural colon of `seed` or the asset `colon`.
2. Register the log to the colon (`sim.logs.registration.register_log`: identity for colosim's own recordings, else
   verge + Kabsch + ICP weighted by how fixed the colon is (`fixity_weights` of the scene's asset); overrides
   `translate_m`, `register=False`).
3. Step a `Session` whose controls and rod loads come from the coil-following driver
   (`sim.drivers.replay.CoilFollower`): the insertion depth from the coils, a spring-damper per coil. The log's
   events are replayed at their times (the live scorer needs ``Cecum`` to split insertion from withdrawal).
4. Render, score and record with the headless session's pieces (`drive_and_render`, `make_scorer`,
   `CoordinateLogWriter`), into one output folder:
   ``session.mp4``, ``frame_NN.png``, ``endoscope.png``, ``scope_guide.png`` (pictures), ``X/Y/Z/T.txt`` and
   ``LogFile_P.txt`` (the *replayed* scope's coils, so ``colosim score OUT`` scores what the replay did),
   ``coverage.npz`` / ``forces.npz`` (what the replayed scope saw, read by ``colosim score``), ``scores.json``
   (the live scorer's report), ``replay.json`` (registration, tip-path error against the recording) and
   ``session.json`` (the colon and scope it ran on; no controls log: the springs are not controls).

Clock: a colosim recording takes its first sample after the first physics step, so log time 0 is session time dt;
other recordings start at session time 0. The replay samples its own coils on the same schedule (every
`coil_sample_steps` steps from the first), so for a colosim recording the two tip paths share their sample times.
The session starts with the scope at the depth the coils show at the first sample.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.drivers.replay import CoilFollower, CoilFollowerConfig
from sim.logs.coordinate_log import END_LABELS, CoordinateLog, CoordinateLogWriter, EventLabel, read_coordinate_log
from sim.logs.registration import Registration, fixity_weights, register_log
from sim.session.loop import DEFAULT_COIL_SAMPLE_STEPS, DEFAULT_DT_S, Session, StepResult
from sim.session.recording import SESSION_FILE, SessionInfo

REPLAY_FILE = "replay.json"


@dataclass
class ReplaySource:
    """A recording ready to replay: the scene, the log in its own frame and in the world frame, the registration,
    the session time of log time 0, and whether it is a colosim recording (``session.json`` read)."""

    scene: object
    log: CoordinateLog
    world_log: CoordinateLog
    registration: Registration
    clock_offset_s: float
    dt_s: float = DEFAULT_DT_S
    coil_sample_steps: int = DEFAULT_COIL_SAMPLE_STEPS
    colosim_recording: bool = False
    #: The colon and scope the replay runs on, as `SessionInfo` records them (for the replay's own session.json).
    info: SessionInfo | None = None


def load_source(folder: Path | str, *, seed: int | None = None, colon_path: str | None = None,
                scope_path: str | None = None, translate_m: np.ndarray | None = None,
                register: bool = True, verge_m: np.ndarray | None = None) -> ReplaySource:
    """Read `folder` and register it (module doc). `seed` / `colon_path` / `scope_path` override the scene a
    ``session.json`` names (and are required-or-default for other recordings: the procedural colon of seed 0).
    verge_m (3,): the anal verge in the recording's frame, for a recording that does not start at it."""
    from sim.session.app import session_scene
    from sim.session.replay import scene_for

    folder = Path(folder)
    log = read_coordinate_log(folder, require_cecum=False)
    info = SessionInfo.read(folder) if (folder / SESSION_FILE).is_file() else None
    overridden = seed is not None or colon_path is not None or scope_path is not None
    if info is not None and not overridden:
        scene = scene_for(info, folder)
        dt, sample_steps = float(info.dt_s), int(info.coil_sample_steps)
        replay_info = SessionInfo(colon=dict(info.colon), scope_path=info.scope_path, dt_s=dt,
                                  coil_sample_steps=sample_steps)
    else:
        scene, replay_info = session_scene(0 if seed is None else seed, colon_path, scope_path)
        dt = float(info.dt_s) if info is not None else DEFAULT_DT_S
        sample_steps = int(info.coil_sample_steps) if info is not None else DEFAULT_COIL_SAMPLE_STEPS
    # Identity is right only when the recording ran on this very scene.
    colosim_recording = info is not None and not overridden
    registration = register_log(log, np.asarray(scene.asset.centreline_m, dtype=float),
                                colosim_recording=colosim_recording, translate_m=translate_m, register=register,
                                centreline_weights=fixity_weights(scene.asset), verge_m=verge_m)
    return ReplaySource(scene=scene, log=log, world_log=registration.apply_to_log(log), registration=registration,
                        clock_offset_s=dt if info is not None else 0.0, dt_s=dt, coil_sample_steps=sample_steps,
                        colosim_recording=colosim_recording, info=replay_info)


class LogReplay:
    """A `Session` driven by a `CoilFollower`: ``step()`` -> `StepResult`, ``phase`` (what `drive_and_render`
    needs). Records the replayed coils into `out_dir` (coordinate-log layout) when given."""

    def __init__(self, source: ReplaySource, *, out_dir: Path | str | None = None, scoring: bool = True,
                 config: CoilFollowerConfig | None = None):
        from sim.session.headless import make_scorer

        self.source = source
        scene = source.scene
        self.follower = CoilFollower(scene, source.world_log, config or CoilFollowerConfig(),
                                     clock_offset_s=source.clock_offset_s)
        self.session = Session(scene, dt_s=source.dt_s, initial_depth_m=self.follower.depth_m,
                               scorer=make_scorer(scene, scoring), coil_sample_steps=source.coil_sample_steps)
        self.writer = None
        if out_dir is not None:
            self.writer = CoordinateLogWriter(out_dir, source.log.n_coils, overwrite=True)
        n_model = len(scene.rod.coil_arc_from_tip_m)
        self._coil_columns = min(n_model, source.log.n_coils)
        self._events_seen = 0
        self.end_label = EventLabel.RECORDING_ENDED.value
        self.t_s: list[float] = []
        self.tip_m: list[np.ndarray] = []

    @property
    def phase(self) -> str:
        return "replay"

    @property
    def n_steps(self) -> int:
        """Steps that cover the log: to its last sample on the session clock."""
        end = float(self.source.log.t_s[-1]) + self.source.clock_offset_s
        return max(1, int(math.floor(end / self.session.dt_s + 1e-6)))

    def step(self) -> StepResult:
        s = self.session
        t = s.time_s
        controls, force, torque = self.follower.step_inputs(t, s.state.rod)
        sample = s.steps % s.coil_sample_steps == 0
        result = s.step(controls, force, torque)
        for _, label in self.follower.events[self._events_seen:]:
            if label == EventLabel.RECORDING_STARTED:
                continue  # the replay's own log writes its own
            if label in END_LABELS:
                self.end_label = label  # closes the replay's log, at its last sample
                continue
            s.event(label)
            if self.writer is not None:
                self.writer.event(s.time_s, label)
        self._events_seen = len(self.follower.events)
        if sample:
            coils = result.outputs.rod.coil_positions_m
            self.t_s.append(result.time_s)
            self.tip_m.append(coils[0].copy())
            if self.writer is not None:
                row = np.full((self.source.log.n_coils, 3), np.nan)
                row[: self._coil_columns] = coils[: self._coil_columns]
                self.writer.append(result.time_s, row)
        return result

    def tip_error(self) -> "TipError":
        """The replayed tip path against the recorded one (world frame), at the replay's sample times."""
        t = np.asarray(self.t_s) - self.source.clock_offset_s
        replayed = np.asarray(self.tip_m)
        rec = self.source.world_log
        recorded = np.stack([np.interp(t, rec.t_s, rec.tip_m[:, a]) for a in range(3)], axis=1)
        inside = (t >= rec.t_s[0] - 1e-9) & (t <= rec.t_s[-1] + 1e-9)
        ok = inside & np.all(np.isfinite(recorded), axis=1)
        err = np.linalg.norm(replayed[ok] - recorded[ok], axis=1)
        return TipError(t_s=t[ok], error_m=err)

    def close(self) -> None:
        if self.writer is not None and not self.writer.closed:
            if self.writer.n_samples:
                self.writer.close(self.end_label)
            else:
                try:
                    self.writer.close(self.end_label)
                except ValueError:
                    pass


@dataclass
class TipError:
    """Distance (m) between the replayed and the recorded tip at common times t_s (N,)."""

    t_s: np.ndarray
    error_m: np.ndarray

    @property
    def rms_m(self) -> float:
        return float(np.sqrt(np.mean(self.error_m ** 2))) if self.error_m.size else math.nan

    @property
    def max_m(self) -> float:
        return float(self.error_m.max()) if self.error_m.size else math.nan


@dataclass
class LogReplayResult:
    out_dir: Path
    steps: int
    time_s: float
    registration: Registration
    tip_error: TipError
    pictures: list[Path] = field(default_factory=list)
    video: Path | None = None
    files: list[Path] = field(default_factory=list)


def replay_log(folder: Path | str, out_dir: Path | str, *, seed: int | None = None, colon_path: str | None = None,
               scope_path: str | None = None, translate_m: np.ndarray | None = None, register: bool = True,
               verge_m: np.ndarray | None = None, render: bool = True, video: bool = True, fps: float = 12.0,
               endoscope_size: tuple[int, int] = (640, 480), pictures: int = 4, scoring: bool = True,
               max_seconds: float | None = None, config: CoilFollowerConfig | None = None,
               progress=None) -> LogReplayResult:
    """Replay the recording in `folder` into `out_dir` (module doc). max_seconds: stop after this much simulated
    time (None: the whole log)."""
    from sim.session.headless import HeadlessResult, drive_and_render

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = load_source(folder, seed=seed, colon_path=colon_path, scope_path=scope_path, translate_m=translate_m,
                         register=register, verge_m=verge_m)
    replay = LogReplay(source, out_dir=out_dir, scoring=scoring, config=config)
    n_steps = replay.n_steps
    if max_seconds is not None:
        n_steps = min(n_steps, max(1, int(round(max_seconds / source.dt_s))))
    run = HeadlessResult(recording=out_dir, steps=0, frames=0, video=None)
    try:
        drive_and_render(replay, replay.session, source.scene, n_steps, out_dir, run, fps=fps,
                         endoscope_size=endoscope_size, pictures=pictures, video=video, render=render,
                         capture_folder=None, device="replay: coil targets", progress=progress)
    finally:
        replay.close()
    error = replay.tip_error()
    files = [out_dir / name for name in ("X.txt", "Y.txt", "Z.txt", "T.txt", "LogFile_P.txt")]
    scorer = replay.session.scorer
    if scorer is not None and scorer.n_samples:
        files += scorer.save(out_dir)
        files.append(scorer.save_report(out_dir))
    summary = {
        "source": str(Path(folder).resolve()),
        "colosim_recording": source.colosim_recording,
        "registration": source.registration.to_dict(),
        "steps": replay.session.steps,
        "time_s": replay.session.time_s,
        "tip_error_rms_m": error.rms_m,
        "tip_error_max_m": error.max_m,
        "tip_error_samples": int(error.error_m.size),
        "follower": {k: getattr(replay.follower.config, k) for k in replay.follower.config.__dataclass_fields__},
    }
    (out_dir / REPLAY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    files.append(out_dir / REPLAY_FILE)
    # A session.json names the colon the replayed coils are in (world frame): `colosim score OUT` uses it when the
    # log has no Cecum, and `colosim replay OUT` replays the replay with the identity registration. There is no
    # controls log, so `colosim replay --exact OUT` says so.
    info = source.info
    info.driver = "coordinate-log replay"
    info.initial_depth_m = float(replay.session.initial_depth_m)
    info.extra = {"replay_of": summary["source"]}
    (out_dir / SESSION_FILE).write_text(info.to_json() + "\n", encoding="utf-8")
    files.append(out_dir / SESSION_FILE)
    return LogReplayResult(out_dir=out_dir, steps=replay.session.steps, time_s=replay.session.time_s,
                           registration=source.registration, tip_error=error, pictures=run.pictures,
                           video=run.video, files=files)
