"""The constant arrays a weight layer carries in flash, and their exact size.

One definition serves the size reports (compress, build, bench) and the
renderer, so a reported weight byte is a byte the firmware really holds:

- the layout's arrays (levels, indices, pointers; `Layout.arrays`);
- `bias_f` [rows]: bias with the input zero point folded in, int16 when every
  value fits (the kernels read `tc_quant_params.bias16` then), else int32;
- `m` int32 and `shift` int8: one per row when the layer is quantized per
  output channel, a single entry otherwise (the kernels then use entry 0 for
  every row: `tc_quant_params.per_channel`).

The count is the plain sum of the arrays' own bytes, which is what the ELF's
symbol table gives for each array (`arm-none-eabi-nm -S`; tests/
test_firmware_elf.py checks it layer by layer). GCC aligns each array to 4
bytes on ARM, so up to 3 bytes of padding per array may fall between them in
flash; the ELF's flash size in the build report is the ground truth for those.
"""
from __future__ import annotations

import numpy as np

from tinycompress.layouts import Layout
from tinycompress.ir.qgraph import QNode


BIAS_DTYPE, M_DTYPE, SHIFT_DTYPE = np.dtype(np.int32), np.dtype(np.int32), np.dtype(np.int8)
BIAS16 = np.iinfo(np.int16)


def quant_arrays(node: QNode) -> dict[str, np.ndarray]:
    """bias_f, m and shift of a weight node, as the firmware stores them."""
    p = node.params
    m = np.asarray(p.m, dtype=M_DTYPE)
    shift = np.asarray(p.shift, dtype=SHIFT_DTYPE)
    if not node.per_channel:
        m, shift = m[:1], shift[:1]
    return {"bias_f": narrow_bias(p.bias_f), "m": m, "shift": shift}


def narrow_bias(bias_f) -> np.ndarray:
    """int16 when every folded bias fits (2 B a row instead of 4), else int32."""
    bias = np.asarray(bias_f, dtype=BIAS_DTYPE)
    fits = bias.size == 0 or (bias.min() >= BIAS16.min and bias.max() <= BIAS16.max)
    return bias.astype(np.int16) if fits else bias


def constants_nbytes(rows: int, per_channel: bool) -> int:
    """Upper bound of `quant_arrays` bytes for `rows` output channels (before quantizing:
    the bias is counted as int32; `narrow_bias` may halve it)."""
    per_row = M_DTYPE.itemsize + SHIFT_DTYPE.itemsize
    return rows * BIAS_DTYPE.itemsize + (rows if per_channel else 1) * per_row


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


def col_map_for(op: str, kernel_hw: tuple[int, int], in_shape) -> np.ndarray | None:
    """Input offset of every column of a conv weight matrix; None for dense.

    conv2d column (ky, kx, ci) reads x[base + (ky*W_in + kx)*C_in + ci]; a
    depthwise column (ky, kx) reads x[base + c + (ky*W_in + kx)*C] for channel c.
    `in_shape` is the (padded) input the kernel reads. Strictly increasing.
    """
    if op == "dense":
        return None
    kh, kw = kernel_hw
    _, w_in, c_in = in_shape
    ky, kx = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    base = (ky * w_in + kx).ravel() * c_in
    if op == "depthwise_conv2d":
        return base.astype(np.int64)
    return (base[:, None] + np.arange(c_in)[None, :]).ravel().astype(np.int64)


def col_map(node: QNode) -> np.ndarray | None:
    """`col_map_for` a quantized weight node (its input is already padded)."""
    if node.op == "dense":
        return None
    return col_map_for(node.op, (node.kh, node.kw), node.input_shapes[0])
