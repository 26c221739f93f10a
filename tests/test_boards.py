"""Boards as data: validation, datasheet numbers, and golden generated files.

Golden files live in tests/golden/boards/. After an intended change, regenerate
them with `TC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_boards.py` and review
the diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fractions import Fraction

from tinycompress.target.boardfiles import board_header, linker_script, pio_board_json
from tinycompress.target.boards import list_boards, load_board, sim_machine, sim_regions
from tinycompress.errors import BoardError

GOLDEN = Path(__file__).parent / "golden" / "boards"
NAMES = [b.name for b in list_boards()]
KIB = 1024

GOOD = """
name = "demo"
description = "a QEMU demo board"
cpu = "cortex-m4"
fpu = "fpv4-sp-d16"
clock_hz = 25_000_000
qemu_machine = "mps2-an386"
[flash]
origin = 0
size = 0x1000
[ram]
origin = 0x2000_0000
size = 0x1000
[sim]
timer = "cmsdk_timer0"
timer_hz = 25_000_000
icount_shift = 7
"""


def test_required_boards_exist_with_aliases():
    assert {"nucleo_f401re", "nucleo_l476rg", "nucleo_l4r5zi", "nucleo_f746zg", "nucleo_h743zi",
            "mps2_an385", "mps2_an386", "mps2_an500", "netduinoplus2"} <= set(NAMES)
    assert load_board("nucleo").name == "nucleo_f401re"


@pytest.mark.parametrize("name, flash, ram, cpu, fpu", [
    # Datasheets: STM32F401RE 512 KiB / 96 KiB; STM32L476RG 1 MiB / 96+32 KiB;
    # STM32L4R5ZI 2 MiB / 192+64+384 KiB; STM32F746ZG 1 MiB / 64+240+16 KiB;
    # STM32H743ZI 2 MiB / 128 KiB DTCM.
    ("nucleo_f401re", 512 * KIB, 96 * KIB, "cortex-m4", "fpv4-sp-d16"),
    ("nucleo_l476rg", 1024 * KIB, 128 * KIB, "cortex-m4", "fpv4-sp-d16"),
    ("nucleo_l4r5zi", 2048 * KIB, 640 * KIB, "cortex-m4", "fpv4-sp-d16"),
    ("nucleo_f746zg", 1024 * KIB, 320 * KIB, "cortex-m7", "fpv5-sp-d16"),
    ("nucleo_h743zi", 2048 * KIB, 128 * KIB, "cortex-m7", "fpv5-d16"),
])
def test_real_boards_match_datasheets(name, flash, ram, cpu, fpu):
    board = load_board(name)
    assert (board.flash.origin, board.flash.size) == (0x0800_0000, flash)
    assert (board.ram.origin, board.ram.size) == (0x2000_0000, ram)
    assert (board.cpu, board.fpu, board.pio_board) == (cpu, fpu, name)


def test_sim_layout_moves_only_what_the_machine_lacks():
    # F401RE fits netduinoplus2's map (1 MiB @0x08000000, 128 KiB @0x20000000): unchanged.
    f401 = load_board("nucleo")
    assert sim_regions(f401) == (f401.flash, f401.ram)
    # F746ZG on mps2-an500: no memory at 0x08000000, so FLASH moves to 0x0; RAM stays.
    f746 = load_board("nucleo_f746zg")
    flash, ram = sim_regions(f746)
    assert (flash.origin, flash.size) == (0, 1024 * KIB) and ram == f746.ram
    assert sim_machine(f746).qemu_machine == "mps2-an500"


def test_uart_baud_dividers():
    # 16 MHz / 115200 = 138.9 -> 139; LPUART: 256 * 4 MHz / 115200 = 8888.9 -> 8889.
    assert load_board("nucleo_f401re").uart.brr == 139
    assert load_board("nucleo_l4r5zi").uart.brr == 8889


@pytest.mark.parametrize("name", NAMES)
def test_generated_files_match_golden(name):
    board = load_board(name)
    files = {f"{name}.h": board_header(board),
             f"{name}.json": json.dumps(pio_board_json(board), indent=2, sort_keys=True) + "\n",
             f"{name}_sim.ld": linker_script(board, sim=True)}
    if not board.is_qemu:
        files[f"{name}.ld"] = linker_script(board)
    for filename, text in files.items():
        path = GOLDEN / filename
        if os.environ.get("TC_UPDATE_GOLDEN"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text, f"{filename} differs from golden (see module docstring)"


def test_linker_script_regions_and_stack():
    text = linker_script(load_board("nucleo"), stack_size=2048)
    assert "FLASH (rx)  : ORIGIN = 0x08000000, LENGTH = 524288" in text
    assert "RAM   (rwx) : ORIGIN = 0x20000000, LENGTH = 98304" in text
    assert "_tc_stack_size = 2048;" in text and "> RAM AT > FLASH" in text


def test_unknown_board_lists_known_names():
    with pytest.raises(BoardError, match=r"unknown board 'nucleo_x'; known boards: ") as info:
        load_board("nucleo_x")
    assert "nucleo_f401re (nucleo)" in str(info.value) and "mps2_an386" in str(info.value)


def _write(tmp_path, text, name="demo"):
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


def test_valid_custom_board_loads(tmp_path):
    board = load_board("demo", _write(tmp_path, GOOD))
    assert board.sim.ticks_per_instruction == Fraction(16, 5)  # 25 MHz * 128 ns = 3.2


@pytest.mark.parametrize("old, new, message", [
    ('cpu = "cortex-m4"', 'cpu = "cortex-m99"', r"demo.toml: field 'cpu' = 'cortex-m99', expected one of"),
    ('clock_hz = 25_000_000\n', "", r"demo.toml: missing field 'clock_hz'"),
    ("size = 0x1000\n[sim]", 'size = "4k"\n[sim]', r"demo.toml \[ram\]: field 'size' must be int"),
    ("icount_shift = 7", "icount_shift = 5", r"demo.toml \[sim\]: 4/5 timer ticks per instruction"),
    ('name = "demo"', 'name = "other"', r"field 'name' = 'other' must match the file name 'demo'"),
    ('fpu = "fpv4-sp-d16"', 'fpu = "vfp9"', r"demo.toml: field 'fpu' = 'vfp9'"),
])
def test_invalid_board_names_file_and_field(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(BoardError, match=message):
        load_board("demo", _write(tmp_path, GOOD.replace(old, new)))


def test_unparsable_board_file(tmp_path):
    with pytest.raises(BoardError, match=r"demo.toml: cannot read board file"):
        load_board("demo", _write(tmp_path, "name = \n"))
