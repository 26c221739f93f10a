"""Translate one Keras layer into raw Graph nodes (before folding and fusion).

Behaviour is chosen by the layer's exact class, never by its name: a user
subclass may override `call`, so it is reported as unsupported rather than
translated as its parent. Handlers return a list of `Node`s whose last node
carries the layer's name, so consumers can refer to the layer by name.

Raw nodes may use two ops that the passes in `load_passes` remove:
"identity" (Dropout and friends) and "affine" nodes that are later folded
into the preceding weight op.
"""
from __future__ import annotations

import numpy as np

from tinycompress.errors import UnsupportedLayerError
from tinycompress.ir.graph import Node, Shape

# Activation names Keras uses in configs -> (Graph activation, alpha).
_ACTIVATION_NAMES = {
    "linear": ("linear", 0.0),
    "relu": ("relu", 0.0),
    "relu6": ("relu6", 0.0),
    "sigmoid": ("sigmoid", 0.0),
    "tanh": ("tanh", 0.0),
    "softmax": ("softmax", 0.0),
    # keras.activations.leaky_relu's default negative_slope
    "leaky_relu": ("leaky_relu", 0.2),
}
_IDENTITY_TYPES = (
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout",
    "GaussianNoise", "AlphaDropout",
)


class LayerContext:
    """What a handler needs to know about one layer call in the model."""

    def __init__(self, layer, inputs: list[str], input_shapes: list[Shape],
                 output_shape: Shape):
        self.layer = layer
        self.inputs = inputs
        self.input_shapes = input_shapes
        self.output_shape = output_shape

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def type_name(self) -> str:
        return type(self.layer).__name__

    def unsupported(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(
            f"layer '{self.name}' of type {self.type_name} {why}; "
            f"supported: {', '.join(supported_layer_types())}")

    def node(self, op: str, **kw) -> Node:
        kw.setdefault("inputs", list(self.inputs))
        kw.setdefault("input_shapes", list(self.input_shapes))
        kw.setdefault("output_shape", self.output_shape)
        kw.setdefault("name", self.name)
        return Node(op=op, **kw)


def to_numpy(variable) -> np.ndarray:
    """A Keras variable as a float32 numpy array (copied)."""
    # .numpy() rather than keras.ops.convert_to_numpy: the latter trips a
    # numpy 2 DeprecationWarning (__array__ without copy=) on every weight.
    return np.array(variable.numpy(), dtype=np.float32)


def _bias(layer, units: int) -> np.ndarray:
    # Every weight node carries a bias so later stages need no special case.
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        return to_numpy(layer.bias)
    return np.zeros(units, dtype=np.float32)


def _activation(ctx: LayerContext, name) -> tuple[str, float]:
    if not isinstance(name, str) or name not in _ACTIVATION_NAMES:
        raise ctx.unsupported(
            f"uses activation {name!r}, which is not supported "
            f"(activations: {', '.join(sorted(_ACTIVATION_NAMES))})")
    return _ACTIVATION_NAMES[name]


def _with_activation(ctx: LayerContext, node: Node) -> Node:
    act, alpha = _activation(ctx, ctx.layer.get_config().get("activation", "linear"))
    node.activation, node.activation_alpha = act, alpha
    return node


def _check_channels_last(ctx: LayerContext) -> None:
    fmt = getattr(ctx.layer, "data_format", "channels_last")
    if fmt != "channels_last":
        raise ctx.unsupported(f"uses data_format={fmt!r} (only channels_last)")


def _check_conv(ctx: LayerContext) -> None:
    _check_channels_last(ctx)
    layer = ctx.layer
    if any(d != 1 for d in layer.dilation_rate):
        raise ctx.unsupported(f"uses dilation_rate={tuple(layer.dilation_rate)}")
    if getattr(layer, "groups", 1) != 1:
        raise ctx.unsupported(f"uses groups={layer.groups}")
    if layer.padding not in ("same", "valid"):
        raise ctx.unsupported(f"uses padding={layer.padding!r}")


def _input(ctx: LayerContext) -> list[Node]:
    return [ctx.node("input", inputs=[], input_shapes=[])]


def _dense(ctx: LayerContext) -> list[Node]:
    if len(ctx.input_shapes[0]) != 1:
        raise ctx.unsupported(
            f"is applied to a rank-{len(ctx.input_shapes[0])} input "
            f"{ctx.input_shapes[0]}; add a Flatten before it")
    kernel = to_numpy(ctx.layer.kernel)
    node = ctx.node("dense", weights={"kernel": kernel,
                                      "bias": _bias(ctx.layer, kernel.shape[1])})
    return [_with_activation(ctx, node)]


def _conv2d(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    kernel = to_numpy(ctx.layer.kernel)
    node = ctx.node("conv2d", attrs=_conv_attrs(ctx.layer),
                    weights={"kernel": kernel, "bias": _bias(ctx.layer, kernel.shape[3])})
    return [_with_activation(ctx, node)]


def _conv_attrs(layer) -> dict:
    return {"strides": tuple(int(s) for s in layer.strides), "padding": layer.padding}


def _conv1d(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    # A (length, channels) tensor has the same bytes as (1, length, channels).
    kernel = to_numpy(ctx.layer.kernel)[None]
    (length, cin), (out_len, cout) = ctx.input_shapes[0], ctx.output_shape
    node = ctx.node("conv2d", input_shapes=[(1, length, cin)], output_shape=(1, out_len, cout),
                    attrs={"strides": (1, int(ctx.layer.strides[0])),
                           "padding": ctx.layer.padding},
                    weights={"kernel": kernel, "bias": _bias(ctx.layer, kernel.shape[3])})
    return [_with_activation(ctx, node)]


def _depthwise(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    if ctx.layer.depth_multiplier != 1:
        raise ctx.unsupported(f"uses depth_multiplier={ctx.layer.depth_multiplier} (only 1)")
    kernel = to_numpy(ctx.layer.kernel)
    node = ctx.node("depthwise_conv2d", attrs=_conv_attrs(ctx.layer),
                    weights={"kernel": kernel, "bias": _bias(ctx.layer, kernel.shape[2])})
    return [_with_activation(ctx, node)]


def _separable(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    layer = ctx.layer
    if layer.depth_multiplier != 1:
        raise ctx.unsupported(f"uses depth_multiplier={layer.depth_multiplier} (only 1)")
    dw_kernel = to_numpy(layer.depthwise_kernel)
    pw_kernel = to_numpy(layer.pointwise_kernel)
    mid_shape = ctx.output_shape[:2] + (dw_kernel.shape[2],)
    dw = ctx.node("depthwise_conv2d", name=f"{ctx.name}_depthwise", output_shape=mid_shape,
                  attrs=_conv_attrs(layer),
                  weights={"kernel": dw_kernel,
                           "bias": np.zeros(dw_kernel.shape[2], np.float32)})
    pw = ctx.node("conv2d", inputs=[dw.name], input_shapes=[mid_shape],
                  attrs={"strides": (1, 1), "padding": "valid"},
                  weights={"kernel": pw_kernel, "bias": _bias(layer, pw_kernel.shape[3])})
    return [dw, _with_activation(ctx, pw)]


def _batchnorm(ctx: LayerContext) -> list[Node]:
    layer = ctx.layer
    rank = len(ctx.input_shapes[0])
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    if axis not in (-1, rank):
        raise ctx.unsupported(f"normalizes axis {axis} (only the last axis)")
    mean = to_numpy(layer.moving_mean).astype(np.float64)
    var = to_numpy(layer.moving_variance).astype(np.float64)
    gamma = to_numpy(layer.gamma).astype(np.float64) if layer.scale else 1.0
    beta = to_numpy(layer.beta).astype(np.float64) if layer.center else 0.0
    scale = gamma / np.sqrt(var + float(layer.epsilon))
    offset = beta - mean * scale
    weights = {"scale": scale.astype(np.float32), "offset": offset.astype(np.float32)}
    return [ctx.node("affine", weights=weights)]


def _activation_node(ctx: LayerContext, name, alpha=None) -> list[Node]:
    act, default_alpha = _activation(ctx, name)
    return [ctx.node("activation", activation=act,
                     activation_alpha=default_alpha if alpha is None else float(alpha))]


def _activation_layer(ctx: LayerContext) -> list[Node]:
    return _activation_node(ctx, ctx.layer.get_config()["activation"])


def _relu_layer(ctx: LayerContext) -> list[Node]:
    cfg = ctx.layer.get_config()
    max_value, slope = cfg.get("max_value"), float(cfg.get("negative_slope") or 0.0)
    if float(cfg.get("threshold") or 0.0) != 0.0:
        raise ctx.unsupported(f"uses threshold={cfg['threshold']}")
    if max_value is None:
        return _activation_node(ctx, "leaky_relu", slope) if slope else _activation_node(ctx, "relu")
    if float(max_value) == 6.0 and slope == 0.0:
        return _activation_node(ctx, "relu6")
    raise ctx.unsupported(f"uses max_value={max_value}, negative_slope={slope}")


def _leaky_relu_layer(ctx: LayerContext) -> list[Node]:
    return _activation_node(ctx, "leaky_relu", ctx.layer.negative_slope)


def _softmax_layer(ctx: LayerContext) -> list[Node]:
    axis = ctx.layer.axis
    if axis not in (-1, len(ctx.input_shapes[0])):
        raise ctx.unsupported(f"uses axis={axis} (only the last axis)")
    return _activation_node(ctx, "softmax")


def _pool(op: str):
    def handler(ctx: LayerContext) -> list[Node]:
        _check_channels_last(ctx)
        layer = ctx.layer
        attrs = {"pool": tuple(int(p) for p in layer.pool_size),
                 "strides": tuple(int(s) for s in layer.strides), "padding": layer.padding}
        return [ctx.node(op, attrs=attrs)]
    return handler


def _simple(op: str, check_format: bool = False):
    def handler(ctx: LayerContext) -> list[Node]:
        if check_format:
            _check_channels_last(ctx)
        return [ctx.node(op)]
    return handler


def _concat(ctx: LayerContext) -> list[Node]:
    rank = len(ctx.output_shape)
    axis = int(ctx.layer.axis)
    axis = axis + rank + 1 if axis < 0 else axis  # Keras counts the batch axis
    if not 1 <= axis <= rank:
        raise ctx.unsupported(f"concatenates along the batch axis (axis={ctx.layer.axis})")
    return [ctx.node("concat", attrs={"axis": axis - 1})]


def _zero_pad(ctx: LayerContext) -> list[Node]:
    _check_channels_last(ctx)
    (top, bottom), (left, right) = ctx.layer.padding
    return [ctx.node("zero_pad2d",
                     attrs={"pads": ((int(top), int(bottom)), (int(left), int(right)))})]


_HANDLERS = {
    "InputLayer": _input,
    "Dense": _dense,
    "Conv1D": _conv1d,
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "BatchNormalization": _batchnorm,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "LeakyReLU": _leaky_relu_layer,
    "Softmax": _softmax_layer,
    "MaxPooling2D": _pool("max_pool2d"),
    "AveragePooling2D": _pool("avg_pool2d"),
    "GlobalAveragePooling2D": _simple("global_avg_pool2d", check_format=True),
    "GlobalMaxPooling2D": _simple("global_max_pool2d", check_format=True),
    "Flatten": _simple("reshape"),
    "Reshape": _simple("reshape"),
    "Add": _simple("add"),
    "Concatenate": _concat,
    "ZeroPadding2D": _zero_pad,
    **{t: _simple("identity") for t in _IDENTITY_TYPES},
}


def supported_layer_types() -> list[str]:
    """Keras layer class names the loader translates, sorted."""
    return sorted(_HANDLERS)


def _handler_for(layer):
    import keras

    # Exact class match, and only Keras' own classes: a same-named user class
    # (or a subclass) may compute something else.
    cls = type(layer)
    if cls.__name__ in _HANDLERS and getattr(keras.layers, cls.__name__, None) is cls:
        return _HANDLERS[cls.__name__]
    return None


def translate(ctx: LayerContext) -> list[Node]:
    """Raw nodes for one layer call; raises UnsupportedLayerError."""
    handler = _handler_for(ctx.layer)
    if handler is None:
        raise ctx.unsupported("is not supported")
    return handler(ctx)
