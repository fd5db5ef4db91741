"""Read a triangulated surface from the files segmentation tools and anatomy atlases write.

trimesh reads STL, OBJ, PLY, OFF and glTF/GLB. Legacy VTK files (`.vtk`, ASCII or binary) are what anatomy
atlases ship: their POLYDATA datasets are read here (`read_legacy_vtk_polydata`), because meshio 5 reads only the
grid datasets of legacy VTK ("Only VTK 'UNSTRUCTURED_GRID', ... supported (not POLYDATA)"); meshio still reads the
other legacy datasets (an unstructured grid of triangles, which is what meshio itself writes). Either way the
result is one `trimesh.Trimesh` of triangles in the file's own frame and units (conversion to the LPS metre world
frame is the importer's job, DESIGN.md "Units and frames"). Errors are `ColonImportError` naming the file and what
was wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Suffixes trimesh reads for us.
TRIMESH_SUFFIXES: tuple[str, ...] = (".stl", ".obj", ".ply", ".off", ".glb", ".gltf")
#: Legacy VTK: POLYDATA read here, other datasets through meshio.
VTK_SUFFIXES: tuple[str, ...] = (".vtk",)
SUPPORTED_SUFFIXES: tuple[str, ...] = TRIMESH_SUFFIXES + VTK_SUFFIXES


class ColonImportError(ValueError):
    """A surface could not be turned into a colon asset; the message names the file and the problem."""


class ColonImportWarning(UserWarning):
    """A surface was repaired or interpreted during import (units guessed, holes filled, parts dropped...)."""


def read_surface(path: str | Path):
    """Read the triangles of a surface file.

    path: a file with one of SUPPORTED_SUFFIXES (case-insensitive). Polygons with more than three corners are
    triangulated (trimesh does it for its formats; VTK polygons are fanned from their first corner, which is exact
    for the convex polygons meshing tools write). Points, lines and volume cells are ignored.
    Returns a `trimesh.Trimesh` (process=False: vertices exactly as stored, duplicate corners not merged yet).
    Raises ColonImportError if the file is missing, has an unsupported suffix, cannot be parsed, or holds no
    triangles.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ColonImportError(f"{path}: unsupported mesh format '{path.suffix or '(no suffix)'}'; supported: "
                               f"{', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise ColonImportError(f"{path}: file not found")
    if suffix in VTK_SUFFIXES:
        vertices, faces = _read_vtk(path)
    else:
        vertices, faces = _read_with_trimesh(path)
    import trimesh

    if len(faces) == 0:
        raise ColonImportError(f"{path}: no triangles in the file (a colon surface needs a triangle mesh)")
    if not np.all(np.isfinite(vertices)):
        raise ColonImportError(f"{path}: vertex coordinates include NaN or infinity")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ColonImportError(f"{path}: triangle corner indices outside [0, {len(vertices)})")
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


def _read_with_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    try:
        # force="mesh" concatenates the geometry of a scene (GLB, multi-object OBJ) into one mesh.
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for bad files: report them all the same way
        raise ColonImportError(f"{path}: cannot read as {path.suffix.lower()[1:].upper()} ({exc})") from exc
    faces = np.asarray(getattr(loaded, "faces", np.empty((0, 3))), dtype=np.int64).reshape(-1, 3)
    vertices = np.asarray(getattr(loaded, "vertices", np.empty((0, 3))), dtype=np.float64).reshape(-1, 3)
    return vertices, faces


def _read_vtk(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if b"POLYDATA" in head.upper():
        try:
            return read_legacy_vtk_polydata(path)
        except (ValueError, IndexError, KeyError) as exc:
            raise ColonImportError(f"{path}: cannot read as legacy VTK polydata ({exc})") from exc
    return _read_with_meshio(path)


_VTK_TYPES = {"float": "f4", "double": "f8", "int": "i4", "unsigned_int": "u4", "long": "i8",
              "unsigned_long": "u8", "short": "i2", "unsigned_short": "u2", "char": "i1", "unsigned_char": "u1",
              "vtktypeint64": "i8", "vtktypeint32": "i4", "vtktypeuint64": "u8", "vtktypeuint32": "u4"}
_VTK_CELL_KEYWORDS = ("VERTICES", "LINES", "POLYGONS", "TRIANGLE_STRIPS")


class _VtkCursor:
    """Reads a legacy VTK file: keyword lines, then values as ASCII tokens or big-endian binary blocks."""

    def __init__(self, data: bytes, binary: bool, pos: int):
        self.data, self.binary, self.pos = data, binary, pos

    def line(self) -> str:
        """Next non-blank line, stripped ('' at the end of the file)."""
        while self.pos < len(self.data):
            end = self.data.find(b"\n", self.pos)
            end = len(self.data) if end < 0 else end
            text = self.data[self.pos:end].decode("ascii", errors="replace").strip()
            self.pos = end + 1
            if text:
                return text
        return ""

    def values(self, count: int, vtk_type: str) -> np.ndarray:
        code = _VTK_TYPES[vtk_type.lower()]
        if self.binary:
            size = np.dtype(code).itemsize * count
            if self.pos + size > len(self.data):
                raise ValueError(f"file ends inside a binary block of {count} {vtk_type} values")
            out = np.frombuffer(self.data, dtype=">" + code, count=count, offset=self.pos).astype(code)
            self.pos += size
            return out
        out = []
        n = 0
        while n < count:  # ASCII values run over as many lines as it takes
            text = self.line()
            if not text:
                raise ValueError(f"file ends after {n} of {count} {vtk_type} values")
            row = np.array(text.split(), dtype=np.float64)
            out.append(row)
            n += len(row)
        flat = np.concatenate(out)
        if len(flat) != count:
            raise ValueError(f"expected {count} {vtk_type} values, found {len(flat)}")
        return flat.astype(code)


def read_legacy_vtk_polydata(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Points and triangles of a legacy VTK POLYDATA file, ASCII or binary, layout 2.0-4.2 or 5.1.

    POLYGONS are fanned into triangles, TRIANGLE_STRIPS unrolled; VERTICES and LINES are skipped; point and cell
    data are ignored. Returns (vertices (V, 3) float64, faces (F, 3) int64). Raises ValueError on a malformed file.
    """
    data = Path(path).read_bytes()
    cur = _VtkCursor(data, False, 0)
    if not cur.line().lower().startswith("# vtk datafile"):
        raise ValueError("missing '# vtk DataFile Version' header")
    cur.line()  # title
    fmt = cur.line().upper()
    if fmt not in ("ASCII", "BINARY"):
        raise ValueError(f"third line must be ASCII or BINARY, got {fmt!r}")
    cur.binary = fmt == "BINARY"
    dataset = cur.line().split()
    if dataset[:2] != ["DATASET", "POLYDATA"]:
        raise ValueError(f"expected 'DATASET POLYDATA', got {' '.join(dataset)!r}")
    vertices = None
    faces: list[np.ndarray] = []
    while True:
        words = cur.line().split()
        if not words or words[0].upper() in ("POINT_DATA", "CELL_DATA", "FIELD"):
            break
        key = words[0].upper()
        if key == "POINTS":
            n = int(words[1])
            vertices = cur.values(3 * n, words[2]).astype(np.float64).reshape(n, 3)
        elif key in _VTK_CELL_KEYWORDS:
            n_cells, size = int(words[1]), int(words[2])
            pos = cur.pos
            nxt = cur.line().split()
            if nxt and nxt[0].upper() == "OFFSETS":  # layout 5.1: offsets (cells + 1) then connectivity
                offsets = cur.values(n_cells, nxt[1]).astype(np.int64)
                conn_words = cur.line().split()
                flat = cur.values(size, conn_words[1]).astype(np.int64)
                starts, counts = offsets[:-1], np.diff(offsets)
            else:  # layout <= 4.2: each cell is its corner count then its corners
                cur.pos = pos
                flat = cur.values(size, "int").astype(np.int64)
                starts, counts = _counted_cells(flat, n_cells)
            if key == "POLYGONS":
                faces.append(_fan_cells(flat, starts, counts))
            elif key == "TRIANGLE_STRIPS":
                faces.extend(_unroll_strip(flat[a:a + k]) for a, k in zip(starts, counts) if k >= 3)
        elif key == "METADATA":
            while cur.line().strip():  # VTK 5.1 metadata block: skip to the next keyword we know
                peek = cur.pos
                nxt = cur.line().split()
                cur.pos = peek
                if nxt and nxt[0].upper() in ("POINTS", "POINT_DATA", "CELL_DATA") + _VTK_CELL_KEYWORDS:
                    break
        else:
            raise ValueError(f"unexpected keyword {words[0]!r}")
    if vertices is None:
        raise ValueError("no POINTS section")
    tris = np.concatenate(faces) if faces else np.empty((0, 3), dtype=np.int64)
    return vertices, tris.astype(np.int64)


def _counted_cells(flat: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (P,) and corner count (P,) of each cell in the legacy [k, i1..ik, k, ...] layout."""
    if len(flat) == 4 * n_cells and np.all(flat[0::4] == 3):  # all triangles, the usual case
        return np.arange(n_cells) * 4 + 1, np.full(n_cells, 3)
    starts, counts, i = np.empty(n_cells, dtype=np.int64), np.empty(n_cells, dtype=np.int64), 0
    for c in range(n_cells):  # mixed sizes: walk the counts (one step per polygon, not per vertex)
        counts[c] = flat[i]
        starts[c] = i + 1
        i += int(flat[i]) + 1
    return starts, counts


def _fan_cells(flat: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Triangles of polygons (corners flat[start:start + count]) fanned from each first corner, in file order.

    Returns (sum(count - 2), 3) int64; cells with fewer than 3 corners give none.
    """
    n_tri = np.clip(counts - 2, 0, None)
    cell = np.repeat(np.arange(len(counts)), n_tri)
    j = np.arange(len(cell)) - np.repeat(np.cumsum(n_tri) - n_tri, n_tri) + 1
    base = starts[cell]
    return np.stack([flat[base], flat[base + j], flat[base + j + 1]], axis=-1)


def _unroll_strip(strip: np.ndarray) -> np.ndarray:
    """Triangles (len - 2, 3) of a triangle strip, every other one flipped to keep the winding."""
    i = np.arange(len(strip) - 2)
    tris = np.stack([strip[i], strip[i + 1], strip[i + 2]], axis=-1)
    odd = i % 2 == 1
    tris[odd] = tris[odd][:, [1, 0, 2]]
    return tris


def _read_with_meshio(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import meshio

    try:
        mesh = meshio.read(path)
    except Exception as exc:  # meshio raises ReadError, ValueError, struct errors... for bad files
        raise ColonImportError(f"{path}: cannot read as VTK polydata ({exc})") from exc
    vertices = np.asarray(mesh.points, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] not in (2, 3):
        raise ColonImportError(f"{path}: points must be 3-D, got shape {vertices.shape}")
    if vertices.shape[1] == 2:
        vertices = np.column_stack([vertices, np.zeros(len(vertices))])
    blocks = []
    for block in mesh.cells:
        cells = np.asarray(block.data)
        if block.type in ("triangle", "quad") or block.type.startswith("polygon"):
            blocks.append(fan_triangulate(cells))
    faces = np.concatenate(blocks) if blocks else np.empty((0, 3), dtype=np.int64)
    return vertices, faces


def fan_triangulate(polygons: np.ndarray) -> np.ndarray:
    """Split polygons with K >= 3 corners into K - 2 triangles fanned from the first corner.

    polygons: (P, K) int corner indices. Returns (P * (K - 2), 3) int64, polygon by polygon, winding kept.
    """
    polygons = np.asarray(polygons, dtype=np.int64)
    k = polygons.shape[1]
    if k < 3:
        return np.empty((0, 3), dtype=np.int64)
    j = np.arange(1, k - 1)
    tris = np.stack([np.broadcast_to(polygons[:, :1], (len(polygons), k - 2)), polygons[:, j], polygons[:, j + 1]],
                    axis=-1)
    return tris.reshape(-1, 3)
