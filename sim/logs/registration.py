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
  2. Rotation about the verge: weighted Kabsch (SVD) on correspondences between the recorded shaft and the
     centreline. Every coil inside the body in every insertion sample (up to the first ``Cecum``, else to the
     deepest point) is paired with the centreline point at ``s = l - a_k``: `l` the sample's inserted length
     (shaft arc length from the tip to the verge through the coils,
     `sim.scoring.samples.inserted_length_from_coils`; free of the rotation, so it can be measured before the
     rotation is known) and `a_k` the coil's arc from the tip (the recording's median coil spacing). All coils,
     not only the tip, span the part of the colon the shaft fills, which pins the rotation far better than a
     short tip path. The pairs are only roughly right (a looping shaft is longer than the colon it fills; the
     shaft rides off the centreline by up to a lumen radius), so this takes the principal directions of the
     shaft's path onto the centreline's: a first registration.
  3. Refinement: iterations of point-to-curve ICP (weighted Kabsch again, translation included) pull the path into
     the lumen (``refine=False`` skips it). Each point pairs with the nearest centreline point (2 mm resampling)
     among those within PAIRING_WINDOW_M of its arc ``s = l - a_k``: with the nearest of all, a sigmoid the shaft
     had pushed up against the transverse colon paired with the transverse (60 cm further along the colon).
  Weights, in steps 2 and 3, the product of two:
  - how fixed the colon is at the point's arc ``s = l - a_k`` (``centreline_weights``; `fixity_weights` of the
    colon asset, which `colosim replay` passes): 1 on the rectum, descending colon, flexures, ascending colon and
    cecum, which the retroperitoneum and ligaments hold to millimetres, MOBILE_SEGMENT_WEIGHT on the sigmoid and
    transverse, which the scope pushes centimetres off their rest centreline (anatomy.md Mechanics). Still
    counted: the mobile parts carry most of the shape that fixes the rotation.
  - how far the sample's shaft lies from the insertion front (`front_path`: where the tip was when it first got
    as deep; `loop_weights`): a shaft that has left the path its tip took shows the mobile colon has moved since
    (a loop bowing out, a reduction pleating the colon onto the shaft), so the whole sample counts less.
  Accuracy: exact to the points' noise when the shaft lies along the rest centreline (tests/test_replay.py: 40°
  and 0.3 m recovered to < 2°, 5 mm). On colosim's own autopilot recordings moved by a known transform (40°,
  0.3 m; bench/registration.py with ``--record``: 9 recordings on 5 colons) the rotation error is 2.5° median
  (10.2° with the unweighted nearest-point fit this replaced) and the tip path 4.3 mm RMS median from the truth
  (18.0 mm), 12.8 mm at worst (28.2 mm); tests/test_replay.py checks replays/poor-pushing (2.5°, 5.2 mm; was
  10.2°, 22.2 mm). Two stay large in degrees: replays/autopilot-insertion, 30 s that loop in the sigmoid (14°,
  12.8 mm; was 25°, 28 mm), and its first 10 s (11°, 6.5 mm; was 12°, 5.8 mm). Their shaft never got past the
  sigmoid: the points fitted spread 109, 17 and 7 mm along their principal axes (100, 13 and 5 mm in 10 s), a
  nearly straight path, and the error is a roll about its axis (0.6° of it across the axis in both), which moves
  the points by less than the lumen lets the shaft ride off the centreline (the true coils lie 13 mm RMS from the
  rest centreline in the rectum and 22 mm in the sigmoid over the 30 s, 12 and 10 mm over the first 10 s), so
  nothing in the recording fixes it; the tip path, what a replay follows, is right to 13 and 7 mm. Kabsch alone
  (``refine=False``) gives 22° median. A recording that starts with the scope already deep
  (replays/autopilot-withdrawal, 0.6 m in) breaks step 1 (the first tip reading is not at the verge) and
  registers 163° wrong; given the verge in the recording's frame (``verge_m``, CLI ``--verge``), the same
  recording moved by 40° and 0.3 m registers to 5.0° and a 4.3 mm RMS tip path (tests/test_replay.py), from its
  first samples: the shaft 0.56 m in already spans the colon it fills (the insertion part is then the few samples
  up to its deepest). A replay with a registration error of a few centimetres still runs (the coil springs
  pull the scope as far as the wall lets them); register by hand (``--translate``) when the frame is known.
