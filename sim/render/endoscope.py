"""The endoscope view: what the camera at the scope's tip sees through its wide-angle lens.

Projection: a cube map around the tip camera (five faces; the back face is never seen below a 180° field of view)
remapped per pixel by an equidistant fisheye (r = f theta) into the circular image real scopes show. Why a cube
map rather than projecting each vertex through the fisheye in the vertex shader: at 140-170° a wall 5 mm from the
lens spans tens of degrees per triangle, and a per-vertex fisheye bends edges only at vertices (visibly wrong, and
triangles that reach behind the lens must be clipped by hand); the cube faces are exact perspective images, and
the lens model is one formula per pixel in `fisheye.frag` (so another lens model is a shader change).

Cost control on llvmpipe: only the part of the colon mesh near the tip (an arc-length window, from the tip's `s`)
is skinned, streamed and drawn; the walls and folds hide the rest, and the light falloff darkens it anyway.

Lighting (mucosa.frag): two light guides beside the lens, irradiance falling with distance squared, wet specular
mucosa, and the procedural texture of `mucosa.py`. Red-out: when the wall comes within REDOUT_START_M of the lens
inside a cone ahead, the image blends toward uniform red, full at REDOUT_FULL_M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyglet import gl

from sim.render.camera import camera_basis, cube_face_view, gl_mat, perspective
from sim.render.glutil import VertexArray, _gen, check_framebuffer, load_program, make_texture_2d
from sim.render.meshes import vertex_normals
from sim.render.mucosa import mucosa_texture

#: Light guides sit either side of the lens on the distal face (m, along the camera's right axis); a real scope's
#: two guides sit a few mm from the lens.
LIGHT_GUIDE_OFFSET_M = 0.003
#: Distance at which one guide's irradiance is 1 before exposure (m): sets the brightness of a wall 20 mm away.
LIGHT_REFERENCE_DISTANCE_M = 0.02
#: Near and far clip planes of the cube faces (m). Near below the lens-to-wall contact distance.
NEAR_M = 0.0003
FAR_M = 0.6
#: Arc-length window of the colon drawn around the tip (m behind, m ahead).
WINDOW_BEHIND_M = 0.06
WINDOW_AHEAD_M = 0.20
#: The side cube faces see the wall 45-85° off the axis, i.e. the wall beside the tip (at a 40 mm radius, up to
#: 40 mm ahead); around a bend they may look further down the lumen, so they get a shorter window than the front
#: face, not none. Halves the triangles drawn per frame.
SIDE_WINDOW_AHEAD_M = 0.10
#: Texture tiling: whole repeats around the lumen and the tile length along it (m).
AROUND_REPEATS = 3.0
ALONG_TILE_M = 0.05
#: Red-out starts when the wall is this close ahead of the lens (m) and is complete at REDOUT_FULL_M.
REDOUT_START_M = 0.003
REDOUT_FULL_M = 0.001
#: Half-angle of the cone ahead of the lens in which the wall counts for red-out (rad).
REDOUT_CONE_RAD = math.radians(40.0)


@dataclass(frozen=True)
class ColonRenderMesh:
    """The static part of the colon's render mesh: faces (F, 3) sorted by arc length (as the assets store them),
    each vertex's arc length vertex_s_m (V,) (non-decreasing) and angle vertex_theta_rad (V,)."""

    faces: np.ndarray
    vertex_s_m: np.ndarray
    vertex_theta_rad: np.ndarray

    @property
    def face_s_m(self) -> np.ndarray:
        """(F,) mean arc length of each face."""
        return self.vertex_s_m[self.faces].mean(axis=1)


def face_window(face_s_m: np.ndarray, faces: np.ndarray, s_lo: float, s_hi: float) -> tuple[int, int, int, int]:
    """Faces [f0, f1) whose mean s lies in [s_lo, s_hi] and the vertex range [v0, v1) they use; faces must be sorted
    by s."""
    f0 = int(np.searchsorted(face_s_m, s_lo, side="left"))
    f1 = int(np.searchsorted(face_s_m, s_hi, side="right"))
    if f1 <= f0:
        return f0, f0, 0, 0
    used = faces[f0:f1]
    return f0, f1, int(used.min()), int(used.max()) + 1


#: Cube face resolution relative to the one that matches the fisheye at the image centre. Below 1 the centre is
#: slightly soft (the fisheye compresses the periphery, which stays oversampled); 0.8 measured 22 % faster than 1 on
#: llvmpipe at 640x480 (70 against 91 ms for the view) with no visible loss at that size.
FACE_RESOLUTION_FACTOR = 0.8


def default_face_px(radius_px: float, half_fov_rad: float) -> int:
    """Cube face size: at the image centre a face gives face_px / 2 pixels per radian and the fisheye
    radius_px / half_fov_rad; matched, times FACE_RESOLUTION_FACTOR."""
    return int(np.clip(math.ceil(FACE_RESOLUTION_FACTOR * 2.0 * radius_px / half_fov_rad), 64, 1024))


