"""Kernel scratch memory planned into the static arena (codegen.arena, codegen.scratch).

A kernel that borrows scratch (tc_context) gets a buffer live only at its layer's
step: it may reuse bytes of tensors dead at that step, never those of the
layer's inputs or output, and the generated call passes exactly that buffer.
"""
from __future__ import annotations

import re

import numpy as np

from tests.models import BUILDERS, random_input
from tinycompress import layouts as layouts_mod
from tinycompress.codegen.arena import TensorLife, plan_arena
from tinycompress.codegen.render import lowered, plan, render, scratch_lives, tensor_lives
from tinycompress.codegen.scratch import conv_span, conv_sparse_buffer_size, scratch_bytes
from tinycompress.compress.quantize import quantize
from tinycompress.compress.weights import col_map
from tinycompress.frontend.keras import from_keras


def test_scratch_reuses_dead_bytes_and_avoids_live_ones():
    # x(100) -> a(60) -> b(100); layer a borrows 40 B at step 1, layer b 30 B at step 2.
    # Largest first: x at 0; b at 0 too (x is dead at steps 2-3); a (steps 1-2) at 100;
    # a's scratch (step 1: x, a live) at 160; b's scratch (step 2: a, b live) at 160 too,
    # since a's scratch is dead by then. Arena: 200 B, not 100 + 60 + 100 + 40 + 30.
    lives = [TensorLife("x", 100, 0, 1), TensorLife("a", 60, 1, 2), TensorLife("b", 100, 2, 3)]
    scratch = [TensorLife("a", 40, 1, 1), TensorLife("b", 30, 2, 2)]
    p = plan_arena(lives, scratch)
    spans = {("tensor", t.name): (p.offset(t.name), t) for t in lives}
    spans.update({("scratch", t.name): (p.scratch[t.name], t) for t in scratch})
    for k1, (o1, t1) in spans.items():
        for k2, (o2, t2) in spans.items():
            if k1 < k2 and t1.first <= t2.last and t2.first <= t1.last:
                assert o1 + t1.size <= o2 or o2 + t2.size <= o1, (k1, k2)
    assert all(o % 4 == 0 for o, _ in spans.values())
    assert (p.offset("x"), p.offset("b"), p.offset("a")) == (0, 0, 100)
    assert p.scratch == {"a": 160, "b": 160} and p.size == 200


def test_no_scratch_keeps_the_plan_unchanged():
    lives = [TensorLife(f"t{i}", 10 + 7 * i, i, i + 1) for i in range(5)]
    assert plan_arena(lives).offsets == plan_arena(lives, []).offsets
    assert plan_arena(lives, []).scratch == {}


def _dense_model(name: str, bits: int):
    model = BUILDERS[name]()
    q = quantize(from_keras(model), random_input(model, batch=16, seed=1), bits=bits)
    lay = {n.name: layouts_mod.encode_as("dense", n.levels, n.bits, col_map(n))
           for n in q.weight_nodes}
    return q, lay


def test_rendered_model_scratch_is_disjoint_from_the_layers_tensors():
    q, lay = lowered(*_dense_model("residual", 4))  # the graph render plans (its add fused)
    arena = plan(q, lay)
    lives = {t.name: t for t in tensor_lives(q)}
    step = {n.name: i for i, n in enumerate(q.nodes)}
    borrowing = [s.name for s in scratch_lives(q, lay)]
    assert borrowing == [n.name for n in q.weight_nodes]
    for name in borrowing:
        node, lo = q.node(name), arena.scratch[name]
        hi = lo + scratch_bytes(node, lay[name])
        assert hi <= arena.size
        for t in lives.values():
            if t.first <= step[name] <= t.last:  # live at the layer's step
                start = arena.offset(t.name)
                assert hi <= start or start + t.size <= lo, (name, t.name)
    # the generated call passes that buffer: &<layer>_ctx with its offset and size
    text = render(q, lay, "mps2_an386").files["tc_model.c"]
    for name in borrowing:
        size = scratch_bytes(q.node(name), lay[name])
        off = arena.scratch[name]
        where = "tc_arena.bytes" if off == 0 else f"tc_arena.bytes + {off}"
        assert re.search(rf"\.buf = {re.escape(where)},\n    \.size = {size},", text), name


