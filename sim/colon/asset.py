"""The colon asset: a generalised cylinder along a centreline plus its full-resolution surface mesh.

This record is the contract between the colon sources (procedural generator, mesh importer) and everything that
uses a colon (physics builders, rendering, coverage, scoring). See DESIGN.md, "Colon body: a generalised cylinder".

Conventions
- World frame: patient frame with DICOM LPS axes (x to the patient's left, y posterior, z cranial), metres,
  origin at the anal verge for procedural colons (anatomy.md, "Frame").
- `s` is arc length along the centreline: 0 at the anal verge, `length_m` at the cecal pole.
- `theta` is the angle around the centreline, measured from the ring's `normal` toward its `binormal`.
- A surface point is `centreline(s) + r(s, theta) * (cos(theta) * normal(s) + sin(theta) * binormal(s))`.
- Each mesh vertex carries skinning coordinates `(s, theta, offset)`: the ring it belongs to, its angle, and its
  distance from the centreline in that ring's plane (metres). Physics moves the grid; the render mesh follows
  through these coordinates.

On disk an asset is a mesh file (PLY, OBJ, STL or GLB, for other tools) plus one sidecar `<stem>.colon.npz`
holding every array exactly (float64) and a JSON header. Loading reads the sidecar and checks that the mesh
file beside it still has the same surface.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Segment labels in insertion order from the anal verge (DESIGN.md, Colon body; anatomy.md, Segments).
SEGMENT_NAMES: tuple[str, ...] = (
    "anal_canal",
    "rectum",
    "sigmoid",
    "descending",
    "splenic_flexure",
    "transverse",
    "hepatic_flexure",
    "ascending",
    "cecum",
)

#: Segments hung on a mesentery, which a scope's load moves centimetres to tens of centimetres; the others are held
#: to millimetres by the retroperitoneum and ligaments (anatomy.md Mechanics, "mesentery support").
MOBILE_SEGMENT_NAMES: tuple[str, ...] = ("sigmoid", "transverse")

#: Landmarks every colon asset names, in insertion order (DESIGN.md, Colon body; anatomy.md, Frame and Segments).
LANDMARK_NAMES: tuple[str, ...] = (
    "anal_verge",
    "rectal_valve_1",
    "rectal_valve_2",
    "rectal_valve_3",
    "rectosigmoid_junction",
    "sigmoid_apex",
    "sigmoid_descending_junction",
    "splenic_flexure",
    "transverse_low_point",
    "hepatic_flexure",
    "ileocecal_valve",
    "appendiceal_orifice",
    "cecal_pole",
)

SIDECAR_SUFFIX = ".colon.npz"
MESH_SUFFIXES = (".ply", ".obj", ".stl", ".glb")
_FORMAT_VERSION = 1


@dataclass
class Landmark:
    """A named place on the colon: its arc length `s_m` and a point `position_m` (3,) in the world frame.

    Wall landmarks (valves, orifices) have their position on the wall; the others on the centreline.
    """

    name: str
    s_m: float
    position_m: np.ndarray


@dataclass
class ColonAsset:
    """A colon as a generalised cylinder with its render mesh. Arrays are float64 unless noted.

    N rings along the centreline, M samples around, V mesh vertices, F triangles.
    """

    centreline_m: np.ndarray  # (N, 3) ring centres
    s_m: np.ndarray  # (N,) arc length of each ring, increasing, 0 at the anal verge
    tangent: np.ndarray  # (N, 3) unit
    normal: np.ndarray  # (N, 3) unit, parallel-transported
    binormal: np.ndarray  # (N, 3) unit, tangent x normal
    theta_rad: np.ndarray  # (M,) angles around, 2*pi*k/M
    radius_m: np.ndarray  # (N, M) rest surface offset r(s, theta)
    ring_segment: np.ndarray  # (N,) int8, index into SEGMENT_NAMES
    landmarks: dict[str, Landmark]
    vertices_m: np.ndarray  # (V, 3) render mesh
    faces: np.ndarray  # (F, 3) int64, outward-facing (normals point away from the lumen)
    vertex_s_m: np.ndarray  # (V,)
    vertex_theta_rad: np.ndarray  # (V,)
    vertex_offset_m: np.ndarray  # (V,) distance from the centreline in the ring plane
    vertex_segment: np.ndarray  # (V,) int8
    #: 4x4 homogeneous transform from the source's frame and units to the LPS metre frame.
    source_to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    #: JSON-serialisable description of where the asset came from (generator parameters and seed, or the
    #: imported file and the options used), shown by `colosim colon info`.
    source: dict = field(default_factory=dict)

    # ---- derived figures -------------------------------------------------------------------------------------
    @property
    def length_m(self) -> float:
        """Centreline length from the anal verge to the cecal pole (m)."""
        return float(self.s_m[-1])

    def segment_ranges(self) -> dict[str, tuple[float, float]]:
        """Arc-length interval (s_start_m, s_end_m) of each segment present, in insertion order.

        A segment's interval runs from its first ring to the first ring of the next segment (the last one to the
        pole), so the intervals tile [0, length_m].
        """
        ranges: dict[str, tuple[float, float]] = {}
        labels = self.ring_segment
        change = np.flatnonzero(np.diff(labels)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [len(labels) - 1]))
        for a, b in zip(starts, ends):
            ranges[SEGMENT_NAMES[labels[a]]] = (float(self.s_m[a]), float(self.s_m[b]))
        return ranges

    def segment_lengths(self) -> dict[str, float]:
        """Length (m) of each segment present."""
        return {name: b - a for name, (a, b) in self.segment_ranges().items()}

    def mean_radius_m(self) -> np.ndarray:
        """Mean of r(s, theta) around each ring. Returns (N,)."""
        return self.radius_m.mean(axis=1)

    def segment_at(self, s_m: np.ndarray | float) -> np.ndarray:
        """Segment index (into SEGMENT_NAMES) of the ring at or before each arc length. Returns int array."""
        idx = np.clip(np.searchsorted(self.s_m, s_m, side="right") - 1, 0, len(self.s_m) - 1)
        return self.ring_segment[idx]

    def centreline_at(self, s_m: np.ndarray | float) -> np.ndarray:
        """Centreline point(s) at arc length(s), linear between rings. Returns (..., 3)."""
        s = np.clip(np.asarray(s_m, dtype=np.float64), self.s_m[0], self.s_m[-1])
        return np.stack([np.interp(s, self.s_m, self.centreline_m[:, k]) for k in range(3)], axis=-1)

    def check(self) -> None:
        """Raise ValueError naming the first field whose shape or content breaks the contract above."""
        n, m = len(self.s_m), len(self.theta_rad)
        v, f = len(self.vertices_m), len(self.faces)
        expected = {
            "centreline_m": (n, 3), "tangent": (n, 3), "normal": (n, 3), "binormal": (n, 3),
            "radius_m": (n, m), "ring_segment": (n,), "vertices_m": (v, 3), "faces": (f, 3),
            "vertex_s_m": (v,), "vertex_theta_rad": (v,), "vertex_offset_m": (v,), "vertex_segment": (v,),
            "source_to_world": (4, 4),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"ColonAsset.{name}: expected shape {shape}, got {got}")
        if n < 2 or np.any(np.diff(self.s_m) <= 0):
            raise ValueError("ColonAsset.s_m: expected at least 2 strictly increasing arc lengths")
        if np.any(self.radius_m < 0):
            raise ValueError("ColonAsset.radius_m: expected radii >= 0")
        if f and (self.faces.min() < 0 or self.faces.max() >= v):
            raise ValueError(f"ColonAsset.faces: indices must lie in [0, {v})")
        missing = [name for name in LANDMARK_NAMES if name not in self.landmarks]
        if missing:
            raise ValueError(f"ColonAsset.landmarks: missing {', '.join(missing)}")

    # ---- files -----------------------------------------------------------------------------------------------
    def save(self, mesh_path: str | Path) -> tuple[Path, Path]:
        """Write the mesh file (format from its suffix) and the sidecar beside it. Returns both paths.

        Both are written to temporary names and renamed into place, so an interrupted save never leaves a
        half-written asset under the final names.
        """
        import trimesh

        mesh_path = Path(mesh_path)
        if mesh_path.suffix.lower() not in MESH_SUFFIXES:
            raise ValueError(f"{mesh_path}: mesh suffix must be one of {', '.join(MESH_SUFFIXES)}")
        self.check()
        mesh_path.parent.mkdir(parents=True, exist_ok=True)
        side = sidecar_path(mesh_path)
        tmp_mesh = mesh_path.with_name(mesh_path.name + ".tmp" + mesh_path.suffix)
        tmp_side = side.with_name(side.name + ".tmp.npz")
        trimesh.Trimesh(self.vertices_m, self.faces, process=False).export(tmp_mesh)
        header = {
            "format": "colosim-colon",
            "version": _FORMAT_VERSION,
            "mesh_file": mesh_path.name,
            "segment_names": list(SEGMENT_NAMES),
            "landmarks": {k: {"s_m": lm.s_m, "position_m": list(map(float, lm.position_m))}
                          for k, lm in self.landmarks.items()},
            "source": self.source,
        }
        arrays = {"header": np.array(json.dumps(header)), **{name: getattr(self, name) for name in _ARRAY_FIELDS}}
        _write_npz_reproducibly(tmp_side, arrays)
        tmp_mesh.replace(mesh_path)
        tmp_side.replace(side)
        return mesh_path, side


_ARRAY_FIELDS = (
    "centreline_m", "s_m", "tangent", "normal", "binormal", "theta_rad", "radius_m", "ring_segment",
    "vertices_m", "faces", "vertex_s_m", "vertex_theta_rad", "vertex_offset_m", "vertex_segment",
    "source_to_world",
)


def _write_npz_reproducibly(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz (readable by np.load) whose bytes depend only on the arrays: np.savez stamps the current time
    into each zip entry, which would make identical assets differ on disk."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)


def sidecar_path(mesh_path: str | Path) -> Path:
    """The sidecar that belongs to a mesh file: `colon.ply` -> `colon.colon.npz`."""
    mesh_path = Path(mesh_path)
    return mesh_path.with_name(mesh_path.stem + SIDECAR_SUFFIX)


def load_asset(path: str | Path, check_mesh: bool = True) -> ColonAsset:
    """Load an asset saved by `ColonAsset.save`, given the mesh file or the sidecar.

    With `check_mesh`, the mesh file named in the sidecar must exist and hold the same surface (same triangle
    count and vertices within 1 micrometre, the precision of float32 files); otherwise a ValueError says what
    differs, since an edited mesh needs `colosim colon import` instead.
    """
    path = Path(path)
    side = path if path.name.endswith(SIDECAR_SUFFIX) else sidecar_path(path)
    if not side.exists():
        raise FileNotFoundError(f"{side}: colon sidecar not found (expected beside the mesh file {path.name})")
    try:
        with np.load(side, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {name: data[name] for name in _ARRAY_FIELDS}
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{side}: not a colosim colon sidecar ({exc})") from exc
    if header.get("format") != "colosim-colon" or header.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{side}: field 'format'/'version' must be colosim-colon/{_FORMAT_VERSION}, "
                         f"got {header.get('format')}/{header.get('version')}")
    if tuple(header["segment_names"]) != SEGMENT_NAMES:
        raise ValueError(f"{side}: field 'segment_names' differs from this colosim's {SEGMENT_NAMES}")
    landmarks = {k: Landmark(k, float(v["s_m"]), np.array(v["position_m"], dtype=np.float64))
                 for k, v in header["landmarks"].items()}
    asset = ColonAsset(landmarks=landmarks, source=header.get("source", {}), **arrays)
    asset.check()
    if check_mesh:
        _check_mesh_file(side.with_name(header["mesh_file"]), asset)
    return asset


def _check_mesh_file(mesh_file: Path, asset: ColonAsset) -> None:
    import trimesh

    if not mesh_file.exists():
        raise FileNotFoundError(f"{mesh_file}: mesh file named by the sidecar is missing")
    mesh = trimesh.load(mesh_file, process=False, force="mesh")
    if len(mesh.faces) != len(asset.faces):
        raise ValueError(f"{mesh_file}: has {len(mesh.faces)} triangles, the sidecar {len(asset.faces)}; "
                         "the mesh was edited: re-import it with `colosim colon import`")
    if len(mesh.vertices) == len(asset.vertices_m):
        err = float(np.abs(mesh.vertices - asset.vertices_m).max())
    else:  # formats such as STL store one vertex per corner: compare the corners instead
        err = float(np.abs(mesh.vertices[mesh.faces] - asset.vertices_m[asset.faces]).max())
    if err > 1e-6:
        raise ValueError(f"{mesh_file}: vertices differ from the sidecar by up to {err:.3g} m; "
                         "the mesh was edited: re-import it with `colosim colon import`")
