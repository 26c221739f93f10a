"""CSR layout: non-zero values, their columns, row pointers.

Arrays:
- `values`  int8 (nnz,): the non-zero levels, row after row, columns ascending.
- `col_idx` (nnz,): their columns, or with col_map their input offsets
  col_map[j]; narrowest unsigned type for the largest value stored.
- `row_ptr` (rows + 1,): row r is values[row_ptr[r]:row_ptr[r+1]]; narrowest
  unsigned type for nnz.
Values stay one byte each (not packed) so the inner loop is one load per value.
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts.base import (Layout, OpCounts, check_matrix, narrow,
                                       stored_columns)


class CsrLayout(Layout):
    """Compressed sparse row."""

    def decode(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.int64)
        ptr = self.arrays["row_ptr"].astype(np.int64)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(ptr))
        out[rows, self.columns(self.arrays["col_idx"])] = self.arrays["values"]
        return out

    def ops(self) -> OpCounts:
        rows = self.shape[0]
        nnz = int(self.arrays["values"].size)
        # per non-zero: value, column index, x; per row: row_ptr (rows + 1 in all)
        return OpCounts(loads=3 * nnz + rows + 1, adds=nnz, multiplies=nnz, writes=rows)


def encode(levels, bits: int = 8, col_map=None) -> CsrLayout:
    """Encode `levels` (rows, cols) as CSR (bits is recorded, values stay int8)."""
    m, col_map = check_matrix(levels, bits, col_map)
    rows, cols = np.nonzero(m)  # row-major: rows ascending, columns ascending inside
    counts = np.bincount(rows, minlength=m.shape[0])
    arrays = {
        "values": m[rows, cols].astype(np.int8),
        "col_idx": narrow(stored_columns(cols, col_map)),
        "row_ptr": narrow(np.concatenate([[0], np.cumsum(counts)])),
    }
    return CsrLayout("csr", tuple(m.shape), bits, arrays, col_map)
