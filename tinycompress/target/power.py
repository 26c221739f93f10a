"""Power stage: measure energy per inference of an energy-mode build on its board with a meter.

    report = measure("build/", "lpm01a", port="/dev/ttyACM1", uart="/dev/ttyACM0", n=3)
    report["uj_per_inference"], report["mean_power_mw"], report["latency_ms"]

The board runs the energy-mode firmware (`tinycompress build --mode energy`,
then `flash`): after a quiet gap, an idle window, then N inferences, each
edge a GPIO timestamp pulse, then its cycle counts on the UART
(`meters.dut`). For each of `n` repetitions this module arms the meter when
the board prints a line (the gap follows every line), lets the meter record
one repetition, takes the cycle counts from the UART, and integrates current
x voltage over the idle and inference windows (`meters.integrate`).

- LPM01A: its D7 trigger starts the recording at the idle window's first
  edge; the two later edges are placed from the cycle counts at the board's
  clock (the LPM01A reports no later edges).
- PPK2, Joulescope: every edge comes from the meter's logic input.

DIR/power-report.json holds the result, labelled as a measurement.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from tinycompress.target.boards import Board, load_board
from tinycompress.target.meters.integrate import PowerError, Repeat, repeat_windows, summary
from tinycompress.target.meters.lpm01a import Lpm01a
from tinycompress.target.meters.ports import DutPort, find_port
from tinycompress.target.meters.ppk2 import Ppk2
from tinycompress.target.meters.joulescope import Joulescope
from tinycompress.target.power_data import ENERGY_GAP_S, board_energy_estimate
from tinycompress.target.state import load_state

REPORT_FILE = "power-report.json"
METERS = ("lpm01a", "ppk2", "joulescope")
DEFAULT_VDD_V = 3.3
MARGIN_S = 0.5  # a Joulescope records this much longer than one repetition
Progress = Callable[[str, int, int], None]


def check_energy_build(build_dir: Path) -> Board:
    """The board of an energy-mode build of a real board; PowerError otherwise."""
    report = Path(build_dir) / "build-report.json"
    try:
        mode = json.loads(report.read_text(encoding="utf-8")).get("firmware_mode", "normal")
    except (OSError, ValueError) as exc:
        raise PowerError(f"{report} cannot be read: is {build_dir} a build directory?") from exc
    board = load_board(load_state(build_dir).board)
    if mode != "energy":
        raise PowerError(f"{build_dir} is a {mode} build: rebuild with `tinycompress build ... --mode energy`, "
                         "flash it, then measure")
    if board.is_qemu:
        raise PowerError(f"{board.name} is a QEMU machine: there is no board to measure")
    return board


def open_meter(name: str, port: str | None, board: Board, channel: int = 0):
    """The meter driver, connected; PowerError for an unknown meter, no device or a wrong one."""
    polarity = board.energy.polarity if board.energy else "falling"
    if name == "lpm01a":
        return Lpm01a(port or find_port("lpm01a"))
    if name == "ppk2":
        return Ppk2(port or find_port("ppk2"), channel=channel, polarity=polarity)
    if name == "joulescope":
        return Joulescope(port, polarity=polarity)
    raise PowerError(f"unknown meter {name!r}; one of {', '.join(METERS)}")


def _measure_one(meter, dut: DutPort, board: Board, vdd: float, timeout_s: float,
                 armed_line: int) -> tuple[Repeat, int]:
    """Arm now (line `armed_line` was just printed: the gap runs), record the repetition that
    follows, integrate its windows; (its Repeat, the index of its OUT line)."""
    meter.arm()
    found: list = []

    def done(samples: int) -> bool:
        if not found:
            rep = dut.repetition(armed_line + 1)
            if rep is None:
                return False
            found.append(rep)
        _, _, idle, infer = found[0]
        if isinstance(meter, Lpm01a):  # the recording must reach the placed end edge
            return samples >= round((idle + infer) / board.run_hz * meter.rate_hz)
        return True

    capture = meter.capture(done, vdd, timeout_s)
    deadline = time.monotonic() + timeout_s  # a fixed-length recording may end before the board's lines
    while not found and time.monotonic() < deadline:
        done(len(capture.current_a))
        time.sleep(0.01)
    if not found:
        raise PowerError(f"the board reported no complete repetition on {dut.port} within {timeout_s:g} s")
    out_line, n, idle, infer = found[0]
    if isinstance(meter, Lpm01a):
        rate = meter.rate_hz
        capture.edges = [0, round(idle / board.run_hz * rate), round((idle + infer) / board.run_hz * rate)]
    idle_w, infer_w = repeat_windows(capture)
    return Repeat(idle_w, infer_w, n, infer, board.run_hz), out_line


def measure(build_dir: str | Path, meter: str, port: str | None = None, uart: str | None = None,
            n: int = 3, subtract_idle: bool = False, timeout_s: float = 10.0,
            progress: Progress | None = None) -> dict:
    """Measure `n` repetitions (module docstring); write and return DIR/power-report.json."""
    build_dir = Path(build_dir)
    board = check_energy_build(build_dir)
    vdd = board.power.vdd_v if board.power else DEFAULT_VDD_V
    tick = progress or (lambda *_: None)
    dut = DutPort(uart or find_port("stlink"))
    device = None
    try:
        device = open_meter(meter, port, board)
        device.configure(vdd)
        # one repetition first: it gives the window lengths a fixed-duration recording needs
        dut.poll()  # lines printed while the meter was being set up are stale: arm on a fresh one
        line = dut.wait_for(r"^OUT \d+ ", timeout_s + 5.0, after=len(dut.lines))
        _, _, idle, infer = dut.repetition(max(0, line - 3)) or (0, 0, 0, 0)
        if isinstance(device, Joulescope):
            device.duration_s = ENERGY_GAP_S + (idle + infer) / board.run_hz + MARGIN_S
        repeats = []
        for k in range(n):
            tick("measuring", k, n)
            repeat, line = _measure_one(device, dut, board, vdd, timeout_s, line)
            repeats.append(repeat)
        tick("measuring", n, n)
    finally:
        if device is not None:
            device.close()
        dut.close()
    report = _report(board, meter, device, vdd, summary(repeats, subtract_idle))
    report["estimate"] = board_energy_estimate(board, _json(build_dir / "build-report.json"),
                                               _json(build_dir / "sim-report.json"))
    (build_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _report(board: Board, meter: str, device, vdd: float, numbers: dict) -> dict:
    return {
        "board": board.name, "meter": meter, "vdd_v": vdd, "rate_hz": device.rate_hz,
        "clock_hz": board.run_hz, "measured": True, **numbers,
        "note": ("measured: current x voltage integrated over the firmware's timestamp-framed windows"
                 + ("; idle power x window time subtracted" if numbers["idle_subtracted"] else "")),
    }
