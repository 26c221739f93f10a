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
from tinycompress.codegen.render import plan, render, scratch_lives, tensor_lives
from tinycompress.codegen.scratch import scratch_bytes
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
    q, lay = _dense_model("residual", 4)
    arena = plan(q, lay)
    lives = {t.name: t for t in tensor_lives(q)}
    step = {n.name: i for i, n in enumerate(q.nodes)}
    borrowing = [s.name for s in scratch_lives(q, lay)]
    assert borrowing == [n.name for n in q.weight_nodes if n.op in ("conv2d", "dense")]
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


def test_only_dense_fc_and_conv2d_borrow_scratch():
    q, lay = _dense_model("separable", 8)
    ops = {n.name: n.op for n in q.weight_nodes}
    assert "depthwise_conv2d" in ops.values()
    assert {s.name for s in scratch_lives(q, lay)} == {
        name for name, op in ops.items() if op in ("conv2d", "dense")}
    sparse = {n.name: layouts_mod.encode_as("csr", n.levels, n.bits, col_map(n))
              for n in q.weight_nodes}
    assert scratch_lives(q, sparse) == []
    assert np.all([scratch_bytes(n, sparse[n.name]) == 0 for n in q.weight_nodes])
