"""An assistant's hand pressing on the patient's abdomen: it holds the part of the colon under it where it is.

Endoscopists ask for abdominal pressure when a straightened loop re-forms as the scope is pushed on: a hand on the
lower abdomen over the sigmoid (or over the transverse colon) keeps that mobile loop from bowing out again, so the
push reaches the tip (anatomy.md, Segments and Looping: the sigmoid and transverse colon are the mobile ones, and
loops form in about 91 % of colonoscopies). The model is the hand's effect, not its anatomy: when the press begins,
every free wall particle of the named segment whose frontal projection (the patient's x, z: the hand pushes along
y, front to back) lies within `radius_m` of the segment's current centre is tied to where it is by a zero-length
XPBD link of compliance `compliance_m_N`, softer toward the rim of the hand (compliance / (1 - (r / radius)²),
capped at RIM_COMPLIANCE_FACTOR times). The links hold until the press ends. `project_press` is solved once per
substep after the wall's first sweep and before the scope's contact, which must have the last word
(physics/world.py, step 3); its mean force on the colon over the step is `ColonBodyState.press_force_N`, what the
assistant's hand pushes with.

Measured: a 5 N load pulling the default sigmoid forward moves it 6.4 mm free and 0.13 mm held, and the hand carries
0.96 of the load on the particles it holds (tests/test_abdominal_press.py). Pushing 80 mm in from a stalled state
(seed 0 at 58 s, tip 0.89 m along the colon; a one-off script that held the sigmoid through its tethers before this
module), the shaft slid 50 mm through the descending colon instead of 1 mm and the sigmoid's rings moved at most
1.5 mm instead of 37 mm. The autopilot with the hand (sim/drivers/autopilot.py, `press_segment`) gets 1.02-1.18 m
along the colon in 120 s on seeds 0-5 against 0.80-0.91 m without (bench/autopilot.py; README, "Autopilot").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

#: Radius (m) of the hand's footprint in the frontal plane [est]: a hand spread over the lower abdomen; it covers
#: the default sigmoid, whose ring centres lie within 0.083 m of their mean in frontal projection (seed 0).
PRESS_RADIUS_M = 0.09
#: Compliance (m/N) of the link holding each particle at the centre of the hand [est, calibrated]: 0.02 m/N is
#: 50 N/m per particle, about a hundred times the mobile sigmoid's mesentery (sim/scene.py), so the held loop stays
#: within millimetres under a 20 N push.
PRESS_COMPLIANCE_M_N = 0.02
#: At the rim the links are this many times softer than at the centre (the hand's edge presses less).
RIM_COMPLIANCE_FACTOR = 20.0


@dataclass(frozen=True)
class AbdominalPress:
    """A hand pressing on the abdomen over `segment` (a name of the colon's segments): see the module docstring.
    radius_m: the footprint's radius in the frontal plane; compliance_m_N: each held particle's link at the centre."""

    segment: str = "sigmoid"
    radius_m: float = PRESS_RADIUS_M
    compliance_m_N: float = PRESS_COMPLIANCE_M_N


def held_particles(position_m: np.ndarray, inv_mass: np.ndarray, particle_segment: np.ndarray,
                   segment_names: tuple, press: AbdominalPress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The particles `press` holds and how: (index (M,) int64, anchor_m (M, 3), compliance_m_N (M,)).

    position_m (N, 3): the wall when the press begins (patient frame, LPS: y front to back); inv_mass (N,) (0:
    fixed, not held); particle_segment (N,) int64: index into segment_names of each particle's segment.
    """
    if press.segment not in segment_names:
        raise ValueError(f"AbdominalPress.segment {press.segment!r}: expected one of {list(segment_names)}")
    if not (press.radius_m > 0.0 and press.compliance_m_N >= 0.0):
        raise ValueError(f"AbdominalPress: radius_m must be > 0 and compliance_m_N >= 0; got {press.radius_m}, "
                         f"{press.compliance_m_N}")
    in_segment = (particle_segment == segment_names.index(press.segment)) & (inv_mass > 0.0)
    centre = position_m[in_segment].mean(axis=0)
    r2 = ((position_m[:, 0] - centre[0]) ** 2 + (position_m[:, 2] - centre[2]) ** 2) / press.radius_m ** 2
    index = np.flatnonzero(in_segment & (r2 <= 1.0)).astype(np.int64)
    softening = np.minimum(1.0 / np.maximum(1.0 - r2[index], 1e-12), RIM_COMPLIANCE_FACTOR)
    return index, position_m[index].copy(), press.compliance_m_N * softening


@njit(cache=True, nogil=True)
def project_press(position_m, inv_mass, index, anchor_m, compliance_m_N, h_s, force_sum_N):
    """One XPBD projection of the press's links (index (M,), anchor_m (M, 3), compliance_m_N (M,); see
    `held_particles`) for a substep of h_s, each from a zero multiplier (the links are compliant, and solved once per
    substep). Adds their total force on the colon (N) to force_sum_N (3,)."""
    inv_h2 = 1.0 / (h_s * h_s)
    for m in range(index.shape[0]):
        i = index[m]
        w = inv_mass[i]
        if w == 0.0:
            continue
        share = w / (w + compliance_m_N[m] * inv_h2)
        for a in range(3):
            dx = share * (anchor_m[m, a] - position_m[i, a])
            position_m[i, a] += dx
            force_sum_N[a] += dx * inv_h2 / w
