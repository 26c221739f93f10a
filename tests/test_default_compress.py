"""The default compression (`compress.auto`): what compress/build do when no bits or sparsity are given.

Every budget is checked here from outside the search: the integer model is
re-run with the integer reference (`int_ref.predict`) on the validation
split and compared with the Keras model as given, not with the figures the
search reported.
"""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from tinycompress.cli import app
from tinycompress.compress import CompressOptions, compress
from tinycompress.compress.auto import (
    CLASSIFIER_MARGIN_PTS, CLASSIFIER_MIN_PTS, PRUNE_SHARE, RMS_FACTOR,
)
from tinycompress.compress.roles import assign_roles
from tinycompress.data import DIGITS_MODEL, Dataset, load_npz, save_npz
from tinycompress.reference.int_ref import predict

pytestmark = pytest.mark.slow
EXAMPLE = DIGITS_MODEL.parent


@pytest.fixture(scope="module")
def train() -> Dataset:
    return load_npz(EXAMPLE / "train.npz")


@pytest.fixture(scope="module")
def keras_model():
    return keras.models.load_model(DIGITS_MODEL)


@pytest.fixture(scope="module")
def labelled(train):
    """Default compression with labels, 2 epochs a pruning step (to keep the test short; with
    1 the schedule stops at 80 % and the balanced layouts of this stop's cost model leave
    10,529 B, just over a third of int8's 31,390 B; with 2 it keeps 85 %: 8,958 B)."""
    return compress(DIGITS_MODEL, CompressOptions(epochs=2), train)


@pytest.fixture(scope="module")
def int8(train):
    return compress(DIGITS_MODEL, CompressOptions(no_search=True), train)


def _val(train: Dataset) -> Dataset:
    return assign_roles(train).val


def test_labelled_default_prunes_then_searches_within_one_point(labelled, int8, train, keras_model):
    assert labelled.mode == "prune+search"
    steps = labelled.pruning["steps"]
    assert [s["sparsity"] for s in steps] == sorted(s["sparsity"] for s in steps)
    kept = [s for s in steps if s["kept"]]
    assert kept and all(s["drop_pts"] <= PRUNE_SHARE * 1.0 + 1e-9 for s in kept)
    val = _val(train)
    float_acc = np.mean(np.argmax(keras_model.predict(val.x, verbose=0), 1) == val.y)
    int_acc = np.mean(np.argmax(predict(labelled.qgraph, val.x), 1) == val.y)
    assert 100 * (float_acc - int_acc) <= 1.0 + 1e-9
    assert labelled.weight_bytes < int8.weight_bytes / 3
    assert labelled.search.metric == "accuracy" and labelled.search.max_loss_pts == 1.0
    assert {lp.sparsity for lp in labelled.plan.layers.values()} != {0.0}


def test_no_search_and_explicit_settings_are_plain(int8, train):
    assert int8.mode == "as given" and int8.pruning is None and int8.search is None
    assert {(lp.bits, lp.sparsity) for lp in int8.plan.layers.values()} == {(8, 0.0)}
    assert {r.layout for r in int8.layers} <= {"dense", "csr", "cer", "cser", "pcsr"}
    given = compress(DIGITS_MODEL, CompressOptions(bits=6), train)
    assert given.mode == "as given" and {r.bits for r in given.layers} == {6}


def test_without_data_int8_with_a_warning():
    result = compress(DIGITS_MODEL, CompressOptions())
    assert result.mode == "int8" and {r.bits for r in result.layers} == {8}
    assert any("synthetic" in w for w in result.warnings)


def test_epochs_zero_is_one_shot(train):
    result = compress(DIGITS_MODEL, CompressOptions(epochs=0), train)
    assert result.mode == "prune+search" and result.pruning is None
    assert result.search is not None and result.search.feasible


def test_unlabelled_classifier_budget_is_relative_to_int8(train, keras_model):
    x_only = Dataset(train.x, None)
    plain = compress(DIGITS_MODEL, CompressOptions(no_search=True), x_only)
    result = compress(DIGITS_MODEL, CompressOptions(), x_only)
    assert result.mode == "search" and result.search.metric == "fidelity"
    val = assign_roles(x_only).val
    ref = np.argmax(keras_model.predict(val.x, verbose=0), 1)
    int8_dis = 100 * np.mean(np.argmax(predict(plain.qgraph, val.x), 1) != ref)
    budget = max(CLASSIFIER_MIN_PTS, int8_dis + CLASSIFIER_MARGIN_PTS)
    assert result.search.max_loss_pts == pytest.approx(budget)
    ours_dis = 100 * np.mean(np.argmax(predict(result.qgraph, val.x), 1) != ref)
    assert ours_dis <= budget + 1e-9
    assert result.weight_bytes < plain.weight_bytes


def _regressor():
    keras.utils.set_random_seed(3)
    inp = keras.Input((12,))
    h = keras.layers.Dense(48, activation="relu", name="enc")(inp)
    h = keras.layers.Dense(8, activation="relu", name="code")(h)
    h = keras.layers.Dense(48, activation="relu", name="dec")(h)
    out = keras.layers.Dense(12, name="out")(h)
    return keras.Model(inp, out)


def test_unlabelled_regressor_budget_is_125_percent_of_int8_rms():
    model = _regressor()
    x = np.random.default_rng(1).normal(size=(300, 12)).astype(np.float32)
    data = Dataset(x, None)
    plain = compress(model, CompressOptions(no_search=True), data)
    result = compress(model, CompressOptions(), data)
    val = assign_roles(data).val
    ref = model.predict(val.x, verbose=0).astype(np.float64)

    def rms(qgraph):
        out = predict(qgraph, val.x).astype(np.float64)
        return 100 * np.sqrt(np.sum((out - ref) ** 2) / np.sum(ref ** 2))

    budget = RMS_FACTOR * rms(plain.qgraph)
    assert result.mode == "search" and result.search.max_loss_pts == pytest.approx(budget, rel=1e-6)
    assert rms(result.qgraph) <= budget * (1 + 1e-9)
    assert result.weight_bytes < plain.weight_bytes


def test_cli_shows_steps_and_rejects_no_search_with_budget(tmp_path, train):
    runner = CliRunner()
    bad = runner.invoke(app, ["compress", str(DIGITS_MODEL), "--no-search", "--max-accuracy-drop", "1"])
    assert bad.exit_code == 2 and "--no-search" in bad.output and "Traceback" not in bad.output
    small = save_npz(tmp_path / "small.npz", train.x[:400], train.y[:400])  # a short run
    out = runner.invoke(app, ["compress", str(DIGITS_MODEL), "--data", str(small),
                              "--epochs", "1", "-o", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    assert "pruning with fine-tuning" in out.output and "kept" in out.output
    report = json.loads((tmp_path / "out" / "compress-report.json").read_text())
    assert report["mode"] == "prune+search" and report["pruning"]["epochs_per_step"] == 1
