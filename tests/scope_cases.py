"""Shared by the two scope backends' tests (tests/test_scope_rod.py, tests/test_pybullet_scope.py): the insertion
frame, the four wheel cases and the exact cantilever (elastica) answer both are checked against."""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

INSERT_AXIS = np.array([1.0, 0.0, 0.0])
IMAGE_UP = np.array([0.0, 1.0, 0.0])  # the unrolled handle's image-up (insertion frame +y)
IMAGE_RIGHT = np.cross(INSERT_AXIS, IMAGE_UP)  # forward x up: the insertion frame's -x (physics/scope_rod.py)

#: (wheel, sign, ScopeSpec limit field, direction the tip should bend toward), with pytest ids.
WHEEL_CASES = [
    ("up_down", +1.0, "angulation_up_rad", IMAGE_UP),
    ("up_down", -1.0, "angulation_down_rad", -IMAGE_UP),
    ("left_right", +1.0, "angulation_right_rad", IMAGE_RIGHT),
    ("left_right", -1.0, "angulation_left_rad", -IMAGE_RIGHT),
]
WHEEL_CASE_IDS = ["up", "down", "right", "left"]


def elastica_tip_deflection(force_n: float, length_m: float, ei_nm2: float) -> float:
    """Exact large-deflection (elastica) tip deflection (m) of a cantilever under a dead tip load normal to its
    undeformed axis: EI theta'' = -F cos(theta), theta(0) = 0, theta'(L) = 0, shot on theta'(0); the state is
    (theta, theta', x, y)."""

    def shoot(k0):
        sol = solve_ivp(
            lambda s, y: [y[1], -(force_n / ei_nm2) * math.cos(y[0]), math.cos(y[0]), math.sin(y[0])],
            (0.0, length_m), [0.0, k0, 0.0, 0.0], rtol=1e-12, atol=1e-14,
        )
        return sol.y[:, -1]

    k0 = brentq(lambda k: shoot(k)[1], 0.0, 2.0 * force_n * length_m / ei_nm2, xtol=1e-14)
    return float(shoot(k0)[3])
