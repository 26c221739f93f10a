"""Compile C sources with the host compiler into a shared library for ctypes tests.

Strict flags as the host tier requires: -std=c99 -Wall -Wextra -Werror. Builds
are cached per set of sources and flags under tests/.cbuild/ (git-ignored), so a
suite compiles each library once.

Sanitized variant: in a process started with `sanitized_env()` (TC_HOST_SANITIZE=1,
ASan's runtime preloaded), every library is also built with SANITIZERS, so the same
tests run the kernels under AddressSanitizer and UndefinedBehaviorSanitizer; the
first error aborts the process (tests/test_sanitizers_host.py).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "firmware" / "runtime"
CACHE = Path(__file__).resolve().parent / ".cbuild"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
SANITIZE_VAR = "TC_HOST_SANITIZE"


def host_cc() -> str:
    """The host C compiler; fails loudly (never skips) when there is none."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no host C compiler: apt-get install gcc")
    return cc


def variant_flags() -> list[str]:
    """Flags of this process's build variant: SANITIZERS under TC_HOST_SANITIZE=1, else none."""
    return SANITIZERS if os.environ.get(SANITIZE_VAR) == "1" else []


def sanitized_env() -> dict[str, str]:
    """Environment of a child process whose `build_shared` libraries run sanitized.

    ASan's runtime must be loaded before libc's malloc is bound, so it is preloaded
    into the (uninstrumented) Python; then numpy's buffers get red zones too. Leak
    checks are off: the interpreter's own allocations at exit are not the kernels'.
    """
    asan = subprocess.run([host_cc(), "-print-file-name=libasan.so"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not Path(asan).is_file():
        raise RuntimeError(f"no ASan runtime for {host_cc()} ({asan!r}): apt-get install libasan8")
    return dict(os.environ, LD_PRELOAD=asan, ASAN_OPTIONS="detect_leaks=0",
                UBSAN_OPTIONS="print_stacktrace=1", **{SANITIZE_VAR: "1"})


def build_shared(sources: list[Path], include_dirs: list[Path] = (), extra_flags=()) -> ctypes.CDLL:
    """Compile `sources` into a shared library (this process's variant) and load it."""
    include_dirs = [RUNTIME / "include", *include_dirs]
    extra_flags = [*extra_flags, *variant_flags()]
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
