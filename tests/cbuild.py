"""Compile C sources with the host compiler into a shared library for ctypes tests.

Strict flags as the host tier requires: -std=c99 -Wall -Wextra -Werror. Builds
are cached per set of sources and flags under tests/.cbuild/ (git-ignored), so a
suite compiles each library once.
"""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "firmware" / "runtime"
CACHE = Path(__file__).resolve().parent / ".cbuild"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared"]


def host_cc() -> str:
    """The host C compiler; fails loudly (never skips) when there is none."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no host C compiler: apt-get install gcc")
    return cc


def build_shared(sources: list[Path], include_dirs: list[Path] = (), extra_flags=()) -> ctypes.CDLL:
    """Compile `sources` into a shared library and load it."""
    include_dirs = [RUNTIME / "include", *include_dirs]
    key = hashlib.sha256()
    for src in sorted(map(Path, sources)):
        key.update(src.read_bytes())
    for inc in include_dirs:
        for hdr in sorted(Path(inc).glob("*.h")):
            key.update(hdr.read_bytes())
    key.update(" ".join([*STRICT, *extra_flags]).encode())
    out = CACHE / f"lib{key.hexdigest()[:16]}.so"
    if not out.exists():
        CACHE.mkdir(exist_ok=True)
        cmd = [host_cc(), *STRICT, *extra_flags, *[f"-I{d}" for d in include_dirs],
               *map(str, sources), "-o", str(out) + ".tmp"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"C compile failed:\n{' '.join(cmd)}\n{proc.stderr}")
        Path(str(out) + ".tmp").rename(out)
    return ctypes.CDLL(str(out))


def ptr(array: np.ndarray) -> ctypes.c_void_p:
    """A C pointer to a C-contiguous numpy array's data."""
    assert array.flags["C_CONTIGUOUS"], "array must be C-contiguous"
    return ctypes.c_void_p(array.ctypes.data)
