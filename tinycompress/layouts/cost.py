"""Instruction-cost model used by `choose(optimize="speed" | "balanced")`.

Instructions of one layer on a Cortex-M4 (GCC 12 -O2, DSP) are modelled as

    per_call + positions * sum_f coef_f * feature_f

per kind of kernel (`fc`, `conv`, `dwconv`) and layout (dense by bit width:
`dense8`, `dense4`, ...), where `positions` is the number of output pixels
(1 for a fully-connected layer) and the features are counts of one
matrix-vector product read off the layout (`features`): rows, columns and
contiguous runs of input offsets (a convolution's patch gather), MACs, stored
non-zeros, CER/CSER entries and groups, pcsr stream words.

The coefficients are not guesses: `bench/calibrate.py` builds a set of
synthetic layers in every layout, counts their instructions exactly in QEMU,
fits the coefficients by non-negative least squares and writes them to
`cost_table.json` beside this file (with how and when they were measured).
The bench checks the model against measured counts on the bench models.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from tinycompress.layouts.base import Layout

TABLE_FILE = Path(__file__).with_name("cost_table.json")
KINDS = ("fc", "conv", "dwconv")
KIND_OF_OP = {"dense": "fc", "conv2d": "conv", "depthwise_conv2d": "dwconv"}


def layout_key(layout: Layout) -> str:
    """The cost table's key of a layout: its name, with the bit width for dense."""
    return f"dense{layout.bits}" if layout.name == "dense" else layout.name


def features(layout: Layout, col_map=None) -> dict[str, float]:
    """Counts of one matrix-vector product in `layout` that its kernel's work scales with.

    col_map: a convolution's input offset of every column (default: the layout's own).
    """
    rows, cols = layout.shape
    a = layout.arrays
    cmap = layout.col_map if col_map is None else col_map
    out = {"rows": float(rows), "cols": float(cols), "runs": float(_runs(cmap, cols))}
    if layout.name == "dense":
        out["macs"] = float(rows * cols)
    elif layout.name == "csr":
        out["nnz"] = float(a["values"].size)
    elif layout.name == "pcsr":
        out["entries"] = float(layout.n_entries)
        out["words"] = float(a["stream"].size)
    elif layout.name in ("cer", "cser"):
        out["entries"] = float(a["col_idx"].size)
        groups = a["omega_idx"].size if layout.name == "cser" else a["omega_ptr"].size - 1
        out["groups"] = float(groups)
        out["row_sum"] = float(rows * cols) if int(a["omega"][0]) != 0 else 0.0
    else:
        raise ValueError(f"no cost model for layout {layout.name!r}")
    return out


def _runs(col_map, cols: int) -> int:
    """Contiguous runs of input offsets in a row (a conv patch: one per kernel tap)."""
    if col_map is None or cols == 0:
        return 1 if cols else 0
    offsets = [int(v) for v in col_map]
    return 1 + sum(1 for a, b in zip(offsets, offsets[1:]) if b != a + 1)


@lru_cache(maxsize=1)
def cost_table() -> dict:
    """The calibrated table: {"kinds": {kind: {layout key: {"per_call", "coef"}}}, "measured": ...}."""
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def estimated_instructions(layout: Layout, kind: str = "fc", positions: int = 1,
                           col_map=None) -> float:
    """Estimated instructions of a layer in `layout` (module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    entry = cost_table()["kinds"][kind][layout_key(layout)]
    per_position = sum(entry["coef"].get(f, 0.0) * v for f, v in features(layout, col_map).items())
    return entry["per_call"] + positions * per_position
