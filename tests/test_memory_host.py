"""Host tier: generated C whose convolutions write over their own input (codegen.overlap).

The kernels' read/write order is what makes an overlap safe, so the generated
model is compiled with the real runtime and run on the host; its outputs must
equal the integer reference's. The models are small MobileNet / DS-CNN /
ResNet shapes: 1x1 expansions, 3x3 depthwise at strides 1 and 2, 'same'
3x3 convolutions, a residual add.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.models import BUILDERS, randomize
from tests.test_render import _host_library, _host_outputs
from tinycompress import layouts as layouts_mod
from tinycompress.codegen.overlap import overlap_shift
from tinycompress.codegen.render import render, scheduled
from tinycompress.codegen.verify import check_access_order
from tinycompress.compress.quantize import quantize
from tinycompress.compress.weights import col_map
from tinycompress.frontend.keras import from_keras
from tinycompress.reference.int_ref import run_int

pytestmark = pytest.mark.host


def _separable_net():
    from keras import Input, Model, layers

    x = inp = Input((12, 10, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    for i, (filters, stride) in enumerate([(16, 1), (16, 2), (24, 1)], 1):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu",
                                   name=f"dw{i}")(x)
        x = layers.Conv2D(filters, 1, activation="relu", name=f"pw{i}")(x)
    y = layers.Conv2D(24, 3, padding="same", activation="relu", name="res_a")(x)
    y = layers.Conv2D(24, 3, padding="same", name="res_b")(y)
    x = layers.Add(name="res_add")([x, y])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, name="head")(x)
    return randomize(Model(inp, out, name="separable_net"), seed=9)


def _odd_channels_net():
    """Depthwise layers on 5 and 6 channels: the dense kernel's last, partial group."""
    from keras import Input, Model, layers

    x = inp = Input((9, 7, 5), name="image")
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw5")(x)
    x = layers.Conv2D(6, 1, activation="relu", name="pw6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw6")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(4, name="head")(x)
    return randomize(Model(inp, out, name="odd_channels"), seed=12)


def _layouts(q, layout: str = "dense"):
    """`layout` for the depthwise layers, dense for the rest (dense conv2d overlaps)."""
    return {n.name: layouts_mod.encode_as(layout if n.op == "depthwise_conv2d" else "dense",
                                          n.levels, n.bits, col_map(n))
            for n in q.weight_nodes}


@pytest.mark.parametrize("name,layout", [("separable_net", "dense"), ("separable_net", "csr"),
                                         ("separable_net", "pcsr"), ("residual", "dense"),
                                         ("separable", "cer"), ("odd_channels", "dense")])
def test_overlapping_convolutions_are_bit_exact_in_c(name, layout, tmp_path):
    builders = {"separable_net": _separable_net, "odd_channels": _odd_channels_net}
    model = builders.get(name, BUILDERS.get(name))()
    rng = np.random.default_rng(4)
    x_float = rng.normal(size=(16, *model.input_shape[1:])).astype(np.float32)
    q = quantize(from_keras(model), x_float, bits=8)
    rendered = render(q, _layouts(q, layout), "mps2_an386")
    if name in builders:  # expansions and depthwise layers overlap their input
        ops = {q.node(n).op for n in rendered.memory["overlapping"]}
        assert ops == {"conv2d", "depthwise_conv2d"}, rendered.memory["overlapping"]
    lib = _host_library(rendered, tmp_path)
    x = q.quantize_input(x_float[:6])
    np.testing.assert_array_equal(_host_outputs(lib, x, q.node(q.outputs[0]).output_shape),
                                  run_int(q, x))


def test_access_order_replay_catches_a_shift_too_small():
    model = _separable_net()
    q = scheduled(quantize(from_keras(model), np.zeros((1, 12, 10, 3), np.float32)))
    for name, kind in (("pw1", "pixel"), ("res_b", "pixel"), ("dw1", "channel")):
        node = q.node(name)
        in_bytes = int(np.prod(node.input_shapes[0]))
        shift = overlap_shift(node, kind)
        base = shift + 64
        check_access_order(node, kind, base, base - shift, base + in_bytes + 4096)
        smaller = shift - (node.output_shape[-1] if kind == "channel" else 4)
        assert smaller >= 0
        with pytest.raises(ValueError, match=f"layer {name}: output"):
            check_access_order(node, kind, base, base - smaller, base + in_bytes + 4096)
