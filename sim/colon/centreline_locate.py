"""Where a point (the scope tip) lies along the deformed colon centreline, as an arc length from the anal verge.

The deformed centreline is the wall's ring centres `centres (R, 3)` (`WorldOutputs.colon.ring_centre_m`) with the
rest arc lengths `ring_s (R,)` of those rings; piece k joins rings k and k + 1. The point is projected onto one
piece, so its arc length moves continuously along the colon. Which piece is found the way the contact finds its
samples' (physics.contact): a global search once, then only within `window` pieces of the last one, so that the
point cannot jump to a limb of the colon that merely lies against it (sigmoid loops, flexures).
"""

from __future__ import annotations

import numpy as np

from physics.contact import locate_samples_global, locate_samples_local
from sim.controls import clamp


def arc_length_on_piece(centres: np.ndarray, ring_s: np.ndarray, point: np.ndarray, k: int) -> float:
    """Arc length (m) of the foot of `point` (3,) on piece k of the centreline `centres` (R, 3), arc lengths
    `ring_s` (R,); the foot is clamped to the piece's ends."""
    a = centres[k + 1] - centres[k]
    # The floor only guards a piece whose rings coincide (never in a built colon); it changes no other result.
    f = clamp(np.dot(point - centres[k], a) / max(float(np.dot(a, a)), 1e-18), 0.0, 1.0)
    return float(ring_s[k] + f * (ring_s[k + 1] - ring_s[k]))


def centreline_arc_length(centres: np.ndarray, ring_s: np.ndarray, point: np.ndarray, piece: np.ndarray,
                          window: int) -> float:
    """Arc length (m) of the nearest point on the centreline `centres` (R, 3), arc lengths `ring_s` (R,), to
    `point` (3,).

    piece: (1,) int64, the caller's locality state, updated in place: -1 before the first call (global search),
    then the piece found last, around which the next call searches `window` pieces either side.
    """
    p = np.ascontiguousarray(point, dtype=np.float64).reshape(1, 3)
    if piece[0] < 0:
        locate_samples_global(p, centres, piece)
    else:
        locate_samples_local(p, centres, piece, window)
    return arc_length_on_piece(centres, ring_s, point, int(piece[0]))
