"""Small OpenGL 3.3 core helpers over pyglet's ctypes bindings: programs, vertex arrays fed from numpy, render
targets (framebuffer + colour texture + depth) and read-back.

Why not pyglet's `vertex_list`: the colon mesh changes every frame and only a window of it is drawn, so the views
own their buffers and update sub-ranges with `glBufferSubData`; pyglet's `ShaderProgram` is still used for
compiling and for uniforms.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
from pyglet import gl
from pyglet.graphics.shader import Shader, ShaderProgram

SHADER_DIR = Path(__file__).parent / "shaders"


def load_program(vertex: str, fragment: str | None = None) -> ShaderProgram:
    """Compile `shaders/<vertex>.vert` and `shaders/<fragment or vertex>.frag` into a program (errors name the
    files)."""
    files = (SHADER_DIR / f"{vertex}.vert", SHADER_DIR / f"{fragment or vertex}.frag")
    try:
        shaders = [Shader(f.read_text(encoding="utf-8"), kind) for f, kind in zip(files, ("vertex", "fragment"))]
        return ShaderProgram(*shaders)
    except Exception as exc:  # pyglet raises ShaderException with the GL log; say which files it was
        raise RuntimeError(f"shaders {files[0].name} / {files[1].name}: {exc}") from exc


def _gen(fn) -> int:
    handle = gl.GLuint()
    fn(1, ctypes.byref(handle))
    return handle.value


class VertexArray:
    """A VAO with one float32 buffer per attribute and an optional uint32 index buffer.

    `attributes`: name -> (location, components). Buffers are (re)allocated by `set` and updated in place by
    `update` (a row range), so a mesh whose positions change every frame streams only what changed.
    """

    def __init__(self, attributes: dict[str, tuple[int, int]]):
        self.vao = _gen(gl.glGenVertexArrays)
        self.attributes = dict(attributes)
        self.buffers: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.index_buffer = 0
        self.index_count = 0
        gl.glBindVertexArray(self.vao)
        for name, (location, comps) in self.attributes.items():
            buf = _gen(gl.glGenBuffers)
            self.buffers[name] = buf
            self.rows[name] = 0
            gl.glBindBuffer(gl.GL_ARRAY_BUFFER, buf)
            gl.glEnableVertexAttribArray(location)
            gl.glVertexAttribPointer(location, comps, gl.GL_FLOAT, gl.GL_FALSE, 0, None)
        gl.glBindVertexArray(0)

    def set(self, name: str, data: np.ndarray, dynamic: bool = True) -> None:
        """Replace attribute `name` with `data` (n, components), allocating the buffer."""
        arr = np.ascontiguousarray(data, dtype=np.float32)
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.buffers[name])
        gl.glBufferData(gl.GL_ARRAY_BUFFER, arr.nbytes, arr.ctypes.data_as(ctypes.c_void_p),
                        gl.GL_DYNAMIC_DRAW if dynamic else gl.GL_STATIC_DRAW)
        self.rows[name] = arr.shape[0]

    def update(self, name: str, first_row: int, data: np.ndarray) -> None:
        """Overwrite rows [first_row, first_row + len(data)) of attribute `name` (the buffer must hold them)."""
        arr = np.ascontiguousarray(data, dtype=np.float32)
        if first_row < 0 or first_row + arr.shape[0] > self.rows[name]:
            raise ValueError(f"rows {first_row}..{first_row + arr.shape[0]} outside buffer '{name}' of "
                             f"{self.rows[name]} rows")
        row_bytes = arr.nbytes // max(arr.shape[0], 1)
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.buffers[name])
        gl.glBufferSubData(gl.GL_ARRAY_BUFFER, first_row * row_bytes, arr.nbytes, arr.ctypes.data_as(ctypes.c_void_p))

    def set_indices(self, faces: np.ndarray) -> None:
        """Triangle indices (F, 3) (stored as uint32)."""
        idx = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
        gl.glBindVertexArray(self.vao)
        if not self.index_buffer:
            self.index_buffer = _gen(gl.glGenBuffers)
        gl.glBindBuffer(gl.GL_ELEMENT_ARRAY_BUFFER, self.index_buffer)
        gl.glBufferData(gl.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx.ctypes.data_as(ctypes.c_void_p),
                        gl.GL_STATIC_DRAW)
        gl.glBindVertexArray(0)
        self.index_count = idx.size

    def draw_triangles(self, first_face: int = 0, face_count: int | None = None) -> None:
        """Draw faces [first_face, first_face + face_count) of the index buffer."""
        if face_count is None:
            face_count = self.index_count // 3 - first_face
        if face_count <= 0:
            return
        gl.glBindVertexArray(self.vao)
        gl.glDrawElements(gl.GL_TRIANGLES, 3 * face_count, gl.GL_UNSIGNED_INT, ctypes.c_void_p(12 * first_face))
        gl.glBindVertexArray(0)

    def draw_arrays(self, mode: int, first: int, count: int) -> None:
        gl.glBindVertexArray(self.vao)
        gl.glDrawArrays(mode, first, count)
        gl.glBindVertexArray(0)

    def delete(self) -> None:
        for buf in list(self.buffers.values()) + ([self.index_buffer] if self.index_buffer else []):
            gl.glDeleteBuffers(1, ctypes.byref(gl.GLuint(buf)))
        gl.glDeleteVertexArrays(1, ctypes.byref(gl.GLuint(self.vao)))


def make_texture_2d(rgb: np.ndarray, repeat: bool = True, mipmaps: bool = True) -> int:
    """Upload an (H, W, 3 or 4) uint8 image as a 2D texture (row 0 = v 0) and return its id."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = img.shape
    tex = _gen(gl.glGenTextures)
    gl.glBindTexture(gl.GL_TEXTURE_2D, tex)
    gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
    fmt = gl.GL_RGB if c == 3 else gl.GL_RGBA
    gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, w, h, 0, fmt, gl.GL_UNSIGNED_BYTE,
                    img.ctypes.data_as(ctypes.c_void_p))
    wrap = gl.GL_REPEAT if repeat else gl.GL_CLAMP_TO_EDGE
    gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_S, wrap)
    gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_T, wrap)
    gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR)
    if mipmaps:
        gl.glGenerateMipmap(gl.GL_TEXTURE_2D)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR_MIPMAP_LINEAR)
    else:
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR)
    gl.glBindTexture(gl.GL_TEXTURE_2D, 0)
    return tex


