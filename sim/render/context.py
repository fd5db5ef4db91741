"""A GL context: a hidden headless window through EGL (Mesa llvmpipe, no display) or a real window.

pyglet decides between its EGL headless platform and X11 when `pyglet.window` is first imported, so the choice has
to be made here, before anything imports `pyglet.gl` (prior-art.md §5: importing pyglet.gl without a display and
without the headless option fails with NoSuchDisplayException). Everything in `sim.render` therefore gets pyglet
through `load_pyglet`.
"""

from __future__ import annotations

import os


def display_available() -> bool:
    """True when a window can be opened: an X11 or Wayland display is set and headless was not forced."""
    if os.environ.get("PYGLET_HEADLESS", "").lower() in ("1", "true", "yes"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def load_pyglet(headless: bool):
    """Import pyglet configured for `headless` (EGL) or windowed use and return the module.

    The first call decides for the whole process (pyglet's platform cannot change once its window module is
    loaded); a later call asking for the other mode raises RuntimeError instead of failing obscurely.
    """
    import sys

    already = "pyglet.window" in sys.modules
    # Mesa's llvmpipe rasterises with one thread per core by default; on the 2-core machines this project runs on,
    # that starves the physics thread (measured with bench/session.py: physics real-time factor while rendering
    # 0.14 with 2 render threads, 0.21 with 1, frame time unchanged). Set LP_NUM_THREADS to override.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    import pyglet

    if not already:
        pyglet.options["headless"] = bool(headless)
        # No hidden 1x1 shadow window: every context here belongs to a window we make, and the shadow window
        # is what tries to reach an X display on import.
        pyglet.options["shadow_window"] = False
        pyglet.options["vsync"] = False
        # pyglet checks glGetError after every call by default; that costs a round trip per call on the hot path.
        # COLOSIM_GL_DEBUG=1 turns the checks back on.
        pyglet.options["debug_gl"] = os.environ.get("COLOSIM_GL_DEBUG", "") == "1"
    elif bool(pyglet.options["headless"]) != bool(headless):
        mode = "headless" if pyglet.options["headless"] else "windowed"
        raise RuntimeError(f"pyglet was already loaded {mode} in this process; cannot switch")
    import pyglet.window  # noqa: F401  (fixes the platform now)

    return pyglet


def create_window(width: int, height: int, *, headless: bool, caption: str = "colosim", resizable: bool = False):
    """A pyglet window of `width` x `height` pixels with a GL 3.3+ core context current.

    Headless: pyglet's `HeadlessWindow` on EGL; its default framebuffer is never shown, the views render into
    their own targets and are read back. Windowed: a visible window.
    """
    pyglet = load_pyglet(headless)
    config = pyglet.gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=True,
                              depth_size=24)
    try:
        window = pyglet.window.Window(width, height, caption=caption, visible=not headless, config=config,
                                      resizable=resizable, vsync=False)
    except pyglet.window.NoSuchConfigException:
        window = pyglet.window.Window(width, height, caption=caption, visible=not headless, resizable=resizable,
                                      vsync=False)
    window.switch_to()
    return window


def renderer_name() -> str:
    """The GL renderer string of the current context (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)')."""
    from pyglet.gl import gl_info

    return gl_info.get_renderer()
