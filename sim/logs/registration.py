"""Registration of a recorded procedure to a colon: the rigid transform from the recording's frame to the world.

A coordinate log carries no anatomy (DESIGN.md, "Coordinate logs"; reference/metrics.md §3.5), so a replay must
place it in the colon it drives. The documented default (`register_log`):

- **colosim's own recordings** (a ``session.json`` next to the logs): the coils were written in the world frame of
  the scene the session ran on, so the registration is the identity (`identity_registration`). The replay builds
  the same scene (same seed or colon file) from ``session.json``.
- **any other recording** (e.g. the Copenhagen database): a rigid transform, fitted in two steps
  (`fit_registration`):
  1. Translation: the first tip reading (at ``Endoscopy started`` when logged, else the first sample with a tip)
     goes to the anal verge (the colon's centreline start; the scene's entry point).
  2. Rotation about the verge: Kabsch (SVD) on correspondences between the recorded shaft and the centreline.
     Every coil inside the body in every insertion sample (up to the first ``Cecum``, else to the deepest point)
     is paired with the centreline point at ``s = l - a_k``: `l` the sample's inserted length (shaft arc length
     from the tip to the verge through the coils, `sim.scoring.samples.inserted_length_from_coils`; free of the
     rotation, so it can be measured before the rotation is known) and `a_k` the coil's arc from the tip (the
     recording's median coil spacing). All coils, not only the tip, span the part of the colon the shaft fills,
     which pins the rotation far better than a short tip path. The pairs are only roughly right (a looping
     shaft is longer than the colon it fills; the shaft rides off the centreline by up to a lumen radius), so
     this takes the principal directions of the shaft's path onto the centreline's: a first registration.
  3. Refinement: iterations of point-to-curve ICP (each point paired with its nearest centreline point, 2 mm
     resampling; Kabsch again, translation included) pull the path into the lumen (``refine=False`` skips it).
  Accuracy: exact to the points' noise when the shaft lies along the rest centreline (tests/test_replay.py: 40°
  and 0.3 m recovered to < 2°, 5 mm). On colosim's own autopilot recordings moved by a known transform it
  recovered the rotation to 12° (10 s insertion; the tip path then 6 mm RMS from the truth) and 25° (30 s
  insertion with sigmoid loops; 28 mm): the shaft pushes the mobile colon off its rest centreline (the true
  coils lie 19 mm RMS from it), so a rigid fit to the rest centreline has no sharper optimum. Kabsch alone gave
  6° and 21° (13 and 15 mm); trimming the farthest 30 % of the points in each ICP iteration 24° (21 mm). A
  replay with a registration error of a few centimetres still runs (the coil springs pull the scope as far as
  the wall lets them); register by hand (``--translate``) when the frame is known.
- Options that override it (CLI: ``--no-register`` = identity, ``--translate x,y,z`` = identity rotation and this
  translation in mm, ``--colon FILE`` / ``--seed`` choose the colon the log is registered to).

Arrays: points (..., 3) in m; rotations (3, 3) proper (det +1) acting on column vectors: world = R @ p + t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.logs.coordinate_log import CoordinateLog, EventLabel

#: Centreline resampling step (m) for the correspondences and the nearest-point search.
CENTRELINE_STEP_M = 0.002
#: Tip samples used by the fit (evenly spread over the insertion); more add time, not accuracy.
MAX_FIT_SAMPLES = 2000
#: ICP iterations of the refinement and the rotation change (rad) below which it stops early.
ICP_ITERATIONS = 30
ICP_TOLERANCE_RAD = 1e-6


@dataclass(frozen=True)
class Registration:
    """A rigid transform recording -> world: ``world = rotation @ p + translation_m``.

    rotation (3, 3) proper rotation; translation_m (3,) m; method: how it was obtained ("identity", "translate",
    "kabsch", "kabsch+icp"); rms_to_centreline_m: RMS distance of the registered tip path to the centreline (NaN
    when not measured), the fit's quality figure.
    """

    rotation: np.ndarray
    translation_m: np.ndarray
    method: str = "identity"
    rms_to_centreline_m: float = math.nan

    def apply(self, points_m: np.ndarray) -> np.ndarray:
        """Transform points (..., 3) in m; NaN rows (coils without a reading) stay NaN."""
        p = np.asarray(points_m, dtype=float)
        return p @ self.rotation.T + self.translation_m

    def apply_to_log(self, log: CoordinateLog) -> CoordinateLog:
        """The same log with its coils in the world frame (times and events unchanged)."""
        return CoordinateLog(t_s=log.t_s, coils_m=self.apply(log.coils_m), events=list(log.events), folder=log.folder)

    def inverse(self) -> "Registration":
        r_inv = self.rotation.T
        return Registration(r_inv, -r_inv @ self.translation_m, self.method, self.rms_to_centreline_m)

    def rotation_angle_rad(self) -> float:
        """Angle (rad) of the rotation part."""
        return float(math.acos(np.clip((np.trace(self.rotation) - 1.0) / 2.0, -1.0, 1.0)))

    def to_dict(self) -> dict:
        return {"rotation": self.rotation.tolist(), "translation_m": self.translation_m.tolist(),
                "method": self.method,
                "rms_to_centreline_m": None if math.isnan(self.rms_to_centreline_m) else self.rms_to_centreline_m}


def identity_registration() -> Registration:
    return Registration(np.eye(3), np.zeros(3), "identity")


def translation_registration(translation_m: np.ndarray) -> Registration:
    return Registration(np.eye(3), np.asarray(translation_m, dtype=float).reshape(3), "translate")


def kabsch(source_m: np.ndarray, target_m: np.ndarray, *, about_origin: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid transform taking `source_m` (N, 3) onto `target_m` (N, 3) (paired rows).

    Returns (R (3, 3), t (3,)) with target ≈ source @ R.T + t. about_origin: rotation only (t = 0), for points
    already expressed relative to a fixed point.
    """
    src = np.asarray(source_m, dtype=float)
    dst = np.asarray(target_m, dtype=float)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or src.shape[0] < 3:
        raise ValueError(f"kabsch needs two (N >= 3, 3) arrays of the same shape, got {src.shape} and {dst.shape}")
    if about_origin:
        src_c, dst_c = np.zeros(3), np.zeros(3)
    else:
        src_c, dst_c = src.mean(axis=0), dst.mean(axis=0)
    h = (src - src_c).T @ (dst - dst_c)
    u, _, vt = np.linalg.svd(h)
    # The sign fix keeps R a rotation (det +1): a reflection would fit a planar path as well but is not rigid.
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, dst_c - r @ src_c


