"""CER layout (Compressed Entropy Row; Wiedemann, Müller, Samek, "Compact and
Computationally Efficient Representation of Deep Neural Networks", IEEE TNNLS 2020).

Arrays:
- `omega` int8 (K + 1,): the distinct values of M, most frequent first.
  Ties (equal counts) are ordered by smaller |v| first, then negative first:
  counts {1: 3, -1: 3, 2: 3} -> [-1, 1, 2]. omega[0] is never stored per element.
- `col_idx` (nnz,): columns (or col_map offsets) of every group, row after row,
  groups in omega order, ascending inside a group; narrowest unsigned type
  for the largest value stored.
- `omega_ptr` (G + 1,): group g is col_idx[omega_ptr[g]:omega_ptr[g+1]];
  narrowest type for nnz.
- `row_ptr` (rows + 1,): groups of row r are row_ptr[r]..row_ptr[r+1]-1, and its
  k-th group (k from 0) holds value omega[k + 1]. A row carries groups up to its
  rarest value, with empty groups for skipped values; a row holding only
  omega[0] has none. Narrowest type for G.

Worked example (the 3x6 matrix of tests/test_layouts.py):

    M = [[0, 2, 0, 2, 1, 0],      counts 0 -> 11, 2 -> 4, 1 -> 3: omega = [0, 2, 1]
         [1, 0, 0, 0, 0, 0],      groups (value: columns): row 0 (2: 1, 3) (1: 4);
         [0, 0, 1, 2, 0, 2]]      row 1 (2: empty) (1: 0); row 2 (2: 3, 5) (1: 2)
    col_idx = [1, 3, 4, 0, 3, 5, 2], omega_ptr = [0, 2, 3, 3, 4, 6, 7],
    row_ptr = [0, 2, 4, 6]; all uint8: 3 + 7 + 7 + 4 = 21 bytes
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts.base import (Layout, OpCounts, check_matrix, narrow,
                                       stored_columns)


def omega_order(m: np.ndarray) -> np.ndarray:
    """Distinct values by descending count; ties: smaller |v|, then negative first."""
    values, counts = np.unique(m, return_counts=True)
    if values.size == 0:
        return np.zeros(1, dtype=np.int64)  # empty matrix: omega = [0]
    order = np.lexsort((values, np.abs(values), -counts))  # last key is primary
    return values[order]


def ranks(m: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Index into omega of every entry of m."""
    lut = np.zeros(256, dtype=np.int64)
    lut[omega + 128] = np.arange(omega.size)
    return lut[m + 128]


def group_counts(m: np.ndarray, omega: np.ndarray):
    """Entries other than omega[0], sorted (row, value rank, col), and per-row counts.

    Returns (rows, ks, cols, counts): ks = rank - 1 (0-based group slot),
    counts (n_rows, K) entries per (row, slot).
    """
    rank = ranks(m, omega)
    rows, cols = np.nonzero(rank)
    ks = rank[rows, cols] - 1
    order = np.lexsort((cols, ks, rows))
    rows, ks, cols = rows[order], ks[order], cols[order]
    n_slots = omega.size - 1
    counts = np.bincount(rows * n_slots + ks, minlength=m.shape[0] * n_slots)
    return rows, ks, cols, counts.reshape(m.shape[0], n_slots)


def cer_ops(layout: Layout, n_groups: int, extra_group_loads: int) -> OpCounts:
    """Op counts shared by CER and CSER (see base module docstring).

    Per entry: col_idx + x loads, one add into the group sum. Per group: its
    omega_ptr entry and omega value (+ omega_idx for CSER), one multiply and
    one add into the accumulator. When omega[0] != 0 the row sum of x is
    formed once per product (cols loads and adds) and each row adds omega[0]*sum.
    """
    rows, cols = layout.shape
    nnz = int(layout.arrays["col_idx"].size)
    loads = 2 * nnz + (n_groups + 1) + n_groups * (1 + extra_group_loads) + rows + 1
    adds, mults = nnz + n_groups, n_groups
    if int(layout.arrays["omega"][0]) != 0:
        loads, adds, mults = loads + cols, adds + cols + rows, mults + rows
    return OpCounts(loads=loads, adds=adds, multiplies=mults, writes=rows)


def fill(layout: Layout, group_row: np.ndarray, group_value: np.ndarray) -> np.ndarray:
    """Decode helper: matrix from each group's row and value."""
    a = layout.arrays
    out = np.full(layout.shape, int(a["omega"][0]), dtype=np.int64)
    entry_group = np.repeat(np.arange(group_row.size), np.diff(a["omega_ptr"].astype(np.int64)))
    out[group_row[entry_group], layout.columns(a["col_idx"])] = group_value[entry_group]
    return out


class CerLayout(Layout):
    """Compressed Entropy Row."""

    def decode(self) -> np.ndarray:
        a = self.arrays
        row_ptr = a["row_ptr"].astype(np.int64)
        group_row = np.repeat(np.arange(self.shape[0]), np.diff(row_ptr))
        slot = np.arange(group_row.size) - row_ptr[group_row]
        return fill(self, group_row, a["omega"].astype(np.int64)[slot + 1])

    def ops(self) -> OpCounts:
        return cer_ops(self, int(self.arrays["omega_ptr"].size) - 1, 0)


def encode(levels, bits: int = 8, col_map=None) -> CerLayout:
    """Encode `levels` (rows, cols) as CER (bits recorded; omega is int8)."""
    m, col_map = check_matrix(levels, bits, col_map)
    omega = omega_order(m)
    rows, ks, cols, counts = group_counts(m, omega)
    n_groups = np.zeros(m.shape[0], dtype=np.int64)
    np.maximum.at(n_groups, rows, ks + 1)  # groups up to the row's rarest value
    present = np.arange(counts.shape[1])[None, :] < n_groups[:, None]
    arrays = {
        "omega": omega.astype(np.int8),
        "col_idx": narrow(stored_columns(cols, col_map)),
        "omega_ptr": narrow(np.concatenate([[0], np.cumsum(counts[present])])),
        "row_ptr": narrow(np.concatenate([[0], np.cumsum(n_groups)])),
    }
    return CerLayout("cer", tuple(m.shape), bits, arrays, col_map)
