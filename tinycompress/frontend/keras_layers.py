"""Translate one Keras layer into raw Graph nodes (before folding and fusion).

Behaviour is chosen by the layer's exact class, never by its name: a user
subclass may override `call`, so it is reported as unsupported rather than
translated as its parent. Handlers return a list of `Node`s whose last node
carries the layer's name, so consumers can refer to the layer by name.
Every weight is read through `LayerContext.weight`, which refuses NaN and
infinite values before anything is folded. Messages start with
`layer NAME (Type):` and name the attribute and its supported values.

Raw nodes may use two ops that the passes in `load_passes` remove:
"identity" (Dropout and friends) and "affine" nodes that are later folded
into the preceding weight op.
"""
from __future__ import annotations

import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError
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

    @property
    def where(self) -> str:
        """`layer NAME (Type)`: how every message about this layer starts."""
        return f"layer {self.name} ({self.type_name})"

    def unsupported(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.where}: {why}")

    def unsupported_value(self, attr: str, value, supported: str) -> UnsupportedLayerError:
        """`layer c (Conv2D): dilation_rate (2, 2) is not supported; supported: 1`."""
        return self.unsupported(f"{attr} {value} is not supported; supported: {supported}")

    def weight(self, attr: str) -> np.ndarray:
        """The layer's weight `attr` as float32; ModelLoadError unless every value is finite."""
        return checked_weight(self.where, attr, getattr(self.layer, attr))

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


def _values(count: int, what: str) -> str:
    """'1 NaN value', '3 NaN values'."""
    return f"{count} {what} value{'' if count == 1 else 's'}"


def checked_weight(where: str, name: str, variable) -> np.ndarray:
    """A weight as float32; ModelLoadError naming the layer and the tensor when a value
    is NaN or infinite: such weights cannot be quantized, and BatchNorm folding would
    spread them over a whole kernel."""
    array = to_numpy(variable)
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    if nan or inf:
        counts = " and ".join(_values(n, what) for n, what in ((nan, "NaN"), (inf, "infinite")) if n)
        raise ModelLoadError(f"{where}: {name} has {counts}; non-finite weights cannot be quantized")
    return array


def _bias(ctx: LayerContext, units: int) -> np.ndarray:
    # Every weight node carries a bias so later stages need no special case.
    if getattr(ctx.layer, "use_bias", False) and ctx.layer.bias is not None:
        return ctx.weight("bias")
    return np.zeros(units, dtype=np.float32)


def _activation(ctx: LayerContext, name) -> tuple[str, float]:
    if not isinstance(name, str) or name not in _ACTIVATION_NAMES:
        raise ctx.unsupported_value("activation", repr(name), ", ".join(sorted(_ACTIVATION_NAMES)))
    return _ACTIVATION_NAMES[name]


def _with_activation(ctx: LayerContext, node: Node) -> Node:
    act, alpha = _activation(ctx, ctx.layer.get_config().get("activation", "linear"))
    node.activation, node.activation_alpha = act, alpha
    return node


def _check_channels_last(ctx: LayerContext) -> None:
    fmt = getattr(ctx.layer, "data_format", "channels_last")
    if fmt != "channels_last":
        raise ctx.unsupported_value("data_format", repr(fmt), "'channels_last'")


def _check_conv(ctx: LayerContext) -> None:
    _check_channels_last(ctx)
    layer = ctx.layer
    if any(d != 1 for d in layer.dilation_rate):
        raise ctx.unsupported_value("dilation_rate", tuple(layer.dilation_rate), "1")
    if getattr(layer, "groups", 1) != 1:
        raise ctx.unsupported_value("groups", layer.groups, "1")
    if layer.padding not in ("same", "valid"):
        raise ctx.unsupported_value("padding", repr(layer.padding), "'same', 'valid'")


def _input(ctx: LayerContext) -> list[Node]:
    return [ctx.node("input", inputs=[], input_shapes=[])]


def _dense(ctx: LayerContext) -> list[Node]:
    if len(ctx.input_shapes[0]) != 1:
        raise ctx.unsupported(
            f"is applied to a rank-{len(ctx.input_shapes[0])} input "
            f"{ctx.input_shapes[0]}, which is not supported; add a Flatten before it")
    kernel = ctx.weight("kernel")
    node = ctx.node("dense", weights={"kernel": kernel, "bias": _bias(ctx, kernel.shape[1])})
    return [_with_activation(ctx, node)]


