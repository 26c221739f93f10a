"""The energy-mode firmware's line protocol (templates/main.c.j2, TC_ENERGY=1).

    TC_BEGIN energy <model> <N> <idle cycles>
    TC_MARK idle | TC_MARK infer | TC_MARK end          (QEMU only: the window edges)
    WINDOW <r> idle <cycles>
    WINDOW <r> infer <N> <cycles>
    CYCLES <r> <cycles of one inference>
    OUT <r> <hex>
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tinycompress.errors import SimulationError

MARKS = ("idle", "infer", "end")


@dataclass
class EnergyWindows:
    """What one energy-mode run printed: per repetition r its idle and inference windows' cycles."""

    model: str
    n: int                       # inferences per inference window
    idle_target: int             # cycles the idle window asks for
    idle: list[int] = field(default_factory=list)
    infer: list[int] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)   # one inference, summed over its layers
    outputs: list[bytes] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    fallback: str | None = None  # the TC_CLOCK_FALLBACK line, when the clock setup timed out

    @property
    def repeats(self) -> int:
        return len(self.infer)


def parse_energy(text: str) -> EnergyWindows:
    """Parse the firmware's lines; SimulationError when it is not energy-mode output or is out of order."""
    begin = re.search(r"^TC_BEGIN energy (\S+) (\d+) (\d+)\s*$", text, re.M)
    if not begin:
        raise SimulationError(f"no 'TC_BEGIN energy' line: not an energy-mode firmware? {text[:200]!r}")
    run = EnergyWindows(begin.group(1), int(begin.group(2)), int(begin.group(3)))
    fallback = re.search(r"^TC_CLOCK_FALLBACK .*$", text, re.M)
    run.fallback = fallback.group(0).strip() if fallback else None
    for line in text[begin.end():].splitlines():
        _line(run, line.strip())
    return run


def _line(run: EnergyWindows, line: str) -> None:
    words = line.split()
    if not words:
        return
    tag, rest = words[0], words[1:]
    if tag == "TC_MARK":
        run.marks.append(rest[0])
    elif tag == "WINDOW" and len(rest) >= 3:
        _window(run, rest)
    elif tag == "CYCLES" and len(rest) == 2:
        _expect(run, int(rest[0]), len(run.cycles), line)
        run.cycles.append(int(rest[1]))
    elif tag == "OUT" and len(rest) == 2:
        _expect(run, int(rest[0]), len(run.outputs), line)
        run.outputs.append(bytes.fromhex(rest[1]))
    elif tag in ("TC_ERROR", "TC_FAULT"):
        raise SimulationError(f"firmware error: {line}")


def _window(run: EnergyWindows, rest: list[str]) -> None:
    r = int(rest[0])
    if rest[1] == "idle":
        _expect(run, r, len(run.idle), " ".join(rest))
        run.idle.append(int(rest[2]))
    elif rest[1] == "infer" and len(rest) == 4:
        _expect(run, r, len(run.infer), " ".join(rest))
        if int(rest[2]) != run.n:
            raise SimulationError(f"window {r} ran {rest[2]} inferences, TC_BEGIN said {run.n}")
        run.infer.append(int(rest[3]))


def _expect(run: EnergyWindows, got: int, want: int, line: str) -> None:
    if got != want:
        raise SimulationError(f"energy-mode output out of order at {line!r}: repetition {got}, expected {want}")
