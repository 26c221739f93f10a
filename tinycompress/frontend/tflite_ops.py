"""One TFLite operator -> Graph nodes (the handlers of `tinycompress.frontend.tflite`).

Layouts: TFLite tensors are NHWC with a batch axis of 1, as the Graph's;
CONV_2D filters are (cout, kh, kw, cin), DEPTHWISE_CONV_2D (1, kh, kw, c),
FULLY_CONNECTED (units, fan_in).

What an int8 model's nodes carry in `attrs` (read by compress.qops):
- "qparams": (scale, zero point) of the node's output tensor;
- weight ops: "levels" int8 (rows = output channels, cols = fan-in in the
  Graph's natural order), "w_scales" float64 (rows,), "bias_q" int32 (rows,).
Every node carries "tensor", the name of the TFLite tensor it writes.
Messages start with `op NAME (tensor T):` and name the supported values.
"""
from __future__ import annotations

import numpy as np

from tinycompress.errors import UnsupportedLayerError
from tinycompress.ir.graph import Node

# ActivationFunctionType -> Graph activation (RELU_N1_TO_1 = 2 and SIGN_BIT = 5 have none)
_FUSED = {0: "linear", 1: "relu", 3: "relu6", 4: "tanh"}
_PADDING = {0: "same", 1: "valid"}


class OpContext:
    """One operator call: its tensors, options, and the graph under construction."""

    def __init__(self, builder, opname: str, where: str, inputs: list, outputs: list, options):
        self.builder = builder
        self.opname = opname
        self.where = where
        self.inputs = inputs
        self.outputs = outputs
        self.options = options

    def unsupported(self, attr: str, value, supported: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.where}: {attr} {value} is not supported; "
                                     f"supported: {supported}")

    def shape(self, tensor) -> tuple[int, ...]:
        """Shape without the batch axis (which must be 1)."""
        if len(tensor.shape) == 0 or tensor.shape[0] != 1:
            raise self.unsupported("tensor shape", tensor.shape, "batch 1 first")
        return tuple(tensor.shape[1:])

    def const(self, i: int) -> np.ndarray:
        t = self.inputs[i]
        if t is None or t.data is None:
            raise UnsupportedLayerError(f"{self.where}: input {i} must be a constant tensor")
        return t.data

    def fused(self) -> str:
        code = int(getattr(self.options, "fusedActivationFunction", 0))
        if code not in _FUSED or (self.builder.int8 and _FUSED[code] == "tanh"):
            supported = "NONE, RELU, RELU6" + ("" if self.builder.int8 else ", TANH")
            raise self.unsupported("fused activation", code, supported)
        return _FUSED[code]

    def emit(self, op: str, reads: list[int], **kw) -> Node:
        """Append a node that reads input tensors `reads` and writes output 0."""
        out = self.outputs[0]
        srcs = [self.inputs[i] for i in reads]
        kw.setdefault("input_shapes", [self.shape(t) for t in srcs])
        kw.setdefault("output_shape", self.shape(out))
        node = Node(self.builder.unique(kw.pop("name", self.opname)), op,
                    [self.builder.producer(t.index) for t in srcs], **kw)
        node.attrs = {**node.attrs, "tensor": out.name}
        if self.builder.int8 and out.quantized:
            node.attrs["qparams"] = out.qparams()
        self.builder.nodes.append(node)
        self.builder._producer[out.index] = node.name
        return node


def _weights(ctx: OpContext, matrix: np.ndarray, rows_dim: int) -> tuple[np.ndarray, dict]:
    """(float kernel values in TFLite's layout, attrs of an int8 model's weight op).

    `matrix` maps TFLite's filter array to (rows, cols) in the Graph's order;
    `rows_dim` is the filter axis of the output channels.
    """
    w = ctx.inputs[1]
    data = ctx.const(1)
    if w.dtype == "float32":
        return data.astype(np.float32), {}
    if w.dtype != "int8" or not w.quantized:
        raise ctx.unsupported("filter type", w.dtype, "float32, int8 (quantized)")
    if np.any(w.zero_points != 0):
        raise ctx.unsupported("filter zero point", int(w.zero_points[w.zero_points != 0][0]),
                              "0 (symmetric int8 weights)")
    rows = data.shape[rows_dim]
    scales = np.asarray(w.scales, np.float64)
    if scales.size != 1 and (scales.size != rows or w.quantized_dim != rows_dim):
        raise ctx.unsupported("filter quantization axis", w.quantized_dim,
                              f"per tensor or per output channel (axis {rows_dim})")
    w_scales = np.broadcast_to(scales, (rows,)).copy()
    shape = [1] * data.ndim
    shape[rows_dim] = rows
    real = (data.astype(np.float64) * w_scales.reshape(shape)).astype(np.float32)
    attrs = {"levels": matrix(data).astype(np.int8), "w_scales": w_scales,
             "per_channel": scales.size != 1}
    return real, attrs


