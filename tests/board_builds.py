"""Session-wide builds for the on-the-board tests (flash, energy mode, power).

The digits example as plain 8-bit dense layers, so these tests depend on the
target stage and the firmware, not on which layouts the compressor picks.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tinycompress.compress.options import CompressOptions
from tinycompress.data import DIGITS_MODEL
from tinycompress.pipeline import build

DIGITS_TRAIN = DIGITS_MODEL.parent / "train.npz"
DENSE8 = CompressOptions(bits=8, sparsity=0.0, layout="dense")


@pytest.fixture(scope="session")
def board_builds(tmp_path_factory, offline_core):
    """name -> build dir of the digits model, 8-bit dense: the F401 NUCLEO and a QEMU-only board."""
    root = tmp_path_factory.mktemp("board_builds")
    return {name: build(DIGITS_MODEL, name, root / name, options=DENSE8, data=DIGITS_TRAIN).out_dir
            for name in ("nucleo", "mps2_an386")}


@pytest.fixture(scope="session")
def energy_build(tmp_path_factory, offline_core):
    """Build dir of the digits model, 8-bit dense, `--mode energy` for the F401 NUCLEO."""
    out = tmp_path_factory.mktemp("energy_build") / "nucleo"
    return build(DIGITS_MODEL, "nucleo", out, options=DENSE8, data=DIGITS_TRAIN, firmware_mode="energy").out_dir


# QEMU's STM32F405 (hw/arm/stm32f405_soc.c) wires its USARTs to -serial ports in this order.
QEMU_F405_USARTS = (0x4001_1000, 0x4000_4400, 0x4000_4800, 0x4000_4C00, 0x4000_5000, 0x4001_1400)


def run_hw_uart(elf: Path, uart_base: int, stop: str, timeout_s: float = 60.0) -> list[str]:
    """Run a hardware ELF on QEMU netduinoplus2 with the board UART on a serial port (the hardware
    firmware never exits); the lines it printed up to the first line matching `stop`.
    """
    serial = ["-serial", "null"] * QEMU_F405_USARTS.index(uart_base) + ["-serial", "stdio"]
    cmd = ["qemu-system-arm", "-M", "netduinoplus2", "-display", "none", "-monitor", "none",
           *serial, "-kernel", str(elf)]
    print("QEMU:", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            line = proc.stdout.readline() if ready else ""
            if line:
                lines.append(line.rstrip("\r\n"))
                if re.match(stop, lines[-1]):
                    return lines
            elif proc.poll() is not None:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    raise AssertionError(f"no line matching {stop!r} within {timeout_s} s; got {lines[-10:]}")