- Options that override it (CLI: ``--no-register`` = identity, ``--translate x,y,z`` = identity rotation and this
  translation in mm, ``--verge x,y,z`` = the anal verge in the recording's frame in mm instead of the first tip
  reading, ``--colon FILE`` / ``--seed`` choose the colon the log is registered to).

Arrays: points (..., 3) in m; rotations (3, 3) proper (det +1) acting on column vectors: world = R @ p + t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.colon.asset import MOBILE_SEGMENT_NAMES, SEGMENT_NAMES
from sim.logs.coordinate_log import CoordinateLog, EventLabel

#: Centreline resampling step (m) for the correspondences and the nearest-point search.
CENTRELINE_STEP_M = 0.002
#: Tip samples used by the fit (evenly spread over the insertion); more add time, not accuracy.
MAX_FIT_SAMPLES = 2000
#: ICP iterations of the refinement and the rotation change (rad) below which it stops early.
ICP_ITERATIONS = 30
ICP_TOLERANCE_RAD = 1e-6
#: A recorded point pairs with the nearest centreline point within this arc (m) of the arc its inserted length
#: gives it: wide enough for the loop excess and pleating of colosim's autopilot recordings (0.2 and 0.4 m fit
#: the same), narrow enough that a sigmoid pushed up against the transverse colon does not pair with it (at
#: 0.5 m it did on 5 of the 9 recordings of bench/registration.py --record: tip-path error median 10.3 mm
#: instead of 4.3; with no window, the nearest of all, 12.7 mm).
PAIRING_WINDOW_M = 0.3
#: Nearest centreline points tried before searching the whole window (2 mm apart: about 3 cm of one limb).
NEAREST_CANDIDATES = 16
#: Weight of a correspondence on a mobile segment, a fixed one's being 1 (`fixity_weights`). Tip-path error
#: median over the 9 recordings of bench/registration.py --record: 10.1 mm at 1 (all segments alike), 5.3 mm at
#: 0.5, 4.3 mm at 0.3, 6.2 mm at 0.2, 10.5 mm at 0.1, and 18.8 mm at the scene's tether compliance ratio (1/120):
#: with the mobile parts all but ignored, what is left (often a straight rectum alone) does not fix the rotation.
MOBILE_SEGMENT_WEIGHT = 0.3
#: A sample whose shaft lies this far (m, median over its shaft coils) from the insertion front counts half
#: (`loop_weights`). Without these weights the 30 s autopilot insertion that loops in the sigmoid registers with a
#: 22.0 mm tip-path error instead of 12.8 (median over the 9: 4.1 mm instead of 4.3); 0.01 m: 11.7 (5.6), 0.04 m:
#: 16.7 (4.1).
LOOP_DEVIATION_SCALE_M = 0.02


@dataclass(frozen=True)
class Registration:
    """A rigid transform recording -> world: ``world = rotation @ p + translation_m``.

    rotation (3, 3) proper rotation; translation_m (3,) m; method: how it was obtained ("identity", "translate",
    "kabsch", "kabsch+icp"); rms_to_centreline_m: RMS distance of the registered fit points (every coil inside
    the body) to the centreline, each to its nearest point within PAIRING_WINDOW_M of its arc (NaN when not
    measured), the fit's quality figure.
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


def kabsch(source_m: np.ndarray, target_m: np.ndarray, *, about_origin: bool = False,
           weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid transform taking `source_m` (N, 3) onto `target_m` (N, 3) (paired rows).

    Returns (R (3, 3), t (3,)) with target ≈ source @ R.T + t. about_origin: rotation only (t = 0), for points
    already expressed relative to a fixed point. weights: (N,) >= 0, each pair's weight in the sum of squares
    (None: all 1).
    """
    src = np.asarray(source_m, dtype=float)
    dst = np.asarray(target_m, dtype=float)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or src.shape[0] < 3:
        raise ValueError(f"kabsch needs two (N >= 3, 3) arrays of the same shape, got {src.shape} and {dst.shape}")
    w = np.ones(src.shape[0]) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if w.shape[0] != src.shape[0] or not np.all(w >= 0.0) or not w.sum() > 0.0:
        raise ValueError(f"kabsch needs {src.shape[0]} non-negative weights with a positive sum")
    if about_origin:
        src_c, dst_c = np.zeros(3), np.zeros(3)
    else:
        src_c, dst_c = w @ src / w.sum(), w @ dst / w.sum()
    h = ((src - src_c) * w[:, None]).T @ (dst - dst_c)
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


