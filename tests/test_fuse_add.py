"""Residual adds fused into the convolution before them (codegen.fuse, tc_conv2d_dense_add_s8).

A dense conv2d whose only reader is an add becomes one step `<conv>+<add>` that
writes the sums over the add's other input (the skip tensor). Checked here:
which pairs fuse and which do not; the plan with the fused steps run 'in the
arena' by the numpy reference (the conv then the add, the sums at the skip
tensor's offset) equals `run_int`; the generated C on the host (plain C) and
in QEMU on the Cortex-M4 (DSP path) equals `run_int`; MLPerf Tiny IC ResNet-8's
arena reaches issue 13's target (<= 0.6 x TFLite Micro's 56,528 B).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.models import randomize
from tests.test_memory import IC_MODEL, _dense
from tinycompress import layouts as layouts_mod
from tinycompress.codegen import fuse, memory, verify
from tinycompress.codegen.render import arena_lives, plan, render, scheduled
from tinycompress.compress.quantize import quantize
from tinycompress.compress.weights import col_map
from tinycompress.frontend import load
from tinycompress.frontend.keras import from_keras
from tinycompress.ir.qgraph import QGraph
from tinycompress.reference.int_ref import run_int

TFLM_IC_ARENA = 56_528  # bench/results.md, RAM section: tflite-micro's recorded arena for IC


def two_blocks():
    """Two residual blocks on a 5 x 5 input (25 pixels: an odd last one): a 3x3 pair with the
    skip first (the conv is the add's input 1) and a ReLU after the add (a narrower output
    range), then a 1x1 pair with the conv first (input 0), whose patches need no gather."""
    from keras import Input, Model, layers

    inp = Input((5, 5, 8), name="image")
    s = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="a1")(s)
    y = layers.Conv2D(8, 3, padding="same", name="a2")(y)
    x = layers.Add(name="add1")([s, y])
    x = layers.ReLU(name="add1_relu")(x)
    z = layers.Conv2D(12, 1, activation="relu", name="b1")(x)
    z = layers.Conv2D(8, 1, name="b2")(z)
    x = layers.Add(name="add2")([z, x])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(4, name="head")(x)
    return randomize(Model(inp, out, name="two_blocks"), seed=21)


def _quantized(bits: int = 8) -> tuple[QGraph, np.ndarray]:
    model = two_blocks()
    x = np.random.default_rng(3).normal(size=(16, 5, 5, 8)).astype(np.float32)
    return quantize(from_keras(model), x, bits=bits), x


def _layouts(q: QGraph, sparse: tuple[str, ...] = ()) -> dict:
    return {n.name: layouts_mod.encode_as("csr" if n.name in sparse else "dense", n.levels,
                                          n.bits, col_map(n)) for n in q.weight_nodes}


def _fused(q: QGraph, lay: dict) -> tuple[QGraph, dict]:
    return fuse.fuse_adds(scheduled(q, lay), lay)


def _assert_fused_runs_in_arena(q: QGraph, lay: dict, x_float: np.ndarray) -> QGraph:
    f, flay = _fused(q, lay)
    arena = plan(f, flay)
    for x in q.quantize_input(x_float):
        want = run_int(q, x, return_all=True)
        got = verify.run_in_arena(f, *arena_lives(f, flay), arena, x)
        for name, value in got.items():
            node = f.node(name)
            ref = want[fuse.fused_add(node).add.name if fuse.fused_add(node) else name]
            assert np.array_equal(value, ref.ravel()), f"layer {name} differs in the arena"
    return f


def test_conv_and_add_fuse_over_the_skip_tensor():
    q, _ = _quantized()
    f, flay = _fused(q, _layouts(q))
    steps = [n.name for n in f.nodes if n.op not in memory.NO_KERNEL_OPS]
    assert "a2+add1" in steps and "b2+add2" in steps
    assert not {"a2", "add1", "b2", "add2"} & set(steps)
    a2, b2 = f.node("a2+add1"), f.node("b2+add2")
    # inputs: the conv's input, then the skip (the ReLU after add1 folds into the add)
    assert (a2.inputs, b2.inputs) == (["a1", "stem"], ["b1", "a2+add1"])
    assert (fuse.fused_add(a2).conv_slot, fuse.fused_add(b2).conv_slot) == (1, 0)
    assert f.node("gap").inputs == ["b2+add2"]  # the add's readers read the fused node
    # each writes over its skip input, at the same offset, never over its conv's input
    assert memory.inplace_inputs(f) == {"a2+add1": "stem", "b2+add2": "a2+add1"}
    arena = plan(f, flay)
    assert arena.offset("a2+add1") == arena.offset("stem") == arena.offset("b2+add2")
    assert flay["a2+add1"] is flay["a2"]


def test_what_does_not_fuse():
    q, _ = _quantized()
    # a sparse layout keeps its conv and add apart (its kernel sweeps channels, not pixels)
    f, _ = _fused(q, _layouts(q, sparse=("a2",)))
    names = {n.name for n in f.nodes}
    assert {"a2", "add1"} <= names and "b2+add2" in names
    # a conv read by another node too, or the model output, stays as it is
    model_q, _ = _quantized()
    s = scheduled(model_q, _layouts(model_q))
    for n in s.nodes:  # let 'gap' also read b2: b2 then has two readers
        if n.name == "gap":
            n.inputs.append("b2")
            n.input_shapes.append(s.node("b2").output_shape)
    f, _ = fuse.fuse_adds(s, _layouts(model_q))
    assert "b2" in {n.name for n in f.nodes} and "a2+add1" in {n.name for n in f.nodes}


@pytest.mark.parametrize("bits", [8, 4])
def test_fused_plan_runs_in_the_arena(bits):
    q, x = _quantized(bits)
    f = _assert_fused_runs_in_arena(q, _layouts(q), x[:3])
    assert sum(fuse.fused_add(n) is not None for n in f.nodes) == 2


@pytest.mark.host
@pytest.mark.parametrize("bits", [8, 4])
def test_fused_layers_are_bit_exact_in_c(bits, tmp_path):
    from tests.test_render import _host_library, _host_outputs

    q, x_float = _quantized(bits)
    rendered = render(q, _layouts(q), "mps2_an386")
    fused = [s for s in rendered.steps if s.parts]
    assert [s.kernel for s in fused] == ["tc_conv2d_dense_add_s8"] * 2
    assert [l["parts"] for l in rendered.layers() if "parts" in l] == [list(s.parts) for s in fused]
    lib = _host_library(rendered, tmp_path)
    x = q.quantize_input(x_float[:6])
    np.testing.assert_array_equal(_host_outputs(lib, x, q.node(q.outputs[0]).output_shape),
                                  run_int(q, x))


def test_ic_resnet8_fuses_every_residual_add_and_meets_the_ram_target():
    if not IC_MODEL.is_file():
        pytest.fail(f"MLPerf Tiny model missing: {IC_MODEL}")
    x = np.random.default_rng(7).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    q = quantize(load(IC_MODEL), x)
    lay = _dense(q)
    f = _assert_fused_runs_in_arena(q, lay, x[:2])
    assert not [n for n in f.nodes if n.op == "add"]  # all three residual adds fused
    mem = render(q, lay, "mps2_an386").memory
    # 33,808 B: skip, conv2d_1's output and the 3x3 conv's scratch at conv2d_1 and conv2d_2+add
    assert mem["arena_bytes"] <= 0.6 * TFLM_IC_ARENA
    assert mem["arena_bytes"] == mem["lower_bound_bytes"]
    assert any(row["layer"] == "conv2d_2+add" for row in mem["timeline"])


@pytest.mark.target
@pytest.mark.slow
def test_fused_model_is_bit_exact_in_qemu(tmp_path, offline_core):
    from tinycompress.compress import CompressOptions
    from tinycompress.pipeline import build
    from tinycompress.target.sim import simulate

    two_blocks().save(tmp_path / "two_blocks.keras")
    result = build(tmp_path / "two_blocks.keras", "mps2_an386", tmp_path / "b",
                   options=CompressOptions.from_settings({"bits": 8, "sparsity": 0.0,
                                                                 "layout": "dense"}))
    assert "tc_conv2d_dense_add_s8(" in (result.out_dir / "src" / "tc_model.c").read_text(encoding="utf-8")
    report = simulate(result.out_dir, n=4)
    assert report.bit_exact, (report.mismatches[:3], report.first_divergent_layer)
    names = [l["name"] for l in report.layers]
    assert "a2+add1" in names and "b2+add2" in names
    assert [l.get("parts") for l in report.layers if "parts" in l] == [["a2", "add1"], ["b2", "add2"]]
