"""Setup: the offline PlatformIO core, `tinycompress setup` and `doctor`, the idempotent `make setup`,
and the errors that name what to install."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinycompress import cli, paths
from tinycompress.data import load_digits_split
from tinycompress.errors import ToolError
from tinycompress.frontend.keras_import import import_keras
from tinycompress.target.boards import list_boards
from tinycompress.target.doctor import (
    Check, check_core, check_flash_tools, check_qemu, check_qemu_machines, missing_for_build,
)
from tinycompress.target.pio import core_problem, ensure_offline_core, pio_environ, run_pio, toolchain_dir

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
    with pytest.raises(ToolError, match=r"PlatformIO is not installed: reinstall tinycompress.*`tinycompress doctor`"):
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


# ---- tinycompress setup and doctor (issue 16) ------------------------------------

def test_setup_makes_the_core_in_the_user_cache_once(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.PIO_CORE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    core = tmp_path / "cache" / "tinycompress" / "platformio"
    first = CliRunner().invoke(cli.app, ["setup"])
    assert first.exit_code == 0, first.output
    assert first.stdout == f"offline PlatformIO core ready: {core}\n"
    assert core_problem(core) is None
    before = {p: p.stat().st_mtime_ns for p in core.rglob("*")}
    again = CliRunner().invoke(cli.app, ["setup"])
    assert again.exit_code == 0 and {p: p.stat().st_mtime_ns for p in core.rglob("*")} == before


def test_setup_says_where_it_cannot_write(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("in the way\n")
    monkeypatch.setenv(paths.PIO_CORE_ENV, str(tmp_path / "file" / "core"))
    result = CliRunner().invoke(cli.app, ["setup"])
    assert result.exit_code == 2
    assert re.fullmatch(r"error: cannot create the PlatformIO core in .*/file/core: .* "
                        r"\(set \$TINYCOMPRESS_PIO_CORE to a writable directory\)\n", result.stderr), result.stderr


def test_doctor_checks_the_machine(offline_core):
    """Everything is installed here (CI installs it all): one ok line per check, exit 0."""
    result = CliRunner().invoke(cli.app, ["doctor"], env={paths.PIO_CORE_ENV: str(offline_core)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "ready to build"
    names = [line.split()[1] for line in lines[:-1]]
    assert names[:10] == ["python", "tinycompress", "packages", "tensorflow", "arm-none-eabi-gcc", "newlib",
                          "platformio", "qemu-system-arm", "qemu", "flash"]
    assert all(line.startswith("ok ") for line in lines[:-1]), result.stdout
    said = dict((line.split()[1], line) for line in lines)
    assert re.search(r"TensorFlow 2\.\d+\.\d+, Keras 3\.\d+\.\d+ \(import \d+\.\d s\)", said["tensorflow"])
    machines = sorted({b.qemu_machine for b in list_boards()})
    assert said["qemu"].split(None, 3)[3] == ", ".join(machines)
    assert str(offline_core) in said["platformio"]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    shown = re.findall(r"^ok   extra \[(\w+)\]", result.stdout, re.M)
    assert sorted(shown) == sorted(set(extras) - {"test"}), "installed metadata is stale: make setup"


def test_doctor_names_the_fix_for_a_missing_core(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.PIO_CORE_ENV, str(tmp_path / "core"))
    result = CliRunner().invoke(cli.app, ["doctor", "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert doc["ready_for_build"] is False and [c["name"] for c in failed] == ["platformio core"]
    assert failed[0]["fix"] == "run `tinycompress setup`" and failed[0]["needed_for"] == "build"
    check = check_core()
    assert not check.ok and missing_for_build([check]) == [check]
    assert check.line() == (f"fix  platformio core      no offline PlatformIO core in {tmp_path / 'core'} "
                            "-> run `tinycompress setup` (needed for build)")
    assert missing_for_build([Check("qemu-system-arm", False, "not found", "apt-get ...", "sim")]) == []


def test_doctor_without_qemu_and_flash_tools_can_still_build(tmp_path, monkeypatch):
    """Simulation and flashing tools missing: their lines say what to install; build is not blocked."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-system-arm, openocd or st-flash
    checks = [check_qemu(), check_qemu_machines(), check_flash_tools()]
    assert [c.line() for c in checks] == [
        "fix  qemu-system-arm      not found -> apt-get install --no-install-recommends qemu-system-arm "
        "(needed for sim)",
        "fix  qemu machines        qemu-system-arm not found -> apt-get install --no-install-recommends "
        "qemu-system-arm (7.2 or newer) (needed for sim)",
        "fix  flash tools          openocd missing, st-flash missing -> apt-get install --no-install-recommends "
        "openocd or stlink-tools (needed for flash)",
    ]
    assert missing_for_build(checks) == []


# ---- a missing extra names the extra ----------------------------------------------

def test_missing_tensorflow_names_the_tf_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ToolError, match=re.escape("TensorFlow/Keras is not installed: pip install 'tinycompress[tf]'")):
        import_keras()


def test_missing_scikit_learn_names_the_tf_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ToolError, match=re.escape("pip install 'tinycompress[tf]'")):
        load_digits_split()


def test_missing_extra_errors_name_real_extras():
    """Every missing_extra(..., "name") in the package names an extra pyproject.toml defines."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = []
    for path in sorted((REPO / "tinycompress").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "missing_extra":
                named.append((path.name, ast.literal_eval(node.args[1])))
    assert named and [(f, e) for f, e in named if e not in extras] == []
