"""Run a firmware ELF in QEMU with semihosting and deterministic instruction counting.

Output written with semihosting goes to stdout (a stdio chardev); the exit code
is the one the firmware passed to SYS_EXIT_EXTENDED. `-icount shift=N` makes
virtual time advance 2^N ns per executed instruction, so the firmware's timer
(see firmware/startup/include/tc_platform.h) counts instructions exactly and
every run is identical. N comes from the machine's board file ([sim] table).
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinycompress.target.boards import list_boards
from tinycompress.target.children import run
from tinycompress.errors import DOCTOR_HINT, SimulationError, ToolError

QEMU = "qemu-system-arm"
APT_HINT = f"apt-get install --no-install-recommends qemu-system-arm {DOCTOR_HINT}"


@dataclass(frozen=True)
class QemuResult:
    """What a simulation printed (semihosting), its exit code, wall seconds and QEMU's own messages."""

    stdout: str
    exit_code: int
    elapsed: float
    stderr: str = ""


def icount_shift(machine: str) -> int:
    """The -icount shift the machine's board data asks for (0 when no board describes it)."""
    for board in list_boards():
        if board.is_qemu and board.qemu_machine == machine:
            return board.sim.icount_shift
    return 0


def qemu_command(elf: Path, machine: str, shift: int | None = None) -> list[str]:
    """The qemu-system-arm command line for `elf` on `machine`."""
    exe = shutil.which(QEMU)
    if exe is None:
        raise ToolError(f"{QEMU} not found: {APT_HINT}")
    shift = icount_shift(machine) if shift is None else shift
    return [
        exe, "-M", machine, "-display", "none", "-monitor", "none", "-serial", "null",
        "-chardev", "stdio,id=tcout,signal=off",
        "-semihosting-config", "enable=on,target=native,chardev=tcout",
        "-icount", f"shift={shift}", "-kernel", str(elf),
    ]


def run_elf(elf: Path, machine: str, timeout_s: float, cwd: Path | None = None,
            shift: int | None = None) -> QemuResult:
    """Run `elf` on QEMU `machine`; semihosting file paths are relative to `cwd`.

    QEMU runs in its own process group and is ended before a Ctrl-C or a timeout propagates.
    """
    elf = Path(elf)
    if not elf.is_file():
        raise SimulationError(f"firmware ELF not found: {elf}")
    cmd = qemu_command(elf.resolve(), machine, shift)
    try:
        done = run(cmd, cwd=cwd, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise SimulationError(f"simulation timed out after {timeout_s:g} s on {machine} "
                              f"(firmware hung?): {elf}") from exc
    except OSError as exc:
        raise ToolError(f"cannot run {QEMU}: {exc}; {APT_HINT}") from exc
    return QemuResult(done.stdout, done.returncode, done.seconds, done.stderr)
