"""One ONNX node -> Graph nodes (the handlers of `tinycompress.frontend.onnx`).

Weights go from ONNX's layouts to the Graph's: Conv W (cout, cin, kh, kw) ->
(kh, kw, cin, cout); a Conv with group == channels is a depthwise conv,
W (c, 1, kh, kw) -> (kh, kw, c, 1); Gemm/MatMul B (K, N) (or (N, K) with
transB) -> (K, N), its rows permuted when the input is a flattened NCHW
tensor (`Value.order`). Explicit pads equal to TF's 'same' padding become
padding "same"; other conv pads become a zero_pad2d node. Messages start
with `op TYPE (node NAME):` and name the supported values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress.errors import UnsupportedLayerError
from tinycompress.ir.graph import Node

QUANTIZED_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
                 "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd", "QGemm")


@dataclass
class Value:
    """An ONNX activation as the Graph holds it.

    node: the Graph node producing it; shape: its Graph shape (no batch axis);
    nchw: a 4-D ONNX tensor held as NHWC; order: for a flattened NCHW tensor, the
    ONNX flat index of each Graph element (None: the same order).
    """

    node: str
    shape: tuple[int, ...]
    nchw: bool = False
    order: np.ndarray | None = None


class NodeContext:
    """One ONNX node: its inputs as Values or constants, its attributes, the builder."""

    def __init__(self, builder, node, where: str, attrs: dict):
        self.b = builder
        self.node = node
        self.where = where
        self.attrs = attrs

    def unsupported(self, attr: str, value, supported: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.where}: {attr} {value} is not supported; supported: {supported}")

    def has(self, i: int) -> bool:
        return len(self.node.input) > i and self.node.input[i] != ""

    def is_const(self, i: int) -> bool:
        return self.has(i) and self.node.input[i] in self.b.consts

    def const(self, i: int) -> np.ndarray:
        if not self.is_const(i):
            raise UnsupportedLayerError(f"{self.where}: input {i} must be a constant (an initializer)")
        return self.b.consts[self.node.input[i]]

    def inp(self, i: int = 0):
        return self.b.value(self.node.input[i], self.where)

    def out_dims(self) -> tuple[int, ...]:
        dims = self.b.shapes.get(self.node.output[0])
        if dims is None or any(d <= 0 for d in dims[1:]):
            raise UnsupportedLayerError(f"{self.where}: output shape {dims} is unknown after ONNX "
                                        "shape inference; give the model fixed input shapes")
        return tuple(dims)

    def emit(self, op: str, inputs: list, shape, value_shape=None, nchw: bool = False,
             order=None, **kw):
        """Append a node reading Values `inputs`; its output is ONNX output 0."""
        name = self.b.unique(self.node.name or self.node.output[0])
        node = Node(name, op, [v.node for v in inputs], [v.shape for v in inputs], tuple(shape), **kw)
        node.attrs = {**node.attrs, "tensor": self.node.output[0]}
        self.b.nodes.append(node)
        self.b.values[self.node.output[0]] = Value(name, tuple(value_shape or shape), nchw, order)
        return node

    def alias(self, value) -> None:
        self.b.values[self.node.output[0]] = value


def _same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TF 'same' padding of one axis: (before, after), the extra one after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _window(ctx: NodeContext, x, kernel) -> tuple[tuple[int, int], tuple, str]:
    """(strides, pads ((t, b), (l, r)), padding 'valid'/'same'/'explicit') of a conv or pool."""
    if any(d != 1 for d in ctx.attrs.get("dilations", [1, 1])):
        raise ctx.unsupported("dilations", list(ctx.attrs["dilations"]), "1")
    sh, sw = (int(s) for s in ctx.attrs.get("strides", [1, 1]))
    h, w, _ = x.shape
    same = (_same_pads(h, kernel[0], sh), _same_pads(w, kernel[1], sw))
    auto = ctx.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "VALID"):
        return (sh, sw), (same if auto == "SAME_UPPER" else ((0, 0), (0, 0))), auto.split("_")[0].lower()
    if auto != "NOTSET":
        raise ctx.unsupported("auto_pad", auto, "NOTSET, SAME_UPPER, VALID")
    t, l, b, r = (int(p) for p in ctx.attrs.get("pads", [0, 0, 0, 0]))
    pads = ((t, b), (l, r))
    if pads == ((0, 0), (0, 0)):
        return (sh, sw), pads, "valid"
    return (sh, sw), pads, "same" if pads == same else "explicit"


def _check_nchw(ctx: NodeContext, x) -> None:
    if not x.nchw:
        raise ctx.unsupported("input rank", len(x.shape) + 1, "4 (N, C, H, W)")


def _conv(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    _check_nchw(ctx, x)
    w = ctx.const(1).astype(np.float32)
    cout, cin_g, kh, kw = w.shape
    group, cin = int(ctx.attrs.get("group", 1)), x.shape[2]
    bias = ctx.const(2).astype(np.float32) if ctx.has(2) else np.zeros(cout, np.float32)
    strides, pads, padding = _window(ctx, x, (kh, kw))
    if padding == "explicit":
        x = _pad_node(ctx, x, pads)
        padding = "valid"
    _, c, oh, ow = ctx.out_dims()
    attrs = {"strides": strides, "padding": padding}
    if group == 1:
        kernel = w.transpose(2, 3, 1, 0)
        op = "conv2d"
    elif group == cin == cout and cin_g == 1:
        kernel = w[:, 0].transpose(1, 2, 0)[..., None]
        op = "depthwise_conv2d"
    else:
        raise ctx.unsupported("group", group, f"1, or {cin} (depthwise, one filter per channel)")
    ctx.emit(op, [x], (oh, ow, c), nchw=True, attrs=attrs,
             weights={"kernel": np.ascontiguousarray(kernel), "bias": bias})


def _pad_node(ctx: NodeContext, x, pads):
    """A zero_pad2d node in front of a conv with pads other than 'same'; its Value."""
    (t, b), (l, r) = pads
    h, w, c = x.shape
    shape = (h + t + b, w + l + r, c)
    name = ctx.b.unique(f"{ctx.node.name or ctx.node.output[0]}_pad")
    ctx.b.nodes.append(Node(name, "zero_pad2d", [x.node], [x.shape], shape, attrs={"pads": pads}))
    return Value(name, shape, True)


def _dense(ctx: NodeContext, kernel: np.ndarray, bias: np.ndarray) -> None:
    x = ctx.inp(0)
    if len(x.shape) != 1:
        raise ctx.unsupported("input rank", len(x.shape) + 1, "2 (N, features); add a Flatten")
    if x.order is not None:  # the input is a flattened NCHW tensor held in NHWC order
        kernel = kernel[x.order]
    ctx.emit("dense", [x], (kernel.shape[1],),
             weights={"kernel": np.ascontiguousarray(kernel, np.float32), "bias": bias.astype(np.float32)})


def _gemm(ctx: NodeContext) -> None:
    if int(ctx.attrs.get("transA", 0)):
        raise ctx.unsupported("transA", 1, "0")
    b = ctx.const(1).astype(np.float64)
    b = b.T if int(ctx.attrs.get("transB", 0)) else b
    n = b.shape[1]
    c = np.broadcast_to(ctx.const(2), (n,)) if ctx.has(2) else np.zeros(n)
    _dense(ctx, b * float(ctx.attrs.get("alpha", 1.0)), c * float(ctx.attrs.get("beta", 1.0)))


def _matmul(ctx: NodeContext) -> None:
    b = ctx.const(1)
    if b.ndim != 2:
        raise ctx.unsupported("weight rank", b.ndim, "2")
    _dense(ctx, b.astype(np.float64), np.zeros(b.shape[1]))


def _add(ctx: NodeContext) -> None:
    consts = [i for i in (0, 1) if ctx.is_const(i)]
    if not consts:
        a, b = ctx.inp(0), ctx.inp(1)
        if a.shape != b.shape or a.nchw != b.nchw or not _same_order(a, b):
            raise ctx.unsupported("broadcast of shapes", (a.shape, b.shape), "equal shapes")
        ctx.emit("add", [a, b], a.shape, nchw=a.nchw, order=a.order)
        return
    x, c = ctx.inp(1 - consts[0]), np.asarray(ctx.const(consts[0]), np.float64)
    producer = next(n for n in ctx.b.nodes if n.name == x.node)
    units = x.shape[-1]
    if c.size != units or c.reshape(-1).shape != (units,) or (x.nchw and c.ndim == 4 and c.shape[1] != units):
        raise ctx.unsupported("constant of shape", c.shape, f"one value per channel ({units})")
    if (producer.op == "dense" and producer.activation == "linear" and x.order is None
            and ctx.b.uses.get(ctx.node.input[1 - consts[0]], 0) == 1):
        producer.weights["bias"] = (producer.weights["bias"] + c.reshape(-1)).astype(np.float32)
        ctx.alias(x)  # MatMul + Add: the Add is the dense layer's bias
        return
    ctx.emit("affine", [x], x.shape, nchw=x.nchw, order=x.order,
             weights={"scale": np.ones(units, np.float32), "offset": c.reshape(-1).astype(np.float32)})


def _same_order(a, b) -> bool:
    return (a.order is None and b.order is None) or (
        a.order is not None and b.order is not None and np.array_equal(a.order, b.order))


def _batchnorm(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    scale, offset, mean, var = (ctx.const(i).astype(np.float64) for i in (1, 2, 3, 4))
    s = scale / np.sqrt(var + float(ctx.attrs.get("epsilon", 1e-5)))
    ctx.emit("affine", [x], x.shape, nchw=x.nchw, order=x.order,
             weights={"scale": s.astype(np.float32), "offset": (offset - mean * s).astype(np.float32)})


def _activation(name: str, alpha_attr: str | None = None, default: float = 0.0):
    def handler(ctx: NodeContext) -> None:
        x = ctx.inp(0)
        alpha = float(ctx.attrs.get(alpha_attr, default)) if alpha_attr else 0.0
        ctx.emit("activation", [x], x.shape, nchw=x.nchw, order=x.order, activation=name,
                 activation_alpha=alpha)
    return handler


def _clip(ctx: NodeContext) -> None:
    lo = float(ctx.const(1)) if ctx.has(1) else float(ctx.attrs.get("min", -np.inf))
    hi = float(ctx.const(2)) if ctx.has(2) else float(ctx.attrs.get("max", np.inf))
    kinds = {(0.0, 6.0): "relu6", (0.0, np.inf): "relu"}
    if (lo, hi) not in kinds:
        raise ctx.unsupported("range", (lo, hi), "[0, 6] (ReLU6) or [0, inf) (ReLU)")
    _activation(kinds[lo, hi])(ctx)


def _softmax(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    axis = int(ctx.attrs.get("axis", -1))
    if x.nchw or len(x.shape) != 1 or axis not in (-1, 1) or x.order is not None:
        raise ctx.unsupported("axis", axis, "the feature axis of an (N, features) tensor")
    _activation("softmax")(ctx)


def _pool(op: str):
    def handler(ctx: NodeContext) -> None:
        x = ctx.inp(0)
        _check_nchw(ctx, x)
        if int(ctx.attrs.get("ceil_mode", 0)) or int(ctx.attrs.get("count_include_pad", 0)):
            raise ctx.unsupported("ceil_mode/count_include_pad", 1, "0")
        kernel = tuple(int(k) for k in ctx.attrs["kernel_shape"])
        strides, _, padding = _window(ctx, x, kernel)
        if padding == "explicit":
            raise ctx.unsupported("pads", list(ctx.attrs["pads"]), "none, or TF 'same' padding")
        _, c, oh, ow = ctx.out_dims()
        ctx.emit(op, [x], (oh, ow, c), nchw=True,
                 attrs={"pool": kernel, "strides": strides, "padding": padding})
    return handler


def _global_avg_pool(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    _check_nchw(ctx, x)
    c = x.shape[2]  # (1, 1, C) NHWC holds the same bytes as the (C,) the node writes
    ctx.emit("global_avg_pool2d", [x], (c,), value_shape=(1, 1, c), nchw=True)


def _flatten_order(x) -> np.ndarray | None:
    """ONNX flat index of each Graph element of a flattened Value (None: identical)."""
    if x.nchw:
        h, w, c = x.shape
        if h * w == 1 or c == 1:
            return None
        return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
    return x.order


def _flatten(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    if int(ctx.attrs.get("axis", 1)) != 1:
        raise ctx.unsupported("axis", ctx.attrs["axis"], "1")
    size = int(np.prod(x.shape))
    ctx.emit("reshape", [x], (size,), order=_flatten_order(x))


def _reshape(ctx: NodeContext) -> None:
    x, dims = ctx.inp(0), ctx.out_dims()
    if len(dims) != 2:
        if x.nchw and len(dims) == 4 and (dims[2], dims[3], dims[1]) == x.shape:
            ctx.alias(x)
            return
        raise ctx.unsupported("target shape", dims, "(N, features)")
    ctx.emit("reshape", [x], (dims[1],), order=_flatten_order(x))


def _concat(ctx: NodeContext) -> None:
    xs = [ctx.inp(i) for i in range(len(ctx.node.input))]
    rank = len(xs[0].shape) + 1
    axis = int(ctx.attrs["axis"]) % rank
    if any(x.nchw != xs[0].nchw or x.order is not None for x in xs) or axis == 0:
        raise ctx.unsupported("inputs", "of mixed layouts or along the batch axis",
                              "same-layout inputs, any axis but the batch axis")
    graph_axis = {1: 2, 2: 0, 3: 1}[axis] if xs[0].nchw else axis - 1
    _, *dims = ctx.out_dims()
    shape = (dims[1], dims[2], dims[0]) if xs[0].nchw else tuple(dims)
    ctx.emit("concat", xs, shape, nchw=xs[0].nchw, attrs={"axis": graph_axis})


def _pad(ctx: NodeContext) -> None:
    x = ctx.inp(0)
    _check_nchw(ctx, x)
    mode = ctx.attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    value = float(ctx.const(2)) if ctx.has(2) else 0.0
    p = [int(v) for v in ctx.const(1)]
    if mode != "constant" or value != 0.0 or len(p) != 8 or any(p[i] for i in (0, 1, 4, 5)):
        raise ctx.unsupported("padding", (mode, value, p), "constant zeros around H and W")
    (h, w, c), pads = x.shape, ((p[2], p[6]), (p[3], p[7]))
    ctx.emit("zero_pad2d", [x], (h + p[2] + p[6], w + p[3] + p[7], c), nchw=True, attrs={"pads": pads})


def _constant(ctx: NodeContext) -> None:
    if "value" not in ctx.attrs:
        raise ctx.unsupported("attribute", sorted(ctx.attrs), "value")
    ctx.b.consts[ctx.node.output[0]] = ctx.b.to_array(ctx.attrs["value"])


def _identity(ctx: NodeContext) -> None:
    if ctx.is_const(0):
        ctx.b.consts[ctx.node.output[0]] = ctx.const(0)
    else:
        ctx.alias(ctx.inp(0))


HANDLERS = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add,
    "BatchNormalization": _batchnorm,
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leaky_relu", "alpha", 0.01),
    "Clip": _clip,
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "MaxPool": _pool("max_pool2d"),
    "AveragePool": _pool("avg_pool2d"),
    "GlobalAveragePool": _global_avg_pool,
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Softmax": _softmax,
    "Pad": _pad,
    "Constant": _constant,
    "Identity": _identity,
    "Dropout": _identity,
}


def supported_ops() -> list[str]:
    """ONNX operator types the loader translates, sorted."""
    return sorted(HANDLERS)
