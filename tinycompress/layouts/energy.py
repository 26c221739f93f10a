"""Estimated energy of a layer's inference from its operation counts.

THIS IS AN ESTIMATE, not a measurement: the CER paper's (Wiedemann, Müller,
Samek, IEEE TNNLS 2020) way of comparing layouts, which prices each counted
operation at a fixed energy from Horowitz, "Computing's energy problem",
ISSCC 2014, 45 nm CMOS, 0.9 V:

| operation                       | pJ   | used for                                   |
|---------------------------------|------|--------------------------------------------|
| 8-bit integer add               | 0.03 | (available; accumulation here is 32-bit)   |
| 32-bit integer add              | 0.1  | every add: int8 inputs summed into int32   |
| 8-bit integer multiply          | 0.2  | level x int8 input (dense, CSR, PCSR)      |
| 32-bit integer multiply         | 3.1  | level x int32 group sum (CER, CSER)        |
| SRAM read, 64-bit, 8 KB array   | 10   | every load and every write (one access)    |
| SRAM read, 32 KB / 1 MB array  | 20, 100 | `sram_access_pj` interpolates by size  |

Loads and writes. Horowitz quotes one access of a 64-bit-wide SRAM at about
10 pJ (8 KB), 20 pJ (32 KB) and 100 pJ (1 MB). A Cortex-M reads an int8,
uint8/16 index or int32 pointer in one bus access whatever its width, and the
array's word line and sense amplifiers fire for the whole row, so we price
per access, not per bit. We use the 8 KB figure by default because
microcontroller SRAMs (and the flash banks the weights live in) are small;
Horowitz gives no flash figure, and on-chip flash read energy per access is
of the same order, so the flash loads of weights are priced like SRAM
reads. A write (an output activation) is priced like a read.

Multiplies are priced by the wider operand: in CER/CSER the weight level
multiplies an int32 group sum, which this table can only price as a 32-bit
multiply (conservative for CER: a b-bit x 32-bit multiplier costs less).

The op counts come from `tinycompress.layouts` (`Layout.ops()`: loads, adds,
multiplies, writes of one matrix-vector product); multiply them by the number
of output positions of a convolution (`positions`).

PCSR's decoding is counted too (`decode_ops`): its kernel
(firmware/runtime/src/tc_fc_pcsr_s8.c) spends, besides the multiply-add
and the loads above, about 18 ALU operations per entry (the buffer-empty
test, count-trailing-zeros (RBIT + CLZ), two shifts and a subtract for the
unary part, the refill test, shift-mask-add for the column, two shifts for
the sign-extended value, the row test, the loop count), 4 per stream word
read (shift, or, pointer and bit-count updates) and 2 per row crossed.
Each is priced as a 32-bit add. Without them PCSR, which executes several
times the instructions of dense, would rank as the cheapest layout.

This model compares layouts relative to each other; it says nothing about a
board. `board_estimate` below does, from the instructions an inference
executes and the MCU's datasheet power.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from tinycompress.layouts.pcsr import PcsrLayout

OP_FIELDS = ("loads", "adds", "multiplies", "writes")

# Horowitz ISSCC 2014, 45 nm (see module docstring).
ADD_PJ = {8: 0.03, 32: 0.1}
MULT_PJ = {8: 0.2, 32: 3.1}
SRAM_ACCESS_PJ = {8 * 1024: 10.0, 32 * 1024: 20.0, 1024 * 1024: 100.0}
DEFAULT_SRAM_BYTES = 8 * 1024

# Width of the wider multiply operand in each layout's kernel (see docstring).
MULTIPLY_BITS = {"dense": 8, "csr": 8, "cer": 32, "cser": 32, "pcsr": 8}


@dataclass(frozen=True)
class EnergyEstimate:
    """Estimated energy in picojoules: the total and its part per operation kind."""

    pj_total: float
    breakdown: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain dict for JSON reports; labelled as an estimate."""
        return {"pj_total": self.pj_total, "breakdown": dict(self.breakdown),
                "estimate": True, "source": "Horowitz ISSCC 2014, 45 nm"}


def sram_access_pj(array_bytes: int = DEFAULT_SRAM_BYTES) -> float:
    """Energy of one SRAM access for an array of `array_bytes`, log-interpolated.

    Horowitz's three points (8 KB: 10 pJ, 32 KB: 20 pJ, 1 MB: 100 pJ) are
    joined linearly in log(size); smaller arrays take the 8 KB figure and
    larger ones the 1 MB figure (no extrapolation beyond the data).
    """
    sizes = sorted(SRAM_ACCESS_PJ)
    if array_bytes <= sizes[0]:
        return SRAM_ACCESS_PJ[sizes[0]]
    if array_bytes >= sizes[-1]:
        return SRAM_ACCESS_PJ[sizes[-1]]
    for low, high in zip(sizes, sizes[1:]):
        if array_bytes <= high:
            t = math.log(array_bytes / low) / math.log(high / low)
            return SRAM_ACCESS_PJ[low] + t * (SRAM_ACCESS_PJ[high] - SRAM_ACCESS_PJ[low])
    raise AssertionError("unreachable: sizes cover the range")


def multiply_bits(layout_name: str) -> int:
    """Bit width a multiply of `layout_name`'s kernel is priced at (8 or 32)."""
    try:
        return MULTIPLY_BITS[layout_name]
    except KeyError as exc:
        known = ", ".join(MULTIPLY_BITS)
        raise ValueError(f"unknown layout {layout_name!r}; known: {known}") from exc


