"""The wheel, installed as a user would: complete, runnable from anywhere, writing only the user's dirs.

The wheel is built from a copy of the sources (a build in the checkout would
write build/ and *.egg-info there) with no network (`--no-build-isolation
--no-index`), installed with `--no-deps` into a fresh virtual environment in a
temporary directory that sees this environment's packages through a .pth
file (TensorFlow is not installed twice). From another working directory, with
the user cache directory in the temporary directory and neither
$TINYCOMPRESS_PIO_CORE nor $TINYCOMPRESS_BOARDS set, it runs `doctor`
(not ready: no PlatformIO core yet), `setup`, `doctor` (ready), `boards`, and
`build` + `sim` of the digits example. Nothing may change in the installed
package or in the repository.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "tinycompress", "templates", "firmware", "boards")
DATA_DIRS = ("templates", "firmware", "boards")
DIGITS = REPO / "examples" / "digits"
CACHES = {".pytest_cache", ".hypothesis"}  # written by the test tools running beside this test

pytestmark = [pytest.mark.slow, pytest.mark.target]


def _files(root: Path, skip_caches: bool = False) -> dict[str, int]:
    """Every file under `root` (relative path -> mtime in ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))
            if p.is_file() and not (skip_caches and "__pycache__" in p.parts)}


def _repo_snapshot() -> dict:
    """What a stray write from the installed tool could touch: the top level and the example's inputs."""
    return {"top": sorted(p.name for p in REPO.iterdir() if p.name not in CACHES),
            "examples": _files(REPO / "examples", skip_caches=True),
            "venv site-packages": sorted(os.listdir(sysconfig.get_paths()["purelib"]))}


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pio"))
        else:
            shutil.copy2(path, src / name)
    done = _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation",
                 "--no-index", "-w", tmp / "dist"])
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp / "dist").glob("tinycompress-*.whl")
    return wheel


def _venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # This environment's packages (TensorFlow, PlatformIO, ...) after the venv's own: a plain path
    # line, so the checkout's editable-install hook (a .pth in there) is not run.
    (site / "zz_reuse_installed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel])
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_the_wheel_carries_every_data_file(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in DATA_DIRS:
        expected = {f"tinycompress/_data/{name}/{rel}" for rel in _files(REPO / name, skip_caches=True)}
        got = {n for n in names if n.startswith(f"tinycompress/_data/{name}/")}
        assert got == expected, sorted(got ^ expected)
    modules = {f"tinycompress/{rel}" for rel in _files(REPO / "tinycompress", skip_caches=True)}
    assert modules <= names, sorted(modules - names)
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"tinycompress"}


def test_installed_tool_sets_up_builds_and_simulates_outside_the_checkout(tmp_path):
    tmp = tmp_path
    before = _repo_snapshot()
    venv = _venv(tmp, _build_wheel(tmp))
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("TINYCOMPRESS_PIO_CORE", "TINYCOMPRESS_BOARDS", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", XDG_CACHE_HOME=str(tmp / "cache"))

    def run(*args) -> subprocess.CompletedProcess:
        return _run([venv / "bin" / "tinycompress", *args], cwd=work, env=env)

    package = Path(_run([venv / "bin" / "python", "-c", "import tinycompress, sys; print(tinycompress.__file__)"],
                        cwd=work).stdout.strip()).parent
    assert package.is_relative_to(venv), package  # the wheel's copy, not the checkout
    package_before = _files(package)
    core = tmp / "cache" / "tinycompress" / "platformio"

    first = run("doctor")
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"fix  platformio core      no offline PlatformIO core in {core} -> run `tinycompress setup`" \
        in first.stdout and first.stdout.endswith("not ready to build: platformio core\n")

    setup = run("setup")
    assert setup.returncode == 0 and setup.stdout == f"offline PlatformIO core ready: {core}\n", setup.stderr

    doctor = run("doctor")
    print(doctor.stdout)  # the closing note quotes it (pytest -s)
    assert doctor.returncode == 0 and doctor.stdout.endswith("ready to build\n"), doctor.stdout + doctor.stderr
    assert f"in {package}; templates, firmware and boards found" in doctor.stdout

    boards = run("boards", "--json")
    assert boards.returncode == 0, boards.stderr
    bundled = sorted(p.stem for p in (REPO / "boards").glob("*.toml"))
    assert sorted(b["name"] for b in json.loads(boards.stdout)) == bundled

    build = run("build", DIGITS / "model_sparse.keras", "--board", "nucleo", "--spec", DIGITS / "small.toml",
                "--data", DIGITS / "train.npz", "--eval-data", DIGITS / "test.npz", "-o", "out")
    assert build.returncode == 0, build.stdout + build.stderr
    assert f"symlink://{core}/toolchains/" in (work / "out" / "platformio.ini").read_text()
    sim = run("sim", "out", "-n", "20")
    assert sim.returncode == 0 and "20 inputs: bit-exact" in sim.stdout, sim.stdout + sim.stderr

    assert _files(package) == package_before  # nothing written into the install
    assert _repo_snapshot() == before  # nor into the checkout
