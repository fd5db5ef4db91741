"""A fixed-length session without a display: a driver (the autopilot by default) steers for `seconds` of simulated
time, frames are rendered every 1/fps of simulated time, and the session writes pictures, an MP4 and its recording.

Determinism: the physics steps a fixed number of steps from the driver's controls only; frames are taken from the
state at fixed step numbers, so the recording (and its exact replay) does not depend on how fast the machine is.
Physics runs in a worker thread and hands snapshots to the rendering (main) thread through a short queue.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sim.session.loop import DrivenSession, Session
from sim.session.recording import PICTURES_DIR, SessionInfo, SessionRecorder, new_session_folder
from sim.session.video import VideoWriter, save_png


@dataclass
class HeadlessResult:
    """What a headless session wrote and how long it took (wall-clock figures are for people, never for tests)."""

    recording: Path
    steps: int
    frames: int
    video: Path | None
    pictures: list[Path] = field(default_factory=list)
    physics_wall_s: float = 0.0
    render_wall_s: float = 0.0
    total_wall_s: float = 0.0
    final_digest: str = ""


def make_driver(name: str, scene):
    """'autopilot' (falls back to the scripted driver, with a warning, when it cannot be imported) or 'scripted'."""
    if name == "autopilot":
        try:
            from sim.drivers.autopilot import Autopilot
        except ImportError as exc:
            warnings.warn(f"autopilot not available ({exc}); driving with the scripted driver", stacklevel=2)
        else:
            return Autopilot(scene)
    elif name != "scripted":
        raise ValueError(f"driver must be 'autopilot' or 'scripted', got {name!r}")
    from sim.drivers.scripted import ScriptedDriver

    return ScriptedDriver(scene)


def make_scorer(scene, enabled: bool = True):
    """The live scorer when available (its module is optional for a session), else None."""
    if not enabled:
        return None
    try:
        from sim.scoring.live import LiveScorer
    except ImportError as exc:
        warnings.warn(f"live scoring not available ({exc}); the HUD score panel stays empty", stacklevel=2)
        return None
    return LiveScorer(scene)


def run_headless(scene, info: SessionInfo, *, seconds: float, out_dir: Path | str, replays_dir: Path | str,
                 driver: str = "autopilot", fps: float = 12.0, endoscope_size: tuple[int, int] = (640, 480),
                 pictures: int = 4, video: bool = True, scoring: bool = True, recording_name: str = "",
                 render: bool = True, progress=None) -> HeadlessResult:
    """Run `seconds` of simulated time (rounded to whole steps of `info.dt_s`) and write the outputs.

    out_dir gets `session.mp4`, `frame_NN.png` (`pictures` composite frames spread over the session, the last one
    at the end), `endoscope.png` and `scope_guide.png` (the last frame's views); the recording goes to a new folder
    under `replays_dir` (or `replays_dir/recording_name`). `progress(step, n_steps)` is called once per frame.
    """
    dt = float(info.dt_s)
    n_steps = max(1, int(round(seconds / dt)))
    folder = (Path(replays_dir) / recording_name) if recording_name else new_session_folder(replays_dir)
    drv = make_driver(driver, scene)
    info.driver = type(drv).__name__
    recorder = SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m))
    session = Session(scene, dt_s=dt, initial_depth_m=info.initial_depth_m, recorder=recorder,
                      scorer=make_scorer(scene, scoring), coil_sample_steps=info.coil_sample_steps)
    driven = DrivenSession(session, drv)
    result = HeadlessResult(recording=folder, steps=0, frames=0, video=None)
    try:
        drive_and_render(driven, session, scene, n_steps, out_dir, result, fps=fps, endoscope_size=endoscope_size,
                         pictures=pictures, video=video, render=render, capture_folder=folder,
                         device=f"driver: {info.driver}", progress=progress)
    finally:
        session.close(extra={"driver_phase": driven.phase})
    result.final_digest = recorder.info.final["state_sha256"] if recorder.info.final else ""
    return result


def drive_and_render(driven, session: Session, scene, n_steps: int, out_dir: Path | str, result: HeadlessResult, *,
                     fps: float = 12.0, endoscope_size: tuple[int, int] = (640, 480), pictures: int = 4,
                     video: bool = True, render: bool = True, capture_folder: Path | None = None,
                     device: str = "", progress=None) -> HeadlessResult:
    """Step `driven` (anything with ``step() -> StepResult`` and ``phase``, driving `session`) `n_steps` times and
    render it into `out_dir` as `run_headless` does (video, pictures, last views); fills and returns `result`.
    Captures go to `capture_folder`/pictures (None: not saved). The caller closes the session."""
    dt = float(session.dt_s)
    every = max(1, int(round(1.0 / (fps * dt))))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    renderer = writer = None
    picture_steps = {int(round(n_steps * (i + 1) / pictures)) for i in range(pictures)} if pictures else set()
    t_start = time.perf_counter()
    # Physics in a worker thread, rendering here: the numba step releases the GIL, so the two overlap. The worker
    # takes the snapshots at fixed step numbers, so what is drawn does not depend on timing either.
    frames_q: queue.Queue = queue.Queue(maxsize=4)
    failure: list[BaseException] = []
    stop = threading.Event()

    def physics() -> None:
        try:
            for k in range(1, n_steps + 1):
                if stop.is_set():
                    return
                t0 = time.perf_counter()
                step = driven.step()
                result.physics_wall_s += time.perf_counter() - t0
                wanted = (k % every == 0, k in picture_steps, step.controls.capture, k == n_steps)
                if render and any(wanted):
                    snap = session.snapshot(phase=driven.phase, device=device)
                    frames_q.put((k, snap, wanted))
                elif progress is not None and not render and k % every == 0:
                    progress(k, n_steps)
        except BaseException as exc:  # re-raised on the main thread
            failure.append(exc)
        finally:
            frames_q.put(None)

    worker = threading.Thread(target=physics, name="colosim-headless-physics", daemon=True)
    try:
        if render:
            from sim.render.frame import SessionRenderer, make_layout

            renderer = SessionRenderer(scene, layout=make_layout(*endoscope_size), headless=True)
            if video:
                w, h = renderer.layout.size
                writer = VideoWriter(out_dir / "session.mp4", w, h, fps=1.0 / (every * dt))
                result.video = writer.path
        worker.start()
        while True:
            item = frames_q.get()
            if item is None:
                break
            k, snap, (is_video, is_picture, capture, _) = item
            t0 = time.perf_counter()
            renderer.render(snap)
            frame = renderer.composite_image()
            if writer is not None and is_video:
                writer.append(frame)
                result.frames += 1
            if is_picture:
                result.pictures.append(save_png(out_dir / f"frame_{len(result.pictures) + 1:02d}.png", frame))
            if capture and capture_folder is not None:
                save_png(Path(capture_folder) / PICTURES_DIR / f"capture_{snap.time_s:08.3f}s.png",
                         renderer.endoscope_image())
            result.render_wall_s += time.perf_counter() - t0
            if progress is not None:
                progress(k, n_steps)
        worker.join()
        if failure:
            raise failure[0]
        if renderer is not None:
            result.pictures.append(save_png(out_dir / "endoscope.png", renderer.endoscope_image()))
            result.pictures.append(save_png(out_dir / "scope_guide.png", renderer.guide_image()))
    finally:
        stop.set()
        if worker.is_alive():
            while worker.is_alive():  # unblock a worker waiting on a full queue, then let it finish its step
                try:
                    frames_q.get(timeout=0.1)
                except queue.Empty:
                    pass
            worker.join()
        if writer is not None:
            writer.close()
    result.steps = session.steps
    result.total_wall_s = time.perf_counter() - t_start
    return result
