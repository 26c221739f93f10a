"""The framework-free model description every stage after loading works on.

A `Graph` is a list of `Node`s in topological order. Tensors are named after
the node that produces them and are C-contiguous (NHWC without the batch
axis), so Flatten and Reshape are pure relabelings of the same bytes. A node
reads its inputs reshaped to `input_shapes`.

Ops and their attributes (all shapes exclude the batch axis):

| op                 | weights                          | attrs |
|--------------------|----------------------------------|-------|
| input              | -                                | - |
| dense              | kernel (fan_in, units), bias     | - |
| conv2d             | kernel (kh, kw, cin, cout), bias | strides (sh, sw), padding "same"/"valid" |
| depthwise_conv2d   | kernel (kh, kw, c, 1), bias      | strides, padding |
| affine             | scale (c,), offset (c,)          | - (standalone BatchNormalization) |
| activation         | -                                | - (uses Node.activation) |
| max_pool2d         | -                                | pool (ph, pw), strides, padding |
| avg_pool2d         | -                                | pool, strides, padding (same: divide by the valid count) |
| global_avg_pool2d  | -                                | - |
| global_max_pool2d  | -                                | - |
| reshape            | -                                | - (Flatten and Reshape) |
| add                | -                                | - (two or more inputs) |
| concat             | -                                | axis (positive, batch axis excluded) |
| zero_pad2d         | -                                | pads ((top, bottom), (left, right)) |

Conv1D is loaded as conv2d over a (1, length, channels) view; SeparableConv2D
as a depthwise_conv2d followed by a 1x1 conv2d. `activation` on any node is
one of ACTIVATIONS and is applied after the op (fused).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

OPS = (
    "input", "dense", "conv2d", "depthwise_conv2d", "affine", "activation",
    "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
    "reshape", "add", "concat", "zero_pad2d",
)
WEIGHT_OPS = ("dense", "conv2d", "depthwise_conv2d")
ARITHMETICS = ("tinycompress", "tflite")
ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax")

Shape = tuple[int, ...]


@dataclass
class Node:
    """One operation. `inputs` name the producing nodes, in order."""

    name: str
    op: str
    inputs: list[str]
    input_shapes: list[Shape]
    output_shape: Shape
    attrs: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    activation: str = "linear"
    activation_alpha: float = 0.0  # leaky_relu negative slope

    @property
    def params(self) -> int:
        return int(sum(w.size for w in self.weights.values()))

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference (weights ops only)."""
        if self.op == "dense":
            return int(self.weights["kernel"].size)
        if self.op == "conv2d":
            kh, kw, cin, cout = self.weights["kernel"].shape
            oh, ow, _ = self.output_shape
            return int(oh * ow * cout * kh * kw * cin)
        if self.op == "depthwise_conv2d":
            kh, kw, c, _ = self.weights["kernel"].shape
            oh, ow, _ = self.output_shape
            return int(oh * ow * c * kh * kw)
        return 0


@dataclass
class Graph:
    """Nodes in topological order; `outputs` name the model's output nodes.

    `arithmetic` is the integer rounding the quantized model follows:
    "tinycompress" (single rounding, reference.requant) or "tflite" (TFLite's
    double rounding, for int8 .tflite files whose results must match TFLite).
    """

    name: str
    nodes: list[Node]
    outputs: list[str]
    arithmetic: str = "tinycompress"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "input"]

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]


def unique_name(taken: set[str], base: str, digit_prefix: str = "n") -> str:
    """A node name from `base` (a source model's tensor or node name): non-word characters
    to '_', lower case, `digit_prefix` + '_' before a leading digit, '_1', '_2', ... until it
    is not in `taken`; it is added to `taken`."""
    base = re.sub(r"\W", "_", base).strip("_").lower() or "node"
    if base[0].isdigit():
        base = f"{digit_prefix}_{base}"
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name
