"""Energy of framed windows: current samples x supply voltage, summed between timestamp edges.

A meter delivers a `Capture`: current samples in amperes at a fixed rate, the
supply voltage, and the sample indices of the timestamp edges it saw (or that
were placed from the firmware's cycle counts, see `lpm01a`). Sample k stands
for the interval [k / rate, (k + 1) / rate), so a window [a, b) of samples has

    E = V x sum(I[a:b]) / rate          (joules)
    T = (b - a) / rate                  (seconds)

One energy-mode repetition has three edges: idle start, inference start,
inference end (templates/main.c.j2). The idle window's mean power is the
baseline; subtracting it (`subtract_idle`) leaves the energy the inferences
add on top of a busy CPU doing nothing useful.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress.errors import ToolError

EDGES_PER_REPEAT = 3


class PowerError(ToolError):
    """A power measurement that could not be made: one line, exit code 2."""


@dataclass
class Capture:
    """What a meter recorded for one repetition."""

    current_a: np.ndarray      # float64 amperes, one per sample
    rate_hz: float
    vdd_v: float
    edges: list[int]           # sample indices of the active timestamp edges


@dataclass(frozen=True)
class Window:
    """Energy (J) and duration (s) of one window."""

    energy_j: float
    seconds: float

    @property
    def power_w(self) -> float:
        return self.energy_j / self.seconds if self.seconds > 0 else 0.0


def active_edges(level: np.ndarray, polarity: str) -> list[int]:
    """Sample indices where a digital timestamp input goes active ('falling': 1 -> 0, 'rising': 0 -> 1)."""
    level = np.asarray(level, dtype=np.int8)
    step = np.diff(level)
    want = -1 if polarity == "falling" else 1
    return [int(i) + 1 for i in np.flatnonzero(step == want)]


def window(capture: Capture, start: int, stop: int) -> Window:
    """Energy and duration of samples [start, stop)."""
    if not 0 <= start <= stop <= len(capture.current_a):
        raise PowerError(f"window [{start}, {stop}) is outside the {len(capture.current_a)} samples recorded")
    charge = float(np.sum(capture.current_a[start:stop], dtype=np.float64)) / capture.rate_hz
    return Window(capture.vdd_v * charge, (stop - start) / capture.rate_hz)


def repeat_windows(capture: Capture) -> tuple[Window, Window]:
    """(idle, inference) windows of one repetition; PowerError unless exactly three edges framed it."""
    if len(capture.edges) != EDGES_PER_REPEAT:
        raise PowerError(f"window count mismatch: the meter saw {len(capture.edges)} timestamp edges in one "
                         f"repetition, the firmware marks {EDGES_PER_REPEAT} (idle, inference, end)")
    a, b, c = capture.edges
    return window(capture, a, b), window(capture, b, c)


@dataclass
class Repeat:
    """One repetition: idle and inference windows, N inferences, the DUT's cycle counts."""

    idle: Window
    infer: Window
    n: int
    infer_cycles: int | None = None
    run_hz: int | None = None

    def energy_per_inference_j(self, subtract_idle: bool) -> float:
        extra = self.idle.power_w * self.infer.seconds if subtract_idle else 0.0
        return (self.infer.energy_j - extra) / self.n

    def latency_s(self) -> float:
        """Seconds per inference: the DUT's cycles at its clock when known, else the window's length / N."""
        if self.infer_cycles and self.run_hz:
            return self.infer_cycles / self.n / self.run_hz
        return self.infer.seconds / self.n


def summary(repeats: list[Repeat], subtract_idle: bool) -> dict:
    """The report's numbers: means over repetitions, and every repetition's own."""
    if not repeats:
        raise PowerError("no repetition was measured")
    per = [r.energy_per_inference_j(subtract_idle) for r in repeats]
    return {
        "uj_per_inference": float(np.mean(per)) * 1e6,
        "uj_per_inference_spread": (float(np.min(per)) * 1e6, float(np.max(per)) * 1e6),
        "mean_power_mw": float(np.mean([r.infer.power_w for r in repeats])) * 1e3,
        "idle_power_mw": float(np.mean([r.idle.power_w for r in repeats])) * 1e3,
        "latency_ms": float(np.mean([r.latency_s() for r in repeats])) * 1e3,
        "idle_subtracted": subtract_idle,
        "repeats": [{"idle_mj": r.idle.energy_j * 1e3, "idle_s": r.idle.seconds,
                     "infer_mj": r.infer.energy_j * 1e3, "infer_s": r.infer.seconds, "n": r.n,
                     "infer_cycles": r.infer_cycles,
                     "uj_per_inference": r.energy_per_inference_j(subtract_idle) * 1e6} for r in repeats],
    }
