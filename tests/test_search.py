"""Weight bytes and the sensitivity-guided bits/sparsity search on the digits example."""
from __future__ import annotations

import numpy as np
import pytest

from tinycompress.compress.evaluate import Evaluator, float_accuracy
from tinycompress.compress.plan import choose_layouts, default_plan
from tinycompress.compress.prune import prune
from tinycompress.compress.quantize import quantize
from tinycompress.compress.search import search
from tinycompress.compress.weights import col_map_for, layer_weight_bytes
from tinycompress.data import DIGITS_MODEL, Dataset, load_digits_split
from tinycompress.frontend import load
from tinycompress.reference import int_ref

BITS = (8, 4, 3, 2)
SPARSITY = (0.0, 0.5, 0.8)


@pytest.fixture(scope="session")
def digits():
    split = load_digits_split()
    # 150 validation samples keep each integer evaluation well under a second
    return load(DIGITS_MODEL), split.x_train[:100], split.x_test[:150], split.y_test[:150]


@pytest.fixture(scope="session")
def searched(digits):
    graph, calib, xv, yv = digits
    seen = []
    result = search(default_plan(graph), Evaluator(graph, calib, Dataset(xv, yv)), 1.0,
                    progress=lambda d, t: seen.append((d, t)), bits_choices=BITS, sparsity_choices=SPARSITY)
    return result, seen


def test_col_map_hand_derived():
    # conv2d 2x2 over a (5, 4, 3) input: offset (ky*4 + kx)*3 + ci
    # ky=0,kx=0: 0 1 2 | kx=1: 3 4 5 | ky=1,kx=0: 12 13 14 | kx=1: 15 16 17
    np.testing.assert_array_equal(col_map_for("conv2d", (2, 2), (5, 4, 3)),
                                  [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17])
    # depthwise: per tap only (ky*W + kx)*C
    np.testing.assert_array_equal(col_map_for("depthwise_conv2d", (2, 2), (5, 4, 3)), [0, 3, 12, 15])
    assert col_map_for("dense", (1, 1), (7,)) is None


def test_search_respects_budget_and_shrinks(digits, searched):
    graph, calib, xv, yv = digits
    result, seen = searched
    assert result.feasible
    assert result.metric == "accuracy" and result.loss_pts <= 1.0 + 1e-9
    assert result.weight_bytes < result.start_bytes
    assert set(result.bits) == {"conv1", "conv2", "fc1", "fc2", "logits"}
    assert all(b in BITS for b in result.bits.values())
    assert seen and seen[-1][0] == seen[-1][1]
    # independent re-evaluation of the chosen configuration through the public stages
    pruned, _ = prune(graph, result.sparsity, scope="layer")
    qg = quantize(pruned, calib, result.bits)
    acc = int_ref.evaluate(qg, xv, yv)
    assert acc == pytest.approx(result.accuracy)
    # the drop is against the float model as given (here the unpruned graph itself)
    assert result.reference_accuracy == pytest.approx(float_accuracy(graph, Dataset(xv, yv)))
    assert 100 * (result.reference_accuracy - acc) <= 1.0 + 1e-9
    # the search's own byte count agrees with the exact count of the quantized graph, its
    # layouts chosen the way a build chooses them (the plan's --optimize, default balanced)
    chosen = choose_layouts(qg, default_plan(graph))
    exact = sum(layer_weight_bytes(qn, chosen[qn.name]) for qn in qg.weight_nodes)
    assert exact == result.weight_bytes


def test_search_table_rows(searched):
    result, _ = searched
    rows = result.table()
    assert [r["name"] for r in rows] == ["conv1", "conv2", "fc1", "fc2", "logits"]
    for r in rows:
        assert set(r) >= {"name", "op", "bits", "sparsity", "layout", "bytes", "stopped_by"}
        assert "budget" in r["stopped_by"] or "ladder end" in r["stopped_by"]
    assert sum(r["bytes"] for r in rows) == result.weight_bytes


def test_search_deterministic(digits, searched):
    graph, calib, xv, yv = digits
    again = search(default_plan(graph), Evaluator(graph, calib, Dataset(xv, yv)), 1.0,
                   bits_choices=BITS, sparsity_choices=SPARSITY)
    assert again.table() == searched[0].table()
    assert again.weight_bytes == searched[0].weight_bytes


def test_impossible_budget_keeps_start(digits):
    graph, calib, xv, yv = digits
    # a budget below zero can only be met if 8-bit beats float by that much: it does not here
    r = search(default_plan(graph), Evaluator(graph, calib, Dataset(xv, yv)), -50.0,
               bits_choices=BITS, sparsity_choices=SPARSITY)
    assert not r.feasible and r.weight_bytes == r.start_bytes
    assert set(r.bits.values()) == {8}
