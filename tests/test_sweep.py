"""The sweep on the bundled digits example: real model, real worker processes, real files.

One module-scoped sweep (2 sparsities x 2 bits x uniform, 2 jobs) is shared;
resume is observed through the points log and the progress callback, never by
mocking compress().
"""
import json

import pytest
from typer.testing import CliRunner

from tinycompress.cli import app
from tinycompress.compress.core import CompressOptions, compress
from tinycompress.data import load_npz, save_npz
from tinycompress.compress.fidelity import Budget
from tinycompress.errors import SpecError
from tinycompress.compress.sweep import (POINTS_FILE, STAGE, SWEEP_FILE, SweepOptions, fingerprint,
                                grid, pareto_flags, parse_values, read_points, sweep)
from tests.test_cli import assert_user_error

MODEL = "examples/digits/model.keras"
TRAIN = "examples/digits/train.npz"
TEST = "examples/digits/test.npz"
SMALL = dict(sparsities=(0.0, 0.9), bits=(4, 8), quantizers=("uniform",))
NAMES = ["s0-b4-uniform", "s0-b8-uniform", "s0.9-b4-uniform", "s0.9-b8-uniform"]


class Calls:
    """A progress callback that remembers every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, stage, done, total):
        self.calls.append((stage, done, total))


def lines(path):
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def data():
    return load_npz(TRAIN), load_npz(TEST)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("sweep") / "out"
    calls = Calls()
    result = sweep(MODEL, *data, out, SweepOptions(**SMALL, jobs=2), progress=calls)
    return out, result, calls


# ---- Pareto front: hand-made points ------------------------------------------

def test_pareto_flags_by_hand():
    points = [(100, 0.50),   # front: nothing is as small and as accurate
              (200, 0.90),   # front
              (150, 0.40),   # dominated by (100, 0.50): larger and less accurate
              (200, 0.80),   # dominated by (200, 0.90): same bytes, less accurate
              (300, 0.90),   # dominated by (200, 0.90): same accuracy, more bytes
              (50, 0.10),    # front: the smallest
              (400, 0.95),   # front, twice: equal points do not dominate each other
              (400, 0.95)]
    assert pareto_flags(points) == [True, True, False, False, False, True, True, True]
    assert pareto_flags([]) == []
    assert pareto_flags([(1, 0.0)]) == [True]


def test_grid_is_sorted_deduplicated_and_validated():
    points = grid(SweepOptions(sparsities=(0.9, 0, 0.9), bits=(8, 4), quantizers=("rd", "uniform")))
    assert [p.name for p in points][:4] == ["s0-b4-rd", "s0-b4-uniform", "s0-b8-rd", "s0-b8-uniform"]
    assert len(points) == 2 * 2 * 2  # the repeated 0.9 counts once
    assert len(grid(SweepOptions())) == 5 * 5 * 2  # the default grid
    for bad in (dict(bits=(9,)), dict(bits=(1,)), dict(sparsities=(1.0,)), dict(sparsities=(-0.1,)),
                dict(quantizers=("kmeans",)), dict(bits=()), dict(quantizers=())):
        with pytest.raises(SpecError):
            grid(SweepOptions(**bad))
    assert parse_values(" 0, 0.5,0.9 ", "sparsity", "--sparsities") == (0.0, 0.5, 0.9)
    with pytest.raises(SpecError, match="--bits-list"):
        parse_values("4,8.0", "bits", "--bits-list")


def test_fingerprint_follows_model_and_data(tmp_path, data):
    train, test = data
    base = fingerprint(MODEL, train, test, 0)
    assert fingerprint(MODEL, train, test, 0) == base
    assert fingerprint(MODEL, train, test.take(100), 0) != base   # other eval data
    assert fingerprint(MODEL, train, None, 0) != base              # no eval figures
    assert fingerprint(MODEL, train, test, 0, val_data=test) != base  # validated elsewhere
    assert fingerprint(MODEL, train, test, 0, budget=Budget("accuracy", 1.0)) != base
    assert fingerprint(MODEL, train, test, 2) != base              # fine-tuned points differ
    changed = tmp_path / "model.keras"
    changed.write_bytes(open(MODEL, "rb").read() + b"\0")
    assert fingerprint(changed, train, test, 0) != base


# ---- one real sweep ------------------------------------------------------------

def test_sweep_writes_points_log_and_sweep_json(first_run):
    out, result, calls = first_run
    assert calls.calls[0] == (STAGE, 0, 4) and calls.calls[-1] == (STAGE, 4, 4)
    assert (result.computed, result.reused) == (4, 0)
    records = [json.loads(line) for line in lines(out / POINTS_FILE)]
    assert sorted(r["name"] for r in records) == NAMES
    doc = json.loads((out / SWEEP_FILE).read_text())
    assert doc == result.document
    assert doc["model"] == "digits_lenet" and doc["grid"]["sparsities"] == [0.0, 0.9]
    # points and front on the validation split (20 % of train.npz), the test split apart
    assert doc["split"] == "val" and doc["metric"] == "accuracy" and "20 % of --data" in doc["validation"]
    assert doc["eval"]["float_accuracy"] == pytest.approx(0.9667, abs=1e-4)  # examples/digits/README.md
    assert doc["float_accuracy"] == pytest.approx(262 / 269)  # the float model on the 269 held out
    assert [p["name"] for p in doc["points"]] == NAMES
    for p in doc["points"]:
        # what tinycompress.report.page reads, plus the per-layer layouts
        assert {"weight_bytes", "accuracy", "pareto", "sparsity", "bits", "quantizer",
                "name", "float_accuracy", "layers", "loss_pts", "fidelity", "eval"} <= set(p)
        assert p["loss_pts"] == pytest.approx(100 * (doc["float_accuracy"] - p["accuracy"]), abs=1e-5)
        assert p["fidelity"]["split"] == "val" and p["eval"]["split"] == "eval"
        assert p["weight_bytes"] == sum(layer["weight_bytes"] for layer in p["layers"])
        assert [layer["name"] for layer in p["layers"]] == ["conv1", "conv2", "fc1", "fc2", "logits"]
        assert 0 <= p["accuracy"] <= 1


def test_front_has_the_smallest_and_the_most_accurate_point(first_run):
    points = first_run[1].document["points"]
    smallest = min(points, key=lambda p: p["weight_bytes"])
    best = max(points, key=lambda p: (p["accuracy"], -p["weight_bytes"]))
    assert smallest["pareto"] and best["pareto"]
    assert best["name"] == "s0-b8-uniform"  # 8 bit, unpruned: the float accuracy, at most bytes
    front = first_run[1].document["pareto"]
    sizes = [next(p["weight_bytes"] for p in points if p["name"] == n) for n in front]
    assert sizes == sorted(sizes)


def test_point_equals_a_direct_compress_call(first_run, data):
    point = next(p for p in first_run[1].document["points"] if p["name"] == "s0.9-b4-uniform")
    direct = compress(MODEL, CompressOptions(sparsity=0.9, bits=4), *data)
    assert point["weight_bytes"] == direct.weight_bytes
    assert point["accuracy"] == direct.validation["accuracy"]["quantized"]
    assert point["float_accuracy"] == direct.validation["accuracy"]["pruned_float"]
    assert point["eval"]["accuracy"] == direct.accuracy["quantized"]
    assert point["eval"]["model_float_accuracy"] == direct.accuracy["float"]
    assert [layer["layout"] for layer in point["layers"]] == [r.layout for r in direct.layers]


def test_rerun_computes_nothing(first_run, data):
    out, result, _ = first_run
    before = lines(out / POINTS_FILE)
    calls = Calls()
    again = sweep(MODEL, *data, out, SweepOptions(**SMALL, jobs=2), progress=calls)
    assert calls.calls == [(STAGE, 0, 0)]          # nothing to do, said once
    assert lines(out / POINTS_FILE) == before      # no new point appended
    assert (again.computed, again.reused) == (0, 4)
    assert again.document == result.document


def test_interrupted_run_finishes_only_missing_points_with_one_job(first_run, data, tmp_path):
    out, result, _ = first_run
    kept = [line for line in lines(out / POINTS_FILE)
            if json.loads(line)["name"] in ("s0-b8-uniform", "s0.9-b4-uniform")]
    # as a kill leaves it: two finished points and a line cut short mid-write
    (tmp_path / POINTS_FILE).write_text("\n".join(kept) + "\n" + kept[0][:40])
    calls = Calls()
    resumed = sweep(MODEL, *data, tmp_path, SweepOptions(**SMALL, jobs=1), progress=calls)
    assert calls.calls[0] == (STAGE, 0, 2) and calls.calls[-1] == (STAGE, 2, 2)
    log = lines(tmp_path / POINTS_FILE)
    assert log[:2] == kept and len(log) == 4  # torn line dropped, two appended
    assert sorted(json.loads(line)["name"] for line in log[2:]) == ["s0-b4-uniform", "s0.9-b8-uniform"]
    # the two points computed by one job equal those computed by two
    assert resumed.document == result.document
    assert len(read_points(tmp_path / POINTS_FILE)) == 4


def test_one_job_gives_the_same_results_and_other_inputs_are_not_mixed_in(first_run, data,
                                                                          tmp_path):
    out, result, _ = first_run
    stale = []
    for line in lines(out / POINTS_FILE):  # as if computed on another model: wrong numbers
        record = json.loads(line)
        record.update(fingerprint="0" * 16, accuracy=0.0, weight_bytes=1)
        stale.append(json.dumps(record))
    (tmp_path / POINTS_FILE).write_text("\n".join(stale) + "\n")
    calls = Calls()
    again = sweep(MODEL, *data, tmp_path, SweepOptions(**SMALL, jobs=1), progress=calls)
    assert calls.calls[0] == (STAGE, 0, 4)      # every point redone
    assert len(lines(tmp_path / POINTS_FILE)) == 8  # the stale lines stay, unused
    assert again.document == result.document    # 1 job == 2 jobs, bit for bit


# ---- the command -----------------------------------------------------------------

runner = CliRunner()
SMALL_FLAGS = ["--sparsities", "0,0.9", "--bits-list", "4,8", "--quantizers", "uniform"]


def test_command_prints_front_and_json_of_a_finished_sweep(first_run):
    out = first_run[0]
    args = ["sweep", MODEL, "--data", TRAIN, "--eval-data", TEST, "-o", str(out), *SMALL_FLAGS]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Pareto front" in res.stdout and "0 points computed, 4 reused" in res.stdout
    front = [p for p in first_run[1].document["points"] if p["pareto"]]
    for p in front:
        assert f"{p['weight_bytes']:,}" in res.stdout
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads((out / SWEEP_FILE).read_text())


@pytest.mark.parametrize("flags, fragment", [
    (["--bits-list", "9"], "bits = 9"),
    (["--bits-list", "4,x"], "--bits-list"),
    (["--sparsities", "1"], "sparsity = 1.0"),
    (["--quantizers", "uniform,kmeans"], "quantizer = 'kmeans'"),
    (["--quantizers", ","], "no values"),
])
def test_command_rejects_bad_grid(flags, fragment, tmp_path):
    res = runner.invoke(app, ["sweep", MODEL, "--data", TRAIN, "-o", str(tmp_path), *flags])
    assert_user_error(res, fragment)


def test_command_needs_labels_or_a_fidelity_budget(tmp_path, data):
    unlabelled = save_npz(tmp_path / "x.npz", data[1].x)
    res = runner.invoke(app, ["sweep", MODEL, "--data", str(unlabelled), "-o", str(tmp_path)])
    assert_user_error(res, "labels", "--max-fidelity-loss")  # rd points need a budget
    res = runner.invoke(app, ["sweep", MODEL, "--data", str(unlabelled), "-o", str(tmp_path),
                              "--max-accuracy-drop", "1"])
    assert_user_error(res, "--max-accuracy-drop", "labels")
    res = runner.invoke(app, ["sweep", MODEL, "--data", TRAIN, "-o", str(tmp_path),
                              "--max-accuracy-drop", "1", "--max-fidelity-loss", "1"])
    assert_user_error(res, "one budget")
    assert_user_error(runner.invoke(app, ["sweep", MODEL]), "--data")
    assert not (tmp_path / POINTS_FILE).exists()
