"""Energy estimate: hand-priced op counts against the Horowitz 45 nm table."""
import math

import numpy as np
import pytest

from tinycompress.layouts import energy
from tinycompress.layouts import OpCounts, encode_as


def test_dense_fc_hand_priced():
    # 10 loads x 10 pJ + 4 adds x 0.1 + 4 mult x 0.2 (8-bit) + 2 writes x 10 pJ
    # = 100 + 0.4 + 0.8 + 20 = 121.2 pJ
    est = energy.estimate({"loads": 10, "adds": 4, "multiplies": 4, "writes": 2})
    assert est.pj_total == pytest.approx(121.2)
    assert est.breakdown == pytest.approx(
        {"loads": 100.0, "adds": 0.4, "multiplies": 0.8, "writes": 20.0})


def test_32bit_multiply_positions_and_dataclass_input():
    # 3 mults x 3.1 pJ = 9.3 pJ per position, 5 positions = 46.5 pJ; 1 add 8-bit = 0.03 x 5
    counts = OpCounts(loads=0, adds=1, multiplies=3, writes=0)
    est = energy.estimate(counts, mult_bits=32, add_bits=8, positions=5)
    assert est.breakdown["multiplies"] == pytest.approx(46.5)
    assert est.breakdown["adds"] == pytest.approx(0.15)
    assert est.pj_total == pytest.approx(46.65)


def test_sram_access_interpolation():
    assert energy.sram_access_pj(1024) == 10.0        # below the smallest point: 8 KB figure
    assert energy.sram_access_pj(32 * 1024) == 20.0   # a table point
    assert energy.sram_access_pj(1 << 30) == 100.0    # above: 1 MB figure
    # 16 KB is halfway between 8 and 32 KB in log2 (13 -> 14 -> 15): 10 + 0.5 x 10 = 15 pJ
    assert energy.sram_access_pj(16 * 1024) == pytest.approx(15.0)


def test_loads_priced_by_memory_size():
    est = energy.estimate({"loads": 2, "adds": 0, "multiplies": 0, "writes": 1},
                          sram_bytes=1024 * 1024)
    assert est.pj_total == pytest.approx(300.0)  # 3 accesses x 100 pJ


@pytest.mark.parametrize("bad", [
    {"loads": 1, "adds": 1, "multiplies": 1},                    # writes missing
    {"loads": -1, "adds": 0, "multiplies": 0, "writes": 0},      # negative
])
def test_bad_counts_rejected(bad):
    with pytest.raises(ValueError):
        energy.estimate(bad)


def test_bad_bits_rejected():
    with pytest.raises(ValueError, match="8 or 32"):
        energy.estimate({"loads": 0, "adds": 0, "multiplies": 0, "writes": 0}, mult_bits=16)


def test_layout_estimate_uses_kernel_multiply_width():
    m = np.array([[0, 2, 0, 2, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 2, 0, 2]])
    for name, bits in [("dense", 8), ("csr", 8), ("cer", 32), ("cser", 32)]:
        layout = encode_as(name, m, bits=8)
        ops = layout.ops()
        est = energy.estimate_layout(layout)
        want = (ops.loads + ops.writes) * 10.0 + ops.adds * 0.1 + ops.multiplies * energy.MULT_PJ[bits]
        assert math.isclose(est.pj_total, want), name


def test_as_dict_labelled_estimate():
    d = energy.estimate({"loads": 1, "adds": 0, "multiplies": 0, "writes": 0}).as_dict()
    assert d["estimate"] is True and d["pj_total"] == 10.0


# ---- energy-mode firmware (target tier): QEMU semihosting marks, and the hardware build's UART ----

from tests.board_builds import (  # noqa: E402
    DIGITS_TRAIN, board_builds, energy_build, run_hw_uart,  # noqa: F401  (session fixtures)
)
from tinycompress.data import load_npz, save_npz  # noqa: E402
from tinycompress.reference.int_ref import run_int  # noqa: E402
from tinycompress.target.boards import load_board  # noqa: E402
from tinycompress.target.meters.dut import parse_energy  # noqa: E402
from tinycompress.target.qemu import run_elf  # noqa: E402
from tinycompress.target.sim import simulate  # noqa: E402
from tinycompress.target.state import load_state  # noqa: E402


def _sample_output(build_dir) -> bytes:
    """The integer reference's output for the firmware's built-in sample (the first --data input)."""
    qgraph = load_state(build_dir).qgraph
    x = qgraph.quantize_input(load_npz(DIGITS_TRAIN).x[:1])
    return np.asarray(run_int(qgraph, x), np.int8).tobytes()


