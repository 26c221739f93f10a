"""Dense layout: every level stored, bit-packed at the tensor's bit width.

Array `weights`:
- bits == 8: int8, shape (rows * cols,), row-major: plain int8 matrix.
- bits < 8: uint8, each row packed on its own into `row_bytes = ceil(cols *
  bits / 8)` bytes, so every row starts on a byte boundary (the kernel finds
  row r at `weights + r * row_bytes`; the cost is < 1 byte per row). Inside a
  row, element j is the `bits`-bit two's complement of the level, occupying
  bits [j*bits, (j+1)*bits) of the row's bit stream, and bit k of the stream
  is bit (k % 8) of byte k // 8 (LSB first, as TFLM packs int4: element 0 in
  the low nibble). Unused high bits of a row's last byte are 0.

col_map is accepted for a uniform API and ignored: dense kernels walk the
patch themselves.
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts.base import Layout, OpCounts, check_matrix


def row_bytes(cols: int, bits: int) -> int:
    """Bytes of one packed row."""
    return (cols * bits + 7) // 8


class DenseLayout(Layout):
    """Bit-packed dense matrix."""

    def decode(self) -> np.ndarray:
        rows, cols = self.shape
        w = self.arrays["weights"]
        if self.bits == 8:
            return w.astype(np.int64).reshape(rows, cols)
        return unpack_rows(w.reshape(rows, row_bytes(cols, self.bits)), cols, self.bits)

    def ops(self) -> OpCounts:
        rows, cols = self.shape
        macs = rows * cols
        weight_loads = int(self.arrays["weights"].size)  # bytes read (packed: several levels each)
        return OpCounts(loads=weight_loads + macs, adds=macs, multiplies=macs, writes=rows)


def pack_rows(m: np.ndarray, bits: int) -> np.ndarray:
    """(rows, cols) levels -> (rows, row_bytes) uint8, layout as in the module docstring."""
    rows, cols = m.shape
    u = (m.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    stream = ((u[..., None] >> np.arange(bits, dtype=np.uint8)) & 1).reshape(rows, cols * bits)
    pad = row_bytes(cols, bits) * 8 - cols * bits
    stream = np.pad(stream, ((0, 0), (0, pad)))
    return np.packbits(stream, axis=1, bitorder="little").reshape(rows, -1)


def unpack_rows(packed: np.ndarray, cols: int, bits: int) -> np.ndarray:
    """Inverse of pack_rows: (rows, row_bytes) uint8 -> (rows, cols) int64 levels."""
    rows = packed.shape[0]
    stream = np.unpackbits(packed, axis=1, bitorder="little")[:, : cols * bits]
    u = (stream.reshape(rows, cols, bits).astype(np.int64) << np.arange(bits)).sum(axis=2)
    return np.where(u >= 1 << (bits - 1), u - (1 << bits), u)


def encode(levels, bits: int = 8, col_map=None) -> DenseLayout:
    """Pack `levels` (rows, cols) at `bits` (1..8) bits per level."""
    m, _ = check_matrix(levels, bits, col_map)
    if bits == 8:
        weights = m.astype(np.int8).ravel()
    else:
        weights = pack_rows(m, bits).ravel()
    return DenseLayout("dense", tuple(m.shape), bits, {"weights": weights})
