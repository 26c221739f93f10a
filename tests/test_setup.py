"""Setup: the offline PlatformIO core and the idempotent `make setup`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinycompress.errors import ToolError
from tinycompress.target.pio import ensure_offline_core, pio_environ, run_pio, toolchain_dir

REPO = Path(__file__).resolve().parents[1]


def test_offline_core_is_accepted_by_platformio(tmp_path):
    core = ensure_offline_core(tmp_path / "core")
    meta = json.loads((core / "packages" / "tool-scons" / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio"
    # PlatformIO's own lookup (no install allowed) must find our package: no registry needed.
    code = ("from platformio.package.manager.core import get_core_package_dir;"
            "print(get_core_package_dir('tool-scons', auto_install=False))")
    out = subprocess.run([sys.executable, "-c", code], env=pio_environ(core),
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(core / "packages" / "tool-scons")


def test_toolchain_wraps_debian_gcc(tmp_path):
    core = ensure_offline_core(tmp_path / "core")
    gcc = toolchain_dir(core) / "bin" / "arm-none-eabi-gcc"
    assert gcc.is_symlink() and os.readlink(gcc) == "/usr/bin/arm-none-eabi-gcc"
    assert json.loads((toolchain_dir(core) / "package.json").read_text())["name"] == "toolchain-gccarmnoneeabi"


def test_offline_core_is_idempotent(tmp_path):
    core = ensure_offline_core(tmp_path / "core")
    manifest = core / "packages" / "tool-scons" / "package.json"
    before = manifest.stat().st_mtime_ns
    ensure_offline_core(core)
    assert manifest.stat().st_mtime_ns == before


def test_missing_platformio_is_a_tool_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "platformio", None)
    monkeypatch.setitem(sys.modules, "platformio.dependencies", None)
    with pytest.raises(ToolError, match=r"PlatformIO is not installed: pip install -e '\.\[firmware\]'"):
        run_pio(tmp_path, core_dir=tmp_path / "core")


@pytest.mark.slow
def test_second_make_setup_installs_nothing():
    subprocess.run(["make", "setup"], cwd=REPO, capture_output=True, text=True, check=True)
    again = subprocess.run(["make", "setup"], cwd=REPO, capture_output=True, text=True, check=True)
    assert "pip install" not in again.stdout and "tinycompress.target.pio setup" not in again.stdout
    assert "apt-get" not in again.stdout + again.stderr


def test_ci_script_runs_make_test():
    script = (REPO / ".ci" / "run").read_text()
    assert os.access(REPO / ".ci" / "run", os.X_OK)
    assert "set -euo pipefail" in script and "\nmake test\n" in script
