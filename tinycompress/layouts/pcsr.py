"""PCSR layout ("packed CSR"): Rice-coded position gaps and packed values in one bit stream.

CSR spends a full byte on every value and every column index, ~2x the
zero-order entropy of a sparse low-bit tensor. PCSR writes the same non-zeros
as one bit stream with no pointer arrays at all:

- The matrix is read row-major as one run of `rows * span` positions, `span`
  = positions per row: the number of columns, or with col_map (conv) the
  largest input offset + 1, so position r*span + col_map[j] is column j of
  row r. Rows are found from positions: no row_ptr.
- Each non-zero, in that order, is one entry. Its gap g = position - (previous
  entry's position + 1), the first entry's g = its position. g is Rice coded
  with parameter k (`rice_bits`): q = g >> k zero bits, a one bit, then the k
  low bits of g; then the value, `value_bits` bits two's complement, where
  value_bits is the smallest width holding every non-zero (at most the
  tensor's bit width). Fields are LSB first.
- Stream bit i is bit i % 16 of `stream[i // 16]` (uint16 words, so the
  kernel refills a 32-bit window one aligned halfword at a time; on a
  little-endian machine this is the same as byte i // 8, bit i % 8). The
  unused high bits of the last word are 0. The kernel reads a word only when
  the entry it decodes has bits in it, so nothing past the array is read.
- k (0..8) is chosen per matrix for the fewest words (ties: fewest bits,
  then smaller k). An all-zero matrix has no entries and an empty stream.

Parameters (`PcsrLayout` fields, C struct scalars): n_entries, span,
rice_bits, value_bits. Array: `stream` (uint16).

Worked example (the 3x6 matrix of tests/test_layouts.py and the CER docstring, span 6):

    M = [[0, 2, 0, 2, 1, 0],      positions 1, 3, 4   values 2, 2, 1
         [1, 0, 0, 0, 0, 0],      position  6         value  1
         [0, 0, 1, 2, 0, 2]]      positions 14, 15, 17 values 1, 2, 2
    gaps g = 1, 1, 0, 1, 7, 0, 1; values in {1, 2} -> value_bits 3
    bits per k (sum(g >> k) + 7 * (1 + k + 3)): k=0 39, k=1 38, k=2 43 (all
    3 words), k=3 49 (4 words) -> k = 1; entries (unary | rem | value):
    g=1 v=2: 1|1|010  g=1 v=2: 1|1|010  g=0 v=1: 1|0|100  g=1 v=1: 1|1|100
    g=7 v=1: 0001|1|100  g=0 v=2: 1|0|010  g=1 v=2: 1|1|010  (value LSB first)
    stream = [0x956B, 0x9383, 0x0016]: 6 bytes (CSR 18, CER 21)

Op counts (see base): loads = stream words read (each once: `stream.size`)
+ one x per entry; adds and multiplies one per entry; writes one per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress.layouts.base import Layout, OpCounts, check_matrix, stored_columns

MAX_RICE_BITS = 8
WORD_BITS = 16


@dataclass
class PcsrLayout(Layout):
    """Packed CSR: one Rice-coded bit stream (module docstring)."""

    n_entries: int = 0
    span: int = 1
    rice_bits: int = 0
    value_bits: int = 1

    def decode(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.int64)
        flat = entry_positions_values(self)
        if flat[0].size:
            rows, stored = np.divmod(flat[0], self.span)
            cols = self.columns(stored)
            if self.col_map is not None and not np.array_equal(self.col_map[cols], stored):
                raise ValueError("pcsr stream names a position that is no column")
            out[rows, cols] = flat[1]
        return out

    def ops(self) -> OpCounts:
        rows = self.shape[0]
        nnz = self.n_entries
        return OpCounts(loads=int(self.arrays["stream"].size) + nnz, adds=nnz,
                        multiplies=nnz, writes=rows)


def value_bits(values: np.ndarray) -> int:
    """Smallest two's complement width (1..8) holding every value (1 when there are none)."""
    for b in range(1, 9):
        if values.size == 0 or (values.min() >= -(1 << (b - 1)) and values.max() < 1 << (b - 1)):
            return b
    raise ValueError("values do not fit 8 bits")


def choose_rice_bits(gaps: np.ndarray, vbits: int) -> int:
    """k with the fewest stream words, then fewest bits, then smallest k."""
    def cost(k):
        bits = int((gaps >> k).sum()) + gaps.size * (1 + k + vbits)
        return (-(-bits // WORD_BITS), bits, k)
    return min(range(MAX_RICE_BITS + 1), key=cost)


def pack(gaps: np.ndarray, values: np.ndarray, k: int, vbits: int) -> np.ndarray:
    """The stream (uint16 words) of entries (gap, value), as in the module docstring."""
    q = gaps >> k
    length = q + 1 + k + vbits
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    total = int(length.sum())
    bits = np.zeros(-(-total // WORD_BITS) * WORD_BITS, dtype=np.uint8)
    bits[start + q] = 1  # the one that ends the unary quotient
    field = (gaps & ((1 << k) - 1)) | ((values & ((1 << vbits) - 1)) << k)
    for j in range(k + vbits):
        bits[start + q + 1 + j] = (field >> j) & 1
    return np.packbits(bits, bitorder="little").view("<u2").astype(np.uint16)


def entry_positions_values(layout: PcsrLayout) -> tuple[np.ndarray, np.ndarray]:
    """(flat position, value) of every entry, parsed from the stream like the kernel."""
    k, vbits, n = layout.rice_bits, layout.value_bits, layout.n_entries
    words = layout.arrays["stream"].astype("<u2")
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").astype(np.int64)
    kv = k + vbits
    padded = np.concatenate([bits, np.zeros(kv, np.int64)])
    window = sum(padded[j: j + bits.size] << j for j in range(kv)) if bits.size else bits
    ones = np.flatnonzero(bits)
    pos, vals = np.zeros(n, np.int64), np.zeros(n, np.int64)
    p, at, sign = 0, -1, 1 << (vbits - 1)
    for e in range(n):
        t = int(ones[np.searchsorted(ones, p)])  # the one that ends the quotient
        f = int(window[t + 1])
        at += ((t - p) << k) + (f & ((1 << k) - 1)) + 1
        v = (f >> k) & ((1 << vbits) - 1)
        pos[e], vals[e] = at, v - 2 * sign if v >= sign else v
        p = t + 1 + kv
    return pos, vals


def encode(levels, bits: int = 8, col_map=None) -> PcsrLayout:
    """Encode `levels` (rows, cols) as PCSR (bits = the tensor's width, recorded)."""
    m, col_map = check_matrix(levels, bits, col_map)
    rows, cols = np.nonzero(m)  # row-major order
    span = m.shape[1] if col_map is None else (int(col_map[-1]) + 1 if col_map.size else 1)
    flat = rows * span + stored_columns(cols, col_map)
    gaps = np.diff(flat, prepend=-1) - 1
    values = m[rows, cols]
    vbits = value_bits(values)
    k = choose_rice_bits(gaps, vbits)
    stream = pack(gaps, values, k, vbits)
    return PcsrLayout("pcsr", tuple(m.shape), bits, {"stream": stream}, col_map,
                      n_entries=int(values.size), span=max(span, 1), rice_bits=k, value_bits=vbits)
