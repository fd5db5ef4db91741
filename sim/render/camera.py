"""Camera matrices (numpy, row-major 4x4; `gl_mat` turns them into the column-major tuples GL uniforms take).

Conventions: a view matrix maps world points to the camera's GL eye space (x right, y up, looking down -z).
The endoscope's cube faces follow the OpenGL cube-map table so that the fisheye pass can sample the cube with a
direction given in the tip camera frame (x right, y up, z forward).
"""

from __future__ import annotations

import math

import numpy as np


def gl_mat(m: np.ndarray) -> tuple:
    """(4, 4) row-major matrix -> 16 floats in column-major order (what `program['u_mat'] = ...` expects)."""
    return tuple(float(v) for v in np.asarray(m, dtype=np.float64).T.reshape(-1))


def camera_basis(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rows (right, up, forward) (3, 3) of an orthonormal camera frame from forward (3,) and approximate up (3,)."""
    f = np.asarray(forward, dtype=np.float64)
    f = f / np.linalg.norm(f)
    u = np.asarray(up, dtype=np.float64)
    u = u - f * float(np.dot(u, f))
    n = np.linalg.norm(u)
    if n < 1e-9:  # up parallel to forward: any perpendicular will do
        u = np.cross(f, [1.0, 0.0, 0.0] if abs(f[0]) < 0.9 else [0.0, 1.0, 0.0])
        n = np.linalg.norm(u)
    u = u / n
    r = np.cross(f, u)
    return np.stack([r, u, f])


def look_at(eye: np.ndarray, forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """View matrix (4, 4) of a camera at `eye` (3,) looking along `forward` with image-up `up`."""
    r, u, f = camera_basis(forward, up)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = r, u, -f
    m[:3, 3] = -m[:3, :3] @ np.asarray(eye, dtype=np.float64)
    return m


def perspective(fovy_rad: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection (4, 4)."""
    f = 1.0 / math.tan(0.5 * fovy_rad)
    m = np.zeros((4, 4))
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def orthographic(left: float, right: float, bottom: float, top: float, near: float, far: float) -> np.ndarray:
    """OpenGL orthographic projection (4, 4)."""
    m = np.eye(4)
    m[0, 0] = 2.0 / (right - left)
    m[1, 1] = 2.0 / (top - bottom)
    m[2, 2] = -2.0 / (far - near)
    m[0, 3] = -(right + left) / (right - left)
    m[1, 3] = -(top + bottom) / (top - bottom)
    m[2, 3] = -(far + near) / (far - near)
    return m


#: Cube faces in GL order (+X, -X, +Y, -Y, +Z, -Z): rows (s axis, t axis, major axis) of the cube-map lookup
#: table (OpenGL 4.5 spec, table 8.19), in the cube's own frame. A face rendered with eye-space x along s, y along
#: t and looking along the major axis fills exactly the texels that `texture(cube, dir)` reads.
CUBE_FACE_AXES = np.array([
    [[0, 0, -1], [0, -1, 0], [1, 0, 0]],
    [[0, 0, 1], [0, -1, 0], [-1, 0, 0]],
    [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
    [[1, 0, 0], [0, 0, -1], [0, -1, 0]],
    [[1, 0, 0], [0, -1, 0], [0, 0, 1]],
    [[-1, 0, 0], [0, -1, 0], [0, 0, -1]],
], dtype=np.float64)


def cube_face_view(face: int, eye: np.ndarray, cube_frame: np.ndarray) -> np.ndarray:
    """View matrix (4, 4) of cube face `face` (0..5, GL order) for a cube centred at `eye` (3,) whose frame has
    rows `cube_frame` (3, 3) in world coordinates (here the tip camera's right, up, forward)."""
    s_ax, t_ax, major = CUBE_FACE_AXES[face]
    rows = np.stack([s_ax, t_ax, -major]) @ np.asarray(cube_frame, dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = rows
    m[:3, 3] = -rows @ np.asarray(eye, dtype=np.float64)
    return m
