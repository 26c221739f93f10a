"""The compress stage and command on the bundled digits example (real model, real data)."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tinycompress.cli import app
from tinycompress.compress.core import CompressOptions, compress
from tinycompress.data import load_npz
from tinycompress.compress.weights import layer_arrays

MODEL = "examples/digits/model.keras"
TRAIN = "examples/digits/train.npz"
TEST = "examples/digits/test.npz"


@pytest.fixture(scope="module")
def pruned():
    opts = CompressOptions(bits=4, sparsity=0.8)
    return compress(MODEL, opts, load_npz(TRAIN), load_npz(TEST))


def test_reported_bytes_are_the_arrays_the_firmware_carries(pruned):
    for layer, node in zip(pruned.layers, pruned.qgraph.weight_nodes):
        arrays = layer_arrays(node, pruned.layouts[node.name])
        assert layer.weight_bytes == sum(a.nbytes for a in arrays.values())
        # bias_f, m, shift one per output channel (per-channel quantization)
        assert len(arrays["bias_f"]) == len(arrays["m"]) == node.levels.shape[0]
    assert pruned.weight_bytes == sum(layer.weight_bytes for layer in pruned.layers)


def test_layouts_decode_to_the_quantized_levels(pruned):
    for node in pruned.qgraph.weight_nodes:
        assert np.array_equal(pruned.layouts[node.name].decode(), node.levels)


def test_sparsity_and_bits_reach_every_layer(pruned):
    total = sum(n.levels.size for n in pruned.qgraph.weight_nodes)
    zeros = sum(int((n.levels == 0).sum()) for n in pruned.qgraph.weight_nodes)
    # global magnitude pruning removes round(0.8 * n) weights; rounding to 4 bits may add zeros
    assert zeros >= round(0.8 * total)
    assert {layer.bits for layer in pruned.layers} == {4}
    assert pruned.float_weight_bytes == 4 * 29_450  # every parameter of the LeNet is in a weight layer


def test_per_tensor_stores_one_multiplier_per_layer():
    result = compress(MODEL, CompressOptions(bits=8, per_channel=False))
    for node in result.qgraph.weight_nodes:
        arrays = layer_arrays(node, result.layouts[node.name])
        assert len(arrays["m"]) == len(arrays["shift"]) == 1
    assert "synthetic" in result.calibration  # no data given: said so in the report


def test_compress_command_writes_the_report(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compress", MODEL, "--bits", "8", "--data", TRAIN,
                                   "--eval-data", TEST, "-o", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "compress-report.json").read_text())
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "conv2", "fc1", "fc2", "logits"]
    assert {"name", "op", "bits", "sparsity", "layout", "weight_bytes"} <= set(report["layers"][0])
    assert report["layers"][0]["energy_pj"] > 0 and report["layers"][0]["ops"]["multiplies"] > 0
    assert report["weight_bytes"] == sum(layer["weight_bytes"] for layer in report["layers"])
    assert report["float_weight_bytes"] == 117_800
    acc = report["accuracy"]
    assert acc["float"] - acc["quantized"] <= 0.005  # 8-bit dense: within 0.5 pt of float
    assert acc["split"] == "eval" and "accuracy on eval (--eval-data (450 samples))" in res.output
    assert report["validation"]["split"] == "val" and report["validation"]["samples"] == 269
    assert report["fidelity"]["split"] == "eval" and report["warnings"] == []


@pytest.mark.parametrize("args,needle", [
    (["--bits", "9"], "bits"),
    (["--sparsity", "1.0"], "sparsity"),
    (["--layout", "zip"], "layout"),
    (["--optimize", "fast"], "optimize"),
])
def test_compress_command_rejects_bad_options(args, needle):
    res = CliRunner().invoke(app, ["compress", MODEL, *args])
    assert res.exit_code == 2
    assert res.output.startswith("error:") and needle in res.output
    assert "Traceback" not in res.output


def test_compress_command_rejects_data_of_the_wrong_shape(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 8, 8, 1), np.float32))
    res = CliRunner().invoke(app, ["compress", MODEL, "--data", str(bad)])
    assert res.exit_code == 2
    assert "(3, 8, 8, 1)" in res.output and "16, 16, 1" in res.output


def test_report_command_renders_a_compress_report(tmp_path):
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["compress", MODEL, "--bits", "6", "-o", str(out)]).exit_code == 0
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "conv1" in html and "data:image/png;base64," in html


def test_report_command_on_a_missing_dir_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "error:" in res.output


@pytest.mark.slow
def test_max_accuracy_drop_keeps_the_budget_and_prints_why(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compress", MODEL, "--data", TRAIN, "--eval-data", TEST,
                                   "--max-accuracy-drop", "1.0", "--epochs", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "compress-report.json").read_text())
    assert report["mode"] == "prune+search" and report["pruning"] is None  # --epochs 0: one shot
    # the budget holds on the validation data the search read, against the model as given
    val = report["validation"]["accuracy"]
    assert (val["float"] - val["quantized"]) * 100 <= 1.0 + 1e-9
    assert report["search"]["split"] == "val" and report["search"]["metric"] == "accuracy"
    assert report["search"]["reference_accuracy"] == pytest.approx(val["float"])
    assert report["accuracy"]["split"] == "eval"  # reported on test.npz, which nothing chose on
    assert report["weight_bytes"] < 31_000  # smaller than 8-bit dense (about 31 KB)
    chosen = {row["name"]: row["bits"] for row in report["search"]["layers"]}
    assert [layer["bits"] for layer in report["layers"]] == [chosen[n["name"]] for n in report["layers"]]
    assert "search on the validation data" in res.output and "budget 1.00 pt" in res.output


def test_rd_quantizer_at_a_given_lambda_is_smaller_than_uniform():
    data, test = load_npz(TRAIN), load_npz(TEST)
    cli = {"bits": 4, "sparsity": 0.5, "per_channel": False}
    uniform = compress(MODEL, CompressOptions.from_settings(cli), data, test)
    rd = compress(MODEL, CompressOptions.from_settings({**cli, "quantizer": "rd", "lambda": 1e-6}), data, test)
    assert rd.lam == 1e-6
    assert rd.weight_bytes < uniform.weight_bytes


def test_rd_without_lambda_needs_labels():
    res = CliRunner().invoke(app, ["compress", MODEL, "--quantizer", "rd"])
    assert res.exit_code == 2 and "--lambda" in res.output


def test_scope_layer_prunes_every_layer_to_the_same_fraction():
    res = CliRunner().invoke(app, ["compress", MODEL, "--sparsity", "0.5", "--scope", "layer",
                                   "--bits", "8", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # stdout is the JSON alone; the no-data warning is on stderr
    assert res.stderr.startswith("warning: no --data")
    # each layer loses round(0.5 * n) weights; 8-bit rounding may zero a few more
    assert all(0.5 <= layer["sparsity"] < 0.52 for layer in report["layers"])


def test_scope_must_be_global_or_layer():
    res = CliRunner().invoke(app, ["compress", MODEL, "--sparsity", "0.5", "--scope", "row"])
    assert res.exit_code == 2 and "--scope" in res.output


def test_bias_is_stored_in_16_bits_only_when_every_value_fits():
    from tinycompress.compress.weights import narrow_bias

    # int16 holds -32768..32767: one value outside keeps the whole array int32
    assert narrow_bias([-32768, 0, 32767]).dtype == np.int16
    assert narrow_bias([-32769, 0]).dtype == np.int32
    assert narrow_bias([0, 32768]).dtype == np.int32
    assert narrow_bias([5, -7]).tolist() == [5, -7]