def _bias(ctx: OpContext, rows: int, attrs: dict, s_w: np.ndarray | None) -> np.ndarray:
    """Float bias (zeros when absent); int8 models also record the int32 bias in attrs."""
    b = ctx.inputs[2] if len(ctx.inputs) > 2 else None
    if b is None:
        if "levels" in attrs:
            attrs["bias_q"] = np.zeros(rows, np.int32)
        return np.zeros(rows, np.float32)
    data = ctx.const(2)
    if b.dtype == "float32":
        return data.astype(np.float32)
    if b.dtype != "int32" or s_w is None:
        raise ctx.unsupported("bias type", b.dtype, "float32, int32 (with int8 filters)")
    attrs["bias_q"] = data.astype(np.int32)
    s_in = float(ctx.inputs[0].scales[0])
    attrs["input_scale"] = s_in  # the scale bias_q is in units of (with s_w)
    return (data.astype(np.float64) * s_in * s_w).astype(np.float32)


def _conv_attrs(ctx: OpContext) -> dict:
    o = ctx.options
    if (o.dilationHFactor, o.dilationWFactor) != (1, 1):
        raise ctx.unsupported("dilation", (o.dilationHFactor, o.dilationWFactor), "1")
    return {"strides": (int(o.strideH), int(o.strideW)), "padding": _PADDING[int(o.padding)]}


def _conv2d(ctx: OpContext) -> None:
    kernel, attrs = _weights(ctx, lambda d: d.reshape(d.shape[0], -1), 0)
    bias = _bias(ctx, kernel.shape[0], attrs, attrs.get("w_scales"))
    ctx.emit("conv2d", [0], attrs={**_conv_attrs(ctx), **attrs}, activation=ctx.fused(),
             weights={"kernel": kernel.transpose(1, 2, 3, 0), "bias": bias})