@pytest.mark.target
def test_energy_windows_marked_in_qemu(energy_build, board_builds, tmp_path):
    result = run_elf(energy_build / "firmware_sim.elf", "netduinoplus2", timeout_s=120, cwd=tmp_path)
    run = parse_energy(result.stdout)
    board = load_board("nucleo")
    # two repetitions under QEMU, each: idle window, inference window, end (in that order)
    assert result.exit_code == 0 and run.marks == ["idle", "infer", "end"] * 2 and run.repeats == 2
    # the idle window asks for half a second of the board's run clock (ENERGY_WINDOW_S)
    assert run.idle_target == board.run_hz // 2
    # the delay loop stops within a few instructions of its target (one poll of the timer)
    assert all(run.idle_target <= c < run.idle_target + 100 for c in run.idle)
    # one inference of the sample costs exactly what `sim` counts for the same input (same kernels)
    save_npz(tmp_path / "one.npz", load_npz(DIGITS_TRAIN).x[:1])
    sim = simulate(board_builds["nucleo"], data=tmp_path / "one.npz")
    assert run.cycles == [sim.instructions_per_inference] * 2
    # N inferences plus the input copy and loop: more than N x one, less than N x (one + 1 %)
    for infer in run.infer:
        assert run.n * run.cycles[0] < infer < run.n * run.cycles[0] * 1.01
    assert run.n * run.cycles[0] >= run.idle_target  # the window lasts at least as long as the idle one
    assert run.outputs == [_sample_output(energy_build)] * 2


@pytest.mark.target
def test_hardware_build_uart_in_qemu(board_builds):
    """The firmware people flash (UART, DWT, bounded clock setup) on QEMU netduinoplus2."""
    board = load_board("nucleo")
    lines = run_hw_uart(board_builds["nucleo"] / "firmware.elf", board.uart.base, r"^OUT 0 ")
    # QEMU models no RCC: the PLL never reports lock, the bounded wait gives up, HSI stays
    first_wait = next(k for k, step in enumerate(board.clock.steps) if step.op == "wait")
    assert lines[0] == f"TC_CLOCK_FALLBACK step {first_wait} timed out: running at {board.clock.reset_hz} Hz"
    assert lines[1] == "TC_BEGIN digits_lenet on nucleo_f401re"
    assert bytes.fromhex(lines[-1].split()[2]) == _sample_output(board_builds["nucleo"])


@pytest.mark.target
def test_energy_hardware_build_uart_in_qemu(energy_build):
    board = load_board("nucleo")
    lines = run_hw_uart(energy_build / "firmware.elf", board.uart.base, r"^OUT 1 ")
    run = parse_energy("\n".join(lines))
    assert run.fallback is not None and run.repeats == 2 and run.marks == []  # GPIO pulses, no marks
    assert run.outputs == [_sample_output(energy_build)] * 2


# ---- PCSR decoding in the 45 nm model; the board-terms estimate ----

def test_pcsr_decode_work_counted():
    # the 3x6 worked example of layouts/pcsr.py: 7 entries, 3 stream words, 3 rows
    m = np.array([[0, 2, 0, 2, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 2, 0, 2]])
    layout = encode_as("pcsr", m, bits=8)
    assert energy.decode_ops(layout) == 18 * 7 + 4 * 3 + 2 * 3  # = 144 ALU operations
    ops = layout.ops()
    base = (ops.loads + ops.writes) * 10.0 + ops.adds * 0.1 + ops.multiplies * 0.2
    est = energy.estimate_layout(layout, positions=2)
    assert est.breakdown["decode"] == pytest.approx(2 * 144 * 0.1)  # 28.8 pJ for two products
    assert est.pj_total == pytest.approx(2 * base + 28.8)
    assert energy.decode_ops(encode_as("csr", m, bits=8)) == 0


def test_board_estimate_by_hand():
    # 1,000,000 instructions x 1.5 CPI / 120 MHz = 12.5 ms; x 43.56 mW = 544.5 uJ
    est = energy.board_estimate(1_000_000, "cortex-m4", 120_000_000, 43.56, "test")
    assert est.seconds == pytest.approx(12.5e-3) and est.uj == pytest.approx(544.5)
    assert est.as_dict()["estimate"] is True


def test_board_power_data_cites_its_datasheet():
    board = load_board("nucleo_l4r5zi")
    # 110 uA/MHz x 120 MHz = 13.2 mA; x 3.3 V = 43.56 mW
    assert board.run_hz == 120_000_000 and board.power.run_mw(board.run_hz) == pytest.approx(43.56)
    assert "DS12023" in board.power.source
    for name in ("nucleo_f401re", "nucleo_l476rg"):
        assert load_board(name).power.source.startswith("ST DS")
