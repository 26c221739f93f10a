"""Target tier: a hello firmware built offline with PlatformIO, run in QEMU.

It prints a sentinel, times two known loops, echoes a host file read through
semihosting and exits with the code the host file asks for.
"""
from __future__ import annotations

import re
import shutil

import pytest

from tinycompress.target.boards import load_board, sim_machine
from tinycompress.errors import SimulationError, ToolError
from tinycompress.target.pio import platformio_ini, run_pio, write_platform_files
from tinycompress.target.qemu import run_elf

pytestmark = pytest.mark.target

HELLO_C = r"""
#include <stdint.h>
#include "tc_board.h" /* board facts; includes tc_platform.h */

/* Exactly 2 instructions per iteration (subs + bne): the count is hand-derivable. */
static void spin(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n));
}

static void time_loop(uint32_t n)
{
    tc_timer_start();
    spin(n);
    uint32_t elapsed = tc_timer_elapsed();
    tc_print("LOOP ");
    tc_print_u32(n);
    tc_print(" ");
    tc_print_u32(elapsed);
    tc_print("\n");
}

int main(void)
{
    static char text[64];
    tc_platform_init();
    tc_print("TC_HELLO_OK " TC_BOARD_NAME "\n");
    time_loop(1000);
    time_loop(5000);
    int32_t got = tc_read_file("input.txt", text, sizeof text - 1);
    if (got < 0) {
        tc_print("NO FILE\n");
        return 9;
    }
    text[got] = '\0';
    tc_print("FILE ");
    tc_print(text);
    tc_print("\n");
    if (text[0] == 'h') { /* "hang": exercises the simulation timeout */
        for (;;) {
        }
    }
    return text[0] - '0';
}
"""

BOARDS = ["nucleo", "mps2_an386"]


@pytest.fixture(scope="module")
def hello_elves(tmp_path_factory, offline_core):
    """board alias -> (ELF, QEMU machine, build seconds); one pio build per board."""
    built = {}
    for name in BOARDS:
        project = tmp_path_factory.mktemp(f"hello_{name}")
        board = load_board(name)
        write_platform_files(project, board)
        (project / "platformio.ini").write_text(platformio_ini(board, offline_core))
        (project / "src").mkdir()
        (project / "src" / "main.c").write_text(HELLO_C)
        result = run_pio(project, env="sim", core_dir=offline_core)
        assert result.elf is not None, result.output
        built[name] = (result.elf, sim_machine(board).qemu_machine, result.seconds)
    return built


def _run(elf, machine, tmp_path, content: str, timeout: float = 30):
    (tmp_path / "input.txt").write_text(content)
    return run_elf(elf, machine, timeout_s=timeout, cwd=tmp_path)


def _loops(stdout: str) -> dict[int, int]:
    return {int(n): int(e) for n, e in re.findall(r"^LOOP (\d+) (\d+)$", stdout, re.M)}


@pytest.mark.parametrize("name", BOARDS)
def test_hello_runs_and_reads_host_file(hello_elves, name, tmp_path):
    elf, machine, _ = hello_elves[name]
    result = _run(elf, machine, tmp_path, "0 tiny")
    board = load_board(name).name
    assert f"TC_HELLO_OK {board}\n" in result.stdout, result.stdout + result.stderr
    assert "FILE 0 tiny\n" in result.stdout
    assert result.exit_code == 0


@pytest.mark.parametrize("name", BOARDS)
def test_exit_code_comes_from_firmware(hello_elves, name, tmp_path):
    elf, machine, _ = hello_elves[name]
    assert _run(elf, machine, tmp_path, "7").exit_code == 7  # main returns '7' - '0'


@pytest.mark.parametrize("name", BOARDS)
def test_instruction_counts_exact_and_repeatable(hello_elves, name, tmp_path):
    elf, machine, _ = hello_elves[name]
    first = _loops(_run(elf, machine, tmp_path, "0").stdout)
    second = _loops(_run(elf, machine, tmp_path, "0").stdout)
    assert first == second and set(first) == {1000, 5000}
    # 4000 more iterations of a 2-instruction loop: exactly 8000 more instructions.
    assert first[5000] - first[1000] == 8000
    # Fixed overhead (call, timer reads) is small and positive.
    assert 2000 < first[1000] < 2000 + 40


def test_hang_is_stopped_by_timeout(hello_elves, tmp_path):
    elf, machine, _ = hello_elves["nucleo"]
    with pytest.raises(SimulationError, match="timed out after 2 s"):
        _run(elf, machine, tmp_path, "hang", timeout=2)


def test_build_failure_reports_compiler_error(tmp_path, firmware_project, offline_core):
    project = firmware_project(tmp_path / "bad", "mps2_an386", {"src/main.c": "int main(void) { return undeclared_x; }\n"})
    with pytest.raises(ToolError, match="undeclared_x"):
        run_pio(project, env="sim", core_dir=offline_core)


def test_missing_qemu_is_a_tool_error(hello_elves, tmp_path, monkeypatch):
    elf, machine, _ = hello_elves["mps2_an386"]
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(ToolError, match="apt-get install --no-install-recommends qemu-system-arm"):
        run_elf(elf, machine, timeout_s=5, cwd=tmp_path)


ALL_BOARDS = ["nucleo_f401re", "nucleo_l476rg", "nucleo_l4r5zi", "nucleo_f746zg", "nucleo_h743zi",
              "mps2_an385", "mps2_an386", "mps2_an500", "netduinoplus2"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_BOARDS)
def test_every_board_builds_and_its_sim_build_runs(name, tmp_path, firmware_project, offline_core):
    """Both envs link with the generated scripts; the simulation build runs on the board's machine."""
    board = load_board(name)
    project = firmware_project(tmp_path / "p", name, {"src/main.c": HELLO_C})
    sim = run_pio(project, env="sim", core_dir=offline_core)
    if not board.is_qemu:
        hw = run_pio(project, env="hw", core_dir=offline_core)
        assert re.search(r"text\s+data\s+bss", hw.output)  # the size report
    (tmp_path / "input.txt").write_text("0")
    result = run_elf(sim.elf, sim_machine(board).qemu_machine, timeout_s=30, cwd=tmp_path)
    assert f"TC_HELLO_OK {name}\n" in result.stdout and result.exit_code == 0, result.stdout + result.stderr
    loops = _loops(result.stdout)
    assert loops[5000] - loops[1000] == 8000  # exact on every machine (see test above)
