"""Magnitude pruning: exact sparsity targets, global vs per layer, fine-tuning with masks."""
from __future__ import annotations

import numpy as np
import pytest

from tinycompress.data import DIGITS_MODEL
from tinycompress.errors import SpecError
from tinycompress.ir.graph import WEIGHT_OPS, Graph, Node
from tinycompress.frontend.keras import from_keras
from tinycompress.compress.finetune import prune_keras
from tinycompress.compress.prune import magnitude_masks, prune, sparsity_report
from tinycompress.compress.quantize import quantize
from tinycompress.compress.qparams import weight_matrix
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import evaluate


def _accuracy(graph, split) -> float:
    return float(np.mean(np.argmax(run_float(graph, split.x_test), axis=1) == split.y_test))


def test_global_masks_hand_derived():
    # magnitudes a: 1, 5, 2, 0.5 ; b: 3, 0.1. 50% of 6 = 3 smallest: 0.1, 0.5, 1
    kernels = {"a": np.array([1.0, -5.0, 2.0, 0.5]), "b": np.array([3.0, -0.1])}
    masks = magnitude_masks(kernels, 0.5)
    assert masks["a"].tolist() == [False, True, True, False]
    assert masks["b"].tolist() == [True, False]


def test_layer_masks_hand_derived():
    # per layer 50%: a drops round(0.5*4)=2 smallest (0.5, 1); b drops 1 (0.1)
    kernels = {"a": np.array([1.0, -5.0, 2.0, 0.5]), "b": np.array([3.0, -0.1])}
    masks = magnitude_masks(kernels, 0.5, scope="layer")
    assert masks["a"].tolist() == [False, True, True, False]
    assert masks["b"].tolist() == [True, False]
    # ties are broken by position: equal magnitudes, the first ones go
    assert magnitude_masks({"t": np.ones(4)}, 0.5)["t"].tolist() == [False, False, True, True]


# A 3x4 dense kernel (fan-in 3, 4 units) and a 4x1 one after it, in graph order a, b.
KERNEL_A = np.array([[0.9, -0.2, 0.4, -1.5],
                     [-0.3, 0.2, 2.0, 0.05],
                     [0.7, -0.4, -0.2, 1.1]])
KERNEL_B = np.array([[0.1], [-3.0], [0.15], [-0.2]])
# |a| flat (row-major) index: magnitude
#   0: .9   1: .2   2: .4   3: 1.5   4: .3   5: .2   6: 2.0   7: .05   8: .7   9: .4  10: .2  11: 1.1
# |b| flat index: 0: .1   1: 3.0   2: .15   3: .2
# a ascending, equal magnitudes in index order: a7 .05, a1 .2, a5 .2, a10 .2, a4 .3, a2 .4, a9 .4, a8 .7, ...
# a then b ascending (one list for the global scope, b after a): a7 .05, b0 .1, b2 .15, a1 .2, a5 .2,
#   a10 .2, b3 .2, a4 .3, ...
# k = round(s * n) with Python's round (half to even); keep-masks below, 0 = pruned.
# global .25: k = round(.25 * 16) = 4 -> a7, b0, b2, a1 (a1 is the first of the four .2 ties)
MASKS_GLOBAL_25 = {"a": [[1, 0, 1, 1],
                         [1, 1, 1, 0],
                         [1, 1, 1, 1]],
                   "b": [[0], [1], [0], [1]]}
# layer .25: a: k = round(.25 * 12) = 3 -> a7, a1, a5 (of the .2 ties a1 and a5 go, a10 stays);
#            b: k = round(.25 * 4) = 1 -> b0
MASKS_LAYER_25 = {"a": [[1, 0, 1, 1],
                        [1, 0, 1, 0],
                        [1, 1, 1, 1]],
                  "b": [[0], [1], [1], [1]]}
# {a: .5, b: .625}: a: k = 6 -> a7, a1, a5, a10, a4, a2 (a2 before a9, both .4);
#                   b: k = round(2.5) = 2 -> b0, b2
MASKS_DICT = {"a": [[1, 0, 0, 1],
                    [0, 0, 1, 0],
                    [1, 1, 0, 1]],
              "b": [[0], [1], [0], [1]]}


def _two_dense_graph() -> Graph:
    """input (3,) -> a: dense 4 -> b: dense 1, with KERNEL_A and KERNEL_B."""
    return Graph("two_dense", [
        Node("x", "input", [], [], (3,)),
        Node("a", "dense", ["x"], [(3,)], (4,), weights={"kernel": KERNEL_A.copy(), "bias": np.ones(4)}),
        Node("b", "dense", ["a"], [(4,)], (1,), weights={"kernel": KERNEL_B.copy(), "bias": np.ones(1)}),
    ], ["b"])


@pytest.mark.parametrize("sparsity,scope,expected", [
    (0.25, "global", MASKS_GLOBAL_25), (0.25, "layer", MASKS_LAYER_25),
    ({"a": 0.5, "b": 0.625}, None, MASKS_DICT)], ids=["global", "layer", "dict"])
