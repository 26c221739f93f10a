"""Board data of the hardware build's clock, energy-mode pin and MCU power (`boards/<name>.toml`).

Three optional tables of a real board's file, validated here and attached to
its `Board` (`target.boards.parse_board`):

    [clock]   reset_hz: the core clock after reset; steps: register operations
              that raise it to the board's clock_hz (each wait bounded, see
              firmware/startup/src/tc_clock.c); uart_clock_hz: the UART's
              kernel clock once the steps have run.
    [energy]  the GPIO that frames energy-mode windows: gpio_base, pin,
              polarity ("falling": idle high, pulled low >= 1 us, the
              EnergyRunner timestamp convention, the default; or "rising"),
              setbits (clock enables, [address, mask] pairs).
    [power]   vdd_v, run_ua_per_mhz (the datasheet's Run-mode current per
              MHz), source (document, table/page): the board-terms estimate's
              inputs (`layouts.energy.board_estimate`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tinycompress.errors import BoardError
from tinycompress.layouts.energy import board_estimate

CLOCK_OPS = ("modify", "wait", "delay")
POLARITIES = ("falling", "rising")


@dataclass(frozen=True)
class ClockStep:
    """One register operation: modify (clear mask, or value), wait ((reg & mask) == value), delay (loops)."""

    op: str
    addr: int = 0
    mask: int = 0
    value: int = 0


@dataclass(frozen=True)
class Clock:
    """How the hardware build reaches its clock (steps empty: it stays at reset_hz)."""

    reset_hz: int
    steps: tuple[ClockStep, ...] = ()
    uart_clock_hz: int | None = None


@dataclass(frozen=True)
class EnergyPin:
    """The energy-mode timestamp GPIO (STM32 GPIO register layout: MODER at +0, BSRR at +0x18)."""

    gpio_base: int
    pin: int
    polarity: str
    setbits: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PowerData:
    """The MCU's Run-mode supply current per MHz at vdd_v, with its datasheet source."""

    vdd_v: float
    run_ua_per_mhz: float
    source: str

    def run_mw(self, clock_hz: int) -> float:
        """Run-mode power in mW at `clock_hz`: I = ua_per_mhz x MHz, P = I x VDD."""
        return self.run_ua_per_mhz * clock_hz / 1e6 * 1e-3 * self.vdd_v


def _get(table: dict, key: str, kind, where: str, default=...):
    if key not in table:
        if default is ...:
            raise BoardError(f"{where}: missing field '{key}'")
        return default
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BoardError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _u32(table: dict, key: str, where: str, default=...) -> int:
    value = _get(table, key, int, where, default)
    if not 0 <= value < 2**32:
        raise BoardError(f"{where}: field '{key}' = {value} is not a 32-bit value")
    return value


def _step(raw, where: str) -> ClockStep:
    if not isinstance(raw, dict):
        raise BoardError(f"{where}: each step must be a table {{op, addr, mask, value}}, got {raw!r}")
    op = _get(raw, "op", str, where)
    if op not in CLOCK_OPS:
        raise BoardError(f"{where}: op {op!r}, expected one of {', '.join(CLOCK_OPS)}")
    if op == "delay":
        return ClockStep(op, value=_u32(raw, "value", where))
    return ClockStep(op, _u32(raw, "addr", where), _u32(raw, "mask", where), _u32(raw, "value", where))


def parse_clock(data: dict, where: str) -> Clock | None:
    """The [clock] table, or None."""
    if "clock" not in data:
        return None
    table = _get(data, "clock", dict, where)
    here = f"{where} [clock]"
    steps = tuple(_step(s, f"{here} steps") for s in _get(table, "steps", list, here, []))
    uart_hz = _get(table, "uart_clock_hz", int, here, None)
    if steps and uart_hz is None:
        raise BoardError(f"{here}: steps change the clock tree, so 'uart_clock_hz' is needed")
    reset_hz = _get(table, "reset_hz", int, here)
    if reset_hz <= 0 or (uart_hz is not None and uart_hz <= 0):
        raise BoardError(f"{here}: clock frequencies must be positive")
    return Clock(reset_hz, steps, uart_hz)


def parse_energy(data: dict, where: str) -> EnergyPin | None:
    """The [energy] table, or None."""
    if "energy" not in data:
        return None
    table = _get(data, "energy", dict, where)
    here = f"{where} [energy]"
    pin = _get(table, "pin", int, here)
    polarity = _get(table, "polarity", str, here, "falling")
    if not 0 <= pin <= 15 or polarity not in POLARITIES:
        raise BoardError(f"{here}: pin must be 0..15 and polarity one of {', '.join(POLARITIES)}")
    pairs = _get(table, "setbits", list, here)
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p) for p in pairs):
        raise BoardError(f"{here}: field 'setbits' must be a list of [address, mask] pairs")
    return EnergyPin(_u32(table, "gpio_base", here), pin, polarity, tuple((a, m) for a, m in pairs))


