"""The three roles of data (issue 11): calibration/fine-tuning, validation, evaluation.

- the validation split: stratified, seeded, disjoint, reproducible; counts derived by hand;
- held-out samples reach neither calibration nor fine-tuning;
- no selection reads --eval-data: the search's result is the same whatever eval data is given;
- fidelity metrics on small arrays, by hand; the --max-fidelity-loss search on an
  unlabelled model (the MLPerf Tiny AD autoencoder on its real inputs);
- without data: one warning line, in the report too, and --input-range.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tinycompress
from tests import models
from tinycompress.cli import app
from tinycompress.compress import CompressOptions, apply, compress
from tinycompress.compress.evaluate import float_outputs, int_outputs
from tinycompress.compress.fidelity import fidelity, is_classifier, rel_rms_error, snr_db, top1_agreement
from tinycompress.compress.roles import assign_roles, calibration_data
from tinycompress.compress.sweep import SweepOptions, sweep
from tinycompress.data import DIGITS_MODEL, Dataset, holdout_counts, holdout_index, load_npz, split_validation

TRAIN = DIGITS_MODEL.parent / "train.npz"
TEST = DIGITS_MODEL.parent / "test.npz"
AD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "mlperf_tiny" / "ad"
runner = CliRunner()


# ---- the validation split, by hand ------------------------------------------------

def test_holdout_counts_by_hand():
    # 10 samples, 20 % -> 2 held out. Exact shares 1.2, 0.6, 0.2: floors 1, 0, 0 (1 held);
    # the missing one goes to the largest remainder, class 1 (0.6).
    assert holdout_counts([6, 3, 1]) == [1, 1, 0]
    assert holdout_counts([10, 5]) == [2, 1]            # exact shares 2.0 and 1.0
    # 10 classes of 2: 20 % of 20 = 4; every share is 0.4, ties go to the first classes
    assert holdout_counts([2] * 10) == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert holdout_counts([2]) == [0]                   # 20 % of 2 rounds to 0
    assert holdout_counts([3]) == [1]                   # 0.6 rounds to 1


def test_split_is_stratified_disjoint_seeded_and_reproducible():
    y = np.array([1, 0, 0, 2, 0, 1, 0, 0, 1, 0])        # class 0: 6, class 1: 3, class 2: 1
    data = Dataset(np.arange(10, dtype=np.float32)[:, None], y)  # x = the sample's position
    train, val = split_validation(data)
    assert sorted(val.y.tolist()) == [0, 1]              # the counts derived above: 1, 1, 0
    held = val.x[:, 0].astype(int).tolist()
    rest = train.x[:, 0].astype(int).tolist()
    assert sorted(held + rest) == list(range(10)) and not set(held) & set(rest)
    assert held == sorted(held) and rest == sorted(rest)  # file order kept in both parts
    assert np.array_equal(y[held], val.y) and np.array_equal(y[rest], train.y)
    again = split_validation(data)[1]
    assert np.array_equal(again.x, val.x)                # the same on every call
    # another seed draws other members of the classes, the same counts
    other = holdout_index(y, 10, seed=1)
    assert sorted(y[other].tolist()) == [0, 1]
    # unlabelled: a seeded random 20 %; too small to spare a sample: nothing held out
    assert np.array_equal(holdout_index(None, 10), holdout_index(None, 10))
    assert len(holdout_index(None, 10)) == 2
    assert split_validation(Dataset(np.zeros((2, 1), np.float32)))[1] is None


def test_digits_split_keeps_the_class_proportions():
    data = load_npz(TRAIN)
    roles = assign_roles(data, None, load_npz(TEST))
    counts = np.bincount(data.y)
    assert np.array_equal(np.bincount(roles.val.y, minlength=10), holdout_counts(counts.tolist()))
    assert len(roles.val) == 269 and len(roles.train) == 1347 - 269  # round(0.2 * 1347)
    assert "20 % of --data held out" in roles.val_source
    # with --val-data, all of --data trains
    assert assign_roles(data, roles.val, None).train is data


def test_held_out_samples_reach_neither_calibration_nor_fine_tuning(digits_graph):
    """The held-out samples' inputs replaced by noise: the fine-tuned, calibrated model is
    the same, bit for bit; only the validation figures change."""
    import keras

    data = load_npz(TRAIN).take(300)
    held = holdout_index(data.y, len(data))
    x = data.x.copy()
    x[held] = np.random.default_rng(5).uniform(-3, 3, x[held].shape)
    noisy = Dataset(x, data.y)
    model = keras.models.load_model(DIGITS_MODEL)
    options = CompressOptions(sparsity=0.5, bits=8, epochs=1)
    a, b = compress(model, options, data), compress(model, options, noisy)
    for na, nb in zip(a.graph.nodes, b.graph.nodes):
        for key in na.weights:
            assert np.array_equal(na.weights[key], nb.weights[key]), (na.name, key)
    assert all(np.array_equal(p.levels, q.levels) for p, q in
               zip(a.qgraph.weight_nodes, b.qgraph.weight_nodes))
    assert a.qgraph.input_scale == b.qgraph.input_scale
    assert a.validation["accuracy"] != b.validation["accuracy"]
    assert a.report()["data"]["training"] == "240 samples of --data not held out"


# ---- no selection reads --eval-data ---------------------------------------------

def test_search_never_reads_eval_data(digits_graph):
    data, test = load_npz(TRAIN).take(300), load_npz(TEST)
    options = CompressOptions(max_accuracy_drop=1.0, epochs=0)  # the search alone, one-shot pruning
    runs = {"none": None, "test": test.take(200),
            "labels shuffled": Dataset(test.x[:200], np.roll(test.y[:200], 1))}
    results = {k: compress(digits_graph, options, data, v) for k, v in runs.items()}
    base = results["none"]
    for name, r in results.items():
        assert r.search.as_dict() == base.search.as_dict(), name
        assert r.plan == base.plan and r.weight_bytes == base.weight_bytes, name
        assert r.validation == base.validation, name
    assert base.accuracy["split"] == "val"                  # no eval data: said so, and warned
    assert any("optimistic" in w for w in base.warnings)
    reported = {k: r.accuracy["quantized"] for k, r in results.items() if k != "none"}
    assert all(results[k].accuracy["split"] == "eval" for k in reported)
    assert reported["labels shuffled"] < 0.2 < reported["test"]  # eval data only changes the figure
    assert results["test"].warnings == []


# ---- fidelity, by hand -------------------------------------------------------------

def test_fidelity_metrics_by_hand():
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]])  # argmax 2, 0; power 1+4+9+9+1+0 = 24
    out = np.array([[1.0, 2.0, 4.0], [2.0, 3.0, 0.0]])  # argmax 2, 1
    # errors (0, 0, 1), (-1, 2, 0): 1 + 1 + 4 = 6
    assert top1_agreement(ref, out) == 0.5
    assert rel_rms_error(ref, out) == pytest.approx(math.sqrt(6 / 24))  # 0.5
    assert snr_db(ref, out) == pytest.approx(10 * math.log10(24 / 6))  # 6.02 dB
    close = np.array([[1.0, 2.0, 4.0], [3.0, 2.0, 0.0]])  # argmax 2, 0; errors 1 and 1: 2
    f = fidelity(ref, close, classifier=True)
    assert (f.top1_agreement, f.loss_pts) == (1.0, 0.0)
    assert f.rel_rms_error == pytest.approx(math.sqrt(2 / 24))
    assert f.snr_db == pytest.approx(10 * math.log10(12))  # 10.79 dB
    g = fidelity(ref, close, classifier=False)              # not class scores: RMS error in %
    assert g.top1_agreement is None and g.loss_pts == pytest.approx(100 * math.sqrt(2 / 24))
    same = fidelity(ref, ref, classifier=True)
    assert (same.rel_rms_error, same.snr_db, same.loss_pts) == (0.0, None, 0.0)  # infinite SNR
    assert rel_rms_error(np.zeros((2, 3)), ref) is None
    assert fidelity(ref, out, True).as_dict("eval") == {
        "split": "eval", "samples": 2, "classifier": True, "top1_agreement": 0.5,
        "rel_rms_error": 0.5, "snr_db": 6.02}


# ---- --max-fidelity-loss on unlabelled models ------------------------------------------

@pytest.fixture(scope="module")
def ad():
    path, inputs = AD_DIR / "ad01.h5", AD_DIR / "toycar_id01_clip0.npz"
    if not (path.is_file() and inputs.is_file()):
        pytest.fail(f"MLPerf Tiny AD model or inputs missing in {AD_DIR} (clone with shared/ beside)")
    return tinycompress.load(path), load_npz(inputs)


def test_fidelity_search_on_the_ad_autoencoder(ad):
    graph, data = ad                                         # 196 real inputs, no labels
    result = compress(graph, CompressOptions(max_fidelity_loss=4.0), data)
    found = result.search
    assert found.metric == "fidelity" and found.feasible and found.accuracy is None
    assert found.loss_pts <= 4.0 and found.weight_bytes < found.start_bytes
    assert result.accuracy is None and result.fidelity["split"] == "val"
    assert result.fidelity["classifier"] is False and result.fidelity["top1_agreement"] is None
    # independent re-check on the 39 held-out inputs: the chosen plan against the model as given
    val = split_validation(data)[1]
    calib, _ = calibration_data(graph, split_validation(data)[0])
    out = int_outputs(apply(result.plan, graph, calib), val.x)
    err = rel_rms_error(float_outputs(graph, val.x), out)
    assert len(val) == 39 and err == pytest.approx(found.loss_pts / 100)
    assert result.fidelity["snr_db"] == pytest.approx(-20 * math.log10(err), abs=0.01)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """x (8,) -> Dense 16 relu -> Dense 4 linear (seeded weights), and 60 unlabelled inputs."""
    import keras

    root = tmp_path_factory.mktemp("regression")
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="fc")(inp)
    model = keras.Model(inp, keras.layers.Dense(4, name="out")(h), name="regression")
    models.randomize(model, seed=3).save(root / "regression.keras")
    x = np.random.default_rng(4).normal(size=(60, 8)).astype(np.float32)
    np.savez(root / "x.npz", x=x)
    return root / "regression.keras", root / "x.npz"


def test_what_counts_as_a_classifier(digits_graph, regression):
    assert is_classifier(digits_graph, labelled=False)      # a softmax at the end
    graph = tinycompress.load(regression[0])
    assert not is_classifier(graph, labelled=False)          # linear outputs, no labels
    assert is_classifier(graph, labelled=True)               # labels: scored by argmax


def test_fidelity_budget_through_the_cli_with_rd(regression, tmp_path):
    """Unlabelled data, --quantizer rd without --lambda: the search and the lambda sweep both
    keep the fidelity budget on the 12 held-out inputs."""
    model, x = regression
    res = runner.invoke(app, ["compress", str(model), "--data", str(x), "--max-fidelity-loss", "3",
                              "--quantizer", "rd", "-o", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report == json.loads((tmp_path / "compress-report.json").read_text())
    assert report["search"]["metric"] == "fidelity" and report["search"]["split"] == "val"
    assert report["validation"]["samples"] == 12 and report["validation"]["accuracy"] is None
    assert report["validation"]["loss_pts"]["fidelity"] <= 3.0 and report["lambda"] is not None
    assert report["fidelity"]["rel_rms_error"] * 100 == pytest.approx(
        report["validation"]["loss_pts"]["fidelity"], abs=1e-4)
    res = runner.invoke(app, ["compress", str(model), "--data", str(x), "--max-accuracy-drop", "1"])
    assert res.exit_code == 2 and "labels" in res.stderr and "--max-fidelity-loss" in res.stderr


# ---- without data -------------------------------------------------------------------

def test_no_data_warns_once_and_input_range_sets_the_synthetic_range(tmp_path):
    res = runner.invoke(app, ["compress", str(DIGITS_MODEL), "--bits", "8", "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    warning = res.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: no --data")
    assert "synthetic inputs uniform in [0, 1)" in warning[0] and "--data FILE.npz" in warning[0]
    report = json.loads((tmp_path / "a" / "compress-report.json").read_text())
    assert report["warnings"] == [warning[0].removeprefix("warning: ")]
    assert report["accuracy"] is None and report["fidelity"] is None
    res = runner.invoke(app, ["compress", str(DIGITS_MODEL), "--bits", "8", "--input-range", "-1", "1",
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert "uniform in [-1, 1)" in report["calibration"] and "[-1, 1)" in report["warnings"][0]
    graph = tinycompress.load(DIGITS_MODEL)
    q = compress(graph, CompressOptions(bits=8, input_range=(-1.0, 1.0))).qgraph
    assert q.input_scale == pytest.approx(2 / 255, rel=0.01)  # 256 samples span about -1..1
    assert compress(graph, CompressOptions(bits=8)).qgraph.input_scale == pytest.approx(1 / 255, rel=0.01)


def test_sweep_on_unlabelled_data_scores_fidelity(regression, tmp_path):
    """The grid sweep with --max-fidelity-loss: every point's loss against the float model on
    the 12 held-out inputs, the front on (bytes, loss), the budget marked."""
    model, x = regression
    options = SweepOptions(sparsities=(0.0,), bits=(4, 8), quantizers=("uniform",), jobs=1,
                           max_fidelity_loss=2.0)
    doc = sweep(model, load_npz(x), None, tmp_path, options).document
    assert (doc["split"], doc["metric"], doc["max_loss_pts"]) == ("val", "fidelity", 2.0)
    assert doc["float_accuracy"] is None and doc["eval"] is None
    for p in doc["points"]:
        assert p["accuracy"] is None and p["fidelity"]["samples"] == 12
        assert p["loss_pts"] == pytest.approx(100 * p["fidelity"]["rel_rms_error"], abs=1e-4)
        assert p["within_budget"] == (p["loss_pts"] <= 2.0)
    by_name = {p["name"]: p for p in doc["points"]}
    assert by_name["s0-b8-uniform"]["loss_pts"] < by_name["s0-b4-uniform"]["loss_pts"]
    assert by_name["s0-b8-uniform"]["within_budget"] and not by_name["s0-b4-uniform"]["within_budget"]
    assert doc["pareto"] == ["s0-b4-uniform", "s0-b8-uniform"]  # fewer bytes, or less loss
