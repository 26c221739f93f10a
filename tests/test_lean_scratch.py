"""`--optimize size` gives padded sparse convolutions the least scratch they run with.

The sparse conv engine (tc_conv_sparse_s8.c) makes a padded layer's border fast
with a padded copy of the input or tap-sorted lists; with only its list of
weights it sweeps the border rectangle by rectangle instead (RECT). A size build
renders every such layer with the smaller context and compiles only RECT
(TC_SPARSE_MODES); the firmware must stay bit-exact in QEMU, on the DSP and the
plain-C cores.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.models import randomize
from tinycompress import layouts as layouts_mod
from tinycompress.codegen.render import render
from tinycompress.codegen.scratch import (conv_padded, conv_sparse_min_buffer_size,
                                           lean_scratch_bytes, scratch_bytes)
from tinycompress.compress import CompressOptions
from tinycompress.compress.quantize import quantize
from tinycompress.compress.weights import col_map
from tinycompress.data import save_npz
from tinycompress.frontend.keras import from_keras
from tinycompress.pipeline import build
from tinycompress.target.sim import simulate

import keras  # noqa: E402 - tests.models sets TF's log level first
from keras import layers  # noqa: E402


def _model() -> keras.Model:
    # a 5x5 'same' conv on one channel (25 rectangles a channel), a padded depthwise at
    # stride 2, a 3x3 'same' conv and an unpadded one
    x = inp = keras.Input((14, 11, 1), name="image")
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="conv5")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw_s2")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(4, 3, padding="valid", name="valid")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(5, name="head")(x)
    return randomize(keras.Model(inp, out, name="lean"), seed=3)


def _sizes(source: str) -> dict[str, int]:
    """Each layer's tc_context size in the rendered tc_model.c."""
    return {m[0]: int(m[1]) for m in re.findall(r"(\w+)_ctx = \{[^}]*\.size = (\d+)", source)}


def test_size_renders_the_least_scratch_and_a_smaller_arena():
    model = _model()
    x = np.random.default_rng(1).uniform(-1, 1, (8, 14, 11, 1)).astype(np.float32)
    q = quantize(from_keras(model), x, bits=6)
    lay = {n.name: layouts_mod.encode_as("csr" if n.op != "dense" else "dense", n.levels, n.bits,
                                         col_map(n)) for n in q.weight_nodes}
    fast = render(q, lay, "mps2_an386")
    lean = render(q, lay, "mps2_an386", scratch_policy="least")
    assert fast.defines["TC_SPARSE_MODES"] == 0x1 and lean.defines["TC_SPARSE_MODES"] == 0x2
    fast_sizes, lean_sizes = _sizes(fast.files["tc_model.c"]), _sizes(lean.files["tc_model.c"])
    for n in q.weight_nodes:
        if n.op == "dense":
            continue
        full = scratch_bytes(n, lay[n.name])
        least = conv_sparse_min_buffer_size(n.kh, n.kw, int(n.input_shapes[0][-1]),
                                            n.op == "depthwise_conv2d")
        assert fast_sizes[n.name] == full
        assert lean_sizes[n.name] == (least if conv_padded(n) else full), n.name
    assert lean.arena_bytes < fast.arena_bytes


@pytest.mark.parametrize("board", ["mps2_an386", "mps2_an385"])  # Cortex-M4 (DSP), M3 (plain C)
@pytest.mark.parametrize("layout", ["csr", "pcsr"])
def test_size_build_is_bit_exact_in_qemu(tmp_path, offline_core, board, layout):
    path = tmp_path / "model.keras"
    _model().save(path)
    calib = save_npz(tmp_path / "calib.npz",
                     np.random.default_rng(0).uniform(-1, 1, (12, 14, 11, 1)).astype(np.float32))
    opts = CompressOptions(bits=6, sparsity=0.5, layout=layout, optimize="size")
    build(path, board, tmp_path / "build", options=opts, data=calib)
    ini = (tmp_path / "build" / "platformio.ini").read_text(encoding="utf-8")
    assert "-DTC_SPARSE_MODES=0x2" in ini
    sim = simulate(tmp_path / "build", data=calib, n=6)
    assert sim.bit_exact and sim.n_inputs == 6


