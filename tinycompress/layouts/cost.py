"""Instruction-cost model used by `choose(optimize="speed")`.

An estimate of Cortex-M4 instructions per matrix-vector product, from the
structure of each layout and the inner loops of the C kernels in
firmware/runtime/src (GCC 12 -O2). The per-element costs below are rough
estimates from the shape of those loops, not yet calibrated against QEMU
counts; the model only has to rank layouts, and the bench measures the real
counts (calibrate these constants from its numbers).
"""
from __future__ import annotations

from tinycompress.layouts.base import Layout

# Per multiply-accumulate of the dense kernel, by bit width: the 8-bit loop is
# unrolled by 4 (two byte loads + mla each, loop overhead shared); sub-byte
# rows also pay shifts/sign extension per level.
DENSE_PER_MAC = {8: 3.5, 4: 4.5, 2: 4.5}
DENSE_PER_MAC_OTHER = 6.0  # 3, 5, 6, 7 bits: bit-stream extraction
PER_ROW = 20.0  # row setup, bias, requantization and store
CSR_PER_NNZ = 5.0  # index, value, x loads, mla, loop
CER_PER_ENTRY = 4.0  # index, x load, add, loop
CER_PER_GROUP = 7.0  # pointer load, omega load, mla, loop test
CSER_PER_GROUP = 8.0  # + omega_idx load
PCSR_PER_ENTRY = 26.0  # ctz, refill test, extract, row-end test, x, mla (QEMU digits fc1: ~29)
PCSR_PER_WORD = 3.0  # halfword load into the 32-bit window


def estimated_instructions(layout: Layout) -> float:
    """Estimated instructions of one matrix-vector product in `layout`."""
    rows, cols = layout.shape
    a = layout.arrays
    base = PER_ROW * rows
    if layout.name == "dense":
        return base + rows * cols * DENSE_PER_MAC.get(layout.bits, DENSE_PER_MAC_OTHER)
    if layout.name == "csr":
        return base + CSR_PER_NNZ * a["values"].size
    if layout.name == "pcsr":
        return base + PCSR_PER_ENTRY * layout.n_entries + PCSR_PER_WORD * a["stream"].size
    entries = a["col_idx"].size * CER_PER_ENTRY
    row_sum = 2.0 * cols if int(a["omega"][0]) != 0 else 0.0
    if layout.name == "cer":
        return base + entries + row_sum + CER_PER_GROUP * (a["omega_ptr"].size - 1)
    if layout.name == "cser":
        return base + entries + row_sum + CSER_PER_GROUP * a["omega_idx"].size
    raise ValueError(f"no cost model for layout {layout.name!r}")
