"""Boards as data: `boards/<name>.toml`, validated on load.

A board file names the CPU, FPU, flash and RAM (origin and size), clock, the
PlatformIO board id (real boards), and the QEMU machine that simulates it.
Boards that *are* QEMU machines (no `pio_board`) also carry a `[sim]` table:
the timer that counts instructions and the `-icount` shift that makes it exact.

A real board runs in simulation on the QEMU board with the same
`qemu_machine`. Where that machine maps a memory region at the same origin
and at least as large, the simulation build is linked exactly like the
hardware build; otherwise only that region's ORIGIN moves to the machine's
memory (the size stays the board's, so a model that does not fit the board
does not fit its simulation either). See `sim_regions`.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tinycompress.errors import BoardError
from tinycompress.paths import BOARDS_DIR
from tinycompress.target.power_data import (Clock, EnergyPin, PowerData, parse_clock, parse_energy,
                                            parse_power)

CPUS = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")
# Which board FPU can run on which machine FPU (instruction sets are supersets).
FPU_RUNS_ON = {
    "none": {"none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16"},
    "fpv4-sp-d16": {"fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16"},
    "fpv5-sp-d16": {"fpv5-sp-d16", "fpv5-d16"},
    "fpv5-d16": {"fpv5-d16"},
}
SIM_TIMERS = ("stm32_tim2", "cmsdk_timer0")
UART_LAYOUTS = ("f4", "v2")
UART_KINDS = ("usart", "lpuart")
UART_BAUD = 115200
BOARDS_ENV = "TINYCOMPRESS_BOARDS"  # the user's board directories (os.pathsep between them)


@dataclass(frozen=True)
class Region:
    """A memory region: first address and size in bytes."""

    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size

    def contains(self, other: "Region") -> bool:
        return self.origin <= other.origin and other.end <= self.end


@dataclass(frozen=True)
class Uart:
    """The NUCLEO virtual-COM-port UART, as register addresses (hardware builds)."""

    base: int
    layout: str
    kind: str
    clock_hz: int
    gpio_base: int
    tx_pin: int
    af: int
    setbits: tuple[tuple[int, int], ...]

    @property
    def brr(self) -> int:
        """Baud divider at 115200 baud (LPUART: 256 * f / baud; USART oversampling 16: f / baud)."""
        scale = 256 if self.kind == "lpuart" else 1
        return round(scale * self.clock_hz / UART_BAUD)


@dataclass(frozen=True)
class Sim:
    """How a QEMU machine counts instructions: timer, its clock, the -icount shift."""

    timer: str
    timer_hz: int
    icount_shift: int

    @property
    def ticks_per_instruction(self) -> Fraction:
        return Fraction(self.timer_hz * 2**self.icount_shift, 10**9)


@dataclass(frozen=True)
class Board:
    """One board (real or QEMU machine), loaded from boards/<name>.toml."""

    name: str
    aliases: tuple[str, ...]
    description: str
    cpu: str
    fpu: str
    flash: Region
    ram: Region
    clock_hz: int
    qemu_machine: str
    pio_board: str | None = None
    openocd_target: str | None = None
    uart: Uart | None = None
    sim: Sim | None = None
    path: Path | None = None
    # Hardware build: debug probe, clock setup, energy-mode pin, MCU power (`power_data`).
    openocd_interface: str = "interface/stlink.cfg"
    clock: Clock | None = None
    energy: EnergyPin | None = None
    power: PowerData | None = None

    @property
    def run_hz(self) -> int:
        """The hardware build's core clock: clock_hz once [clock] steps raise it, else the reset clock."""
        if self.clock is None or self.clock.steps:
            return self.clock_hz
        return self.clock.reset_hz

    @property
    def is_qemu(self) -> bool:
        """True for boards that are QEMU machines (nothing to flash)."""
        return self.pio_board is None

    @property
    def local_id(self) -> str:
        """Board id of the generated board JSON (never clashes with PlatformIO's official ids)."""
        return f"tc_{self.name}"

    def cpu_flags(self) -> list[str]:
        """arm-none-eabi-gcc flags for this CPU and FPU."""
        flags = [f"-mcpu={self.cpu}", "-mthumb"]
        if self.fpu == "none":
            return flags + ["-mfloat-abi=soft"]
        return flags + [f"-mfpu={self.fpu}", "-mfloat-abi=hard"]


