"""Per-op quantization rules: one lowered float `Node` -> one `QNode`.

Output quantization of each op:
- calibrated (nudged min/max): input, weight ops, add, concat, affine,
  avg pools, leaky_relu/relu/relu6/linear activations;
- same as the input (no requantization, the bytes are only relabeled or
  selected): reshape, zero_pad2d, max_pool2d, global_max_pool2d;
- fixed by the function's range: sigmoid and softmax 1/256 with zero point
  -128 ([0, 1)), tanh 1/128 with zero point 0 ([-1, 1)).
The integer constants of each op come from its `prepare_*` function in
tinycompress.reference (weight_ops / int_prepare); no arithmetic is redone here.
Every node is then checked against its worst-case integer ranges
(tinycompress.reference.bounds): a layer whose kernel could overflow an int32
for some int8 input is refused with IntegerOverflowError.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinycompress.errors import IntegerOverflowError, UnsupportedLayerError
from tinycompress.ir.graph import Node
from tinycompress.ir.qgraph import QNode
from tinycompress.compress.qparams import QMAX, QMIN, choose_qparams, quantize_weights, weight_matrix
from tinycompress.reference import bounds, int_prepare, tflite_math
from tinycompress.reference.weight_ops import prepare_weight_op

FIXED_OUTPUT_QPARAMS = {  # function -> (scale, zero_point) covering its whole range
    "sigmoid": (1.0 / 256.0, -128),
    "softmax": (1.0 / 256.0, -128),
    "tanh": (1.0 / 128.0, 0),
}


@dataclass
class Context:
    """What quantizing a node needs: calibrated ranges, bits per layer, done nodes."""

    ranges: dict[str, tuple[float, float]]
    bits: dict[str, int]
    per_channel: dict[str, bool]
    qnodes: dict[str, QNode] = field(default_factory=dict)
    # (layer name, weight matrix, bits, per_channel) -> (levels, w_scales); None: uniform
    weight_quantizer: Callable[[str, np.ndarray, int, bool], tuple] | None = None
    # (scale, zero point) the model file gives a tensor (an int8 .tflite), kept over calibration
    given: dict[str, tuple[float, int]] = field(default_factory=dict)
    tflite: bool = False  # the graph's arithmetic is TFLite's (reference.tflite_math)

    def quantize_weights(self, name: str, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.weight_quantizer is None:
            return quantize_weights(matrix, self.bits[name], self.per_channel[name])
        return self.weight_quantizer(name, matrix, self.bits[name], self.per_channel[name])

    def qparams(self, name: str) -> tuple[float, int]:
        if name in self.given:
            return self.given[name]
        return choose_qparams(*self.ranges[name])

    def input(self, node: Node, i: int = 0) -> QNode:
        return self.qnodes[node.inputs[i]]


def _qnode(node: Node, op: str, qp: tuple[float, int], **kw) -> QNode:
    return QNode(name=node.name, op=op, inputs=list(node.inputs),
                 input_shapes=[tuple(s) for s in node.input_shapes],
                 output_shape=tuple(node.output_shape), scale=float(qp[0]),
                 zero_point=int(qp[1]), source=node.attrs.get("source", node.name), **kw)


def clamp_range(activation: str, scale: float, zp: int) -> tuple[int, int]:
    """act_min/act_max of a fused linear/relu/relu6 in the output's int8 domain."""
    if activation == "linear":
        return QMIN, QMAX
    lo = max(QMIN, zp)  # real 0
    if activation == "relu":
        return lo, QMAX
    if activation == "relu6":
        return lo, int(min(QMAX, zp + np.round(6.0 / scale)))
    raise ValueError(f"not a clamp activation: {activation}")