def parse_power(data: dict, where: str) -> PowerData | None:
    """The [power] table, or None."""
    if "power" not in data:
        return None
    table = _get(data, "power", dict, where)
    here = f"{where} [power]"
    vdd = float(_get(table, "vdd_v", (int, float), here))
    ua = float(_get(table, "run_ua_per_mhz", (int, float), here))
    source = _get(table, "source", str, here)
    if not (0 < vdd < 6 and ua > 0 and source.strip()):
        raise BoardError(f"{here}: needs 0 < vdd_v < 6, run_ua_per_mhz > 0 and a source")
    return PowerData(vdd, ua, source)


# ---- tc_board_hw.h: the hardware build's clock steps, UART divider and energy pin ----

CLOCK_OP_CODES = {"modify": 1, "wait": 2, "delay": 3}
# Energy mode: the idle window and the inference window last at least this long
# on the board (N inferences = this many seconds of the cost model's estimate).
ENERGY_WINDOW_S = 0.5
ESTIMATE_MARGIN = 0.4  # N is sized for inferences this much shorter than the cost model says
# ... and each repetition starts this long after the firmware's last UART line, so a
# host that arms its meter when it reads that line is ready before the first edge.
ENERGY_GAP_S = 1.0


def _brr(kind: str, clock_hz: int, baud: int) -> int:
    return round((256 if kind == "lpuart" else 1) * clock_hz / baud)


def hw_header(board, baud: int) -> str:
    """tc_board_hw.h: clock steps, UART divider at the run clock, energy pin (zeros when absent)."""
    clock = board.clock
    steps = clock.steps if clock else ()
    rows = ", ".join(f"{{{CLOCK_OP_CODES[s.op]}u, 0x{s.addr:08X}u, 0x{s.mask:08X}u, 0x{s.value:08X}u}}"
                     for s in steps) or "{0u, 0u, 0u, 0u}"
    uart = board.uart
    run_uart_hz = (clock.uart_clock_hz if steps else None) or (uart.clock_hz if uart else 0)
    lines = [
        f"/* Generated by tinycompress from boards/{board.name}.toml; do not edit. */",
        "#ifndef TC_BOARD_HW_H\n#define TC_BOARD_HW_H\n",
        f"#define TC_RESET_HZ {clock.reset_hz if clock else board.clock_hz}u",
        f"#define TC_RUN_HZ {board.run_hz}u",
        f"#define TC_CLOCK_N_STEPS {len(steps)}",
        f"#define TC_CLOCK_STEPS {rows}",
        f"#define TC_UART_BRR_RUN {_brr(uart.kind, run_uart_hz, baud) if uart else 0}u",
    ]
    energy = board.energy
    if energy is not None:
        pairs = ", ".join(f"{{0x{a:08X}u, 0x{m:08X}u}}" for a, m in energy.setbits) or "{0u, 0u}"
        lines += [f"#define TC_ENERGY_GPIO_BASE 0x{energy.gpio_base:08X}u", f"#define TC_ENERGY_PIN {energy.pin}u",
                  f"#define TC_ENERGY_ACTIVE_LOW {1 if energy.polarity == 'falling' else 0}",
                  f"#define TC_ENERGY_N_SETBITS {len(energy.setbits)}", f"#define TC_ENERGY_SETBITS {pairs}"]
    return "\n".join(lines) + "\n\n#endif /* TC_BOARD_HW_H */\n"


def energy_flags(board, instructions_est: float) -> list[str]:
    """Compiler flags of an energy-mode build: N inferences filling ENERGY_WINDOW_S, the idle window.

    BoardError when a real board's data names no [energy] pin.
    """
    if not board.is_qemu and board.energy is None:
        raise BoardError(f"{board.path}: no [energy] table (timestamp GPIO): cannot build --mode energy")
    cycles = ENERGY_WINDOW_S * board.run_hz
    # The cost model's estimate can be high (bench/results.md: its worst layer errors reach
    # tens of per cent), which would make the window shorter than the idle one; N is sized
    # for an inference ESTIMATE_MARGIN shorter than estimated, so the window is never shorter.
    n = max(1, math.ceil(cycles / max(instructions_est * (1.0 - ESTIMATE_MARGIN), 1.0)))
    return ["-DTC_ENERGY=1", f"-DTC_ENERGY_N={n}u", f"-DTC_ENERGY_IDLE_CYCLES={round(cycles)}u",
            f"-DTC_ENERGY_GAP_CYCLES={round(ENERGY_GAP_S * board.run_hz)}u"]


def instructions_of_build(build: dict, sim: dict | None) -> tuple[float, str]:
    """Instructions per inference: QEMU's exact count (sim-report.json), else the cost model's."""
    if sim and sim.get("instructions_per_inference"):
        return float(sim["instructions_per_inference"]), "counted in QEMU (sim)"
    return float(sum(l.get("instructions_est") or 0 for l in build.get("layers", []))), "cost model"


def board_energy_estimate(board, build: dict, sim: dict | None) -> dict | None:
    """The board-terms estimate of one inference (layouts.energy.board_estimate), or None when the
    board data has no [power] or nothing counts instructions."""
    if board.power is None or board.is_qemu:
        return None
    instructions, how = instructions_of_build(build, sim)
    if instructions <= 0:
        return None
    est = board_estimate(instructions, board.cpu, board.run_hz, board.power.run_mw(board.run_hz),
                         board.power.source)
    return {**est.as_dict(), "instructions_from": how}