def test_which_kernels_borrow_scratch():
    # dense: FC, conv2d and depthwise (its input as int16 rows); sparse: conv2d and
    # depthwise (one output channel decoded at a time), not FC
    q, lay = _dense_model("separable", 8)
    ops = {n.name: n.op for n in q.weight_nodes}
    assert "depthwise_conv2d" in ops.values() and "conv2d" in ops.values()
    assert {s.name for s in scratch_lives(q, lay)} == set(ops)
    for name in ("csr", "cer", "cser", "pcsr"):
        sparse = {n.name: layouts_mod.encode_as(name, n.levels, n.bits, col_map(n))
                  for n in q.weight_nodes}
        assert {s.name for s in scratch_lives(q, sparse)} == {
            n for n, op in ops.items() if op in ("conv2d", "depthwise_conv2d")}
        for n in q.weight_nodes:
            want = 0 if n.op == "dense" else conv_sparse_buffer_size(
                n.kh, n.kw, int(n.input_shapes[0][-1]), n.op == "depthwise_conv2d",
                conv_span(n))
            assert scratch_bytes(n, sparse[n.name]) == want


def test_sparse_buffer_size_by_hand():
    # 3x3 conv over 4 channels: K = 36 (offset, level) pairs of 8 B = 288. 'same' on
    # 6 x 6 (the windows cover 8 x 8): + the smaller of the padded copy, 8 * 8 * 4 = 256,
    # and a second list + 4 x 11 int32 (288 + 176 = 464) -> 544. Depthwise: K = 9 -> 72;
    # the copy is the same 256, the lists 72 + 176 = 248 -> 320.
    assert conv_sparse_buffer_size(3, 3, 4, depthwise=False) == 288
    assert conv_sparse_buffer_size(3, 3, 4, depthwise=False, span=(8, 8)) == 544
    assert conv_sparse_buffer_size(3, 3, 4, depthwise=True) == 72
    assert conv_sparse_buffer_size(3, 3, 4, depthwise=True, span=(8, 8)) == 320


def _conv_pair(seed: int = 3):
    """The same 3x3 stride-1 convolution twice: 'same', and ZeroPadding2D + 'valid'."""
    from keras import Input, Model, layers

    from tests.models import randomize

    inp = Input((12, 10, 8), name="image")
    same = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    same = layers.DepthwiseConv2D(3, padding="same", name="dw")(same)
    a = randomize(Model(inp, same, name="same"), seed=seed)
    inp = Input((12, 10, 8), name="image")
    x = layers.ZeroPadding2D(1, name="pad1")(inp)
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.ZeroPadding2D(1, name="pad2")(x)
    x = layers.DepthwiseConv2D(3, name="dw")(x)
    b = Model(inp, x, name="explicit")
    b.set_weights(a.get_weights())
    return a, b


def test_same_convs_have_no_pad_step_and_a_smaller_arena():
    same, explicit = _conv_pair()
    x = random_input(same, batch=16, seed=2)
    arenas = {}
    for model in (same, explicit):
        q = quantize(from_keras(model), x, bits=8)
        lay = {n.name: layouts_mod.encode_as("dense", n.levels, n.bits, col_map(n))
               for n in q.weight_nodes}
        rendered = render(q, lay, "mps2_an386")
        arenas[model.name] = (rendered.arena_bytes, [n.op for n in q.nodes], rendered)
    size, ops, rendered = arenas["same"]
    assert "zero_pad2d" not in ops and "tc_pad_s8.c" not in rendered.kernel_sources
    assert "tc_pad_s8" not in rendered.files["tc_model.c"]
    esize, eops, _ = arenas["explicit"]
    assert eops.count("zero_pad2d") == 2  # explicit ZeroPadding2D layers stay pad steps
    # the explicit graph holds a padded copy (14 x 12 x 8 = 1,344 B) beside its input
    assert size < esize, (size, esize)
