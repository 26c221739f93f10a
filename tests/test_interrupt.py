"""Target tier: Ctrl-C at any moment of `build` and `sim` ends every tool first, then cleans up.

The real command line runs in a session of its own and gets SIGINT on its
process group, as a terminal sends it, or (while compiling) alone. Every process it starts inherits a
marker in its environment, so /proc finds them all (PlatformIO, SCons, gcc,
QEMU) even after a dead parent left them to init; none may still run once the
command has exited, and an interrupted build leaves neither its output nor
its staging directory. TF_ENABLE_ONEDNN_OPTS=0 keeps TensorFlow's start-up
banner (which ignores TF_CPP_MIN_LOG_LEVEL) off stderr, so stderr holds only
what tinycompress says. QEMU is interrupted on the build in odd paths
(tests/odd_build.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tinycompress.data import DIGITS_MODEL, save_npz
from tinycompress.target.children import GRACE_S, run_all

pytestmark = pytest.mark.target
pytest_plugins = ["tests.odd_build"]  # the session fixture odd_build, shared with test_paths.py
CLI = Path(sys.executable).with_name("tinycompress")
MARKER = "TC_INTERRUPT_TEST"
TOOLS = ("cc1", "as", "collect2", "ld")  # what gcc runs; arm-none-eabi-gcc itself is "arm-none-eabi-g"


def _alive(marker: str) -> dict[int, str]:
    """pid -> name of every running (not zombie) process whose environment carries `marker`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{MARKER}={marker}".encode() not in (entry / "environ").read_bytes():
                continue
            if (entry / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                found[int(entry.name)] = (entry / "comm").read_text().strip()
        except OSError:
            continue  # exited meanwhile
    return found


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER: marker, "TF_ENABLE_ONEDNN_OPTS": "0"}
    proc = subprocess.Popen([str(CLI), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, umask=0o022)  # as on the shared odd build
    return proc, marker


def _wait_for(proc: subprocess.Popen, ready: Callable[[], object], timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert proc.poll() is None, f"exited before the moment to interrupt: {proc.communicate()}"
        assert time.monotonic() < deadline, "the moment to interrupt never came"
        time.sleep(0.02)
    return found


def _interrupt(proc: subprocess.Popen, marker: str) -> None:
    """Ctrl-C as a terminal sends it, to the whole process group of the command."""
    os.killpg(proc.pid, signal.SIGINT)
    _ended_cleanly(proc, marker)


def _ended_cleanly(proc: subprocess.Popen, marker: str) -> None:
    """Exit 130, one line, no traceback, and no tool left running."""
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.splitlines() == ["interrupted"] and "Traceback" not in out
    assert _alive(marker) == {}


def test_interrupt_while_loading_the_model(tmp_path):
    proc, marker = _start("build", str(DIGITS_MODEL), "--board", "nucleo", "-o", str(tmp_path / "out"))
    _wait_for(proc, lambda: "tensorflow" in Path(f"/proc/{proc.pid}/maps").read_text())
    _interrupt(proc, marker)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_compiling(tmp_path):
    """SIGINT to tinycompress alone (`kill -INT`, a notebook's interrupt): the tools in their own
    process groups get nothing from it, so tinycompress must end them, before removing their directory."""
    proc, marker = _start("build", str(DIGITS_MODEL), "--board", "nucleo", "-o", str(tmp_path / "out"))
    staging = _wait_for(proc, lambda: [p for p in tmp_path.glob(".out.*.tmp") if (p / ".pio").is_dir()])[0]
    _wait_for(proc, lambda: [n for n in _alive(marker).values() if n in TOOLS])
    os.kill(proc.pid, signal.SIGINT)
    orphans = []  # tools seen running after their staging directory was gone
    while proc.poll() is None:
        gone = not staging.exists()
        if gone and (tools := _alive(marker).keys() - {proc.pid}):
            orphans.append(tools)
        time.sleep(0.005)
    _ended_cleanly(proc, marker)
    assert orphans == [] and list(tmp_path.iterdir()) == []


def test_interrupt_during_qemu(odd_build, tmp_path):
    out = odd_build.out
    report = (out / "sim-report.json").read_bytes()
    data = save_npz(tmp_path / "many.npz", np.random.default_rng(0).uniform(0, 1, size=(4000, 16, 16, 1)))
    proc, marker = _start("sim", str(out), "--data", str(data))  # several seconds of QEMU
    _wait_for(proc, lambda: "qemu-system-arm" in _alive(marker).values())
    _interrupt(proc, marker)
    assert (out / "sim-report.json").read_bytes() == report


def test_timeout_ends_the_whole_group_even_a_process_deaf_to_sigterm():
    """The same ending as for Ctrl-C: SIGTERM to the group, SIGKILL GRACE_S later to what is left;
    run_all returns only when no process of the group runs, grandchildren included."""
    marker = uuid.uuid4().hex
    script = "(trap '' TERM; sleep 60) & sleep 60"  # a grandchild that ignores SIGTERM
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_all([["sh", "-c", script], ["sleep", "60"]], env={**os.environ, MARKER: marker}, timeout=0.5)
    assert _alive(marker) == {}
    assert GRACE_S <= time.monotonic() - start - 0.5 < GRACE_S + 5
