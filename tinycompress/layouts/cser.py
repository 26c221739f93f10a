"""CSER layout: CER plus the value index of every group, so no empty groups.

Arrays as CER (`omega`, `col_idx`, `omega_ptr`, `row_ptr`; same ordering and
tie rule) plus `omega_idx` (G,): group g holds value omega[omega_idx[g]]
(1..K, never 0); narrowest unsigned type (uint8 for every 8-bit tensor).
A row has one group per distinct value other than omega[0] it uses, in omega
order.
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts.base import Layout, OpCounts, check_matrix, narrow, stored_columns
from tinycompress.layouts.cer import cer_ops, fill, group_counts, omega_order


class CserLayout(Layout):
    """Compressed Shared Elements Row."""

    def decode(self) -> np.ndarray:
        a = self.arrays
        group_row = np.repeat(np.arange(self.shape[0]), np.diff(a["row_ptr"].astype(np.int64)))
        return fill(self, group_row, a["omega"].astype(np.int64)[a["omega_idx"].astype(np.int64)])

    def ops(self) -> OpCounts:
        return cer_ops(self, int(self.arrays["omega_idx"].size), 1)


def encode(levels, bits: int = 8, col_map=None) -> CserLayout:
    """Encode `levels` (rows, cols) as CSER (bits recorded; omega is int8)."""
    m, col_map = check_matrix(levels, bits, col_map)
    omega = omega_order(m)
    _, _, cols, counts = group_counts(m, omega)
    present = counts > 0
    group_rows, group_slots = np.nonzero(present)  # row-major: rows, then omega order
    arrays = {
        "omega": omega.astype(np.int8),
        "col_idx": narrow(stored_columns(cols, col_map)),
        "omega_ptr": narrow(np.concatenate([[0], np.cumsum(counts[present])])),
        "row_ptr": narrow(np.concatenate([[0], np.cumsum(present.sum(axis=1))])),
        "omega_idx": narrow(group_slots + 1),
    }
    return CserLayout("cser", tuple(m.shape), bits, arrays, col_map)
