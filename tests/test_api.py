"""The library API as a notebook user meets it: typed options, plans, models already in memory."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinycompress
from tinycompress.compress import CompressOptions, LayerPlan, Plan, apply, compress, resolve_plan
from tinycompress.compress.core import calibration_data
from tinycompress.data import DIGITS_MODEL, Dataset, load_digits_split
from tinycompress.errors import DataError, SpecError
from tinycompress.pipeline import build


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return tinycompress.load(DIGITS_MODEL), Dataset(split.x_train, split.y_train), \
        Dataset(split.x_test[:200], split.y_test[:200])


def _same_levels(a, b) -> bool:
    return all(np.array_equal(x.levels, y.levels) for x, y in zip(a.qgraph.weight_nodes, b.qgraph.weight_nodes))


def test_compress_a_loaded_graph_as_from_the_file(digits):
    graph, train, test = digits
    options = CompressOptions(bits=4, sparsity=0.5, per_channel=False)
    from_graph = compress(graph, options, train, test)
    from_file = compress(DIGITS_MODEL, options, train, test)
    assert _same_levels(from_graph, from_file)
    assert from_graph.report() == from_file.report()
    assert {lp.bits for lp in from_graph.plan.layers.values()} == {4}
    assert all(not qn.per_channel for qn in from_graph.qgraph.weight_nodes)


def test_compress_a_keras_model_in_memory(digits):
    import keras

    graph, train, test = digits
    model = keras.models.load_model(DIGITS_MODEL)
    options = CompressOptions(bits=6, quantizer="rd", lam=1e-6)
    in_memory = compress(model, options, train, test)
    assert _same_levels(in_memory, compress(DIGITS_MODEL, options, train, test))
    assert in_memory.lam == 1e-6 and in_memory.plan.uses_rd


def test_rd_and_fine_tuning_need_the_keras_model(digits):
    graph, train, _ = digits
    with pytest.raises(DataError, match="Keras model"):
        compress(graph, CompressOptions(quantizer="rd", lam=1e-6), train)
    with pytest.raises(DataError, match="Keras model"):
        compress(graph, CompressOptions(sparsity=0.5, epochs=1), train)


def test_a_plan_edited_by_hand_is_what_apply_carries_out(digits):
    graph, train, _ = digits
    plan = resolve_plan(CompressOptions(bits=5), graph)
    assert isinstance(plan, Plan) and list(plan.layers) == ["conv1", "conv2", "fc1", "fc2", "logits"]
    edited = plan.with_layers(bits={"fc1": 3}, sparsity={"fc1": 0.75}, layout={"fc1": "csr"})
    applied = apply(edited, graph, calibration_data(graph, train)[0])
    fc1 = applied.qgraph.node("fc1")
    assert fc1.bits == 3 and np.abs(fc1.levels).max() <= 3  # 3 bits: levels -3..3
    # 75 % of fc1's weights pruned by magnitude: at least that fraction of levels is 0
    assert np.count_nonzero(fc1.levels == 0) >= 0.75 * fc1.levels.size
    assert applied.layouts["fc1"].name == "csr"
    assert applied.qgraph.node("fc2").bits == 5
    assert edited.layers["fc2"] == LayerPlan(bits=5)


def test_options_override_the_spec_file_which_overrides_defaults(digits, tmp_path):
    graph, _, _ = digits
    spec = tmp_path / "my.toml"
    spec.write_text('[defaults]\nbits = 6\nsparsity = 0.5\n[layers.logits]\nbits = 8\n')
    from_file = resolve_plan(CompressOptions(spec=spec), graph)
    assert from_file.values("bits") == {"conv1": 6, "conv2": 6, "fc1": 6, "fc2": 6, "logits": 8}
    assert set(from_file.values("sparsity").values()) == {0.5}
    # a global option applies to every layer, the file's per-layer table included
    given = resolve_plan(CompressOptions(spec=spec, bits=3, layers={"fc1": {"bits": 4}}), graph)
    assert given.values("bits") == {"conv1": 3, "conv2": 3, "fc1": 4, "fc2": 3, "logits": 3}
    assert set(given.values("sparsity").values()) == {0.5}
    assert resolve_plan(CompressOptions(), graph).layers["fc1"] == LayerPlan()


def test_bad_options_are_spec_errors(digits):
    graph, _, _ = digits
    with pytest.raises(SpecError, match="bits"):
        resolve_plan(CompressOptions(bits=9), graph)
    with pytest.raises(SpecError, match="scope"):
        resolve_plan(CompressOptions(scope="everywhere"), graph)
    with pytest.raises(SpecError, match="unknown setting"):
        CompressOptions.from_settings({"bitz": 4})


@pytest.mark.target
def test_build_from_a_graph_in_memory(digits, tmp_path):
    graph, train, test = digits
    result = build(graph, "mps2_an386", tmp_path / "b", options=CompressOptions(bits=4, sparsity=0.8))
    report = json.loads((tmp_path / "b" / "build-report.json").read_text())
    assert report == result.report
    assert report["model"] == graph.name
    assert report["accuracy"] is None and report["warnings"][0].startswith("no --data")  # no data given
    assert {layer["bits"] for layer in report["layers"]} == {4}
    assert (tmp_path / "b" / "firmware_sim.elf").is_file()