def test_balanced_gives_up_six_pixel_columns_only_where_the_arena_shrinks():
    # digits int8: conv2's six-pixel columns sit on the arena's peak; the 'peak' policy
    # (--optimize balanced) plans it with two columns, the least tc_conv2d_dense_s8 takes
    from tinycompress.data import DIGITS_MODEL

    q = quantize(from_keras(keras.models.load_model(DIGITS_MODEL)),
                 np.random.default_rng(2).uniform(0, 1, (8, 16, 16, 1)).astype(np.float32), bits=8)
    lay = {n.name: layouts_mod.encode_as("dense", n.levels, n.bits, col_map(n)) for n in q.weight_nodes}
    fast, peak = render(q, lay, "mps2_an386"), render(q, lay, "mps2_an386", scratch_policy="peak")
    assert peak.arena_bytes < fast.arena_bytes
    fast_sizes, peak_sizes = _sizes(fast.files["tc_model.c"]), _sizes(peak.files["tc_model.c"])
    cut = {name for name in fast_sizes if peak_sizes[name] < fast_sizes[name]}
    assert cut, (fast_sizes, peak_sizes)
    for n in q.weight_nodes:
        if n.name in cut:
            assert peak_sizes[n.name] == lean_scratch_bytes(n, lay[n.name]) < scratch_bytes(n, lay[n.name])
    # the build's state says which layers got less (the cost model predicts their path)
    assert {l["name"] for l in peak.layers() if l.get("least_scratch")} == cut
    assert not any(l.get("least_scratch") for l in fast.layers())


def test_balanced_cuts_a_padded_sparse_conv_only_where_the_arena_shrinks():
    # digits with 70 % of every layer's levels zeroed, in pcsr: conv1 (5x5 'same' on one
    # channel) sits on the arena's peak with its padded copy; 'peak' plans it with the list
    # alone (it then sweeps its channels in bands of padded rows in the list's spare room,
    # else rectangle by rectangle) and compiles only that mode
    from tinycompress.data import DIGITS_MODEL

    q = quantize(from_keras(keras.models.load_model(DIGITS_MODEL)),
                 np.random.default_rng(2).uniform(0, 1, (8, 16, 16, 1)).astype(np.float32), bits=5)
    lay = {}
    for n in q.weight_nodes:
        levels = np.array(n.levels)
        levels[np.abs(levels) <= np.quantile(np.abs(levels), 0.7)] = 0
        lay[n.name] = layouts_mod.encode_as("pcsr", levels, n.bits, col_map(n))
    fast, peak = render(q, lay, "mps2_an386"), render(q, lay, "mps2_an386", scratch_policy="peak")
    assert fast.defines["TC_SPARSE_MODES"] == 0x1 and peak.defines["TC_SPARSE_MODES"] == 0x2
    assert peak.arena_bytes < fast.arena_bytes
    fast_sizes, peak_sizes = _sizes(fast.files["tc_model.c"]), _sizes(peak.files["tc_model.c"])
    conv1 = next(n for n in q.weight_nodes if n.name == "conv1")
    assert peak_sizes["conv1"] == conv_sparse_min_buffer_size(5, 5, 1, False) < fast_sizes["conv1"]
    assert {name for name in fast_sizes if peak_sizes[name] != fast_sizes[name]} == {"conv1"}
    assert conv_padded(conv1)


