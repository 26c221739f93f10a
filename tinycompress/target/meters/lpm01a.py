"""ST X-NUCLEO-LPM01A (PowerShield) over its virtual COM port: ASCII commands, ASCII samples.

The protocol (ST UM2269, "Getting started with PowerShield firmware"), as used here:

    host -> meter   "<command>\\n"              meter -> host  "ack <command> ..." | "error ..."
    htc                 host takes control (the meter's own UI stops)
    format ascii_dec    samples as text lines "DDDDSZZ": 4 digits, sign, exponent:
                        "1234-06" = 1234e-6 A (ascii_dec runs up to 10 kHz)
    freq 10k            sampling rate
    volt 3300m          supply voltage to the board (mV)
    acqtime 0           acquire until `stop`
    trigsrc d7          start acquiring on the D7 input (the board's timestamp GPIO)
    start | stop | hrc  arm (wait for D7, then stream) | end acquisition | release control

Lines that are not samples nor acks (metadata such as "TimeStamp: ...", the
end-of-acquisition summary) are skipped; "error" lines end the measurement.

The LPM01A's trigger starts acquisition at the first timestamp edge, so a
capture's first sample is the idle window's start; the two later edges are
placed from the firmware's cycle counts at its clock (`target.power`).
"""
from __future__ import annotations

import re
import time
from typing import Callable

import numpy as np
import serial  # pyserial (PlatformIO depends on it too)

from tinycompress.target.meters.integrate import Capture, PowerError

BAUD = 3_686_400
RATE_HZ = 10_000
SAMPLE = re.compile(r"^(\d{4})([+-]\d{2})$")
COMMAND_TIMEOUT_S = 2.0


def _open_serial(port: str, baud: int) -> serial.Serial:
    try:
        return serial.Serial(port, baud, timeout=0.05)
    except (serial.SerialException, OSError) as exc:
        raise PowerError(f"no LPM01A at {port}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from exc


class Lpm01a:
    """One PowerShield on `port`."""

    name = "lpm01a"
    rate_hz = RATE_HZ

    def __init__(self, port: str, baud: int = BAUD):
        self.port = port
        self.ser = _open_serial(port, baud)
        self._pending = b""

    def _line(self, deadline: float) -> str | None:
        while b"\n" not in self._pending:
            if time.monotonic() > deadline:
                return None
            self._pending += self.ser.read(4096)
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode("ascii", "replace").strip()

    def command(self, text: str) -> str:
        """Send one command; its ack line, PowerError on "error ..." or silence (wrong device)."""
        self.ser.write(f"{text}\n".encode("ascii"))
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while (line := self._line(deadline)) is not None:
            if line.startswith("ack"):
                return line
            if line.lower().startswith("error"):
                raise PowerError(f"LPM01A at {self.port} refused {text!r}: {line}")
        raise PowerError(f"no LPM01A answer to {text!r} at {self.port} within {COMMAND_TIMEOUT_S:g} s "
                         f"(wrong device or port?)")

    def configure(self, vdd_v: float) -> None:
        """Take control, ASCII samples at RATE_HZ, the board's voltage, trigger on D7."""
        for cmd in ("htc", "format ascii_dec", f"freq {RATE_HZ // 1000}k", "acqtime 0",
                    f"volt {round(vdd_v * 1000)}m", "trigsrc d7"):
            self.command(cmd)

    def arm(self) -> None:
        """Start: the meter waits for the next timestamp edge on D7, then streams."""
        self.command("start")

    def capture(self, done: Callable[[int], bool], vdd_v: float, timeout_s: float) -> Capture:
        """Samples from the trigger until `done(samples so far)`; PowerError when no trigger comes."""
        samples: list[float] = []
        deadline = time.monotonic() + timeout_s
        while not done(len(samples)):
            line = self._line(deadline)
            if line is None:
                what = "no trigger seen on D7" if not samples else "the firmware's windows did not end"
                raise PowerError(f"{what} within {timeout_s:g} s (LPM01A at {self.port}): "
                                 "check the timestamp wire to D7 and that the board runs energy-mode firmware")
            match = SAMPLE.match(line)
            if match:
                samples.append(int(match.group(1)) * 10.0 ** int(match.group(2)))
            elif line.lower().startswith("error"):
                raise PowerError(f"LPM01A at {self.port}: {line}")
            else:
                deadline = max(deadline, time.monotonic())  # metadata keeps the stream alive
        self.command("stop")
        return Capture(np.asarray(samples, np.float64), RATE_HZ, vdd_v, [0])

    def close(self) -> None:
        try:
            self.command("hrc")
        except PowerError:
            pass
        finally:
            self.ser.close()