def _weight_op(node: Node, ctx: Context) -> QNode:
    src = ctx.input(node)
    scale, zp = ctx.qparams(node.name)
    kernel = node.weights["kernel"]
    matrix = weight_matrix(node.op, kernel)
    per_channel = ctx.per_channel[node.name]
    bias = node.weights.get("bias")
    if _given_weights(node, ctx):  # the file's own int8 levels; pruned weights stay pruned
        levels = (node.attrs["levels"] * (matrix != 0)).astype(np.int8)
        w_scales, per_channel = node.attrs["w_scales"], node.attrs["per_channel"]
        if float(src.scale) == node.attrs.get("input_scale"):  # the file's int32 bias, exactly
            bias = node.attrs["bias_q"].astype(np.float64) * (float(src.scale) * w_scales)
    else:
        levels, w_scales = ctx.quantize_weights(node.name, matrix)
    act_min, act_max = clamp_range(node.activation, scale, zp)
    params = prepare_weight_op(levels, w_scales, bias, src.scale, src.zero_point, scale, zp,
                               act_min, act_max, tflite=ctx.tflite)
    attrs = {}
    if node.op != "dense":
        attrs = {"kernel": tuple(kernel.shape[:2]), "strides": tuple(node.attrs.get("strides", (1, 1)))}
        if "pads" in node.attrs:  # 'same': padded inside the kernel with the input zero point
            attrs.update(pads=tuple(tuple(p) for p in node.attrs["pads"]), pad_value=src.zero_point)
    return _qnode(node, node.op, (scale, zp), attrs=attrs, params=params, levels=levels,
                  bits=ctx.bits[node.name], w_scales=w_scales, per_channel=per_channel,
                  bias=None if bias is None else np.asarray(bias, np.float32))


def _given_weights(node: Node, ctx: Context) -> bool:
    """Whether the node keeps the int8 levels its file gives: 8 bits, uniform quantizer."""
    return ("levels" in node.attrs and ctx.bits[node.name] == 8 and ctx.weight_quantizer is None
            and node.attrs["levels"].shape == weight_matrix(node.op, node.weights["kernel"]).shape)


def _input(node: Node, ctx: Context) -> QNode:
    return _qnode(node, "input", ctx.qparams(node.name))


def _passthrough(node: Node, ctx: Context) -> QNode:
    """reshape: same bytes and quantization as the input."""
    src = ctx.input(node)
    return _qnode(node, "reshape", (src.scale, src.zero_point))


def _zero_pad(node: Node, ctx: Context) -> QNode:
    src = ctx.input(node)
    pads = tuple(tuple(p) for p in node.attrs["pads"])
    params = int_prepare.prepare_pad(pads, src.zero_point)
    return _qnode(node, "zero_pad2d", (src.scale, src.zero_point),
                  attrs={"pads": pads, "value": src.zero_point}, params=params)


def _pool_attrs(node: Node) -> dict:
    return {"pool": tuple(node.attrs["pool"]), "strides": tuple(node.attrs["strides"]),
            "padding": node.attrs.get("padding", "valid")}


def _max_pool(node: Node, ctx: Context) -> QNode:
    src = ctx.input(node)
    qp = (src.scale, src.zero_point)  # max of int8 values: no rescaling needed
    clamp = clamp_range(node.activation, *qp)
    attrs = _pool_attrs(node)
    params = int_prepare.prepare_max_pool2d(node.input_shapes[0], attrs["pool"], attrs["strides"],
                                        attrs["padding"], *qp, *qp, *clamp)
    return _qnode(node, "max_pool2d", qp, attrs=attrs, params=params)


def _avg_pool(node: Node, ctx: Context) -> QNode:
    src, qp = ctx.input(node), ctx.qparams(node.name)
    attrs = _pool_attrs(node)
    z_in, z_out = src.zero_point, qp[1]
    if ctx.tflite and (src.scale, src.zero_point) == tuple(qp):
        z_in = z_out = 0  # TFLite averages the raw int8 values (its in and out quantization agree)
    params = int_prepare.prepare_avg_pool2d(node.input_shapes[0], attrs["pool"], attrs["strides"],
                                        attrs["padding"], src.scale, z_in, qp[0], z_out,
                                        *clamp_range(node.activation, *qp))
    return _qnode(node, "avg_pool2d", qp, attrs=attrs, params=params)


def _global_avg_pool(node: Node, ctx: Context) -> QNode:
    src, qp = ctx.input(node), ctx.qparams(node.name)
    params = int_prepare.prepare_global_avg_pool2d(node.input_shapes[0], src.scale, src.zero_point,
                                               *qp, *clamp_range(node.activation, *qp),
                                               tflite=ctx.tflite)
    return _qnode(node, "global_avg_pool2d", qp, params=params)


