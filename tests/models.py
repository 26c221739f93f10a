"""Small Keras models for loader and float-reference tests.

Each builder returns a built model with random weights drawn from a fixed
seed, BatchNormalization statistics included (non-trivial mean, variance,
gamma, beta), so BN folding changes the numbers and is really tested.
Spatial sizes are odd where 'same' padding should pad asymmetrically.
"""
from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
from keras import layers  # noqa: E402


def randomize(model: keras.Model, seed: int) -> keras.Model:
    """Overwrite every weight with seeded random values; BN variances stay positive."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights([_bn_weight(rng, w, v.path) for w, v
                               in zip(layer.get_weights(), layer.weights)])
        elif layer.weights:
            layer.set_weights([_weight(rng, w) for w in layer.get_weights()])
    return model


def _weight(rng, w: np.ndarray) -> np.ndarray:
    # Kernels scaled by fan-in keep activations O(1), so softmax/sigmoid
    # outputs do not saturate and errors stay visible.
    fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 4
    return rng.normal(0.0, 1.2 / np.sqrt(fan_in), w.shape).astype(np.float32)


def _bn_weight(rng, w: np.ndarray, path: str) -> np.ndarray:
    if path.endswith("moving_variance"):
        return rng.uniform(0.3, 2.0, w.shape).astype(np.float32)
    if path.endswith("gamma"):
        return rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
    return rng.normal(0.0, 0.5, w.shape).astype(np.float32)


def random_input(model: keras.Model, batch: int = 4, seed: int = 0) -> np.ndarray:
    """A seeded standard-normal batch matching the model's (single) input."""
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def conv_padding_model() -> keras.Model:
    """Conv2D: same/valid, stride 1/2, odd and even kernels on odd sizes."""
    # 'same' pads (top, bottom) = total//2, rest, total = (ceil(n/s)-1)*s + k - n.
    x = inp = keras.Input((12, 13, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="same_s1")(x)           # pads (1,1)
    x = layers.Conv2D(5, 4, padding="same", name="same_k4_s1")(x)        # pads (1,2)
    x = layers.Conv2D(6, 3, strides=2, padding="same", name="same_s2")(x)  # rows (0,1), cols (1,1) -> 6x7
    x = layers.Conv2D(4, (2, 3), strides=2, padding="valid", name="valid_s2")(x)  # 3x3
    x = layers.Conv2D(3, 4, strides=2, padding="same", name="same_k4_s2")(x)  # pads (1,2) -> 2x2
    x = layers.Conv2D(3, 1, padding="valid", use_bias=False, name="pointwise")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(7, name="head")(x)
    return randomize(keras.Model(inp, out, name="conv_padding"), seed=1)


def bn_fold_model() -> keras.Model:
    """BN folded into conv (no bias), depthwise and dense; one BN left standalone."""
    x = inp = keras.Input((9, 9, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(name="bn_conv")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = layers.BatchNormalization(name="bn_dw")(x)
    x = layers.ReLU(max_value=6.0, name="relu6")(x)
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv_relu")(x)
    x = layers.BatchNormalization(name="bn_standalone")(x)  # after an activation
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(8, name="fc")(x)
    x = layers.Dropout(0.5, name="drop")(x)  # removed, so bn_fc still folds
    x = layers.BatchNormalization(name="bn_fc")(x)
    out = layers.Activation("tanh", name="tanh")(x)
    return randomize(keras.Model(inp, out, name="bn_fold"), seed=2)


def residual_model() -> keras.Model:
    """Residual block with Add, a branch whose BN cannot fold, Concatenate, GAP."""
    inp = keras.Input((10, 10, 4), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    stem = layers.Activation("relu", name="stem_relu")(x)
    y = layers.Conv2D(8, 3, padding="same", name="block_conv1")(stem)
    y = layers.BatchNormalization(name="block_bn1")(y)
    y = layers.ReLU(name="block_relu1")(y)
    y = layers.Conv2D(8, 3, padding="same", name="block_conv2")(y)
    y = layers.BatchNormalization(name="block_bn2")(y)
    y = layers.Add(name="add")([stem, y])
    y = layers.ReLU(name="add_relu")(y)
    z = layers.Conv2D(6, 1, name="branch")(y)
    z_bn = layers.BatchNormalization(name="branch_bn")(z)  # 'branch' has 2 readers
    cat = layers.Concatenate(name="concat")([z, z_bn, y])
    x = layers.GlobalAveragePooling2D(name="gap")(cat)
    out = layers.Dense(5, activation="softmax", name="probs")(x)
    return randomize(keras.Model(inp, out, name="residual"), seed=3)


def pooling_model() -> keras.Model:
    """Max/avg pooling same and valid, stride 1/2 on odd sizes; padding; reshape; concat."""
    inp = keras.Input((11, 9, 3), name="image")
    x = layers.ZeroPadding2D(((1, 2), (0, 3)), name="pad")(inp)          # 14 x 12
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv")(x)  # 12 x 10
    a = layers.MaxPooling2D(3, strides=2, padding="same", name="max_same")(x)   # 6 x 5
    b = layers.AveragePooling2D(3, strides=2, padding="same", name="avg_same")(x)
    ab = layers.Concatenate(axis=-1, name="cat_channels")([a, b])
    c = layers.MaxPooling2D(2, padding="valid", name="max_valid")(ab)          # 3 x 2
    d = layers.AveragePooling2D((2, 3), strides=1, padding="valid", name="avg_valid")(ab)
    e = layers.AveragePooling2D(2, strides=1, padding="same", name="avg_same_s1")(ab)
    gmax = layers.GlobalMaxPooling2D(name="gmax")(e)
    rows = layers.Concatenate(axis=1, name="cat_rows")(
        [layers.Reshape((6, 8), name="c_rows")(c), layers.Reshape((15, 8), name="d_rows")(d)])
    x = layers.Flatten(name="flatten")(rows)
    out = layers.Concatenate(name="cat_flat")([x, gmax])
    return randomize(keras.Model(inp, out, name="pooling"), seed=4)


def activations_model() -> keras.Model:
    """Every activation fused into a Dense and standalone; several outputs."""
    inp = keras.Input((12,), name="features")
    heads = []
    for i, act in enumerate(["relu", "sigmoid", "tanh", "softmax"]):
        heads.append(layers.Dense(5, activation=act, name=f"fused_{act}")(inp))
    d = layers.Dense(6, name="pre_leaky")(inp)
    heads.append(layers.LeakyReLU(negative_slope=0.15, name="leaky")(d))
    d = layers.Dense(6, name="pre_relu6")(inp)
    heads.append(layers.ReLU(max_value=6.0, name="relu6")(d))
    d = layers.Dense(6, name="pre_softmax")(inp)
    heads.append(layers.Softmax(name="softmax_layer")(d))
    heads.append(layers.Dense(4, activation="leaky_relu", name="fused_leaky")(inp))
    cat = layers.Concatenate(name="cat")(heads)
    # Standalone: the producers below are concat/reshape, which carry no activation.
    outs = [layers.Activation(a, name=f"alone_{a}")(cat)
            for a in ("relu", "relu6", "sigmoid", "tanh", "softmax", "leaky_relu")]
    r = layers.Reshape((7, 6), name="reshape")(cat)
    outs.append(layers.LeakyReLU(negative_slope=0.3, name="alone_leaky_layer")(r))
    return randomize(keras.Model(inp, outs, name="activations"), seed=5)


def separable_model() -> keras.Model:
    """SeparableConv2D (same, stride 2, fused relu) with BN folded into its pointwise."""
    x = inp = keras.Input((9, 11, 3), name="image")
    x = layers.SeparableConv2D(8, 3, strides=2, padding="same", activation="relu",
                               name="sep_relu")(x)
    x = layers.SeparableConv2D(5, (3, 2), padding="valid", use_bias=False, name="sep")(x)
    x = layers.BatchNormalization(name="sep_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="leaky")(x)
    x = layers.DepthwiseConv2D(2, padding="valid", activation="sigmoid", name="dw_sigmoid")(x)
    out = layers.GlobalAveragePooling2D(name="gap")(x)
    return randomize(keras.Model(inp, out, name="separable"), seed=6)


def conv1d_model() -> keras.Model:
    """Conv1D same/valid, stride 2, BN folding, as a Sequential model."""
    model = keras.Sequential([
        keras.Input((17, 3), name="signal"),
        layers.Conv1D(6, 3, strides=2, padding="same", use_bias=False, name="c1"),
        layers.BatchNormalization(name="c1_bn"),
        layers.ReLU(name="c1_relu"),
        layers.Conv1D(4, 4, padding="valid", activation="tanh", name="c2"),
        layers.Conv1D(3, 4, padding="same", name="c3"),
        layers.Flatten(name="flatten"),
        layers.Dense(3, name="out"),
    ], name="conv1d")
    return randomize(model, seed=7)


BUILDERS = {
    "conv_padding": conv_padding_model,
    "bn_fold": bn_fold_model,
    "residual": residual_model,
    "pooling": pooling_model,
    "activations": activations_model,
    "separable": separable_model,
    "conv1d": conv1d_model,
}


def lstm_model() -> keras.Model:
    """A model with a layer the loader does not support."""
    inp = keras.Input((5, 3))
    x = layers.LSTM(4, name="lstm_1")(inp)
    return keras.Model(inp, layers.Dense(2)(x), name="lstm")


def conv_transpose_model() -> keras.Model:
    """Another unsupported layer type."""
    inp = keras.Input((4, 4, 2))
    return keras.Model(inp, layers.Conv2DTranspose(3, 2, name="upconv")(inp))


def every_op_model() -> keras.Model:
    """Every op of the Graph in one single-output model, with five layers of each weight op
    (conv0..conv4, dw0..dw4, fc0..fc4), so one build can put every weight op in every layout."""
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(inp)                    # 11 x 11 x 3
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv0")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw0")(x)
    x = layers.MaxPooling2D(2, name="maxpool")(x)                                   # 5 x 5 x 6
    a = layers.Conv2D(6, 1, name="conv1")(x)
    b = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw1")(x)
    x = layers.Add(name="add")([a, b])
    x = layers.AveragePooling2D(2, strides=1, padding="same", name="avgpool")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv2")(x)             # 3 x 3 x 8
    y = layers.DepthwiseConv2D(2, padding="same", name="dw2")(x)
    z = layers.DepthwiseConv2D(3, padding="same", activation="sigmoid", name="dw3")(x)
    x = layers.Concatenate(name="cat")([y, z])                                      # 3 x 3 x 16
    x = layers.Activation("tanh", name="tanh")(x)
    x = layers.BatchNormalization(name="bn")(x)  # after an activation: a standalone affine
    x = layers.Conv2D(8, 1, name="conv3")(x)
    d = layers.DepthwiseConv2D(3, padding="same", name="dw4")(x)
    c = layers.Conv2D(8, 3, padding="same", activation="leaky_relu", name="conv4")(x)
    h = layers.Concatenate(name="cat_vec")([layers.GlobalAveragePooling2D(name="gap")(d),
                                            layers.GlobalMaxPooling2D(name="gmp")(c),
                                            layers.Flatten(name="flat")(x)])        # 8 + 8 + 72
    h = layers.Dense(24, activation="relu", name="fc0")(h)
    h = layers.Dense(16, name="fc1")(h)
    h = layers.Dense(16, activation="tanh", name="fc2")(h)
    h = layers.Dense(12, name="fc3")(h)
    out = layers.Dense(10, activation="softmax", name="fc4")(h)
    return randomize(keras.Model(inp, out, name="every_op"), seed=8)