def resample_polyline(points_m: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step_m` of arc length along a polyline (M, 3). Returns (arc (Q,), points (Q, 3))."""
    pts = np.asarray(points_m, dtype=float)
    arc = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))))
    grid = np.arange(0.0, arc[-1] + 0.5 * step_m, step_m)
    grid[-1] = min(grid[-1], arc[-1])
    return grid, np.stack([np.interp(grid, arc, pts[:, a]) for a in range(3)], axis=1)


def start_index(log: CoordinateLog) -> int:
    """Sample of the first tip reading at or after ``Endoscopy started`` (else the first tip reading)."""
    has_tip = np.all(np.isfinite(log.tip_m), axis=1)
    if not has_tip.any():
        raise ValueError(f"{log.folder or 'coordinate log'}: no sample has a tip reading (coil 0); nothing to register")
    start = log.first_event(EventLabel.ENDOSCOPY_STARTED)
    t0 = start.t_s if start is not None else -math.inf
    candidates = np.flatnonzero(has_tip & (log.t_s >= t0 - 1e-9))
    return int(candidates[0] if candidates.size else np.flatnonzero(has_tip)[0])


def _coil_arcs(log: CoordinateLog) -> np.ndarray:
    """(K,) arc length (m) of each coil from the tip: the recording's median spacing between neighbouring coils
    (a rigid scope keeps it; a bent one shortens the chords a little), coil 0 at 0."""
    if log.n_coils < 2:
        return np.zeros(1)
    gaps = np.linalg.norm(np.diff(log.coils_m, axis=1), axis=2)  # (N, K-1)
    # Coil 0 -> 1 spans the bending section, often hooked (its chord is then much shorter than its arc); the shaft
    # coils beyond are evenly spaced on scope-guide scopes: use their median for every gap.
    shaft = gaps[:, 1:] if log.n_coils > 2 else gaps
    spacing = float(np.nanmedian(shaft)) if np.isfinite(shaft).any() else 0.0
    return spacing * np.arange(log.n_coils)


def fit_registration(log: CoordinateLog, centreline_m: np.ndarray, *, refine: bool = True) -> Registration:
    """Register `log` to a colon with centreline `centreline_m` (M, 3), first point the anal verge (module doc).

    Uses the insertion part of the log (up to the first ``Cecum``, else up to the deepest inserted length); at
    most MAX_FIT_SAMPLES samples of it, evenly spread. Raises ValueError (naming the folder) when the path is
    too short or straight to fix a rotation.
    """
    from sim.scoring.samples import inserted_length_from_coils

    first = start_index(log)
    verge_rec = log.tip_m[first]
    s_grid, centre = resample_polyline(centreline_m, CENTRELINE_STEP_M)
    verge_world = centre[0]
    length = inserted_length_from_coils(log.coils_m, verge_rec)
    if log.n_coils < 2:
        # One coil: only the tip path's own arc length is known (it overcounts back-and-forth, see module doc).
        tip = np.nan_to_num(log.tip_m, nan=0.0)
        length = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(tip, axis=0), axis=1))))
    end = log.n_samples
    cecum = log.cecum_index
    ok = np.isfinite(length) & np.all(np.isfinite(log.tip_m), axis=1)
    if cecum is not None and cecum > first:
        end = cecum + 1
    elif ok[first:].any():
        end = first + int(np.nanargmax(np.where(ok[first:], length[first:], -np.inf))) + 1
    idx = np.arange(first, end)
    idx = idx[ok[idx]]
    if idx.size > MAX_FIT_SAMPLES:
        idx = idx[np.linspace(0, idx.size - 1, MAX_FIT_SAMPLES).round().astype(int)]
    if idx.size < 3:
        raise ValueError(f"{log.folder or 'coordinate log'}: fewer than 3 tip samples during the insertion; cannot "
                         "fit a registration (use --translate or --no-register)")
    # Every coil inside the body is a point of the shaft in the lumen: coil k of a sample with inserted length l
    # lies at about s = l - arc_k along the colon. All of them, not only the tip, span the colon the shaft fills,
    # which pins the rotation much better than a short tip path (measured below, `fit_registration` doc).
    arc = _coil_arcs(log)
    pts_rec, s_pts = [], []
    for i in idx:
        s_coil = length[i] - arc
        inside = (s_coil >= 0.0) & np.all(np.isfinite(log.coils_m[i]), axis=1)
        pts_rec.append(log.coils_m[i][inside])
        s_pts.append(s_coil[inside])
    pts = np.concatenate(pts_rec)
    s_pts = np.clip(np.concatenate(s_pts), 0.0, s_grid[-1])
    paired = np.stack([np.interp(s_pts, s_grid, centre[:, a]) for a in range(3)], axis=1)
    spread = np.linalg.svd(pts - verge_rec, compute_uv=False)
    if spread[1] < 1e-3 * max(spread[0], 1e-12):
        raise ValueError(f"{log.folder or 'coordinate log'}: the recorded shaft is a straight line; its rotation "
                         "about the verge is undetermined (use --translate or --no-register)")
    r, _ = kabsch(pts - verge_rec, paired - verge_world, about_origin=True)
    t = verge_world - r @ verge_rec
    method = "kabsch"
    from scipy.spatial import cKDTree

    tree = cKDTree(centre)
    if refine:
        for _ in range(ICP_ITERATIONS):
            moved = pts @ r.T + t
            _, nearest = tree.query(moved)
            dr, dt = kabsch(moved, centre[nearest])
            r, t = dr @ r, dr @ t + dt
            if math.acos(np.clip((np.trace(dr) - 1.0) / 2.0, -1.0, 1.0)) < ICP_TOLERANCE_RAD:
                break
        method = "kabsch+icp"
    dist, _ = tree.query(pts @ r.T + t)
    return Registration(r, t, method, float(np.sqrt(np.mean(dist ** 2))))


def register_log(log: CoordinateLog, centreline_m: np.ndarray, *, colosim_recording: bool,
                 translate_m: np.ndarray | None = None, register: bool = True) -> Registration:
    """The documented default with its overrides (module doc): `translate_m` (3,) wins, then `register=False`
    (identity), then identity for a colosim recording, else `fit_registration`."""
    if translate_m is not None:
        return translation_registration(translate_m)
    if not register or colosim_recording:
        return identity_registration()
    return fit_registration(log, centreline_m)
