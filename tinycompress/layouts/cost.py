"""Instruction-cost model used by `choose(optimize="speed" | "balanced")`.

Instructions of one layer on a Cortex-M4 (GCC 12 -O2, DSP) are modelled as

    per_call + sum_g once_g * g  +  inside * sum_f coef_f * f  +  border * sum_f edge_f * f

per kind of kernel (`fc`, `conv`, `dwconv`, `dwconv3`: `kind_of`) and layout (dense by bit width:
`dense8`, `dense4`, ...). The features f are counts of one matrix-vector
product read off the layout (`features`): rows, columns and contiguous runs
of input offsets (a convolution's patch gather), MACs (and for dense, MACs over
rows padded to the engine's whole groups), rows with a non-zero and rows without,
stored non-zeros, CER/CSER entries and groups, pcsr stream words. `inside` and `border` split a
convolution's output pixels into those whose window lies inside the input
and those reaching into the padding ('same'), which the kernels sum on
paths of their own (`border_positions`); a fully-connected layer is one
inside position. The features g (`once_features`: f and the matrix's cells,
rows x columns) are work done once per layer: the sparse convolution kernels
decode each output channel's weights once per call, not once per pixel, and
then sweep the output pixels over the channel's non-zero weights; with the
layer's `Geometry` the once features of a sparse layout also count that sweep
(`layouts.sweep.sweep_features`: products of non-zero weights and the pixels whose window
holds their tap inside the input, by how the pixels are grouped), so the
calibration fits the sparse convolutions' per-pixel work there and keeps only
the output stage per pixel and channel.

The coefficients are not guesses: `bench/calibrate.py` builds a set of
synthetic layers in every layout, counts their instructions exactly in QEMU,
fits the coefficients by non-negative least squares and writes them to
`cost_table.json` beside this file (with how and when they were measured).
bench/cost_check.py checks the model against exact counts of every layout x
weight layer of the bench models, each with the scratch its build planned it (issue 10
asks all within 15 %: tests/test_cost_model.py).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
import numpy as np

from tinycompress.layouts.base import Layout
from tinycompress.layouts.sweep import Geometry, planar_features, sweep_features

TABLE_FILE = Path(__file__).with_name("cost_table.json")
KINDS = ("fc", "conv", "dwconv", "dwconv3")
KIND_OF_OP = {"dense": "fc", "conv2d": "conv", "depthwise_conv2d": "dwconv"}
# Levels per group of the dense engine at each bit width (tc_dense_group): a row is
# read in whole groups, its last one zero-padded.
DENSE_GROUP = {1: 32, 2: 16, 3: 16, 4: 8, 5: 8, 6: 8, 7: 8, 8: 4}


def kind_of(op: str, kernel_hw=(1, 1), strides=(1, 1)) -> str:
    """The cost table's kind of a weight layer: `fc`, `conv`, `dwconv`, or `dwconv3` for a
    3x3 stride-1 depthwise layer, which the dense kernel runs on a path of its own (one
    channel at a time over int16 rows, tc_dwconv2d_dense_s8.c)."""
    kind = KIND_OF_OP[op]
    if kind == "dwconv" and tuple(kernel_hw) == (3, 3) and tuple(strides) == (1, 1):
        return "dwconv3"
    return kind


def layout_key(layout: Layout, kind: str = "fc", geometry: Geometry | None = None) -> str:
    """The cost table's key of a layout: its name, with the bit width for dense; a dense
    convolution on its general path (`general_path`) `dense<bits>_general`."""
    if layout.name != "dense":
        return layout.name
    return f"dense{layout.bits}" + ("_general" if general_path(layout, kind, geometry) else "")


def general_path(layout: Layout, kind: str, geometry: Geometry | None) -> bool:
    """Whether tc_conv2d_dense_s8 runs a dense convolution on its general path (two
    pixels a pass over the levels at their width) rather than its DSP path (8-bit
    columns, sub-byte rows unpacked once per call): with its least scratch
    (`Geometry.least`: the DSP path's does not fit), or an odd number of output
    channels (the DSP path takes them in pairs), or a channel whose requantization is not
    the short form (`Geometry.short_rq`)."""
    if layout.name != "dense" or kind != "conv":
        return False
    if geometry is not None and (geometry.least or not geometry.short_rq):
        return True
    return layout.shape[0] % 2 == 1


def short_requant(shift, bias, bits: int, cols: int) -> bool:
    """Whether every row of a dense layer requantizes in the engine's short form
    (tc_fc_dense_s8.c, tc_dense_rq_init; tc_conv2d_dense_s8 takes its DSP path only then):
    a shift of -23..-2, or below 8 bits a larger multiplier (shift >= -1) on the
    accumulator shifted left by p = 2 + shift, when p <= 8 - bits and |bias| + cols *
    2^(bits-1) * 128 stays below 2^(31-p). `shift`: one per row, or one for all."""
    bias = np.abs(np.asarray(bias, dtype=np.int64))
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), bias.shape)
    p = 2 + shift
    bound = bias + cols * (1 << (bits - 1)) * 128
    pre = (shift >= -1) & (p <= 8 - bits) & (bound < 2.0 ** np.clip(31 - p, 0, 62))
    return bool(np.all(((shift >= -23) & (shift <= -2)) | pre))


def table_entry(table: dict, kind: str, key: str) -> dict:
    """The cost table's entry of a kind and layout key; a table fitted before the dense
    convolution's general path had entries of its own gives its DSP path's."""
    entries = table["kinds"][kind]
    return entries.get(key) or entries[key.removesuffix("_general")]


def features(layout: Layout, col_map=None) -> dict[str, float]:
    """Counts of one matrix-vector product in `layout` that its kernel's work scales with.

    col_map: a convolution's input offset of every column (default: the layout's own).
    """
    rows, cols = layout.shape
    a = layout.arrays
    cmap = layout.col_map if col_map is None else col_map
    out = {"rows": float(rows), "cols": float(cols), "runs": float(_runs(cmap, cols))}
    if layout.name != "dense":  # the sparse kernels only fill an empty row's outputs
        live = _live_rows(layout)
        out["live_rows"], out["empty_rows"] = float(live), float(rows - live)
    if layout.name == "dense":
        out["macs"] = float(rows * cols)
        group = DENSE_GROUP[layout.bits]  # the engine's work: whole groups of levels
        out["gmacs"] = float(rows * (-(-cols // group) * group))
    elif layout.name == "csr":
        out["nnz"] = float(a["values"].size)
    elif layout.name == "pcsr":
        out["entries"] = float(layout.n_entries)
        out["words"] = float(a["stream"].size)
    elif layout.name in ("cer", "cser"):
        out["entries"] = float(a["col_idx"].size)
        if layout.name == "cser":  # CSER stores only the groups a row uses
            out["groups"] = float(a["omega_idx"].size)
        else:  # CER: every row has a group per omega value, most of them empty at 8 bits
            used = int(np.count_nonzero(np.diff(np.asarray(a["omega_ptr"], dtype=np.int64))))
            out["groups"] = float(used)
            out["empty_groups"] = float(a["omega_ptr"].size - 1 - used)
        out["row_sum"] = float(rows * cols) if int(a["omega"][0]) != 0 else 0.0
    else:
        raise ValueError(f"no cost model for layout {layout.name!r}")
    return out


def _live_rows(layout: Layout) -> int:
    """Rows with at least one non-zero level."""
    if layout.name == "csr":
        return int(np.count_nonzero(np.diff(np.asarray(layout.arrays["row_ptr"], np.int64))))
    return int(np.count_nonzero(np.any(layout.decode() != 0, axis=1)))


def _runs(col_map, cols: int) -> int:
    """Contiguous runs of input offsets in a row (a conv patch: one per kernel tap)."""
    if col_map is None or cols == 0:
        return 1 if cols else 0
    offsets = [int(v) for v in col_map]
    return 1 + sum(1 for a, b in zip(offsets, offsets[1:]) if b != a + 1)


def once_features(layout: Layout, col_map=None, geometry: Geometry | None = None,
                  feats: dict[str, float] | None = None) -> dict[str, float]:
    """Counts of the work a kernel does once per layer (conv kinds): the product's
    features (`feats` when already counted) and its cells (rows x columns, the decoded
    weight rows); for a sparse layout with the layer's `geometry`, also its sweep
    (`sweep_features`), its empty rows' outputs (`fills`) and the outputs requantized in
    the long form (`long_outputs`, `Geometry.long_rows`)."""
    rows, cols = layout.shape
    out = {**(features(layout, col_map) if feats is None else feats), "cells": float(rows * cols)}
    if geometry is not None and layout.name != "dense":
        out.update(sweep_features(layout, geometry))
        # an empty channel's outputs are its constant, written pixel by pixel; a channel
        # requantizing in the long form pays for it at every output
        pixels = geometry.out_hw[0] * geometry.out_hw[1]
        out["fills"] = out["empty_rows"] * pixels
        out["long_outputs"] = float(geometry.long_rows * pixels)
    elif geometry is not None and geometry.depthwise:
        out.update(planar_features(geometry))
    return out


@lru_cache(maxsize=1)
def cost_table() -> dict:
    """The calibrated table: {"kinds": {kind: {layout key: {"per_call", "coef", "edge",
    "once"}}}, "measured": ...}."""
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def predict(entry: dict, positions: int, border: int, feats: dict, once: dict) -> float:
    """A table entry's instructions for a layer with these features (module docstring)."""
    dot = lambda coef, f: sum(coef.get(k, 0.0) * v for k, v in f.items())  # noqa: E731
    return (entry["per_call"] + dot(entry.get("once", {}), once)
            + (positions - border) * dot(entry["coef"], feats)
            + border * dot(entry.get("edge", {}), feats))


def estimated_instructions(layout: Layout, kind: str = "fc", positions: int = 1,
                           col_map=None, border: int = 0, geometry: Geometry | None = None
                           ) -> float:
    """Estimated instructions of a layer in `layout` (module docstring); `border` of the
    `positions` output pixels reach into the padding; `geometry`: a convolution's shape,
    for the sparse kernels' sweep (`sweep_features`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    entry = table_entry(cost_table(), kind, layout_key(layout, kind, geometry))
    feats = features(layout, col_map)
    once = once_features(layout, col_map, geometry, feats) if kind != "fc" else {}
    return predict(entry, positions, border, feats, once)
