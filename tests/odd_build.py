"""A session-wide build from and into paths with spaces, both quotes and non-ASCII letters.

The README's digits build (pruned model, small.toml, train/test data), all
copied under such paths, built for nucleo into one and simulated, through the
real command line under umask 022. A plugin (`pytest_plugins =
["tests.odd_build"]`), so that test_paths.py, which checks the result, and
test_interrupt.py, which interrupts QEMU on it, share one build.
"""
from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinycompress.data import DIGITS_MODEL

CLI = Path(sys.executable).with_name("tinycompress")
ODD = "a b 'c\" ü"  # the output's parent: a space, both quotes, non-ASCII
INPUTS = {"model_sparse.keras": "m ö.keras", "small.toml": "s 'p\".toml",
          "train.npz": "tr ä.npz", "test.npz": "te \"ß'.npz"}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """The real `tinycompress` command line under umask 022."""
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, umask=0o022, timeout=300, **kw)


def snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Everything under `root` but `skip`'s tree: directories by name, files by size, mtime and content."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        info = path.lstat()
        kind = stat.S_IFMT(info.st_mode)
        found[str(path.relative_to(root))] = (kind,) if stat.S_ISDIR(info.st_mode) else \
            (kind, info.st_size, info.st_mtime_ns, path.read_bytes())
    return found


@dataclass
class OddBuild:
    """The build and sim of the odd paths; `sentinels` are named like the
    fragments before each space of the output path."""

    root: Path
    out: Path
    sentinels: tuple[Path, ...]
    before: dict[str, tuple]
    build: subprocess.CompletedProcess
    sim: subprocess.CompletedProcess

    cli = staticmethod(cli)

    def outside(self) -> dict[str, tuple]:
        """The snapshot of everything outside the output directory, now."""
        return snapshot(self.root, self.out)


@pytest.fixture(scope="session")
def odd_build(tmp_path_factory) -> OddBuild:
    root = tmp_path_factory.mktemp("paths")
    inputs = root / ODD / "日本 'x\""
    inputs.mkdir(parents=True)
    copies = {k: shutil.copyfile(DIGITS_MODEL.parent / k, inputs / v) for k, v in INPUTS.items()}
    out = root / ODD / "out dir"
    sentinels = (root / "a", root / ODD / "out")
    for sentinel in sentinels:
        sentinel.write_text("untouched\n")
    before = snapshot(root, out)
    build = cli("build", str(copies["model_sparse.keras"]), "--board", "nucleo", "--spec", str(copies["small.toml"]),
                "--data", str(copies["train.npz"]), "--eval-data", str(copies["test.npz"]), "-o", str(out))
    sim = cli("sim", str(out), "-n", "20")
    return OddBuild(root, out, sentinels, before, build, sim)
