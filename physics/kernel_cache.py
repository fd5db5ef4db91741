"""Where numba keeps compiled kernels: one cache directory per version of the kernel sources.

numba's on-disk cache (`cache=True`) checks only the source file of the function it compiled. A kernel that calls a
function from another module (the world step calls colon, contact and rod kernels) keeps the old callee after that
module changes: stale machine code with new argument layouts segfaulted three times while this project was built.
Keying the cache directory on a hash of every source file that defines kernels makes any change start a fresh
cache (a full compile, about a minute) instead of a crash. An explicit NUMBA_CACHE_DIR is left alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Packages whose .py files are hashed (relative to the folder holding `physics/`).
_KERNEL_PACKAGES = ("physics", "sim")


def kernel_source_digest(root: Path) -> str:
    """SHA-256 (first 16 hex digits) of the .py files under root/physics and root/sim that use numba, in path
    order."""
    digest = hashlib.sha256()
    for package in _KERNEL_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            data = path.read_bytes()
            if b"numba" in data:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(data)
    return digest.hexdigest()[:16]


def configure_kernel_cache() -> None:
    """Point numba's cache at ~/.cache/colosim/numba/<digest> (XDG_CACHE_HOME honoured) unless NUMBA_CACHE_DIR is
    set. Must run before the first kernel is decorated: `physics/__init__.py` calls it."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    import numba

    root = Path(__file__).resolve().parent.parent
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "colosim" / "numba"
    numba.config.CACHE_DIR = str(base / kernel_source_digest(root))