class RenderTarget:
    """An offscreen framebuffer: RGBA8 colour texture + 24-bit depth renderbuffer of `width` x `height`."""

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self.fbo = _gen(gl.glGenFramebuffers)
        self.color = _gen(gl.glGenTextures)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.color)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, self.width, self.height, 0, gl.GL_RGBA,
                        gl.GL_UNSIGNED_BYTE, None)
        for p, v in ((gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR), (gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR),
                     (gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE), (gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE)):
            gl.glTexParameteri(gl.GL_TEXTURE_2D, p, v)
        self.depth = _gen(gl.glGenRenderbuffers)
        gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, self.depth)
        gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, gl.GL_DEPTH_COMPONENT24, self.width, self.height)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, self.color, 0)
        gl.glFramebufferRenderbuffer(gl.GL_FRAMEBUFFER, gl.GL_DEPTH_ATTACHMENT, gl.GL_RENDERBUFFER, self.depth)
        check_framebuffer("RenderTarget")
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)

    def bind(self) -> None:
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glViewport(0, 0, self.width, self.height)

    def read_rgb(self) -> np.ndarray:
        """The colour buffer as (height, width, 3) uint8, row 0 at the top (image order)."""
        return read_rgb(self.fbo, 0, 0, self.width, self.height)


def check_framebuffer(what: str) -> None:
    status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
    if status != gl.GL_FRAMEBUFFER_COMPLETE:
        raise RuntimeError(f"{what}: framebuffer incomplete (status 0x{status:x})")


def read_rgb(fbo: int, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Read a rectangle of framebuffer `fbo` (GL origin bottom-left) as (height, width, 3) uint8, top row first."""
    gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, fbo)
    gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    gl.glReadPixels(x, y, width, height, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, out.ctypes.data_as(ctypes.c_void_p))
    gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, 0)
    return out[::-1].copy()


def fullscreen_vao() -> VertexArray:
    """A VAO with no attributes, for full-screen passes whose vertex shader makes the triangle from gl_VertexID."""
    return VertexArray({})