def _field(data: dict, key: str, kind, where: str, default=...):
    if key not in data:
        if default is not ...:
            return default
        raise BoardError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = getattr(kind, "__name__", str(kind))
        raise BoardError(f"{where}: field '{key}' must be {name}, got {value!r}")
    return value


def _choice(data: dict, key: str, choices, where: str) -> str:
    value = _field(data, key, str, where)
    if value not in choices:
        raise BoardError(f"{where}: field '{key}' = {value!r}, expected one of {', '.join(choices)}")
    return value


def _positive(data: dict, key: str, where: str) -> int:
    value = _field(data, key, int, where)
    if value <= 0:
        raise BoardError(f"{where}: field '{key}' must be positive, got {value}")
    return value


def _region(data: dict, key: str, where: str) -> Region:
    table = _field(data, key, dict, where)
    origin = _field(table, "origin", int, f"{where} [{key}]")
    size = _positive(table, "size", f"{where} [{key}]")
    if origin < 0 or origin % 4 or origin + size > 2**32:
        raise BoardError(f"{where}: field '{key}' region 0x{origin:x}+0x{size:x} is not a 32-bit word-aligned range")
    return Region(origin, size)


def _uart(data: dict, where: str) -> Uart | None:
    if "uart" not in data:
        return None
    table = _field(data, "uart", dict, where)
    here = f"{where} [uart]"
    pairs = _field(table, "setbits", list, here)
    if not pairs or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p) for p in pairs):
        raise BoardError(f"{here}: field 'setbits' must be a non-empty list of [address, mask] pairs")
    pin = _field(table, "tx_pin", int, here)
    af = _field(table, "af", int, here)
    if not (0 <= pin <= 15 and 0 <= af <= 15):
        raise BoardError(f"{here}: field 'tx_pin'/'af' must be 0..15, got {pin}/{af}")
    return Uart(
        base=_field(table, "base", int, here), layout=_choice(table, "layout", UART_LAYOUTS, here),
        kind=_choice(table, "kind", UART_KINDS, here), clock_hz=_positive(table, "clock_hz", here),
        gpio_base=_field(table, "gpio_base", int, here), tx_pin=pin, af=af,
        setbits=tuple((a, m) for a, m in pairs),
    )


def _sim(data: dict, where: str) -> Sim | None:
    if "sim" not in data:
        return None
    table = _field(data, "sim", dict, where)
    here = f"{where} [sim]"
    sim = Sim(
        timer=_choice(table, "timer", SIM_TIMERS, here),
        timer_hz=_positive(table, "timer_hz", here),
        icount_shift=_field(table, "icount_shift", int, here),
    )
    ratio = sim.ticks_per_instruction
    # Exact counts: one tick per instruction, or > 2 ticks so rounding recovers the count.
    if not (ratio == 1 or ratio > 2) or not 0 <= sim.icount_shift <= 10:
        raise BoardError(f"{here}: {ratio} timer ticks per instruction cannot give exact instruction counts")
    return sim