def _global_max_pool(node: Node, ctx: Context) -> QNode:
    src = ctx.input(node)
    qp = (src.scale, src.zero_point)
    params = int_prepare.prepare_global_max_pool2d(*qp, *qp, *clamp_range(node.activation, *qp))
    return _qnode(node, "global_max_pool2d", qp, params=params)


def _add(node: Node, ctx: Context) -> QNode:
    srcs, qp = [ctx.input(node, i) for i in range(len(node.inputs))], ctx.qparams(node.name)
    params = int_prepare.prepare_add([s.scale for s in srcs], [s.zero_point for s in srcs], *qp,
                                 *clamp_range(node.activation, *qp), tflite=ctx.tflite)
    return _qnode(node, "add", qp, params=params)


def _concat(node: Node, ctx: Context) -> QNode:
    srcs, qp = [ctx.input(node, i) for i in range(len(node.inputs))], ctx.qparams(node.name)
    axis = int(node.attrs["axis"])
    params = int_prepare.prepare_concat([s.scale for s in srcs], [s.zero_point for s in srcs], *qp,
                                    axis, tflite=ctx.tflite)
    return _qnode(node, "concat", qp, attrs={"axis": axis}, params=params)


def _affine(node: Node, ctx: Context) -> QNode:
    src, qp = ctx.input(node), ctx.qparams(node.name)
    params = int_prepare.prepare_affine(node.weights["scale"], node.weights["offset"], src.scale,
                                    src.zero_point, *qp, *clamp_range(node.activation, *qp))
    return _qnode(node, "affine", qp, params=params)


def _activation(node: Node, ctx: Context) -> QNode:
    """Standalone activation: softmax node, a LUT, or (linear) a relabeling."""
    act, src = node.activation, ctx.input(node)
    if act == "linear":
        return _passthrough(node, ctx)
    qp = FIXED_OUTPUT_QPARAMS.get(act) or ctx.qparams(node.name)
    if act == "softmax" and ctx.tflite:
        return _qnode(node, "softmax", qp, params=tflite_math.prepare_softmax(src.scale))
    if act == "softmax":
        params = int_prepare.prepare_softmax(src.scale, src.zero_point, *qp)
        return _qnode(node, "softmax", qp, params=params)
    if ctx.tflite and act in tflite_math.TABLE_ACTIVATIONS:  # TFLite's integer formulas, tabulated
        params = int_prepare.LutParams(tflite_math.activation_table(
            act, src.scale, src.zero_point, *qp, node.activation_alpha))
    else:
        params = int_prepare.prepare_activation(act, src.scale, src.zero_point, *qp,
                                            node.activation_alpha)
    return _qnode(node, "lut", qp, attrs={"function": act, "alpha": node.activation_alpha},
                  params=params)


_RULES = {
    "input": _input,
    "dense": _weight_op,
    "conv2d": _weight_op,
    "depthwise_conv2d": _weight_op,
    "reshape": _passthrough,
    "zero_pad2d": _zero_pad,
    "max_pool2d": _max_pool,
    "avg_pool2d": _avg_pool,
    "global_avg_pool2d": _global_avg_pool,
    "global_max_pool2d": _global_max_pool,
    "add": _add,
    "concat": _concat,
    "affine": _affine,
    "activation": _activation,
}


def quantize_node(node: Node, ctx: Context) -> QNode:
    """Quantize one lowered float node (inputs already in ctx.qnodes).

    Raises IntegerOverflowError when some int8 input could overflow the layer's
    integer arithmetic (bounds.check_node), UnsupportedLayerError when a
    prepare_* finds the quantization out of its range.
    """
    rule = _RULES.get(node.op)
    if rule is None:
        raise UnsupportedLayerError(f"{node.name}: op {node.op!r} cannot be quantized")
    try:
        qnode = rule(node, ctx)
    except ValueError as exc:  # a prepare_* found the quantization out of its range
        raise UnsupportedLayerError(f"{node.name} ({node.op}): {exc}") from exc
    except IntegerOverflowError as exc:  # a bias that no int32 holds
        raise IntegerOverflowError(f"layer {node.name}: {exc}") from exc
    bounds.check_node(qnode)
    return qnode
