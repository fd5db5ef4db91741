"""Exact replay: rebuild a recorded session's scene from its `session.json` and re-run its controls log step by
step through the same `Session.step`, which gives the bit-identical final state (same scene, initial depth, dt and
controls; the physics reads no clock). The digest in `session.json` says whether it did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sim.session.loop import Session
from sim.session.recording import SessionInfo, read_controls_and_resets, state_digest


@dataclass
class ReplayResult:
    """steps replayed, final simulated time, the replay's final digest, the recorded one ("" if the recording
    never ended) and whether they match."""

    steps: int
    time_s: float
    digest: str
    recorded_digest: str
    session: Session

    @property
    def identical(self) -> bool:
        return bool(self.recorded_digest) and self.digest == self.recorded_digest


def scene_for(info: SessionInfo, folder: Path | str = "."):
    """The scene a recording ran on: the procedural colon of its seed or the colon file it names, and its scope."""
    from sim.scene import build_scene
    from sim.scope_file import load_scope

    spec = load_scope(info.scope_path) if info.scope_path else None
    if "procedural_seed" in info.colon:
        return build_scene(spec=spec, seed=int(info.colon["procedural_seed"]))
    from sim.colon.asset import load_asset

    path = Path(info.colon["path"])
    if not path.exists():
        raise FileNotFoundError(f"{Path(folder) / 'session.json'}: field 'colon.path' names {path}, which does not "
                                f"exist")
    return build_scene(load_asset(path), spec)


def replay_exact(folder: Path | str, scene=None, progress=None) -> ReplayResult:
    """Re-run the recording in `folder` from its controls log (no new recording is written)."""
    info = SessionInfo.read(folder)
    controls, resets = read_controls_and_resets(folder)
    scene = scene if scene is not None else scene_for(info, folder)
    session = Session(scene, dt_s=info.dt_s, initial_depth_m=info.initial_depth_m,
                      coil_sample_steps=info.coil_sample_steps)
    for k, c in enumerate(controls):
        if k in resets:
            session.reset()
        session.step(c)
        if progress is not None and k % 240 == 0:
            progress(k, len(controls))
    recorded = (info.final or {}).get("state_sha256", "")
    return ReplayResult(session.steps, session.time_s, state_digest(session.state), recorded, session)
