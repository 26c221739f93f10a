"""Joulescope JS110 through `joulescope` (PyPI, the [power] extra), its pure-Python USB driver
(`joulescope.v0`, libusb underneath).

The Joulescope sits in the board's supply line and measures current and
voltage at 2 MS/s. The board's timestamp GPIO goes to general-purpose input
IN0, which the JS110 streams in the least significant bit of each current
sample (`current_lsb = gpi0`). A capture is a `read()` of a fixed duration,
started in the firmware's quiet gap and long enough for one repetition
(`target.power` computes it from the previous repetition's cycle counts).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinycompress.target.meters.integrate import Capture, PowerError, active_edges

SETTINGS = {"sensor_power": "on", "i_range": "auto", "v_range": "15V", "current_lsb": "gpi0",
            "io_voltage": "3.3V"}


class Joulescope:
    """The first JS110 found (or the one whose serial number is `port`)."""

    name = "joulescope"

    def __init__(self, port: str | None = None, polarity: str = "falling"):
        from joulescope.v0.driver import scan
        devices = scan(name="joulescope", config="auto")
        if port is not None:
            devices = [d for d in devices if str(d).endswith(port)]
        if not devices:
            raise PowerError("no Joulescope found on USB" + (f" with serial number {port!r}" if port else ""))
        self.device, self.polarity, self.duration_s = devices[0], polarity, 0.0
        try:
            self.device.open()
        except (IOError, RuntimeError) as exc:
            raise PowerError(f"cannot open {self.device}: {exc}".splitlines()[0]) from exc
        self.rate_hz = float(self.device.output_sampling_frequency)

    def configure(self, vdd_v: float) -> None:
        """Sensor on, auto current range, IN0 in the current LSB (the board keeps its own supply)."""
        for name, value in SETTINGS.items():
            self.device.parameter_set(name, value)

    def arm(self) -> None:
        """Nothing to arm: `capture` records `duration_s` from now."""

    def capture(self, done: Callable[[int], bool], vdd_v: float, timeout_s: float) -> Capture:
        """Read `duration_s` seconds; edges from IN0; the voltage as the Joulescope measured it."""
        data = self.device.read(contiguous_duration=max(self.duration_s, 0.1), out_format="samples_get",
                                fields=["current", "voltage", "current_lsb"])
        signals = data["signals"]
        current = np.nan_to_num(np.asarray(signals["current"]["value"], np.float64))
        voltage = float(np.nanmean(signals["voltage"]["value"]))
        edges = active_edges(np.asarray(signals["current_lsb"]["value"]).astype(np.int8) & 1, self.polarity)
        if not edges:
            raise PowerError(f"no trigger seen on Joulescope IN0 within {self.duration_s:g} s: check the "
                             "timestamp wire and that the board runs energy-mode firmware")
        return Capture(current, self.rate_hz, voltage, edges)

    def close(self) -> None:
        self.device.close()
