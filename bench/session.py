"""Session figures on this machine (Mesa llvmpipe, no GPU): endoscope-view frame time at 640x480, the whole
session frame, physics real-time factor alone and while rendering, and the latency from a control change to the
first frame that shows it.

    PYGLET_HEADLESS=1 .venv/bin/python bench/session.py [--seconds 8] [--size 640x480]

Method:
- frame times: the default scene with the scope 0.3 m in; each frame streams the deformed colon window, renders the
  five cube faces and the fisheye pass (`glFinish` before the clock stops); median of `--frames` frames.
- real-time factor: simulated seconds per wall second of the physics thread (scripted driver, unpaced) for
  `--seconds`, first alone, then with the main thread rendering session frames as fast as it can (the render loop
  of a window session, reading pixels back instead of showing them).
- latency: the physics thread paced to real time as in a window session, the render loop drawing fresh snapshots
  (`PhysicsThread.fresh_snapshot`, as the window does); the bench presses a key (wheel up) at a random moment
  between frames; latency = wall time from the press to the end of the first frame drawn from a state that
  includes a step under the new control. Median and maximum of `--presses` presses.

The last line holds the headline figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("PYGLET_HEADLESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--presses", type=int, default=12)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from physics.world import initial_world_state, world_outputs
    from sim.controls import HandState
    from sim.devices.keyboard import KeyboardDevice
    from sim.drivers.scripted import ScriptConfig, ScriptedDriver
    from sim.render.context import renderer_name
    from sim.render.frame import SessionRenderer, make_layout
    from sim.scene import build_scene
    from sim.session.loop import Session
    from sim.session.physics_thread import PhysicsThread
    from sim.session.snapshot import take_snapshot

    scene = build_scene(seed=0)
    renderer = SessionRenderer(scene, layout=make_layout(w, h), headless=True)
    from pyglet import gl

    print(f"renderer: {renderer_name()}; endoscope {w}x{h}, cube faces {renderer.endoscope.face_px} px; "
          f"frame {renderer.layout.size[0]}x{renderer.layout.size[1]}; {os.cpu_count()} cores")
    state = initial_world_state(scene.world, 0.3)
    snap = take_snapshot(scene, state, world_outputs(scene.world, state), HandState(depth_m=0.3), 0)

    # ---- frame times -------------------------------------------------------------------------------------------
    endo = renderer.endoscope
    skin = renderer._skin(snap.colon_positions_m)
    renderer.render(snap)
    times = []
    for _ in range(args.frames):
        t0 = time.perf_counter()
        endo.update_window(skin, snap.tip_s_m)
        endo.render(snap.camera_position_m, snap.camera_forward, snap.camera_up, (0, 0), renderer.target.fbo)
        gl.glFinish()
        times.append(time.perf_counter() - t0)
    endo_ms = 1000 * statistics.median(times)
    f0, f1 = endo.last_window
    print(f"endoscope view: {endo_ms:.1f} ms median ({1000 * min(times):.1f} min), {f1 - f0} triangles x 5 faces")
    times = []
    for _ in range(args.frames):
        t0 = time.perf_counter()
        renderer.render(snap)
        renderer.composite_image()
        times.append(time.perf_counter() - t0)
    frame_ms = 1000 * statistics.median(times)
    print(f"whole session frame (endoscope + scope guide + HUD + read-back): {frame_ms:.1f} ms median")

    # ---- real-time factor ------------------------------------------------------------------------------------
    def physics_run(render: bool) -> tuple[float, float, int]:
        session = Session(scene, initial_depth_m=0.05)
        driver = ScriptedDriver(scene, ScriptConfig(insertion_s=1e9))
        thread = PhysicsThread(session, lambda dt: driver(session.time_s, session.outputs), paced=False)
        thread.start()
        t0 = time.perf_counter()
        frames = 0
        while time.perf_counter() - t0 < args.seconds:
            if render:
                s = thread.fresh_snapshot()
                if s is None:  # the thread has not published its first snapshot yet
                    time.sleep(0.001)
                    continue
                renderer.render(s)
                renderer.composite_image()
                frames += 1
            else:
                time.sleep(0.05)
        wall = time.perf_counter() - t0
        thread.stop()
        thread.join()
        if thread.error:
            raise thread.error
        return session.time_s / wall, 1000 * thread.busy_s / max(thread.steps_run, 1), frames / wall

    rtf_alone, ms_alone, _ = physics_run(False)
    print(f"physics alone: real-time factor {rtf_alone:.2f} ({ms_alone:.2f} ms per 1/240 s step)")
    rtf_render, ms_render, fps = physics_run(True)
    print(f"physics while rendering: real-time factor {rtf_render:.2f} ({ms_render:.2f} ms per step), "
          f"{fps:.1f} frames/s")

    # ---- latency -------------------------------------------------------------------------------------------------
    from pyglet.window import key

    kb = KeyboardDevice()
    session = Session(scene, initial_depth_m=0.15)
    first_step = {}

    def sample(dt):
        c = kb.sample(dt)
        if c.wheel_up_down_rate_rad_s != 0.0 and "step" not in first_step:
            first_step["step"] = session.steps + 1  # the step about to run, counted as steps done after it
        return c

    thread = PhysicsThread(session, sample)
    thread.start()
    while thread.latest is None:
        time.sleep(0.001)
    rng = random.Random(0)
    latencies = []
    for _ in range(args.presses):
        first_step.clear()
        pressed: dict = {}

        def press() -> None:  # from another thread, at a random moment: maybe while a frame is being drawn
            pressed["t"] = time.perf_counter()
            kb.on_key_press(key.I, 0)

        timer = threading.Timer(rng.uniform(0.1, 0.4), press)
        timer.start()
        while True:  # frames keep being drawn, as in a window session
            s = thread.fresh_snapshot()
            renderer.render(s)
            renderer.composite_image()
            if "t" in pressed and "step" in first_step and s.step >= first_step["step"]:
                latencies.append(time.perf_counter() - pressed["t"])
                break
        timer.join()
        kb.on_key_release(key.I, 0)
    thread.stop()
    thread.join()
    lat_med, lat_max = 1000 * statistics.median(latencies), 1000 * max(latencies)
    print(f"control-to-frame latency: median {lat_med:.0f} ms, max {lat_max:.0f} ms over {len(latencies)} presses")
    print(f"endoscope_frame_ms={endo_ms:.1f} session_frame_ms={frame_ms:.1f} physics_ms_per_step={ms_alone:.2f} "
          f"rtf_physics_alone={rtf_alone:.2f} rtf_while_rendering={rtf_render:.2f} fps_while_rendering={fps:.1f} "
          f"latency_ms_median={lat_med:.0f} latency_ms_max={lat_max:.0f}")


if __name__ == "__main__":
    main()
