"""Nordic Power Profiler Kit II through `ppk2-api` (PyPI, the [power] extra).

The PPK2 supplies the board in source-meter mode at the board data's voltage
and streams 100,000 samples a second over its USB CDC serial port; each
4-byte sample carries the current (14-bit ADC code and range, turned into
microamperes by ppk2-api with the kit's calibration metadata) and the eight
logic inputs D0..D7. The board's timestamp GPIO goes to one logic input
(`channel`, D0 by default); its active edges frame the windows.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import serial  # pyserial (PlatformIO depends on it too)

from tinycompress.target.meters.integrate import EDGES_PER_REPEAT, Capture, PowerError, active_edges

RATE_HZ = 100_000
SETTLE_S = 1.0  # how long samples may trail the firmware's last UART line


class Ppk2:
    """One PPK2 on `port`, timestamp on logic input `channel`."""

    name = "ppk2"
    rate_hz = RATE_HZ

    def __init__(self, port: str, channel: int = 0, polarity: str = "falling"):
        from ppk2_api.ppk2_api import PPK2_API
        try:
            self.api = PPK2_API(port, timeout=0.05, write_timeout=1)
        except (serial.SerialException, OSError) as exc:
            raise PowerError(f"no PPK2 at {port}: {exc}".splitlines()[0]) from exc
        self.port, self.channel, self.polarity = port, channel, polarity
        self.current: list[float] = []
        self.logic: list[int] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._recording = False

    def configure(self, vdd_v: float) -> None:
        """Read the calibration metadata (identifies the kit), source mode at vdd_v, power on, stream."""
        if not self.api.get_modifiers():
            raise PowerError(f"no PPK2 metadata from {self.port} (wrong device or port?)")
        self.api.use_source_meter()
        self.api.set_source_voltage(round(vdd_v * 1000))
        self.api.toggle_DUT_power("ON")
        self.api.start_measuring()
        self._running.set()
        # The kit streams all the time and must be read all the time (its USB buffer would overflow).
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        while self._running.is_set():
            data = self.api.get_data()
            if not data:
                time.sleep(0.002)
                continue
            samples, bits = self.api.get_samples(data)
            with self._lock:
                if self._recording:
                    self.current.extend(samples)
                    self.logic.extend(bits)

    def _read(self) -> None:
        time.sleep(0.005)  # the reader thread collects; give it time

    def arm(self) -> None:
        """Record from here on: windows are searched in what follows."""
        with self._lock:
            self.current, self.logic, self._recording = [], [], True

    def capture(self, done: Callable[[int], bool], vdd_v: float, timeout_s: float) -> Capture:
        """Samples since arm() until `done(samples)` and the repetition's edges have arrived
        (the stream lags the firmware's UART a little); PowerError when no timestamp edge came."""
        deadline = time.monotonic() + timeout_s
        while not done(len(self.current)):
            if time.monotonic() > deadline:
                break
            self._read()
        settle = time.monotonic() + SETTLE_S
        while True:
            capture = self._capture(vdd_v)
            if len(capture.edges) >= EDGES_PER_REPEAT or time.monotonic() > settle:
                break
            self._read()
        if not capture.edges:
            raise PowerError(f"no trigger seen on PPK2 logic input D{self.channel} within {timeout_s:g} s: "
                             "check the timestamp wire and that the board runs energy-mode firmware")
        return capture

    def _capture(self, vdd_v: float) -> Capture:
        with self._lock:
            stop = min(len(self.current), len(self.logic))
            level = (np.asarray(self.logic[:stop], np.int64) >> self.channel) & 1
            current = np.asarray(self.current[:stop], np.float64) * 1e-6  # ppk2-api gives uA
        return Capture(current, RATE_HZ, vdd_v, active_edges(level, self.polarity))

    def close(self) -> None:
        if self._running.is_set():
            self._running.clear()
            self._thread.join(timeout=1.0)
        self.api.stop_measuring()
        self.api.toggle_DUT_power("OFF")
        self.api.ser.close()