def estimate(op_counts, *, mult_bits: int = 8, add_bits: int = 32,
             sram_bytes: int = DEFAULT_SRAM_BYTES, positions: int = 1) -> EnergyEstimate:
    """Estimated energy (pJ) of `positions` products with the given op counts.

    `op_counts`: a mapping or an object (e.g. `layouts.OpCounts`) with
    `loads`, `adds`, `multiplies`, `writes` (non-negative integers).
    `mult_bits` / `add_bits`: 8 or 32, priced from the table in the module
    docstring; `sram_bytes`: memory size that prices loads and writes.
    """
    counts = _counts(op_counts)
    if mult_bits not in MULT_PJ or add_bits not in ADD_PJ:
        raise ValueError(f"bit widths must be 8 or 32, got mult {mult_bits}, add {add_bits}")
    if positions < 0:
        raise ValueError(f"positions must be >= 0, got {positions}")
    access = sram_access_pj(sram_bytes)
    unit = {"loads": access, "adds": ADD_PJ[add_bits],
            "multiplies": MULT_PJ[mult_bits], "writes": access}
    breakdown = {k: counts[k] * positions * unit[k] for k in OP_FIELDS}
    return EnergyEstimate(sum(breakdown.values()), breakdown)


# PCSR decoding, ALU operations (module docstring; counted from tc_fc_pcsr_s8.c).
PCSR_DECODE_OPS_PER_ENTRY = 18
PCSR_DECODE_OPS_PER_WORD = 4
PCSR_DECODE_OPS_PER_ROW = 2


def decode_ops(layout) -> int:
    """ALU operations a layout's kernel spends decoding its format in one product (PCSR; 0 otherwise)."""
    if not isinstance(layout, PcsrLayout):
        return 0
    return (PCSR_DECODE_OPS_PER_ENTRY * layout.n_entries
            + PCSR_DECODE_OPS_PER_WORD * int(layout.arrays["stream"].size)
            + PCSR_DECODE_OPS_PER_ROW * int(layout.shape[0]))


def estimate_layout(layout, positions: int = 1,
                    sram_bytes: int = DEFAULT_SRAM_BYTES) -> EnergyEstimate:
    """Estimate for a `tinycompress.layouts.Layout`, multiply width from its kernel, decoding counted."""
    est = estimate(layout.ops(), mult_bits=multiply_bits(layout.name),
                   sram_bytes=sram_bytes, positions=positions)
    decode = decode_ops(layout) * positions * ADD_PJ[32]
    if not decode:
        return est
    return EnergyEstimate(est.pj_total + decode, {**est.breakdown, "decode": decode})


def _counts(op_counts) -> dict[str, int]:
    if isinstance(op_counts, Mapping):
        missing = [k for k in OP_FIELDS if k not in op_counts]
        get = op_counts.__getitem__
    else:
        missing = [k for k in OP_FIELDS if not hasattr(op_counts, k)]
        get = lambda k: getattr(op_counts, k)  # noqa: E731
    if missing:
        raise ValueError(f"op counts lack {', '.join(missing)}")
    counts = {k: int(get(k)) for k in OP_FIELDS}
    negative = [k for k, v in counts.items() if v < 0]
    if negative:
        raise ValueError(f"op counts must be >= 0: {', '.join(negative)}")
    return counts


# ---- the board's terms: instructions x cycles per instruction / clock x run-mode power ----

# Cycles per instruction, conservative, for these kernels (load-heavy integer loops)
# from the cores' technical reference manuals: Cortex-M3/M4 execute ALU and MAC
# instructions in 1 cycle, loads in 2 (1 more when pipelined), taken branches in
# 2-4 (pipeline refill), and flash wait states hidden by the ST ART accelerator
# only when the cache hits; 1.5 covers a loop of loads, MACs and one taken branch.
# Cortex-M0+: 2-cycle loads and branches, no MAC: 1.5 as well. Cortex-M7
# dual-issues, but its measured CPI on such loops stays near 1: 1.0. Cortex-M33: as M4.
CPI = {"cortex-m0plus": 1.5, "cortex-m3": 1.5, "cortex-m4": 1.5, "cortex-m7": 1.0, "cortex-m33": 1.5}


@dataclass(frozen=True)
class BoardEstimate:
    """Estimated energy of one inference on a board: instructions x CPI / clock x power."""

    uj: float
    seconds: float
    instructions: float
    cpi: float
    clock_hz: int
    power_mw: float
    source: str

    def as_dict(self) -> dict:
        return {"uj_per_inference": self.uj, "latency_ms": self.seconds * 1e3,
                "instructions": self.instructions, "cpi": self.cpi, "clock_hz": self.clock_hz,
                "run_power_mw": self.power_mw, "power_source": self.source, "estimate": True,
                "how": "instructions x CPI / clock x datasheet run-mode power"}


def board_estimate(instructions: float, cpu: str, clock_hz: int, power_mw: float,
                   source: str) -> BoardEstimate:
    """Energy (uJ) of `instructions` on `cpu` at `clock_hz` drawing `power_mw` (the datasheet's
    Run-mode figure at that clock): time = instructions x CPI[cpu] / clock, energy = time x power."""
    if instructions < 0 or clock_hz <= 0 or power_mw <= 0:
        raise ValueError("instructions >= 0, clock_hz > 0 and power_mw > 0 are needed")
    cpi = CPI[cpu]
    seconds = instructions * cpi / clock_hz
    return BoardEstimate(seconds * power_mw * 1e3, seconds, instructions, cpi, clock_hz, power_mw, source)
