"""The scope-guide view: the scope's shape as a tube with its coils, seen from the front and from the side as a
magnetic endoscope imager shows it, with the colon's outline translucent behind and around it, and where an
assistant presses on the abdomen (physics/abdominal_press.py) a translucent disc of the hand's footprint.

Both panels are orthographic and share one scale, fixed from the colon's rest bounding box so that the picture does
not jump as the colon deforms. Front: the viewer faces the patient (looking toward posterior, +y in LPS), head up,
the patient's left on the image right. Side: the viewer stands at the patient's left (looking toward -x), head up,
posterior on the image right. The colon outline is the deformed simulation grid drawn with a silhouette-weighted
alpha; the scope is opaque and lighter where nearer the viewer; coils are yellow dots drawn over everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyglet import gl

from sim.colon.tube_mesh import tube_faces
from sim.render.camera import gl_mat, look_at, orthographic
from sim.render.glutil import VertexArray, load_program
from sim.render.meshes import scope_centreline, tube_around_polyline, vertex_normals

#: Drawn scope radius (m): thicker than the real 6.4 mm so that it reads at panel scale, as imagers draw it.
SCOPE_DRAW_RADIUS_M = 0.008
SCOPE_AROUND = 10
#: Part of the scope outside the patient still drawn (m), as imagers show a little of it.
OUTSIDE_SHOWN_M = 0.08
#: Margin around the colon's bounding box (m).
MARGIN_M = 0.03
SCOPE_RGB = (0.30, 0.75, 1.00)
COLON_RGB = (0.95, 0.65, 0.55)
COIL_RGB = (1.0, 0.9, 0.1)
BACKGROUND_RGB = (0.05, 0.06, 0.09)
COIL_SIZE_PX = 7.0
#: The assistant's hand on the abdomen: a translucent glove-green disc of the footprint's radius on the front panel
#: (the hand presses from the front, so the side panel does not show it).
HAND_RGB = (0.45, 0.95, 0.45)
HAND_ALPHA = 0.35

#: (name, view direction, image-up) in the LPS world frame.
PANELS = (("front", np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])),
          ("side", np.array([-1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])))


@dataclass(frozen=True)
class GuideFrame:
    """Where the panels look: centre_m (3,) and half_size_m (half the panel's side in metres)."""

    centre_m: np.ndarray
    half_size_m: float

    @classmethod
    def around(cls, points_m: np.ndarray, margin_m: float = MARGIN_M) -> "GuideFrame":
        lo, hi = points_m.min(axis=0), points_m.max(axis=0)
        return cls(0.5 * (lo + hi), float(0.5 * (hi - lo).max() + margin_m))

    def matrices(self, panel: int) -> tuple[np.ndarray, np.ndarray]:
        """(view, projection) (4, 4) each of panel 0 (front) or 1 (side)."""
        _, direction, up = PANELS[panel]
        far = 4.0 * self.half_size_m
        view = look_at(self.centre_m - 2.0 * self.half_size_m * direction, direction, up)
        h = self.half_size_m
        return view, orthographic(-h, h, -h, h, 0.0, far)

    def project(self, points_m: np.ndarray, panel: int, size_px: int) -> np.ndarray:
        """Pixel coordinates (n, 2) (x right, y down from the panel's top-left) of points (n, 3) in a square panel
        of `size_px`."""
        view, proj = self.matrices(panel)
        p = np.c_[points_m, np.ones(len(points_m))] @ (proj @ view).T
        ndc = p[:, :2] / p[:, 3:4]
        return np.stack([(ndc[:, 0] + 1.0) * 0.5 * size_px, (1.0 - ndc[:, 1]) * 0.5 * size_px], axis=1)


class ScopeGuideView:
    """Draws both panels side by side or stacked into the bound framebuffer.

    ring_count, particles_per_ring: the colon grid (its particles are the outline's vertices, ring-major);
    frame: the panels' `GuideFrame`; size_px: each square panel's side.
    """

    def __init__(self, ring_count: int, particles_per_ring: int, frame: GuideFrame, size_px: int):
        self.frame = frame
        self.size_px = int(size_px)
        self.program = load_program("guide")
        self.points_program = load_program("points")
        self.colon_faces = tube_faces(ring_count, particles_per_ring, cap=False)
        self.colon_vao = VertexArray({"position": (0, 3), "normal": (1, 3)})
        self.colon_vao.set_indices(self.colon_faces)
        self.scope_vao = VertexArray({"position": (0, 3), "normal": (1, 3)})
        self.coil_vao = VertexArray({"position": (0, 3)})
        self.press_vao = VertexArray({"position": (0, 3)})
        self._scope_faces_for = -1
        self._coil_count = 0
        self._press: tuple[np.ndarray, float] | None = None
        self._max_point_px = _max_point_size_px()

    def update(self, colon_positions_m: np.ndarray, rod_position_m: np.ndarray, rod_orientation: np.ndarray,
               rod_half_length_m: float, rod_arc_from_tip_m: np.ndarray, inserted_length_m: float,
               coil_positions_m: np.ndarray, press_centre_m: np.ndarray | None = None,
               press_radius_m: float = 0.0) -> None:
        """Stream this frame's colon grid (N, 3), scope segments (S, 3) + (S, 4), coils (K, 3) and the assistant's
        hand (centre (3,) and radius, or None)."""
        self._press = None if press_centre_m is None else (np.asarray(press_centre_m, dtype=np.float64).reshape(1, 3),
                                                           float(press_radius_m))
        colon = np.ascontiguousarray(colon_positions_m, dtype=np.float64)
        self.colon_vao.set("position", colon)
        self.colon_vao.set("normal", vertex_normals(colon, self.colon_faces, np.empty_like(colon)))
        shown = rod_arc_from_tip_m <= inserted_length_m + OUTSIDE_SHOWN_M
        first = int(np.argmax(shown)) if shown.any() else len(shown) - 1
        points, ex, ey = scope_centreline(rod_position_m[first:], rod_orientation[first:], rod_half_length_m)
        verts, normals = tube_around_polyline(points, ex, ey, SCOPE_DRAW_RADIUS_M, SCOPE_AROUND)
        if len(points) != self._scope_faces_for:
            self.scope_vao.set_indices(tube_faces(len(points), SCOPE_AROUND, cap=False))
            self._scope_faces_for = len(points)
        self.scope_vao.set("position", verts)
        self.scope_vao.set("normal", normals)
        self.coil_vao.set("position", coil_positions_m)
        self._coil_count = len(coil_positions_m)
        self._depth_points = np.vstack([colon[:: max(1, len(colon) // 500)], points])

    def render(self, target_fbo: int, origins_px: tuple[tuple[int, int], tuple[int, int]], *,
               show_coils: bool = True) -> None:
        """Draw the front panel with its lower-left corner at origins_px[0] and the side panel at origins_px[1]
        (`show_coils=False` leaves the coil dots out, so the tube under them can be checked)."""
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, target_fbo)
        gl.glEnable(gl.GL_SCISSOR_TEST)
        gl.glEnable(gl.GL_PROGRAM_POINT_SIZE)
        for panel, (x, y) in enumerate(origins_px):
            view, proj = self.frame.matrices(panel)
            depth = -(np.c_[self._depth_points, np.ones(len(self._depth_points))] @ view[2])
            gl.glViewport(x, y, self.size_px, self.size_px)
            gl.glScissor(x, y, self.size_px, self.size_px)
            gl.glClearColor(*BACKGROUND_RGB, 1.0)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT | gl.GL_DEPTH_BUFFER_BIT)
            prog = self.program
            prog.use()
            prog["u_view"] = gl_mat(view)
            prog["u_proj"] = gl_mat(proj)
            prog["u_depth_range"] = (float(depth.min()), float(depth.max()))
            # Scope first, opaque, writing depth.
            gl.glEnable(gl.GL_DEPTH_TEST)
            gl.glDepthMask(gl.GL_TRUE)
            gl.glDisable(gl.GL_BLEND)
            prog["u_colour"] = SCOPE_RGB
            prog["u_alpha"] = 1.0
            prog["u_rim"] = 0.0
            self.scope_vao.draw_triangles()
            # Colon outline: translucent, depth-tested against the scope but not writing depth.
            gl.glEnable(gl.GL_BLEND)
            gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
            gl.glDepthMask(gl.GL_FALSE)
            prog["u_colour"] = COLON_RGB
            prog["u_alpha"] = 0.03
            prog["u_rim"] = 0.6
            self.colon_vao.draw_triangles()
            gl.glDepthMask(gl.GL_TRUE)
            gl.glDisable(gl.GL_BLEND)
            prog.stop()
            # Coils on top.
            gl.glDisable(gl.GL_DEPTH_TEST)
            pp = self.points_program
            pp.use()
            pp["u_view"] = gl_mat(view)
            pp["u_proj"] = gl_mat(proj)
            if panel == 0 and self._press is not None:
                centre, radius_m = self._press
                gl.glEnable(gl.GL_BLEND)
                pp["u_size_px"] = min(radius_m / self.frame.half_size_m * self.size_px, self._max_point_px)
                pp["u_colour"] = HAND_RGB
                pp["u_alpha"] = HAND_ALPHA
                self.press_vao.set("position", centre)
                self.press_vao.draw_arrays(gl.GL_POINTS, 0, 1)
                gl.glDisable(gl.GL_BLEND)
            pp["u_size_px"] = COIL_SIZE_PX
            pp["u_colour"] = COIL_RGB
            pp["u_alpha"] = 1.0
            if show_coils:
                self.coil_vao.draw_arrays(gl.GL_POINTS, 0, self._coil_count)
            pp.stop()
        gl.glDisable(gl.GL_SCISSOR_TEST)


def _max_point_size_px() -> float:
    """The largest point sprite the GL draws (px): a hand wider than that is drawn at that size."""
    sizes = (gl.GLfloat * 2)()
    gl.glGetFloatv(gl.GL_POINT_SIZE_RANGE, sizes)
    return float(sizes[1])
