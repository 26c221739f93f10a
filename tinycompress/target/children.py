"""External tools as child processes that an interrupt cannot orphan.

    results = run_all([cmd_sim, cmd_hw], cwd=project, env=environ, timeout=600)  # at once
    result = run(cmd, cwd=run_dir, timeout=30)          # result.returncode, .stdout, .stderr

Each command runs in its own process group: `pio run` is a tree (PlatformIO ->
SCons -> sh -> gcc -> cc1/as/ld), and a Ctrl-C at the terminal reaches only
tinycompress, never half of that tree. When the wait is cut short (Ctrl-C,
timeout, a failed start), every group started by the call gets SIGTERM (gcc
then deletes its temporary files), SIGKILL after GRACE_S, and the call returns
only when no process of those groups is left; then the exception goes on, e.g.
to `project.staged`, which removes the directory the tools were writing into.
Output goes to anonymous temporary files, so two tools run at once without threads.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence

GRACE_S = 2.0
POLL_S = 0.01
PROC = Path("/proc")


@dataclass(frozen=True)
class Finished:
    """A tool that exited: its exit code, its output (UTF-8, undecodable bytes replaced), wall seconds."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back until the block is done, then raise it as usual.

    For the steps that must not be cut in half: starting a child and recording
    it, ending children, removing or renaming a directory. Only the main thread
    receives KeyboardInterrupt (and may set handlers); elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        if caught:
            signal.raise_signal(signal.SIGINT)  # to the handler that was there before


def run(cmd: Sequence[str], cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
        timeout: float | None = None) -> Finished:
    """Run one command (see run_all)."""
    return run_all([cmd], cwd, env, timeout)[0]


def run_all(cmds: Sequence[Sequence[str]], cwd: str | os.PathLike | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None) -> list[Finished]:
    """Start every command at once and wait for all of them; stdin is /dev/null.

    subprocess.TimeoutExpired after `timeout` seconds, OSError when a command
    cannot start; on these and on KeyboardInterrupt every process group started
    here is ended (see `end`) before the exception propagates.
    """
    start = time.monotonic()
    procs: list[subprocess.Popen] = []
    with contextlib.ExitStack() as files:
        outputs = [(files.enter_context(tempfile.TemporaryFile()), files.enter_context(tempfile.TemporaryFile()))
                   for _ in cmds]
        try:
            for cmd, (out, err) in zip(cmds, outputs):
                with interrupts_deferred():
                    procs.append(subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                                  stdout=out, stderr=err, process_group=0))
            seconds = []
            for proc in procs:
                proc.wait(None if timeout is None else max(0.0, start + timeout - time.monotonic()))
                seconds.append(time.monotonic() - start)
        except BaseException:
            with interrupts_deferred():
                end(procs)
            raise
        return [Finished(p.returncode, _text(out), _text(err), s)
                for p, (out, err), s in zip(procs, outputs, seconds)]


def _text(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")


def end(procs: Sequence[subprocess.Popen]) -> None:
    """End each child's process group: SIGTERM, then SIGKILL to what is left after GRACE_S.

    Returns when every group is empty (or, for a process stuck in the kernel, GRACE_S after SIGKILL).
    """
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    for proc in procs:
        if not _group_gone(proc, GRACE_S):
            _signal_group(proc.pid, signal.SIGKILL)
            _group_gone(proc, GRACE_S)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_gone(proc: subprocess.Popen, seconds: float) -> bool:
    """Reap the child, then wait until no process of its group is left; False after `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    while _group_alive(proc.pid):  # grandchildren (SCons, gcc) may outlive the child by a moment
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs; the dead that init has not reaped yet
    (zombies, which `kill` still reaches) do not count, where /proc tells them apart."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal exists
        pass
    if not PROC.is_dir():
        return True
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # exited meanwhile
        if int(pgrp) == pgid and state != "Z":
            return True
    return False