def test_masks_of_small_kernels_hand_derived(sparsity, scope, expected):
    kernels = {"a": KERNEL_A, "b": KERNEL_B}
    masks = magnitude_masks(kernels, sparsity, scope=scope)
    assert {n: m.astype(int).tolist() for n, m in masks.items()} == expected
    pruned, report = prune(_two_dense_graph(), sparsity, scope=scope)
    for name, kernel in kernels.items():
        keep = np.array(expected[name], bool)
        got = pruned.node(name).weights["kernel"]
        assert np.array_equal(got, np.where(keep, kernel, 0.0)), name
        assert report.layer(name).zeros == int((~keep).sum()), name
        np.testing.assert_array_equal(pruned.node(name).weights["bias"], np.ones(keep.shape[1]))


def test_global_pruning_reaches_target_with_one_threshold(digits_graph):
    pruned, report = prune(digits_graph, 0.9)
    n = report.params
    assert report.zeros == round(0.9 * n)
    kept, dropped = [], []
    for node in pruned.nodes:
        if node.op in WEIGHT_OPS:
            orig = np.abs(digits_graph.node(node.name).weights["kernel"])
            zero = node.weights["kernel"] == 0
            kept.append(orig[~zero])
            dropped.append(orig[zero])
    # one global threshold: nothing pruned is larger than anything kept
    assert np.concatenate(dropped).max() <= np.concatenate(kept).min()
    # and the layers end up with different sparsities (fc1 is the most redundant)
    per_layer = {la.name: la.sparsity for la in report.layers}
    assert per_layer["fc1"] > per_layer["conv1"]


def test_layer_scope_and_dict_targets(digits_graph):
    _, report = prune(digits_graph, 0.5, scope="layer")
    for la in report.layers:
        assert la.zeros == round(0.5 * la.params), la.name
    pruned, report = prune(digits_graph, {"conv1": 0.3, "fc1": 0.95})
    assert report.layer("conv1").zeros == round(0.3 * report.layer("conv1").params)
    assert report.layer("fc1").zeros == round(0.95 * report.layer("fc1").params)
    np.testing.assert_array_equal(pruned.node("fc2").weights["kernel"],
                                  digits_graph.node("fc2").weights["kernel"])


def test_prune_keeps_biases_and_input_graph(digits_graph):
    before = digits_graph.node("fc1").weights["kernel"].copy()
    pruned, _ = prune(digits_graph, 0.8)
    np.testing.assert_array_equal(digits_graph.node("fc1").weights["kernel"], before)
    for node in pruned.nodes:
        if node.op in WEIGHT_OPS:
            np.testing.assert_array_equal(node.weights["bias"],
                                          digits_graph.node(node.name).weights["bias"])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "lots"])
def test_invalid_sparsity_rejected(digits_graph, bad):
    with pytest.raises(SpecError, match=r"sparsity"):
        prune(digits_graph, bad)


def test_invalid_names_and_scope_rejected(digits_graph):
    with pytest.raises(SpecError, match="unknown layer name.*nope"):
        prune(digits_graph, {"nope": 0.5})
    with pytest.raises(SpecError, match="scope"):
        prune(digits_graph, 0.5, scope="everywhere")
    with pytest.raises(SpecError, match="sparsity of fc1"):
        prune(digits_graph, {"fc1": 1.0})


def test_zeros_survive_quantization(digits_graph, split):
    pruned, report = prune(digits_graph, 0.85)
    q = quantize(pruned, split.x_train[:200], bits=4)
    for node in q.weight_nodes:
        zero = weight_matrix(node.op, pruned.node(node.name).weights["kernel"]) == 0
        assert np.all(node.levels[zero] == 0), node.name
        assert node.sparsity >= report.layer(node.name).sparsity


@pytest.mark.slow
def test_fine_tuning_keeps_masks_and_recovers_accuracy(digits_graph, split):
    import keras

    model = keras.saving.load_model(DIGITS_MODEL)
    sparsity = 0.9
    kernels = {n.name: n.weights["kernel"] for n in digits_graph.nodes if n.op in WEIGHT_OPS}
    masks = magnitude_masks(kernels, sparsity)  # independent of prune_keras's bookkeeping
    calls = []
    tuned = prune_keras(model, sparsity, split.x_train, split.y_train, epochs=4, batch_size=32,
                        progress=lambda done, total: calls.append((done, total)))
    steps = 4 * -(-len(split.x_train) // 32)
    assert calls[-1] == (steps, steps) and len(calls) == steps
    graph = from_keras(tuned)
    for name, mask in masks.items():
        k = graph.node(name).weights["kernel"]
        assert np.all(k[~mask] == 0), name  # exactly zero, not merely small
    assert sparsity_report(graph).sparsity >= sparsity
    one_shot, _ = prune(digits_graph, sparsity)
    float_acc, shot_acc, tuned_acc = (_accuracy(g, split) for g in (digits_graph, one_shot, graph))
    assert tuned_acc >= shot_acc
    assert tuned_acc >= float_acc - 0.03
    q = quantize(graph, split.x_train[:300], bits=8)
    assert evaluate(q, split.x_test, split.y_test) >= tuned_acc - 0.01