class EndoscopeView:
    """Renders the endoscope image of a colon mesh from a tip camera pose into a viewport of the bound framebuffer.

    mesh: the static mesh; width, height: image size (px); fov_rad: the lens' full field of view (the scope
    model's, 140-170°); face_px: cube face size (default from `default_face_px`); texture_seed: the mucosa texture.
    """

    def __init__(self, mesh: ColonRenderMesh, width: int, height: int, fov_rad: float, *, face_px: int | None = None,
                 texture_seed: int = 0, exposure: float = 1.0):
        self.mesh = mesh
        self.width, self.height = int(width), int(height)
        self.fov_rad = float(fov_rad)
        self.radius_px = 0.5 * min(self.width, self.height) - 1.0
        self.face_px = int(face_px or default_face_px(self.radius_px, 0.5 * self.fov_rad))
        self.exposure = float(exposure)
        self.face_s_m = mesh.face_s_m
        self.faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
        n_vertices = len(mesh.vertex_s_m)
        self.mucosa = load_program("mucosa")
        self.fisheye = load_program("fullscreen", "fisheye")
        self.vao = VertexArray({"position": (0, 3), "normal": (1, 3), "param": (2, 3)})
        self.vao.set("position", np.zeros((n_vertices, 3), np.float32))
        self.vao.set("normal", np.zeros((n_vertices, 3), np.float32))
        param = np.stack([np.cos(mesh.vertex_theta_rad), np.sin(mesh.vertex_theta_rad), mesh.vertex_s_m], axis=1)
        self.vao.set("param", param, dynamic=False)
        self.vao.set_indices(self.faces)
        self.empty_vao = VertexArray({})
        self.texture = make_texture_2d(mucosa_texture(512, texture_seed))
        self._make_cube()
        self.last_redout = 0.0
        self.last_window = (0, 0)
        self._side_end = 0

    def _make_cube(self) -> None:
        n = self.face_px
        self.cube = _gen(gl.glGenTextures)
        gl.glBindTexture(gl.GL_TEXTURE_CUBE_MAP, self.cube)
        for face in range(6):
            gl.glTexImage2D(gl.GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, 0, gl.GL_RGBA8, n, n, 0, gl.GL_RGBA,
                            gl.GL_UNSIGNED_BYTE, None)
        for p, v in ((gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR), (gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR),
                     (gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE), (gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE),
                     (gl.GL_TEXTURE_WRAP_R, gl.GL_CLAMP_TO_EDGE)):
            gl.glTexParameteri(gl.GL_TEXTURE_CUBE_MAP, p, v)
        gl.glBindTexture(gl.GL_TEXTURE_CUBE_MAP, 0)
        self.depth = _gen(gl.glGenRenderbuffers)
        gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, self.depth)
        gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, gl.GL_DEPTH_COMPONENT24, n, n)
        self.fbo = _gen(gl.glGenFramebuffers)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glFramebufferRenderbuffer(gl.GL_FRAMEBUFFER, gl.GL_DEPTH_ATTACHMENT, gl.GL_RENDERBUFFER, self.depth)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_CUBE_MAP_POSITIVE_Z,
                                  self.cube, 0)
        check_framebuffer("endoscope cube")
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)

    def update_window(self, skin, tip_s_m: float | None) -> tuple[int, int, int, int]:
        """Choose the arc-length window around `tip_s_m` (None: the whole mesh), skin its vertices with
        `skin(v0, v1) -> (v1 - v0, 3)` positions, compute their normals and stream both to the GPU.
        Returns the window (f0, f1, v0, v1)."""
        if tip_s_m is None:
            f0, f1, v0, v1 = 0, len(self.faces), 0, len(self.mesh.vertex_s_m)
        else:
            f0, f1, v0, v1 = face_window(self.face_s_m, self.faces, tip_s_m - WINDOW_BEHIND_M,
                                         tip_s_m + WINDOW_AHEAD_M)
        if f1 > f0:
            verts = np.ascontiguousarray(skin(v0, v1), dtype=np.float64)
            normals = vertex_normals(verts, self.faces[f0:f1] - v0, np.empty_like(verts))
            self.vao.update("position", v0, verts)
            self.vao.update("normal", v0, normals)
            self._window_vertices = verts
        else:
            self._window_vertices = np.zeros((0, 3))
        self.last_window = (f0, f1)
        self._side_end = f1 if tip_s_m is None else min(f1, max(f0, int(np.searchsorted(
            self.face_s_m, tip_s_m + SIDE_WINDOW_AHEAD_M, side="right"))))
        return f0, f1, v0, v1

    def redout(self, camera_position_m: np.ndarray, camera_forward: np.ndarray) -> float:
        """0..1: how far the lens is into red-out, from the nearest streamed wall vertex inside the cone ahead."""
        v = self._window_vertices - np.asarray(camera_position_m)[None, :]
        if len(v) == 0:
            return 0.0
        d = np.linalg.norm(v, axis=1)
        cos_angle = (v @ np.asarray(camera_forward)) / np.maximum(d, 1e-12)
        ahead = d[cos_angle > math.cos(REDOUT_CONE_RAD)]
        if ahead.size == 0:
            return 0.0
        return float(np.clip((REDOUT_START_M - ahead.min()) / (REDOUT_START_M - REDOUT_FULL_M), 0.0, 1.0))

    def _face_scissor(self, face: int) -> tuple[int, int, int, int]:
        """The part (x, y, w, h) of cube face `face` the lens can see. On a side face the directions within the half
        field of view `a` of forward lie within cot(a) of the face's forward edge (in the face's tangent coordinate,
        -1..1; the widest at the face's middle line), so the rest is never sampled and not shaded."""
        n = self.face_px
        if face == 4:
            return 0, 0, n, n
        half = 0.5 * self.fov_rad
        frac = 1.0 if half >= 0.5 * math.pi else 0.5 * (1.0 - 1.0 / math.tan(max(half, math.pi / 4)))
        k = min(n, int(math.ceil(frac * n)) + 2)  # + 2 px: the linear filter reads one texel beyond
        # Where forward (+z of the cube frame) lies on each side face (CUBE_FACE_AXES): +X: s low; -X: s high;
        # +Y: t high; -Y: t low.
        return {0: (0, 0, k, n), 1: (n - k, 0, k, n), 2: (0, n - k, n, k), 3: (0, 0, n, k)}[face]

    def render(self, camera_position_m: np.ndarray, camera_forward: np.ndarray, camera_up: np.ndarray,
               viewport: tuple[int, int], target_fbo: int) -> None:
        """Draw the streamed window from the camera pose into framebuffer `target_fbo` with the image's lower-left
        corner at `viewport` (x, y) px. Call `update_window` first."""
        eye = np.asarray(camera_position_m, dtype=np.float64)
        basis = camera_basis(camera_forward, camera_up)  # rows right, up, forward = the cube's frame
        proj = perspective(math.pi / 2.0, 1.0, NEAR_M, FAR_M)
        lights = [eye + s * LIGHT_GUIDE_OFFSET_M * basis[0] for s in (-1.0, 1.0)]
        f0, f1 = self.last_window
        prog = self.mucosa
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glViewport(0, 0, self.face_px, self.face_px)
        gl.glEnable(gl.GL_DEPTH_TEST)
        gl.glDisable(gl.GL_CULL_FACE)
        gl.glDisable(gl.GL_BLEND)
        prog.use()
        prog["u_camera"] = tuple(eye)
        prog["u_light0"] = tuple(lights[0])
        prog["u_light1"] = tuple(lights[1])
        prog["u_light_power"] = LIGHT_REFERENCE_DISTANCE_M ** 2
        prog["u_exposure"] = self.exposure
        prog["u_around_repeats"] = AROUND_REPEATS
        prog["u_along_tile_m"] = ALONG_TILE_M
        prog["u_albedo"] = 0
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture)
        gl.glEnable(gl.GL_SCISSOR_TEST)
        for face in (4, 0, 1, 2, 3):  # +Z (forward) and the four sides; -Z is behind the lens
            gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0,
                                      gl.GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, self.cube, 0)
            gl.glScissor(*self._face_scissor(face))
            gl.glClearColor(0.0, 0.0, 0.0, 1.0)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT | gl.GL_DEPTH_BUFFER_BIT)
            prog["u_view_proj"] = gl_mat(proj @ cube_face_view(face, eye, basis))
            end = f1 if face == 4 else self._side_end
            self.vao.draw_triangles(f0, end - f0)
        gl.glDisable(gl.GL_SCISSOR_TEST)
        prog.stop()
        # Fisheye remap into the target viewport.
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, target_fbo)
        x, y = viewport
        gl.glViewport(x, y, self.width, self.height)
        gl.glDisable(gl.GL_DEPTH_TEST)
        gl.glEnable(gl.GL_TEXTURE_CUBE_MAP_SEAMLESS)
        fe = self.fisheye
        fe.use()
        fe["u_cube"] = 0
        fe["u_origin_px"] = (float(x), float(y))
        fe["u_centre_px"] = (0.5 * self.width, 0.5 * self.height)
        fe["u_radius_px"] = self.radius_px
        fe["u_half_fov_rad"] = 0.5 * self.fov_rad
        self.last_redout = self.redout(eye, basis[2])
        fe["u_redout"] = self.last_redout
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_CUBE_MAP, self.cube)
        self.empty_vao.draw_arrays(gl.GL_TRIANGLES, 0, 3)
        fe.stop()
        gl.glBindTexture(gl.GL_TEXTURE_CUBE_MAP, 0)