def _conv2d(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    kernel = ctx.weight("kernel")
    node = ctx.node("conv2d", attrs=_conv_attrs(ctx.layer),
                    weights={"kernel": kernel, "bias": _bias(ctx, kernel.shape[3])})
    return [_with_activation(ctx, node)]


def _conv_attrs(layer) -> dict:
    return {"strides": tuple(int(s) for s in layer.strides), "padding": layer.padding}


def _conv1d(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    # A (length, channels) tensor has the same bytes as (1, length, channels).
    kernel = ctx.weight("kernel")[None]
    (length, cin), (out_len, cout) = ctx.input_shapes[0], ctx.output_shape
    node = ctx.node("conv2d", input_shapes=[(1, length, cin)], output_shape=(1, out_len, cout),
                    attrs={"strides": (1, int(ctx.layer.strides[0])),
                           "padding": ctx.layer.padding},
                    weights={"kernel": kernel, "bias": _bias(ctx, kernel.shape[3])})
    return [_with_activation(ctx, node)]


def _depthwise(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    if ctx.layer.depth_multiplier != 1:
        raise ctx.unsupported_value("depth_multiplier", ctx.layer.depth_multiplier, "1")
    kernel = ctx.weight("kernel")
    node = ctx.node("depthwise_conv2d", attrs=_conv_attrs(ctx.layer),
                    weights={"kernel": kernel, "bias": _bias(ctx, kernel.shape[2])})
    return [_with_activation(ctx, node)]


def _separable(ctx: LayerContext) -> list[Node]:
    _check_conv(ctx)
    layer = ctx.layer
    if layer.depth_multiplier != 1:
        raise ctx.unsupported_value("depth_multiplier", layer.depth_multiplier, "1")
    dw_kernel = ctx.weight("depthwise_kernel")
    pw_kernel = ctx.weight("pointwise_kernel")
    mid_shape = ctx.output_shape[:2] + (dw_kernel.shape[2],)
    dw = ctx.node("depthwise_conv2d", name=f"{ctx.name}_depthwise", output_shape=mid_shape,
                  attrs=_conv_attrs(layer),
                  weights={"kernel": dw_kernel,
                           "bias": np.zeros(dw_kernel.shape[2], np.float32)})
    pw = ctx.node("conv2d", inputs=[dw.name], input_shapes=[mid_shape],
                  attrs={"strides": (1, 1), "padding": "valid"},
                  weights={"kernel": pw_kernel, "bias": _bias(ctx, pw_kernel.shape[3])})
    return [dw, _with_activation(ctx, pw)]


def _batchnorm(ctx: LayerContext) -> list[Node]:
    layer = ctx.layer
    rank = len(ctx.input_shapes[0])
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    if axis not in (-1, rank):
        raise ctx.unsupported_value("axis", axis, f"-1 (the last axis, {rank})")
    mean = ctx.weight("moving_mean").astype(np.float64)
    var = ctx.weight("moving_variance").astype(np.float64)
    gamma = ctx.weight("gamma").astype(np.float64) if layer.scale else 1.0
    beta = ctx.weight("beta").astype(np.float64) if layer.center else 0.0
    if np.any(var < 0):
        negative = _values(int((var < 0).sum()), "negative")
        raise ModelLoadError(f"{ctx.where}: moving_variance has {negative}; "
                             "a variance cannot be negative")
    scale = gamma / np.sqrt(var + float(layer.epsilon))
    offset = beta - mean * scale
    if max(np.abs(scale).max(), np.abs(offset).max()) > np.finfo(np.float32).max:
        raise ModelLoadError(f"{ctx.where}: gamma / sqrt(moving_variance + epsilon) overflows "
                             "float32; non-finite weights cannot be quantized")
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
        raise ctx.unsupported_value("threshold", cfg["threshold"], "0")
    if max_value is None:
        return _activation_node(ctx, "leaky_relu", slope) if slope else _activation_node(ctx, "relu")
    if float(max_value) == 6.0 and slope == 0.0:
        return _activation_node(ctx, "relu6")
    raise ctx.unsupported(f"max_value {max_value} with negative_slope {slope} is not supported; "
                          "supported: max_value None or 6 (relu6, with negative_slope 0)")


def _leaky_relu_layer(ctx: LayerContext) -> list[Node]:
    return _activation_node(ctx, "leaky_relu", ctx.layer.negative_slope)


def _softmax_layer(ctx: LayerContext) -> list[Node]:
    axis = ctx.layer.axis
    if axis not in (-1, len(ctx.input_shapes[0])):
        raise ctx.unsupported_value("axis", axis, f"-1 (the last axis, {len(ctx.input_shapes[0])})")
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
        raise ctx.unsupported_value("axis", ctx.layer.axis, "any axis but the batch axis")
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


def unsupported_type(where: str, type_name: str, custom: str | None = None) -> UnsupportedLayerError:
    """The error for a layer whose type cannot be translated.

    `custom` describes a user-defined class ("a subclass of Dense", "registered
    as 'pkg>Name'"); None for a Keras layer type without a handler.
    """
    supported = f"supported: {', '.join(supported_layer_types())}"
    if custom is not None:
        return UnsupportedLayerError(
            f"{where}: custom layer class ({custom}) is not supported: its call() is Python code "
            f"that cannot be compiled to firmware; build the model from Keras layers ({supported})")
    if type_name == "Lambda":
        return UnsupportedLayerError(
            f"{where}: a Lambda layer runs arbitrary Python code, which cannot be compiled to "
            f"firmware; express it with Keras layers ({supported})")
    return UnsupportedLayerError(f"{where}: layer type not supported; {supported}")


def _keras_base(cls) -> str | None:
    """'a subclass of Dense' for a user class derived from a Keras layer; None for Keras' own."""
    import keras

    if getattr(keras.layers, cls.__name__, None) is cls:
        return None
    base = next((c for c in cls.__mro__[1:] if getattr(keras.layers, c.__name__, None) is c), None)
    return f"a subclass of {base.__name__ if base else 'Layer'}, defined in {cls.__module__}"


def translate(ctx: LayerContext) -> list[Node]:
    """Raw nodes for one layer call; raises UnsupportedLayerError."""
    handler = _handler_for(ctx.layer)
    if handler is None:
        raise unsupported_type(ctx.where, ctx.type_name, _keras_base(type(ctx.layer)))
    return handler(ctx)
