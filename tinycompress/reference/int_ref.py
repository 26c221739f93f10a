"""Integer reference interpreter of a `QGraph`: the executable spec of the firmware.

`run_int` evaluates every node with exactly the integer kernels of
`weight_ops` and `int_eval` (the numpy twins of the C kernels), so the
firmware's int8 outputs must equal its outputs byte for byte. Each node reads
its inputs reshaped to its `input_shapes` (reshape is a relabeling of bytes).
Where the firmware would wrap an int32, the reference raises
IntegerOverflowError naming the layer instead of agreeing with a wrong result.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinycompress.errors import DataError, IntegerOverflowError
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.reference import int_eval, weight_ops

Kernel = Callable[[QNode, list[np.ndarray]], np.ndarray]  # one sample, no batch axis


def _dense(n: QNode, xs: list[np.ndarray]) -> np.ndarray:
    return weight_ops.fc_s8(xs[0], n.levels, n.params)


def _padded(n: QNode, x: np.ndarray) -> np.ndarray:
    """A 'same' conv's input padded with the input zero point (the kernels pad inside)."""
    if "pads" not in n.attrs:
        return x
    (t, b), (l, r) = n.attrs["pads"]
    return np.pad(np.asarray(x), ((t, b), (l, r), (0, 0)), constant_values=n.attrs["pad_value"])


def _conv2d(n: QNode, xs: list[np.ndarray]) -> np.ndarray:
    return weight_ops.conv2d_s8(_padded(n, xs[0]), n.levels, n.kh, n.kw, n.strides, n.params)


def _dwconv2d(n: QNode, xs: list[np.ndarray]) -> np.ndarray:
    return weight_ops.dwconv2d_s8(_padded(n, xs[0]), n.levels, n.kh, n.kw, n.strides, n.params)


def _unary(fn) -> Kernel:
    return lambda n, xs: fn(xs[0], n.params)


def _nary(fn) -> Kernel:
    return lambda n, xs: fn(xs, n.params)


SAMPLE_KERNELS: dict[str, Kernel] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "depthwise_conv2d": _dwconv2d,
    "zero_pad2d": _unary(int_eval.pad_s8),
    "max_pool2d": _unary(int_eval.max_pool2d_s8),
    "avg_pool2d": _unary(int_eval.avg_pool2d_s8),
    "global_avg_pool2d": _unary(int_eval.global_avg_pool2d_s8),
    "global_max_pool2d": _unary(int_eval.global_max_pool2d_s8),
    "add": _nary(int_eval.add_s8),
    "concat": _nary(int_eval.concat_s8),
    "lut": _unary(int_eval.lut_s8),
    "softmax": _unary(int_eval.softmax_s8),
    "affine": _unary(int_eval.affine_s8),
    "requantize": _unary(int_eval.requantize_s8),
    "reshape": lambda n, xs: xs[0],
}
# kernels that are elementwise or act on the last axis accept a leading batch axis
BATCHED = ("dense", "add", "lut", "softmax", "affine", "requantize", "reshape")


def run_node(node: QNode, inputs: list[np.ndarray]) -> np.ndarray:
    """Evaluate one node on batched int8 inputs (batch axis first)."""
    batch = inputs[0].shape[0]
    xs = [np.asarray(x, np.int8).reshape((batch, *shape))
          for x, shape in zip(inputs, node.input_shapes, strict=True)]
    kernel = SAMPLE_KERNELS[node.op]
    try:
        if node.op in BATCHED:
            out = kernel(node, xs)
        else:
            out = np.stack([kernel(node, [x[b] for x in xs]) for b in range(batch)])
    except IntegerOverflowError as exc:
        raise IntegerOverflowError(f"layer {node.name} ({node.op}): {exc}") from exc
    return np.asarray(out, np.int8).reshape((batch, *node.output_shape))


def _check_input(qgraph: QGraph, x) -> np.ndarray:
    x = np.asarray(x)
    shape = tuple(qgraph.input_shape)
    if x.dtype != np.int8:
        raise DataError(f"run_int takes int8 inputs (use QGraph.quantize_input), got {x.dtype}")
    if tuple(x.shape) == shape:
        return x[np.newaxis]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise DataError(f"input must have shape (N, {', '.join(map(str, shape))}), got {x.shape}")
    return x


def run_int(qgraph: QGraph, x_int8, return_all: bool = False):
    """Run the integer graph on int8 input(s) of shape (N, *input_shape) or input_shape.

    Returns the first output (int8, batch axis kept as given), or with
    `return_all` a dict {node name: int8 tensor} of every node.
    """
    squeeze = np.asarray(x_int8).shape == tuple(qgraph.input_shape)
    x = _check_input(qgraph, x_int8)
    values: dict[str, np.ndarray] = {}
    for node in qgraph.nodes:
        if node.op == "input":
            values[node.name] = x
        else:
            values[node.name] = run_node(node, [values[i] for i in node.inputs])
    if squeeze:
        values = {k: v[0] for k, v in values.items()}
    return values if return_all else values[qgraph.outputs[0]]


def predict(qgraph: QGraph, x_float, batch: int = 256) -> np.ndarray:
    """float inputs -> dequantized float32 first output, through the integer graph."""
    x = np.asarray(x_float, np.float32)
    outs = [qgraph.dequantize_output(run_int(qgraph, qgraph.quantize_input(x[i:i + batch])))
            for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def evaluate(qgraph: QGraph, x_float, y) -> float:
    """Top-1 accuracy of the integer graph (y: integer labels or one-hot rows)."""
    y = np.asarray(y)
    if y.ndim == 2:
        y = np.argmax(y, axis=1)
    if len(y) != len(x_float):
        raise DataError(f"{len(x_float)} samples but {len(y)} labels")
    pred = predict(qgraph, x_float)
    return float(np.mean(np.argmax(pred.reshape(len(y), -1), axis=1) == y))