def recording_verge(log: CoordinateLog, verge_m: np.ndarray | None = None) -> np.ndarray:
    """The anal verge (3,) in the recording's frame: `verge_m` when given (a recording that starts with the scope
    already in), else the first tip reading (`start_index`)."""
    return log.tip_m[start_index(log)] if verge_m is None else np.asarray(verge_m, dtype=float).reshape(3)


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


def front_path(length_m: np.ndarray, tip_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The insertion front: the tip position when the inserted length first reached each new maximum.

    length_m (N,) inserted length of each sample (m, finite); tip_m (N, 3). Returns (arc (F,) increasing, points
    (F, 3)): where the tip was when it first got that deep, the path a shaft that follows the leader through a
    colon that has not moved since would lie along.
    """
    reached = np.maximum.accumulate(length_m)
    new = np.concatenate(([True], length_m[1:] > reached[:-1]))
    return length_m[new], tip_m[new]


def loop_weights(deviation_m: np.ndarray) -> np.ndarray:
    """(N,) weight of each sample from its shaft's median deviation (m, (N,)) from the insertion front: 1 on the
    front, 1/2 at LOOP_DEVIATION_SCALE_M (Cauchy)."""
    return 1.0 / (1.0 + (np.asarray(deviation_m, dtype=float) / LOOP_DEVIATION_SCALE_M) ** 2)


def nearest_within_arc(points_m: np.ndarray, s_m: np.ndarray, centre_m: np.ndarray, s_grid_m: np.ndarray,
                       tree, window_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The nearest centreline point to each point among those within `window_m` of arc of its own `s_m`.

    points_m (P, 3); s_m (P,) each point's expected arc length; centre_m (Q, 3) the centreline at arc s_grid_m (Q,)
    (evenly spaced); tree: a cKDTree of centre_m. Returns (distance (P,) m, index (P,) into centre_m).
    """
    rows = np.arange(len(points_m))
    k = min(NEAREST_CANDIDATES, len(centre_m))
    dist, idx = tree.query(points_m, k=k)
    dist, idx = dist.reshape(len(points_m), k), idx.reshape(len(points_m), k)
    inside = np.abs(s_grid_m[idx] - s_m[:, None]) <= window_m
    first = np.argmax(inside, axis=1)  # the candidates come nearest first
    best_d, best_i = dist[rows, first], idx[rows, first]
    # No nearby centreline point in the window (a coil pushed against another part of the colon, e.g. the sigmoid
    # against the transverse): search the window itself.
    missing = np.flatnonzero(~inside[rows, first])
    step = s_grid_m[1] - s_grid_m[0] if len(s_grid_m) > 1 else 1.0
    span = np.arange(int(math.ceil(2.0 * window_m / step)) + 1)
    for chunk in np.array_split(missing, max(1, math.ceil(missing.size / 2000))):
        if chunk.size == 0:
            continue
        lo = np.searchsorted(s_grid_m, s_m[chunk] - window_m)
        cand = np.minimum(lo[:, None] + span[None, :], len(s_grid_m) - 1)  # (C, W)
        d2 = np.sum((centre_m[cand] - points_m[chunk, None, :]) ** 2, axis=2)
        # Near the verge the span runs past s + window_m: keep it to the window (the first one always is in it).
        d2[np.abs(s_grid_m[cand] - s_m[chunk, None]) > window_m] = np.inf
        j = np.argmin(d2, axis=1)
        best_d[chunk] = np.sqrt(d2[np.arange(chunk.size), j])
        best_i[chunk] = cand[np.arange(chunk.size), j]
    return best_d, best_i


def insertion_samples(log: CoordinateLog, verge_m: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The insertion part of `log` that a registration fits: (inserted length (N,) m of every sample, NaN where
    unknown; indices (M,) of the insertion samples with a tip and a length, from `start_index` up to the first
    ``Cecum``, else up to the deepest inserted length). verge_m (3,): the anal verge in the recording's frame
    (`recording_verge`)."""
    from sim.scoring.samples import inserted_length_from_coils

    first = start_index(log)
    length = inserted_length_from_coils(log.coils_m, recording_verge(log, verge_m))
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
    return length, idx[ok[idx]]


def fit_registration(log: CoordinateLog, centreline_m: np.ndarray, *, refine: bool = True,
                     centreline_weights: np.ndarray | None = None, verge_m: np.ndarray | None = None) -> Registration:
    """Register `log` to a colon with centreline `centreline_m` (M, 3), first point the anal verge (module doc).

    centreline_weights: (M,) how much a recorded point paired with each centreline point counts (`fixity_weights`:
    1 where the colon is fixed, MOBILE_SEGMENT_WEIGHT where the mesentery lets it move); None: all 1. Uses the
    insertion part of the log (up to the first ``Cecum``, else up to the deepest inserted length); at most
    MAX_FIT_SAMPLES samples of it, evenly spread. verge_m (3,): the anal verge in the recording's frame, for a
    recording that does not start with the tip there (default: the first tip reading). Raises ValueError (naming
    the folder) when the path is too short or straight to fix a rotation.
    """
    from scipy.spatial import cKDTree

    verge_rec = recording_verge(log, verge_m)
    s_grid, centre = resample_polyline(centreline_m, CENTRELINE_STEP_M)
    if centreline_weights is None:
        w_centre = np.ones(s_grid.size)
    else:
        given = np.asarray(centreline_weights, dtype=float).reshape(-1)
        cl = np.asarray(centreline_m, dtype=float)
        if given.shape[0] != cl.shape[0] or not np.all(given >= 0.0) or not given.max() > 0.0:
            raise ValueError(f"centreline_weights: need {cl.shape[0]} non-negative weights, not all 0 (one per "
                             f"centreline point), got shape {given.shape}")
        s_cl = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(cl, axis=0), axis=1))))
        w_centre = np.interp(s_grid, s_cl, given)
    verge_world = centre[0]
    length, idx = insertion_samples(log, verge_rec)
    if idx.size < 3:
        raise ValueError(f"{log.folder or 'coordinate log'}: fewer than 3 tip samples during the insertion; cannot "
                         "fit a registration (use --translate or --no-register)")
    # The front from every insertion sample (not only the ones fitted), so it is as fine as the recording.
    front_s, front_p = front_path(length[idx], log.tip_m[idx])
    if idx.size > MAX_FIT_SAMPLES:
        idx = idx[np.linspace(0, idx.size - 1, MAX_FIT_SAMPLES).round().astype(int)]
    # Every coil inside the body is a point of the shaft in the lumen: coil k of a sample with inserted length l
    # lies at about s = l - arc_k along the colon. All of them, not only the tip, span the colon the shaft fills,
    # which pins the rotation much better than a short tip path (measured below, `fit_registration` doc).
    arc = _coil_arcs(log)
    pts_rec, s_pts, w_loop = [], [], []
    for i in idx:
        s_coil = length[i] - arc
        inside = (s_coil >= 0.0) & np.all(np.isfinite(log.coils_m[i]), axis=1)
        pts_rec.append(log.coils_m[i][inside])
        s_pts.append(s_coil[inside])
        # A shaft that has left the path its tip took (a loop bowing out, or a reduction pleating the colon onto
        # it) shows that the mobile colon has moved since: the whole sample counts less. Shaft coils only: the
        # tip is always on the front while it advances, moved colon or not.
        shaft = inside.copy()
        shaft[0] = False
        deviation = 0.0
        if shaft.any():
            on_front = np.stack([np.interp(s_coil[shaft], front_s, front_p[:, a]) for a in range(3)], axis=1)
            deviation = float(np.median(np.linalg.norm(log.coils_m[i][shaft] - on_front, axis=1)))
        w_loop.append(np.full(int(inside.sum()), loop_weights(deviation)))
    pts = np.concatenate(pts_rec)
    s_pts = np.clip(np.concatenate(s_pts), 0.0, s_grid[-1])
    w_loop = np.concatenate(w_loop)
    paired = np.stack([np.interp(s_pts, s_grid, centre[:, a]) for a in range(3)], axis=1)
    spread = np.linalg.svd(pts - verge_rec, compute_uv=False)
    if spread[1] < 1e-3 * max(spread[0], 1e-12):
        raise ValueError(f"{log.folder or 'coordinate log'}: the recorded shaft is a straight line; its rotation "
                         "about the verge is undetermined (use --translate or --no-register)")
    weights = w_loop * np.interp(s_pts, s_grid, w_centre)
    if not weights.sum() > 0.0:
        weights = w_loop  # every point on a weight-0 stretch of the centreline: fall back to the loop weights
    r, _ = kabsch(pts - verge_rec, paired - verge_world, about_origin=True, weights=weights)
    t = verge_world - r @ verge_rec
    method = "kabsch"
    tree = cKDTree(centre)
    if refine:
        for _ in range(ICP_ITERATIONS):
            moved = pts @ r.T + t
            # The nearest centreline point within PAIRING_WINDOW_M of the point's own arc: the unrestricted
            # nearest paired a sigmoid pushed up against the transverse colon with the transverse (module doc).
            _, nearest = nearest_within_arc(moved, s_pts, centre, s_grid, tree, PAIRING_WINDOW_M)
            # The weights stay those of the arc the inserted length gives: weighting by the nearest point's
            # segment gave a sigmoid coil pushed onto the descending colon the descending's full weight (tip-path
            # error median 8.8 mm instead of 4.3 on bench/registration.py --record).
            dr, dt = kabsch(moved, centre[nearest], weights=weights)
            r, t = dr @ r, dr @ t + dt
            if math.acos(np.clip((np.trace(dr) - 1.0) / 2.0, -1.0, 1.0)) < ICP_TOLERANCE_RAD:
                break
        method = "kabsch+icp"
    dist, _ = nearest_within_arc(pts @ r.T + t, s_pts, centre, s_grid, tree, PAIRING_WINDOW_M)
    return Registration(r, t, method, float(np.sqrt(np.mean(dist ** 2))))


def segment_weights(segment_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """(N,) correspondence weight of each of N centreline points named by segment: MOBILE_SEGMENT_WEIGHT on the
    MOBILE_SEGMENT_NAMES (sim.colon.asset), 1 elsewhere (the retroperitoneal and ligament-held parts)."""
    return np.array([MOBILE_SEGMENT_WEIGHT if name in MOBILE_SEGMENT_NAMES else 1.0 for name in segment_names])


def fixity_weights(asset) -> np.ndarray:
    """(N,) `segment_weights` of the N centreline points (rings) of `asset` (a `sim.colon.asset.ColonAsset`), for
    `fit_registration`'s centreline_weights."""
    return segment_weights([SEGMENT_NAMES[k] for k in np.asarray(asset.ring_segment)])


def register_log(log: CoordinateLog, centreline_m: np.ndarray, *, colosim_recording: bool,
                 translate_m: np.ndarray | None = None, register: bool = True,
                 centreline_weights: np.ndarray | None = None, verge_m: np.ndarray | None = None) -> Registration:
    """The documented default with its overrides (module doc): `translate_m` (3,) wins, then `register=False`
    (identity), then identity for a colosim recording, else `fit_registration` (with `centreline_weights` (M,),
    `fixity_weights` of the colon asset when the caller has it, and `verge_m` (3,), the anal verge in the
    recording's frame when the recording does not start at it)."""
    if translate_m is not None:
        return translation_registration(translate_m)
    if not register or colosim_recording:
        return identity_registration()
    return fit_registration(log, centreline_m, centreline_weights=centreline_weights, verge_m=verge_m)
