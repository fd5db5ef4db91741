"""The interactive session in a window: keyboard, mouse and gamepads drive the scope, the physics thread steps it,
the window shows the endoscope view, the scope guide and the HUD at the display rate; F1 shows the key mapping.

The recording is written exactly as a headless session's (same `Session.step`), so `colosim replay --exact` re-runs
an interactive session too.
"""

from __future__ import annotations

from pathlib import Path

from sim.session.loop import Session
from sim.session.recording import PICTURES_DIR, SessionInfo, SessionRecorder, new_session_folder


def run_window(scene, info: SessionInfo, *, replays_dir: Path | str, endoscope_size: tuple[int, int] = (640, 480),
               scoring: bool = True, fps: float = 60.0, echo=print) -> Path:
    """Open the window and run until Esc or the window closes. Returns the recording folder."""
    from sim.devices import merge_controls
    from sim.devices.gamepad import GamepadDevice, GamepadManager
    from sim.devices.keyboard import KEY_HELP, KeyboardDevice
    from sim.render.frame import SessionRenderer, make_layout
    from sim.session.headless import make_scorer
    from sim.session.physics_thread import PhysicsThread
    from sim.session.video import save_png

    renderer = SessionRenderer(scene, layout=make_layout(*endoscope_size), headless=False, help_text=KEY_HELP)
    import pyglet

    window = renderer.window
    keyboard = KeyboardDevice()
    gamepad = GamepadDevice()
    ui = {"help": False, "message": "F1: keys", "message_until": 0.0}

    def note(text: str) -> None:
        ui["message"] = text

    gamepads = GamepadManager(gamepad, on_change=note)
    folder = new_session_folder(replays_dir)
    info.driver = "keyboard+gamepad"
    recorder = SessionRecorder(folder, info, len(scene.rod.coil_arc_from_tip_m))
    session = Session(scene, dt_s=info.dt_s, initial_depth_m=info.initial_depth_m, recorder=recorder,
                      scorer=make_scorer(scene, scoring), coil_sample_steps=info.coil_sample_steps)

    def sample(dt_s: float):
        return merge_controls([keyboard.sample(dt_s), gamepad.sample(dt_s)])

    def hud_extras() -> dict:
        n = len(gamepads.controllers)
        return {"phase": "withdrawal" if any(label == "Cecum" for _, label in session.events) else "insertion",
                "device": "keyboard" + (f" + {n} gamepad(s)" if n else ""), "message": ui["message"]}

    physics = PhysicsThread(session, sample, hud_extras)

    @window.event
    def on_key_press(symbol, modifiers):
        keyboard.on_key_press(symbol, modifiers)
        return pyglet.event.EVENT_HANDLED  # keep pyglet's default Esc-closes-window out of it; "quit" does that

    @window.event
    def on_key_release(symbol, modifiers):
        keyboard.on_key_release(symbol, modifiers)

    @window.event
    def on_mouse_drag(x, y, dx, dy, buttons, modifiers):
        keyboard.on_mouse_drag(x, y, dx, dy, buttons, modifiers)

    @window.event
    def on_mouse_scroll(x, y, scroll_x, scroll_y):
        keyboard.on_mouse_scroll(x, y, scroll_x, scroll_y)

    captures_saved = [0]

    @window.event
    def on_draw():
        for command in keyboard.take_commands() + gamepad.take_commands():
            if command == "help":
                ui["help"] = not ui["help"]
            elif command == "quit":
                pyglet.app.exit()  # closing the window here would change pyglet's window set mid-iteration
                return
            else:
                physics.command(command)
        if physics.error is not None:
            pyglet.app.exit()
            return
        snap = physics.fresh_snapshot()
        if snap is None:
            return
        renderer.render(snap, show_help=ui["help"])
        renderer.present(flip=False)  # pyglet's loop flips after on_draw
        while captures_saved[0] < physics.captures:
            captures_saved[0] += 1
            path = save_png(folder / PICTURES_DIR / f"capture_{snap.time_s:08.3f}s.png", renderer.endoscope_image())
            note(f"captured {path.name}")

    @window.event
    def on_close():
        physics.stop()

    physics.start()
    echo(f"colosim: session window open; recording to {folder} (F1: keys, Esc: quit)")
    try:
        pyglet.app.run(1.0 / fps)
    finally:
        physics.stop()
        physics.join(timeout=5.0)
        session.close()
        if not window.has_exit:
            window.close()
    if physics.error is not None:
        raise physics.error
    return folder
