"""Simulated hardware on pseudo-terminals for the power tests: a board's UART, an LPM01A, a PPK2.

Each simulator owns the master side of an `os.openpty()` pair and serves the
slave's path, which the real drivers open with pyserial (ppk2-api opens it
itself): only the device at the far end of the serial line is simulated.

The board plays the energy-mode protocol of templates/main.c.j2 with chosen
cycle counts; at each repetition it tells the meter to play a current trace
whose windows match those counts, so the energy of every window is known:

    idle window:      IDLE_S at IDLE_A
    inference window: INFER_S alternating INFER_LOW_A / INFER_HIGH_A (mean INFER_A)
"""
from __future__ import annotations

import os
import struct
import threading
import time

from tinycompress.target.boards import load_board

RUN_HZ = load_board("nucleo").run_hz  # the energy build's board: its cycles are at this clock
N = 4                        # inferences per window
IDLE_S, INFER_S = 0.05, 0.08
IDLE_CYCLES, INFER_CYCLES = round(IDLE_S * RUN_HZ), round(INFER_S * RUN_HZ)
IDLE_A, INFER_LOW_A, INFER_HIGH_A = 5.0e-3, 12.0e-3, 13.0e-3
INFER_A = (INFER_LOW_A + INFER_HIGH_A) / 2
VDD = 3.3
# Known energies (J) of the two windows: V x I x T
IDLE_J, INFER_J = VDD * IDLE_A * IDLE_S, VDD * INFER_A * INFER_S


def trace(rate_hz: int, extra_edge: bool = False) -> tuple[list[float], list[int]]:
    """(amperes, sample indices of timestamp edges) of one repetition at `rate_hz`."""
    idle, infer = round(IDLE_S * rate_hz), round(INFER_S * rate_hz)
    amps = [IDLE_A] * idle + [INFER_LOW_A if k % 2 == 0 else INFER_HIGH_A for k in range(infer)]
    edges = [0, idle, idle + infer] + ([idle + infer // 2] if extra_edge else [])
    return amps + [IDLE_A] * (rate_hz // 20), sorted(edges)  # 50 ms of idle after the end edge


def ascii_dec(amps: float) -> str:
    """An LPM01A ascii_dec sample "DDDDSZZ": 5 mA = "5000-06", 12 mA = "1200-05"."""
    ua = round(amps * 1e6)
    return f"{ua:04d}-06" if ua < 10_000 else f"{ua // 10:04d}-05"


class _Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.stop = threading.Event()

    def write(self, data: bytes) -> None:
        """Write to the line; nothing once the test has closed it."""
        try:
            os.write(self.master, data)
        except OSError:
            self.stop.set()

    def close(self):
        self.stop.set()
        time.sleep(0.05)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Board(_Pty):
    """The board's UART: TC_BEGIN, then per repetition (after the quiet gap) the meter's trace, then lines."""

    def __init__(self, meter=None, repeats: int = 6, gap_s: float = 0.3):
        super().__init__()
        self.meter, self.repeats, self.gap_s = meter, repeats, gap_s
        threading.Thread(target=self._run, daemon=True).start()

    def _write(self, text: str):
        self.write(text.encode("ascii"))

    def _run(self):
        time.sleep(0.2)
        self._write(f"TC_BEGIN energy digits_lenet {N} {IDLE_CYCLES}\r\n")
        for r in range(self.repeats):
            if self.stop.wait(self.gap_s):
                return
            if self.meter is not None:
                self.meter.play()  # the timestamp pulses and the current the meter sees
            self._write(f"WINDOW {r} idle {IDLE_CYCLES}\r\nWINDOW {r} infer {N} {INFER_CYCLES}\r\n"
                        f"CYCLES {r} {INFER_CYCLES // N}\r\nOUT {r} 7f808080808080808080\r\n")


class Lpm01a(_Pty):
    """A PowerShield: acks commands; after `start`, streams the trace from the next timestamp (D7)."""

    RATE = 10_000

    def __init__(self, answer: bool = True):
        super().__init__()
        self.answer, self.armed, self.commands = answer, False, []
        self._play = threading.Event()
        threading.Thread(target=self._commands, daemon=True).start()

    def play(self):
        if self.armed:
            self._play.set()
            while self._play.is_set() and not self.stop.is_set():
                time.sleep(0.005)

    def _commands(self):
        pending = b""
        while not self.stop.is_set():
            try:
                pending += os.read(self.master, 256)
            except OSError:
                return
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self._command(line.decode().strip())

    def _command(self, cmd: str):
        self.commands.append(cmd)
        if not self.answer:
            return
        self.write(f"ack {cmd}\r\n".encode())
        if cmd == "start":
            self.armed = True
            threading.Thread(target=self._stream, daemon=True).start()
        elif cmd == "stop":
            self.armed = False

    def _stream(self):
        while self.armed and not self._play.wait(0.01):
            if self.stop.is_set():
                return
        amps, _ = trace(self.RATE)
        lines = [ascii_dec(a) for a in amps]
        lines.insert(len(lines) // 2, "TimeStamp: 000s 080ms, buff 00%")  # metadata is skipped
        self.write(("\r\n".join(lines) + "\r\n").encode())
        self._play.clear()
        while self.armed and not self.stop.is_set():  # idle current until `stop`
            self.write(b"5000-06\r\n" * 100)
            time.sleep(0.01)


class Ppk2(_Pty):
    """A PPK2: calibration metadata on request, then 4-byte samples with the logic inputs.

    Its metadata makes range 2 read one ADC code as exactly 1 uA: ppk2-api computes
    code x 4 x (1.8 / 163840) / R2 amperes, and R2 = 4 x 1.8 / 163840 / 1e-6 = 43.9453125 ohm.
    """

    RATE = 100_000
    RANGE = 2
    METADATA = ("Calibrated: 0\nR0: 1031.64\nR1: 101.65\nR2: 43.9453125\nR3: 0.94\nR4: 0.043\n"
                + "".join(f"GS{i}: 0\nGI{i}: 1\nO{i}: 0\nS{i}: 0\nI{i}: 0\nUG{i}: 1\n" for i in range(5))
                + "HW: 9173\nIA: 56\nEND\n")

    def __init__(self, answer: bool = True, extra_edge: bool = False, pulses: bool = True):
        super().__init__()
        self.answer, self.extra_edge, self.pulses = answer, extra_edge, pulses
        self.streaming = False
        self._play = threading.Event()
        threading.Thread(target=self._commands, daemon=True).start()

    def play(self):
        self._play.set()
        while self._play.is_set() and not self.stop.is_set():
            time.sleep(0.005)

    @classmethod
    def sample(cls, amps: float, logic: int) -> bytes:
        code = round(amps * 1e6)  # 1 code = 1 uA with this metadata
        return struct.pack("<I", code | cls.RANGE << 14 | logic << 24)

    def _commands(self):
        while not self.stop.is_set():
            try:
                data = os.read(self.master, 64)
            except OSError:
                return
            if self.answer and 0x19 in data:
                self.write(self.METADATA.encode())
            if self.answer and 0x06 in data and not self.streaming:
                self.streaming = True
                threading.Thread(target=self._stream, daemon=True).start()

    def _stream(self):
        idle = self.sample(IDLE_A, 1) * 1000  # timestamp input D0 idle high
        while not self.stop.is_set():
            if self._play.is_set():
                amps, edges = trace(self.RATE, self.extra_edge)
                low = set(edges) if self.pulses else set()
                self.write(b"".join(self.sample(a, 0 if k in low else 1) for k, a in enumerate(amps)))
                self._play.clear()
            self.write(idle)
            time.sleep(0.01)
