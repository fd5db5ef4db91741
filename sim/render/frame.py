"""The session picture: endoscope view, scope-guide panels and HUD composed into one frame, from a
`RenderSnapshot`.

Layout (pixels, GL origin bottom-left): the HUD strip along the bottom, the endoscope image above it on the left,
the two scope-guide panels (front above side) on the right, each half the endoscope image's height. The frame is
drawn into an offscreen target of the window's size, so the same code serves a window (`present` blits it) and
headless runs (`composite_image` reads it back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.render.context import create_window

HUD_HEIGHT_PX = 130


@dataclass(frozen=True)
class Layout:
    """Sizes and lower-left corners (px) of the parts of the frame."""

    endoscope_size: tuple[int, int]
    guide_px: int
    hud_height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.endoscope_size[0] + self.guide_px, self.endoscope_size[1] + self.hud_height

    @property
    def endoscope_origin(self) -> tuple[int, int]:
        return 0, self.hud_height

    @property
    def guide_origins(self) -> tuple[tuple[int, int], tuple[int, int]]:
        x = self.endoscope_size[0]
        return (x, self.hud_height + self.guide_px), (x, self.hud_height)


def make_layout(endoscope_width: int = 640, endoscope_height: int = 480, hud_height: int = HUD_HEIGHT_PX) -> Layout:
    """Endoscope image size (px); the guide panels are squares of half its height; sizes rounded to even numbers
    (video encoders want even frame sizes)."""
    w, h = 2 * (int(endoscope_width) // 2), 2 * (int(endoscope_height) // 2)
    guide = 2 * (h // 4)
    return Layout((w, h), guide, 2 * (int(hud_height) // 2) + (h - 2 * guide))


class SessionRenderer:
    """Owns the GL resources of a session's views. `window`: an existing pyglet window of `layout.size` (else one
    is made, headless or not). `help_text`: the F1 overlay."""

    def __init__(self, scene, *, layout: Layout | None = None, headless: bool = True, window=None,
                 texture_seed: int = 0, help_text: str = "", fov_rad: float | None = None):
        self.scene = scene
        self.layout = layout or make_layout()
        w, h = self.layout.size
        self.window = window or create_window(w, h, headless=headless)
        if (self.window.width, self.window.height) != (w, h):
            # The HUD's text is laid out with the window's projection, so the frame must be the window's size.
            raise ValueError(f"window is {self.window.width}x{self.window.height} px but the layout needs {w}x{h}")
        self.window.switch_to()
        # GL modules import pyglet.gl: only now that the platform is fixed by create_window.
        from physics.colon_body import skin_render_mesh
        from sim.render.endoscope import ColonRenderMesh, EndoscopeView
        from sim.render.glutil import RenderTarget
        from sim.render.hud import Hud
        from sim.render.scope_guide import GuideFrame, ScopeGuideView

        self._skin_render_mesh = skin_render_mesh
        asset = scene.asset
        self.target = RenderTarget(w, h)
        ew, eh = self.layout.endoscope_size
        self.endoscope = EndoscopeView(ColonRenderMesh(asset.faces, asset.vertex_s_m, asset.vertex_theta_rad), ew,
                                       eh, fov_rad if fov_rad is not None else scene.rod.field_of_view_rad,
                                       texture_seed=texture_seed)
        colon = scene.world.colon
        self.guide = ScopeGuideView(colon.ring_count, colon.particles_per_ring,
                                    GuideFrame.around(colon.rest_position_m), self.layout.guide_px)
        (fx, fy), (sx, sy) = self.layout.guide_origins
        gp = self.layout.guide_px
        self.hud = Hud((0, 0, w, self.layout.hud_height),
                       [("scope guide: front", fx + 6, fy + gp - 4), ("side", sx + 6, sy + gp - 4)],
                       (20, self.layout.hud_height + 20, ew - 40, eh - 40), help_text)
        self.frames = 0

    def _skin(self, positions_m: np.ndarray):
        asset, model = self.scene.asset, self.scene.world.colon

        class _Grid:  # skin_render_mesh reads only the grid positions of a colon state
            position_m = positions_m

        def skin(v0: int, v1: int) -> np.ndarray:
            return self._skin_render_mesh(model, _Grid, asset.vertex_s_m[v0:v1], asset.vertex_theta_rad[v0:v1],
                                          asset.vertex_offset_m[v0:v1])
        return skin

    def render(self, snap, *, show_help: bool = False, show_coils: bool = True) -> None:
        """Draw the whole frame of `snap` (a `RenderSnapshot`) into the offscreen target."""
        from pyglet import gl

        self.window.switch_to()
        self.target.bind()
        gl.glClearColor(0.0, 0.0, 0.0, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT | gl.GL_DEPTH_BUFFER_BIT)
        self.endoscope.update_window(self._skin(snap.colon_positions_m), snap.tip_s_m)
        self.endoscope.render(snap.camera_position_m, snap.camera_forward, snap.camera_up,
                              self.layout.endoscope_origin, self.target.fbo)
        rod = self.scene.rod
        self.guide.update(snap.colon_positions_m, snap.rod_position_m, snap.rod_orientation,
                          0.5 * float(np.atleast_1d(rod.segment_length_m)[-1]), rod.segment_arc_from_tip_m,
                          snap.inserted_length_m, snap.coil_positions_m, snap.press_centre_m, snap.press_radius_m)
        self.guide.render(self.target.fbo, self.layout.guide_origins, show_coils=show_coils)
        # pyglet's text and shapes draw with the window's projection: full frame, blending on.
        self.target.bind()
        gl.glDisable(gl.GL_DEPTH_TEST)
        gl.glEnable(gl.GL_BLEND)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        self.hud.update(snap.hud)
        self.hud.draw(show_help)
        gl.glDisable(gl.GL_BLEND)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        self.frames += 1

    # ---- read-back and display ----------------------------------------------------------------------------
    def composite_image(self) -> np.ndarray:
        """The last frame (H, W, 3) uint8, top row first."""
        return self.target.read_rgb()

    def endoscope_image(self) -> np.ndarray:
        """The endoscope part of the last frame (h, w, 3) uint8."""
        from sim.render.glutil import read_rgb

        (x, y), (w, h) = self.layout.endoscope_origin, self.layout.endoscope_size
        return read_rgb(self.target.fbo, x, y, w, h)

    def guide_image(self) -> np.ndarray:
        """Both scope-guide panels (2 g, g, 3) uint8, front on top."""
        from sim.render.glutil import read_rgb

        (x, y) = self.layout.guide_origins[1]
        g = self.layout.guide_px
        return read_rgb(self.target.fbo, x, y, g, 2 * g)

    def present(self, flip: bool = True) -> None:
        """Copy the frame to the window's back buffer and (with `flip`) show it (windowed sessions)."""
        from pyglet import gl

        w, h = self.layout.size
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self.target.fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, 0)
        gl.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        if flip:
            self.window.flip()
