"""What every weight layout shares: the `Layout` record, op counts, index types.

A layout turns an integer matrix `M` (rows = output channels, columns =
fan-in) into the exact C arrays the firmware carries. `Layout.arrays` holds
those arrays with their C element types (int8 values, packed uint8 bits,
uint8/uint16/uint32 indices); `nbytes` is their exact size.

Size accounting: every array is its own `const` C object, aligned by the
compiler to its element size. The renderer emits a layer's arrays in
descending element size, so no padding falls between them; `nbytes` is
therefore the plain sum of `arr.nbytes`. An empty array (e.g. `col_idx` of an
all-zero matrix) counts 0 bytes: C99 has no zero-length arrays, the renderer
passes NULL for it and the kernels never read it.

Op counts (`OpCounts`, per matrix-vector product, i.e. one output position)
follow the CER paper's energy model:
- loads: reads of one array element from memory: weight bytes/values, index
  and pointer entries, omega entries, and input activations x. Loop counters
  and addresses are registers and not counted.
- adds: accumulating additions (x into a group sum, product into the
  accumulator, x into the row sum of CER/CSER when omega[0] != 0). The bias
  initialises the accumulator and is not an add.
- multiplies: weight-by-activation (or weight-by-group-sum) products.
- writes: stored outputs (one per row); requantization is the same for every
  layout and is not counted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class OpCounts:
    """Operation counts of one matrix-vector product (see module docstring)."""

    loads: int
    adds: int
    multiplies: int
    writes: int

    def as_dict(self) -> dict[str, int]:
        """Plain dict, for JSON reports."""
        return asdict(self)


@dataclass
class Layout:
    """One weight matrix in one layout. Subclasses implement decode() and ops()."""

    name: str
    shape: tuple[int, int]
    bits: int
    arrays: dict[str, np.ndarray]
    col_map: np.ndarray | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        """Exact bytes of the C arrays (no padding needed, see module docstring)."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    def decode(self) -> np.ndarray:
        """The int64 matrix this layout encodes (columns in natural order)."""
        raise NotImplementedError

    def ops(self) -> OpCounts:
        """Op counts of one matrix-vector product."""
        raise NotImplementedError

    def columns(self, stored: np.ndarray) -> np.ndarray:
        """Stored column indices (or col_map offsets) -> natural column numbers."""
        stored = np.asarray(stored, dtype=np.int64)
        if self.col_map is None:
            return stored
        return np.searchsorted(self.col_map, stored)


def index_dtype(max_value: int) -> np.dtype:
    """Narrowest unsigned C type holding 0..max_value: uint8, uint16 or uint32."""
    if max_value < 0:
        raise ValueError(f"index range must be non-negative, got {max_value}")
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"index {max_value} does not fit in uint32")


def narrow(values, max_value: int | None = None) -> np.ndarray:
    """`values` as the narrowest unsigned index array for their range.

    `max_value` fixes the range (e.g. the largest index the array could hold)
    instead of the largest value present.
    """
    values = np.asarray(values, dtype=np.int64)
    if max_value is None:
        max_value = int(values.max()) if values.size else 0
    return values.astype(index_dtype(max_value))


def check_matrix(levels, bits: int, col_map=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a level matrix (and col_map); return them as int64 arrays."""
    m = np.asarray(levels)
    if m.ndim != 2:
        raise ValueError(f"levels must be a 2-D matrix, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.integer):
        raise ValueError(f"levels must be integers, got {m.dtype}")
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    m = m.astype(np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if m.size and (m.min() < lo or m.max() > hi):
        raise ValueError(f"levels in [{m.min()}, {m.max()}] do not fit {bits}-bit two's complement")
    if col_map is not None:
        col_map = np.asarray(col_map, dtype=np.int64)
        if col_map.shape != (m.shape[1],) or np.any(np.diff(col_map) <= 0) or (
                col_map.size and col_map[0] < 0):
            raise ValueError("col_map must be non-negative, strictly increasing, one per column")
    return m, col_map


def stored_columns(cols: np.ndarray, col_map: np.ndarray | None) -> np.ndarray:
    """Natural column numbers -> what the sparse formats store (offsets with col_map)."""
    return cols if col_map is None else col_map[cols]


def max_stored(n_cols: int, col_map: np.ndarray | None) -> int:
    """Largest column value a sparse index array may hold for this matrix."""
    if col_map is None:
        return max(n_cols - 1, 0)
    return int(col_map[-1]) if col_map.size else 0
