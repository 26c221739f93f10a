"""The quantized graph: what the integer reference runs and the C code generator renders.

A `QGraph` is a list of `QNode`s in topological order. Every tensor is int8
with its own affine quantization `real = scale * (q - zero_point)`; a node's
output quantization is `QNode.scale` / `QNode.zero_point`. The ops are those
of the float `Graph` after lowering (tinycompress.compress.quantize):

| op                 | data                                                        |
|--------------------|-------------------------------------------------------------|
| input              | - (scale/zp of the model input)                             |
| dense              | levels (rows=units, cols=fan_in), w_scales, bits, params    |
| conv2d             | levels (cout, kh*kw*cin), kernel (kh, kw), strides; 'valid' |
| depthwise_conv2d   | levels (c, kh*kw), kernel (kh, kw), strides; 'valid'        |
| zero_pad2d         | attrs pads ((t, b), (l, r)), value (= input zero point)     |
| lut                | params: 256-entry int8 table (sigmoid, tanh, leaky_relu...) |
| softmax            | params                                                      |
| reshape            | - (pure relabeling: same bytes, same quantization)          |
| max_pool2d, avg_pool2d, global_avg_pool2d, global_max_pool2d,             |
| add, concat, affine, requantize | params from tinycompress.reference.int_prepare |

`params` always holds the op's precomputed integer constants (the `Params`
dataclass of its `prepare_*` function), so consumers never redo
quantization arithmetic. Weight ops carry `WeightOpParams`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinycompress.ir.graph import WEIGHT_OPS, Shape

QOPS = (
    "input", "dense", "conv2d", "depthwise_conv2d", "zero_pad2d", "lut", "softmax",
    "reshape", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
    "add", "concat", "affine", "requantize",
)


@dataclass
class QNode:
    """One integer op; its output is int8 with quantization (scale, zero_point).

    name: tensor/node name (a weight op keeps its float layer's name).
    inputs/input_shapes: producers and the shapes this node reads them as.
    attrs: op attributes (conv: kernel (kh, kw), strides; pad: pads, value;
      lut: function, alpha; concat: axis; pools: pool, strides, padding).
    params: the op's Params from weight_ops/int_prepare (None for input/reshape).
    Weight ops only: levels int8 (rows, cols), rows = output channels, columns =
    fan-in in natural order (conv2d (ky, kx, ci) row-major, depthwise (ky, kx)); bits
    (2..8, |levels| <= 2^(bits-1)-1), w_scales float64 (rows,) (all equal when
    not per_channel), bias float32 (rows,) as it came from the float model.
    source: the float graph node this one came from (for reports).
    """

    name: str
    op: str
    inputs: list[str]
    input_shapes: list[Shape]
    output_shape: Shape
    scale: float
    zero_point: int
    attrs: dict = field(default_factory=dict)
    params: Any = None
    levels: np.ndarray | None = None
    bits: int | None = None
    w_scales: np.ndarray | None = None
    per_channel: bool = True
    bias: np.ndarray | None = None
    source: str = ""

    @property
    def is_weight_op(self) -> bool:
        return self.op in WEIGHT_OPS

    @property
    def kh(self) -> int:
        return int(self.attrs["kernel"][0])

    @property
    def kw(self) -> int:
        return int(self.attrs["kernel"][1])

    @property
    def strides(self) -> tuple[int, int]:
        return tuple(self.attrs.get("strides", (1, 1)))

    @property
    def sparsity(self) -> float:
        """Fraction of zero levels (weight ops; 0.0 otherwise)."""
        if self.levels is None or self.levels.size == 0:
            return 0.0
        return float(np.count_nonzero(self.levels == 0) / self.levels.size)

    @property
    def weight_count(self) -> int:
        return 0 if self.levels is None else int(self.levels.size)


@dataclass
class QGraph:
    """Quantized model: nodes in order, one int8 input, named outputs.

    input_* describe the model input (shape without batch axis). `outputs`
    name the nodes whose int8 tensors are the model outputs.
    """

    name: str
    nodes: list[QNode]
    outputs: list[str]
    input_name: str
    input_shape: Shape
    input_scale: float
    input_zero_point: int
    arithmetic: str = "tinycompress"  # or "tflite": TFLite's rounding (reference.tflite_math)

    def node(self, name: str) -> QNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def weight_nodes(self) -> list[QNode]:
        """The dense/conv2d/depthwise nodes, in order (the per-layer report rows)."""
        return [n for n in self.nodes if n.is_weight_op]

    def quantize_input(self, x) -> np.ndarray:
        """float input (batch, *input_shape) or one sample -> int8 (round half to even)."""
        q = np.round(np.asarray(x, np.float64) / self.input_scale) + self.input_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_output(self, q, name: str | None = None) -> np.ndarray:
        """int8 output tensor of `name` (default: the first output) -> float32."""
        node = self.node(name or self.outputs[0])
        return ((np.asarray(q, np.float64) - node.zero_point) * node.scale).astype(np.float32)

    def layer_table(self) -> list[dict]:
        """Per weight layer: name, op, bits, sparsity, weights, per_channel (for reports)."""
        return [{"name": n.name, "op": n.op, "bits": n.bits, "sparsity": n.sparsity,
                 "weights": n.weight_count, "per_channel": n.per_channel}
                for n in self.weight_nodes]
