"""Joulescope JS110/JS220 through `joulescope` (PyPI, the [power] extra; its native USB driver).

The Joulescope sits in the board's supply line (it measures, the board keeps
its own supply; `vdd_v` is taken from the voltage it reads). The board's
timestamp GPIO goes to general-purpose input IN0, which the JS110 streams in
the least significant bit of each current sample (`current_lsb`). A capture
is a `read()` of a fixed duration, started when the firmware's quiet gap
begins and long enough for one repetition (`target.power` computes it from
the previous repetition's cycle counts).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinycompress.target.meters.integrate import Capture, PowerError, active_edges


class Joulescope:
    """The first Joulescope found (JS110: IN0 carries the timestamp)."""

    name = "joulescope"

    def __init__(self, port: str | None = None, polarity: str = "falling"):
        import joulescope
        devices = joulescope.scan(config="auto")
        if port is not None:
            devices = [d for d in devices if str(d) == port or getattr(d, "device_serial_number", None) == port]
        if not devices:
            raise PowerError("no Joulescope found on USB" + (f" matching {port!r}" if port else ""))
        self.device = devices[0]
        self.polarity = polarity
        self.duration_s = 0.0
        try:
            self.device.open()
        except Exception as exc:  # the native driver raises its own error types
            raise PowerError(f"cannot open {self.device}: {exc}".splitlines()[0]) from exc
        self.rate_hz = float(self.device.output_sampling_frequency)

    def configure(self, vdd_v: float) -> None:
        """Auto current range; the board keeps its own supply (the voltage is read back)."""
        self.device.parameter_set("i_range", "auto")
        self.device.parameter_set("v_range", "15V")

    def arm(self) -> None:
        """Nothing to arm: `capture` records `duration_s` from now."""

    def capture(self, done: Callable[[int], bool], vdd_v: float, timeout_s: float) -> Capture:
        """Read `duration_s` seconds; edges from IN0."""
        data = self.device.read(contiguous_duration=max(self.duration_s, 0.1), out_format="samples_get",
                                fields=["current", "voltage", "current_lsb"])
        signals = data["signals"]
        current = np.asarray(signals["current"]["value"], np.float64)
        voltage = float(np.nanmean(signals["voltage"]["value"]))
        edges = active_edges(np.asarray(signals["current_lsb"]["value"]) & 1, self.polarity)
        if not edges:
            raise PowerError(f"no trigger seen on Joulescope IN0 within {self.duration_s:g} s")
        return Capture(np.nan_to_num(current), self.rate_hz, voltage, edges)

    def close(self) -> None:
        self.device.close()
