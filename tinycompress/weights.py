"""The constant arrays a weight layer carries in flash, and their exact size.

One definition serves the size reports (compress, build, bench) and the
renderer, so a reported weight byte is a byte the firmware really holds:

- the layout's arrays (levels, indices, pointers; `Layout.arrays`);
- `bias_f` int32 [rows]: bias with the input zero point folded in;
- `m` int32 and `shift` int8: one per row when the layer is quantized per
  output channel, a single entry otherwise (the kernels then use entry 0 for
  every row: `tc_quant_params.per_channel`).

The count is the plain sum of the arrays' bytes: the renderer emits a layer's
arrays in descending element size (as `tinycompress.layouts.base` explains),
so no padding falls between them. Up to 3 bytes may fall between two layers;
the ELF's flash size in the build report is the ground truth for those.
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts import Layout
from tinycompress.quantize_graph import QNode


def quant_arrays(node: QNode) -> dict[str, np.ndarray]:
    """bias_f, m and shift of a weight node, as the firmware stores them."""
    p = node.params
    m = np.asarray(p.m, dtype=np.int32)
    shift = np.asarray(p.shift, dtype=np.int8)
    if not node.per_channel:
        m, shift = m[:1], shift[:1]
    return {"bias_f": np.asarray(p.bias_f, dtype=np.int32), "m": m, "shift": shift}


def layer_arrays(node: QNode, layout: Layout) -> dict[str, np.ndarray]:
    """Every const array of one weight layer: layout arrays, then quant arrays."""
    arrays = dict(layout.arrays)
    arrays.update(quant_arrays(node))
    return arrays


def ordered(arrays: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Arrays in emission order: descending element size, then name (no padding)."""
    return sorted(arrays.items(), key=lambda kv: (-np.asarray(kv[1]).itemsize, kv[0]))


def layer_weight_bytes(node: QNode, layout: Layout) -> int:
    """Exact flash bytes of one weight layer's constants."""
    return int(sum(np.asarray(a).nbytes for a in layer_arrays(node, layout).values()))
