"""Float interpreter of a `Graph`: the float specification of every op, in numpy.

Computes in float64 and hands out float32, so its own rounding error is far
below Keras' float32 error and comparisons measure the loader, not this file.
Does not import TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinycompress.ir.graph import Graph, Node


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding of Keras/TF 'same' along one axis.

    pad_total = max((ceil(size / stride) - 1) * stride + kernel - size, 0);
    the odd extra pixel goes after (bottom/right), as in TensorFlow.
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_pads(node: Node, in_shape, kernel_hw) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) padding of a conv/pool node on `in_shape` (H, W, C)."""
    if node.attrs["padding"] == "valid":
        return (0, 0), (0, 0)
    (sh, sw), (kh, kw) = node.attrs["strides"], kernel_hw
    return same_padding(in_shape[0], kh, sh), same_padding(in_shape[1], kw, sw)


def _windows(x: np.ndarray, kernel_hw, strides) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) view of every kernel window of a padded NHWC batch."""
    win = sliding_window_view(x, tuple(kernel_hw), axis=(1, 2))
    return win[:, ::strides[0], ::strides[1]]


def _pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _conv2d(node: Node, x: np.ndarray) -> np.ndarray:
    kernel = node.weights["kernel"].astype(np.float64)
    xp = _pad(x, conv_pads(node, x.shape[1:], kernel.shape[:2]))
    win = _windows(xp, kernel.shape[:2], node.attrs["strides"])
    return np.tensordot(win, kernel, axes=([3, 4, 5], [2, 0, 1])) + node.weights["bias"]


def _depthwise(node: Node, x: np.ndarray) -> np.ndarray:
    kernel = node.weights["kernel"].astype(np.float64)[..., 0]  # (kh, kw, c)
    xp = _pad(x, conv_pads(node, x.shape[1:], kernel.shape[:2]))
    win = _windows(xp, kernel.shape[:2], node.attrs["strides"])
    return np.einsum("nhwcij,ijc->nhwc", win, kernel) + node.weights["bias"]


def _max_pool(node: Node, x: np.ndarray) -> np.ndarray:
    pool = node.attrs["pool"]
    xp = _pad(x, conv_pads(node, x.shape[1:], pool), value=-np.inf)
    return _windows(xp, pool, node.attrs["strides"]).max(axis=(4, 5))


def _avg_pool(node: Node, x: np.ndarray) -> np.ndarray:
    # 'same' divides by the number of real (unpadded) pixels in each window.
    pool, strides = node.attrs["pool"], node.attrs["strides"]
    pads = conv_pads(node, x.shape[1:], pool)
    sums = _windows(_pad(x, pads), pool, strides).sum(axis=(4, 5))
    ones = np.ones((1,) + x.shape[1:3] + (1,))
    counts = _windows(_pad(ones, pads), pool, strides).sum(axis=(4, 5))
    return sums / counts


def _dense(node: Node, x: np.ndarray) -> np.ndarray:
    return x @ node.weights["kernel"].astype(np.float64) + node.weights["bias"]


def _affine(node: Node, x: np.ndarray) -> np.ndarray:
    return x * node.weights["scale"].astype(np.float64) + node.weights["offset"]


def _zero_pad(node: Node, x: np.ndarray) -> np.ndarray:
    return _pad(x, node.attrs["pads"])


_SINGLE_INPUT = {
    "dense": _dense,
    "conv2d": _conv2d,
    "depthwise_conv2d": _depthwise,
    "affine": _affine,
    "activation": lambda node, x: x,
    "max_pool2d": _max_pool,
    "avg_pool2d": _avg_pool,
    "global_avg_pool2d": lambda node, x: x.mean(axis=(1, 2)),
    "global_max_pool2d": lambda node, x: x.max(axis=(1, 2)),
    "reshape": lambda node, x: x,
    "zero_pad2d": _zero_pad,
}


def activate(name: str, x: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """Apply a Graph activation (softmax over the last axis)."""
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "relu6":
        return np.clip(x, 0.0, 6.0)
    if name == "leaky_relu":
        return np.where(x >= 0.0, x, alpha * x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def run_node(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """One node on batched inputs (each reshaped to the node's input_shapes)."""
    xs = [x.reshape((x.shape[0],) + tuple(s)) for x, s in zip(inputs, node.input_shapes)]
    if node.op == "add":
        y = sum(xs[1:], xs[0])
    elif node.op == "concat":
        y = np.concatenate(xs, axis=node.attrs["axis"] + 1)
    elif node.op in _SINGLE_INPUT:
        y = _SINGLE_INPUT[node.op](node, xs[0])
    else:
        raise ValueError(f"node '{node.name}': op {node.op!r} has no float semantics")
    y = activate(node.activation, y, node.activation_alpha)
    return y.reshape((y.shape[0],) + tuple(node.output_shape))


def _feed(graph: Graph, x) -> dict[str, np.ndarray]:
    inputs = graph.inputs
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(inputs):
        raise ValueError(f"graph has {len(inputs)} inputs, got {len(xs)} arrays")
    feed = {}
    for node, arr in zip(inputs, xs):
        arr = np.asarray(arr, dtype=np.float64)
        feed[node.name] = arr.reshape((arr.shape[0],) + tuple(node.output_shape))
    return feed


def run_float(graph: Graph, x, return_all: bool = False):
    """Run `graph` on a batch `x` (or a list of batches, one per input node).

    Returns the output as float32 (a list when the graph has several outputs),
    or with return_all=True a dict node name -> float32 output of every node.
    """
    values = _feed(graph, x)
    for node in graph.nodes:
        if node.op != "input":
            values[node.name] = run_node(node, [values[i] for i in node.inputs])
    if return_all:
        return {name: v.astype(np.float32) for name, v in values.items()}
    outs = [values[name].astype(np.float32) for name in graph.outputs]
    return outs[0] if len(outs) == 1 else outs