def parse_board(data: dict, path: Path) -> Board:
    """Validate the parsed TOML of one board file; BoardError names file and field."""
    where = str(path)
    aliases = _field(data, "aliases", list, where, default=[])
    if not all(isinstance(a, str) for a in aliases):
        raise BoardError(f"{where}: field 'aliases' must be a list of strings")
    board = Board(
        name=_field(data, "name", str, where), aliases=tuple(aliases),
        description=_field(data, "description", str, where),
        cpu=_choice(data, "cpu", CPUS, where), fpu=_choice(data, "fpu", tuple(FPU_RUNS_ON), where),
        flash=_region(data, "flash", where), ram=_region(data, "ram", where),
        clock_hz=_positive(data, "clock_hz", where), qemu_machine=_field(data, "qemu_machine", str, where),
        pio_board=_field(data, "pio_board", str, where, default=None),
        openocd_target=_field(data, "openocd_target", str, where, default=None),
        uart=_uart(data, where), sim=_sim(data, where), path=path,
        openocd_interface=_field(data, "openocd_interface", str, where, default="interface/stlink.cfg"),
        clock=parse_clock(data, where), energy=parse_energy(data, where), power=parse_power(data, where),
    )
    if board.name != path.stem:
        raise BoardError(f"{where}: field 'name' = {board.name!r} must match the file name {path.stem!r}")
    if board.is_qemu != (board.sim is not None) or (not board.is_qemu) != (board.uart is not None):
        raise BoardError(f"{where}: a real board (pio_board) needs [uart] and no [sim]; a QEMU board needs [sim]")
    return board


def _load_file(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BoardError(f"{path}: cannot read board file: {exc}") from exc
    return parse_board(data, path)


def board_dirs() -> list[Path]:
    """Where boards come from: the bundled ones, then every directory in `$TINYCOMPRESS_BOARDS`."""
    extra = [Path(p).expanduser().absolute() for p in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if p]
    for path in extra:
        if not path.is_dir():
            raise BoardError(f"${BOARDS_ENV} (or --boards-dir): {path} is not a directory")
    return [BOARDS_DIR, *extra]


def list_boards(boards_dir: Path | None = None) -> list[Board]:
    """Every board in `boards_dir` (default: `board_dirs()`), sorted by name, each validated.

    A name or alias may be used by one board only, so a user's board never shadows another.
    """
    dirs = board_dirs() if boards_dir is None else [Path(boards_dir)]
    boards = sorted((_load_file(p) for d in dirs for p in sorted(d.glob("*.toml"))), key=lambda b: b.name)
    taken: dict[str, Path] = {}
    for board in boards:
        for key in (board.name, *board.aliases):
            if key in taken:
                raise BoardError(f"{board.path}: board name or alias {key!r} is already used by {taken[key]}")
            taken[key] = board.path
    return boards


def load_board(name_or_alias: str, boards_dir: Path | None = None) -> Board:
    """The board with this name or alias; BoardError listing the known names otherwise."""
    boards = list_boards(boards_dir)
    for board in boards:
        if name_or_alias == board.name or name_or_alias in board.aliases:
            return board
    known = ", ".join(f"{b.name} ({', '.join(b.aliases)})" if b.aliases else b.name for b in boards)
    raise BoardError(f"unknown board {name_or_alias!r}; known boards: {known}")


def sim_machine(board: Board, boards_dir: Path | None = None) -> Board:
    """The QEMU board that simulates `board` (itself for QEMU boards)."""
    if board.is_qemu:
        return board
    for other in list_boards(boards_dir):
        if other.is_qemu and other.qemu_machine == board.qemu_machine:
            if other.cpu != board.cpu or other.fpu not in FPU_RUNS_ON[board.fpu]:
                raise BoardError(f"{board.path}: QEMU machine {board.qemu_machine} ({other.cpu}, "
                                 f"{other.fpu}) cannot run {board.cpu} with {board.fpu}")
            return other
    where = boards_dir or ", ".join(map(str, board_dirs()))
    raise BoardError(f"{board.path}: no QEMU board in {where} describes machine {board.qemu_machine!r}")


def _sim_region(region: Region, machine_region: Region, what: str, board: Board) -> Region:
    if machine_region.contains(region):
        return region
    if region.size > machine_region.size:
        raise BoardError(f"{board.path}: {what} ({region.size} B) exceeds {board.qemu_machine}'s ({machine_region.size} B)")
    return Region(machine_region.origin, region.size)


def sim_regions(board: Board, boards_dir: Path | None = None) -> tuple[Region, Region]:
    """(flash, ram) of the simulation build: the board's, moved only where the machine lacks them."""
    machine = sim_machine(board, boards_dir)
    return (_sim_region(board.flash, machine.flash, "flash", board),
            _sim_region(board.ram, machine.ram, "ram", board))