def test_summary_estimates_the_fastest_alternative_on_the_layers_planned_scratch():
    # digits pruned 70 % per layer in pcsr, conv1 planned with its list alone: the chosen
    # layout's estimate and the fastest alternative's are both on that least scratch (bands
    # or rectangles), so each is above its own full-scratch estimate (the padded copy)
    from tinycompress.compress.results import layer_results, planned_estimates
    from tinycompress.data import DIGITS_MODEL

    q = quantize(from_keras(keras.models.load_model(DIGITS_MODEL)),
                 np.random.default_rng(2).uniform(0, 1, (8, 16, 16, 1)).astype(np.float32), bits=5)
    lay = {}
    for n in q.weight_nodes:
        n.levels = np.array(n.levels)
        n.levels[np.abs(n.levels) <= np.quantile(np.abs(n.levels), 0.7)] = 0
        lay[n.name] = layouts_mod.encode_as("pcsr", n.levels, n.bits, col_map(n))
    full = {r.name: r for r in layer_results(q, lay)}
    planned = layer_results(q, lay)
    planned_estimates(q, lay, planned, {"conv1"})
    for row in planned:
        before = full[row.name]
        assert row.fastest["layout"] == before.fastest["layout"] != "pcsr"
        if row.name == "conv1":
            assert row.instructions_est > before.instructions_est
            assert row.fastest["instructions_est"] > before.fastest["instructions_est"]
        else:
            assert (row.instructions_est, row.fastest) == (before.instructions_est, before.fastest)


def test_an_emptied_conv_keeps_the_dense_dsp_path():
    # digits with conv2's kernel all zero (as global pruning can leave a layer): its weight
    # scale would give a multiplier far above 1, the long form that takes tc_conv2d_dense_s8
    # off its DSP path (cost.short_requant); its constants are replaced by short-form ones
    # with the same output (weight_ops._constant_rows), so both convs key the DSP path
    from tinycompress.compress.plan import geometry
    from tinycompress.data import DIGITS_MODEL
    from tinycompress.layouts.cost import layout_key

    model = keras.models.load_model(DIGITS_MODEL)
    kernel, bias = model.get_layer("conv2").get_weights()
    model.get_layer("conv2").set_weights([np.zeros_like(kernel), bias])
    q = quantize(from_keras(model),
                 np.random.default_rng(2).uniform(0, 1, (8, 16, 16, 1)).astype(np.float32), bits=8)
    keys = {n.name: layout_key(layouts_mod.encode_as("dense", n.levels, 8, col_map(n)), "conv",
                               geometry(n)) for n in q.weight_nodes if n.op == "conv2d"}
    assert keys == {"conv1": "dense8", "conv2": "dense8"}
    assert set(np.asarray(next(n for n in q.weight_nodes if n.name == "conv2").params.shift)) == {-2}


@pytest.mark.parametrize("bits, long_rows", [(2, 4), (8, 0)])
def test_geometry_counts_the_channels_requantizing_in_the_long_form(bits, long_rows):
    # a 1x1 conv on one input channel: each output is its input times one weight. At 2 bits
    # the weight's level is +-1 and the output's scale about the input's times the weight's
    # (multiplier near 1: shift above -2, tc_requantize at every output of the sparse
    # engine); at 8 bits the level is +-127 and the multiplier about 1/127 (short form)
    from tinycompress.compress.plan import geometry
    from tinycompress.layouts.cost import once_features

    x = inp = keras.Input((6, 5, 1), name="image")
    x = layers.Conv2D(4, 1, name="pw")(x)
    model = keras.Model(inp, layers.Flatten(name="flatten")(x))
    model.get_layer("pw").set_weights([np.array([[[[0.5, -1.5, 2.0, -0.7]]]], np.float32),
                                       np.zeros(4, np.float32)])
    q = quantize(from_keras(model),
                 np.random.default_rng(4).uniform(-1, 1, (16, 6, 5, 1)).astype(np.float32),
                 bits=bits)
    node = q.weight_nodes[0]
    g = geometry(node)
    assert g.long_rows == long_rows
    once = once_features(layouts_mod.encode_as("csr", node.levels, bits, col_map(node)),
                         col_map(node), g)
    assert once["long_outputs"] == long_rows * 6 * 5
