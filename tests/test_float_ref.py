"""The numpy float reference against Keras (independent implementation) and by hand."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinycompress.ir.graph import Graph, Node
from tinycompress.reference.float_ref import run_float, same_padding

REPO = Path(__file__).resolve().parents[1]
MLPERF = REPO.parent / "shared" / "models" / "mlperf_tiny"
DIGITS = REPO / "examples" / "digits" / "model.keras"
TOL = 1e-4


def _max_error(model, graph, x) -> float:
    want = model.predict(x, verbose=0)
    got = run_float(graph, x)
    if not isinstance(want, list):
        want, got = [want], [got]
    assert len(got) == len(want)
    # Conv1D outputs are (1, L, C) in the Graph, (L, C) in Keras: same bytes.
    return max(float(np.abs(w.reshape(g.shape) - g).max()) for w, g in zip(want, got))


@pytest.mark.parametrize("name", ["conv_padding", "bn_fold", "residual", "pooling",
                                  "activations", "separable", "conv1d"])
def test_builder_models_match_keras(name):
    from tests.models import BUILDERS, random_input
    from tinycompress.frontend.keras import from_keras

    model = BUILDERS[name]()
    err = _max_error(model, from_keras(model), random_input(model, batch=5, seed=11))
    print(f"{name}: max abs error {err:.3g}")
    assert err <= TOL


def _real_model_error(path: Path, batch: int = 8) -> float:
    from tests.models import random_input
    from tinycompress.frontend.keras import load
    from tinycompress.frontend.keras_import import import_keras

    keras = import_keras()
    assert path.exists(), f"missing model file {path}"
    model = keras.models.load_model(path, compile=False)
    x = random_input(model, batch=batch, seed=3)
    err = _max_error(model, load(path), x)
    print(f"{path.name}: max abs error {err:.3g} on {batch} standard-normal inputs")
    return err


@pytest.mark.slow
def test_mlperf_resnet_matches_keras():
    assert _real_model_error(MLPERF / "ic" / "pretrainedResnet.h5") <= TOL


@pytest.mark.slow
def test_mlperf_autoencoder_matches_keras():
    assert _real_model_error(MLPERF / "ad" / "ad01.h5") <= TOL


def test_digits_example_matches_keras():
    assert _real_model_error(DIGITS) <= TOL


def test_same_padding_by_hand():
    # total = (ceil(n/s)-1)*s + k - n, split (total//2, rest)
    assert same_padding(7, 3, 2) == (1, 1)   # (4-1)*2+3-7 = 2
    assert same_padding(8, 3, 2) == (0, 1)   # (4-1)*2+3-8 = 1
    assert same_padding(5, 4, 1) == (1, 2)   # 4+4-5 = 3
    assert same_padding(2, 5, 2) == (1, 2)   # 0+5-2 = 3
    assert same_padding(9, 1, 3) == (0, 0)   # 6+1-9 < 0 -> 0


def _tiny_graph(node: Node, in_shape) -> Graph:
    inp = Node("x", "input", [], [], in_shape)
    return Graph("tiny", [inp, node], [node.name])


def test_avg_pool_same_divides_by_valid_count():
    # x = 1..9 in a 3x3 image; pool 2, stride 2, same: pads (0,1) each axis.
    # windows {1,2,4,5} -> 3, {3,6} -> 4.5, {7,8} -> 7.5, {9} -> 9
    node = Node("pool", "avg_pool2d", ["x"], [(3, 3, 1)], (2, 2, 1),
                attrs={"pool": (2, 2), "strides": (2, 2), "padding": "same"})
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    got = run_float(_tiny_graph(node, (3, 3, 1)), x)
    np.testing.assert_array_equal(got[0, :, :, 0], [[3.0, 4.5], [7.5, 9.0]])


def test_conv_same_stride2_by_hand():
    # 4x4 ones, 3x3 all-ones kernel, stride 2, same: pads (0,1) per axis,
    # so window (0,0) covers rows/cols 0..2 -> 9; (0,1) covers cols 2..3 -> 6;
    # (1,1) covers 2x2 real pixels -> 4. Plus bias 0.5.
    node = Node("c", "conv2d", ["x"], [(4, 4, 1)], (2, 2, 1),
                attrs={"strides": (2, 2), "padding": "same"},
                weights={"kernel": np.ones((3, 3, 1, 1), np.float32),
                         "bias": np.array([0.5], np.float32)}, activation="relu6")
    got = run_float(_tiny_graph(node, (4, 4, 1)), np.ones((1, 4, 4, 1), np.float32))
    np.testing.assert_array_equal(got[0, :, :, 0], [[6.0, 6.0], [6.0, 4.5]])  # relu6 clips


def test_return_all_gives_every_node_float32_batch_first():
    from tests.models import bn_fold_model, random_input
    from tinycompress.frontend.keras import from_keras

    model = bn_fold_model()
    graph = from_keras(model)
    x = random_input(model, batch=3)
    values = run_float(graph, x, return_all=True)
    assert list(values) == [n.name for n in graph.nodes]
    for node in graph.nodes:
        assert values[node.name].dtype == np.float32
        assert values[node.name].shape == (3,) + tuple(node.output_shape)
    np.testing.assert_array_equal(values[graph.outputs[0]], run_float(graph, x))


def test_float_ref_and_load_do_not_import_tensorflow():
    code = ("import sys, tinycompress.reference.float_ref, tinycompress.frontend.keras; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_two_inputs_three_way_add():
    from tests.models import randomize
    from tinycompress.frontend.keras import from_keras
    from tinycompress.frontend.keras_import import import_keras

    keras = import_keras()
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    s = keras.layers.Add(name="sum")([keras.layers.Dense(5, name="da")(a),
                                      keras.layers.Dense(5, name="db")(b), a])
    # Inputs listed in the opposite order of their creation: run_float takes them
    # in the model's order.
    model = randomize(keras.Model([b, a], keras.layers.Activation("sigmoid")(s)), seed=21)
    graph = from_keras(model)
    assert [n.name for n in graph.inputs] == ["b", "a"]
    assert graph.node("sum").activation == "sigmoid"
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2)]
    np.testing.assert_allclose(run_float(graph, xs), model.predict(xs, verbose=0), atol=TOL, rtol=0)