def _depthwise(ctx: OpContext) -> None:
    cin = ctx.shape(ctx.inputs[0])[-1]
    kernel, attrs = _weights(ctx, lambda d: d[0].reshape(-1, d.shape[3]).T, 3)
    if kernel.shape[3] != cin:
        raise ctx.unsupported("depth multiplier", kernel.shape[3] // max(cin, 1), "1")
    bias = _bias(ctx, cin, attrs, attrs.get("w_scales"))
    ctx.emit("depthwise_conv2d", [0], attrs={**_conv_attrs(ctx), **attrs},
             activation=ctx.fused(), weights={"kernel": kernel[0][..., None], "bias": bias})


def _fully_connected(ctx: OpContext) -> None:
    o = ctx.options
    if o is not None and int(o.weightsFormat) != 0:
        raise ctx.unsupported("weights format", int(o.weightsFormat), "DEFAULT")
    kernel, attrs = _weights(ctx, lambda d: d, 0)
    units, fan_in = kernel.shape
    bias = _bias(ctx, units, attrs, attrs.get("w_scales"))
    in_shape = ctx.shape(ctx.inputs[0])
    if int(np.prod(in_shape)) != fan_in:
        raise ctx.unsupported("input shape", in_shape, f"{fan_in} values (the filter's fan-in)")
    if len(ctx.outputs[0].shape) != 2:
        raise ctx.unsupported("keep_num_dims output", ctx.outputs[0].shape, "(1, units)")
    reads = [0]
    if len(in_shape) != 1:  # FULLY_CONNECTED flattens its input implicitly
        flat = Node(ctx.builder.unique(f"{ctx.opname}_flatten"), "reshape",
                    [ctx.builder.producer(ctx.inputs[0].index)], [in_shape], (fan_in,),
                    attrs={"tensor": ctx.inputs[0].name})
        if ctx.builder.int8 and ctx.inputs[0].quantized:
            flat.attrs["qparams"] = ctx.inputs[0].qparams()
        ctx.builder.nodes.append(flat)
        node = ctx.emit("dense", [], input_shapes=[(fan_in,)], attrs=attrs,
                        activation=ctx.fused(), weights={"kernel": kernel.T.copy(), "bias": bias})
        node.inputs = [flat.name]
        return
    ctx.emit("dense", reads, attrs=attrs, activation=ctx.fused(),
             weights={"kernel": kernel.T.copy(), "bias": bias})


def _pool(op: str):
    def handler(ctx: OpContext) -> None:
        o = ctx.options
        ctx.emit(op, [0], activation=ctx.fused(),
                 attrs={"pool": (int(o.filterHeight), int(o.filterWidth)),
                        "strides": (int(o.strideH), int(o.strideW)),
                        "padding": _PADDING[int(o.padding)]})
    return handler


def _mean(ctx: OpContext) -> None:
    axes = sorted(int(a) % 4 for a in np.ravel(ctx.const(1)))
    if len(ctx.inputs[0].shape) != 4 or axes != [1, 2]:
        raise ctx.unsupported("axes", axes, "[1, 2] of an NHWC tensor (global average pool)")
    c = ctx.shape(ctx.inputs[0])[-1]
    ctx.emit("global_avg_pool2d", [0], output_shape=(c,))
    if len(ctx.outputs[0].shape) == 4:  # keep_dims: (1, 1, C) has the same bytes
        last = ctx.builder.nodes[-1]
        ctx.emit("reshape", [], input_shapes=[(c,)], name=f"{ctx.opname}_keepdims").inputs = [last.name]


def _add(ctx: OpContext) -> None:
    a, b = (ctx.shape(t) for t in ctx.inputs[:2])
    if a != b:
        raise ctx.unsupported("broadcast of shapes", (a, b), "equal shapes")
    ctx.emit("add", [0, 1], activation=ctx.fused())


def _concat(ctx: OpContext) -> None:
    rank = len(ctx.outputs[0].shape)
    axis = int(ctx.options.axis) % rank
    if axis == 0:
        raise ctx.unsupported("axis", ctx.options.axis, "any axis but the batch axis")
    ctx.emit("concat", list(range(len(ctx.inputs))), attrs={"axis": axis - 1},
             activation=ctx.fused())


def _reshape(ctx: OpContext) -> None:
    ctx.emit("reshape", [0])


def _pad(ctx: OpContext) -> None:
    pads = np.asarray(ctx.const(1)).reshape(-1, 2)
    if pads.shape[0] != 4 or np.any(pads[0] != 0) or np.any(pads[3] != 0):
        raise ctx.unsupported("paddings", pads.tolist(), "height and width of an NHWC tensor")
    ctx.emit("zero_pad2d", [0], attrs={"pads": tuple(tuple(int(v) for v in p) for p in pads[1:3])})


def _activation(name: str):
    def handler(ctx: OpContext) -> None:
        alpha = float(ctx.options.alpha) if name == "leaky_relu" else 0.0
        ctx.emit("activation", [0], activation=name, activation_alpha=alpha)
    return handler


def _softmax(ctx: OpContext) -> None:
    if float(ctx.options.beta) != 1.0:
        raise ctx.unsupported("beta", float(ctx.options.beta), "1.0")
    ctx.emit("activation", [0], activation="softmax")


def _quantize(ctx: OpContext) -> None:
    """QUANTIZE of a float model input: the input node takes the int8 quantization."""
    src, out = ctx.inputs[0], ctx.outputs[0]
    node = ctx.builder.producer(src.index)
    first = next(n for n in ctx.builder.nodes if n.name == node)
    if src.dtype != "float32" or first.op != "input" or out.dtype != "int8":
        raise ctx.unsupported("QUANTIZE", f"{src.dtype} -> {out.dtype} inside the model",
                              "float32 -> int8 at a model input")
    first.attrs["qparams"] = out.qparams()
    ctx.builder.alias(out.index, src.index)


def _dequantize(ctx: OpContext) -> None:
    """DEQUANTIZE at a model output: the output is the int8 tensor before it."""
    if ctx.inputs[0].dtype != "int8":
        raise ctx.unsupported("DEQUANTIZE input", ctx.inputs[0].dtype,
                              "int8 at a model output")
    ctx.builder.alias(ctx.outputs[0].index, ctx.inputs[0].index)


HANDLERS = {
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool("avg_pool2d"),
    "MAX_POOL_2D": _pool("max_pool2d"),
    "MEAN": _mean,
    "ADD": _add,
    "CONCATENATION": _concat,
    "RESHAPE": _reshape,
    "PAD": _pad,
    "SOFTMAX": _softmax,
    "RELU": _activation("relu"),
    "RELU6": _activation("relu6"),
    "LOGISTIC": _activation("sigmoid"),
    "TANH": _activation("tanh"),
    "LEAKY_RELU": _activation("leaky_relu"),
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}


def supported_ops() -> list[str]:
    """TFLite builtin operators the loader translates, sorted."""
    return sorted(HANDLERS)
