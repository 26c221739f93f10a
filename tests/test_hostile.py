"""The command line against hostile input: every bad file, value or path is one line.

Each row runs one command on one bad input in-process, through typer's
CliRunner (one more test runs `python -m tinycompress`, where what TensorFlow
writes to stderr itself is real), and checks the error contract: exit code 2, exactly
one stderr line starting with `error:` (Python warnings count as stderr
lines: the real process prints them), no traceback, no file created,
changed or removed anywhere in the test's directories (no output directory
left behind), and the fragments of the message that name the cause.
"""
from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests import models
from tinycompress import cli
from tinycompress.compress import CompressOptions, compress
from tinycompress.compress.finetune import check_labels, prune_keras
from tinycompress.compress.outputs import check_output_dir, check_output_file
from tinycompress.data import save_npz
from tinycompress.errors import DataError, ModelLoadError, OutputPathError, SpecError
from tinycompress.frontend import from_keras
from tinycompress.frontend.keras_import import _without_import_banners, import_keras

REPO = Path(__file__).resolve().parents[1]
UNWRITABLE = Path("/sys/tinycompress-hostile-out")  # sysfs refuses new entries, even to root
runner = CliRunner()


@dataclass(frozen=True)
class Row:
    id: str
    command: str          # {name} = a file made by `files`, {out} = a path in the row's tmp dir;
                          # {absent} = a model file that does not exist: the row's mistake must
                          # be found before the model is read (else: "no such model file")
    fragments: tuple = ()  # what the message must say
    absent: tuple = ()     # what it must not say

    def args(self, files: dict[str, Path], out: Path) -> list[str]:
        return [word.format(out=out, **files) for word in self.command.split()]


def R(id: str, command: str, *fragments: str, absent: tuple = ()) -> Row:
    return Row(id, command, fragments, absent)


NUMBER_OPTIONS = [
    R("bits-1", "compress {absent} --bits 1", "bits", "2 to 8"),
    R("bits-9", "compress {absent} --bits 9", "bits", "2 to 8"),
    R("bits-x", "compress {absent} --bits x", "--bits", "'x'"),
    R("sparsity-1", "compress {absent} --sparsity 1.0", "sparsity", "[0, 1)"),
    R("sparsity-negative", "compress {absent} --sparsity -0.1", "sparsity", "[0, 1)"),
    R("sparsity-nan", "compress {absent} --sparsity nan", "sparsity", "nan"),
    R("lambda-inf", "compress {absent} --quantizer rd --lambda inf", "lambda", "inf"),
    R("lambda-nan", "compress {absent} --quantizer rd --lambda nan", "lambda", "nan"),
    R("lambda-negative", "compress {absent} --quantizer rd --lambda -1", "lambda", "-1"),
    R("lambda-x", "build {absent} --lambda big -o {out}", "--lambda", "'big'"),
    R("epochs-negative", "compress {absent} --epochs -1", "--epochs", "-1"),
    R("epochs-fraction", "compress {absent} --epochs 1.5", "--epochs", "'1.5'"),
    R("max-drop-nan", "compress {absent} --max-accuracy-drop nan --data {train}",
      "--max-accuracy-drop", "nan"),
    R("max-drop-inf", "compress {absent} --max-accuracy-drop inf --data {train}",
      "--max-accuracy-drop", "inf"),
    R("max-drop-negative", "build {absent} --max-accuracy-drop -1 -o {out}",
      "--max-accuracy-drop", "-1"),
    R("max-fidelity-nan", "compress {absent} --max-fidelity-loss nan --data {train}",
      "--max-fidelity-loss", "nan"),
    R("max-fidelity-negative", "build {absent} --max-fidelity-loss -1 -o {out}",
      "--max-fidelity-loss", "-1"),
    R("two-budgets", "compress {absent} --max-accuracy-drop 1 --max-fidelity-loss 1", "one budget"),
    R("sweep-fidelity-inf", "sweep {absent} --data {train} --max-fidelity-loss inf -o {out}",
      "--max-fidelity-loss", "inf"),
    R("input-range-reversed", "compress {absent} --input-range 1 0", "--input-range", "LO < HI"),
    R("input-range-empty", "build {absent} --input-range 2 2 -o {out}", "--input-range", "2 2"),
    R("input-range-nan", "compress {absent} --input-range nan 1", "--input-range", "nan"),
    R("input-range-inf", "compress {absent} --input-range 0 inf", "--input-range", "inf"),
    R("input-range-x", "compress {absent} --input-range low 1", "--input-range", "'low'"),
    R("input-range-one-number", "compress {absent} --input-range 1", "--input-range"),
    R("sim-n-0", "sim {not_a_build} -n 0", "-n", "0"),
    R("sim-n-negative", "sim {not_a_build} -n -3", "-n", "-3"),
    R("sweep-jobs-0", "sweep {absent} --data {train} --jobs 0 -o {out}", "--jobs", "0"),
    R("sweep-epochs-negative", "sweep {absent} --data {train} --epochs -1 -o {out}", "epochs", "-1"),
]
WORD_OPTIONS = [
    R("layout-unknown", "compress {absent} --layout zigzag", "layout", "zigzag", "dense"),
    R("optimize-unknown", "build {absent} --optimize fast -o {out}", "optimize", "fast", "speed"),
    R("quantizer-unknown", "compress {absent} --quantizer kmeans", "quantizer", "kmeans", "rd"),
    R("scope-unknown", "compress {absent} --scope model", "--scope", "model"),
    R("board-unknown", "build {absent} -b nosuchboard -o {out}", "nosuchboard"),
    R("save-model-not-keras", "compress {absent} --sparsity 0.5 --epochs 1 --data {train} "
      "--save-model {out}.h5", "--save-model", ".keras"),
]
MODEL_FILES = [
    R("model-missing", "compress {missing}.keras", "no such model file"),
    R("model-junk", "inspect {junk_keras}", "junk.keras", "not a model file tinycompress reads"),
    R("model-empty", "compress {empty_keras}", "empty.keras", "not a model file tinycompress reads"),
    R("model-truncated-h5", "inspect {truncated_h5}", "truncated.h5"),
    R("model-is-directory", "build {a_dir} -o {out}", "a_dir", "a directory without saved_model.pb"),
    R("model-is-npz", "inspect {train}", "train.npz", "not a Keras model file"),
]
BAD_WEIGHTS = [
    R("nan-kernel", "compress {nan_kernel}",
      "layer fc (Dense): kernel has 3 NaN values", "non-finite"),
    R("nan-kernel-build", "build {nan_kernel} -o {out}", "layer fc (Dense): kernel has 3 NaN values"),
    R("inf-bias", "compress {inf_bias} --bits 4", "layer out (Dense): bias has 1 infinite value"),
    R("nan-depthwise", "inspect {dw_nan}", "layer dw (DepthwiseConv2D): kernel has 1 NaN value"),
    R("bn-nan-variance", "compress {bn_nan_moving_variance}",
      "layer bn (BatchNormalization): moving_variance has 1 NaN value"),
    R("bn-inf-mean", "compress {bn_inf_moving_mean}",
      "layer bn (BatchNormalization): moving_mean has 1 infinite value"),
    R("bn-nan-gamma", "inspect {bn_nan_gamma}", "layer bn (BatchNormalization): gamma has 1 NaN value"),
    R("bn-inf-beta", "inspect {bn_inf_beta}",
      "layer bn (BatchNormalization): beta has 1 infinite value"),
    R("bn-negative-variance", "compress {bn_negative_variance}",
      "layer bn (BatchNormalization): moving_variance has 1 negative value"),
]
LAYERS = [
    R("custom-layer", "inspect {custom}", "layer scale (Scale)", "custom layer class",
      absent=("Scale is not supported",)),
    R("custom-dense-subclass", "compress {custom_dense}", "layer mine (MyDense)", "subclass of Dense"),
    R("custom-layer-unknown-class", "compress {custom_unknown}", "layer twice (Twice)",
      "custom layer class", absent=("could not be deserialized",)),
    R("dilated-conv", "inspect {dilated}",
      "layer c (Conv2D): dilation_rate (2, 2) is not supported; supported: 1", absent=("Dense",)),
    R("grouped-conv", "compress {grouped}", "layer c (Conv2D): groups 2 is not supported; supported: 1"),
    R("dilated-depthwise", "inspect {dw_dilated}",
      "layer dw (DepthwiseConv2D): dilation_rate (2, 2) is not supported; supported: 1"),
    R("lambda-layer", "compress {lambda_layer}", "layer double (Lambda)",
      absent=("safe_mode", "enable_unsafe_deserialization")),
    R("lstm", "inspect {lstm}", "layer rnn (LSTM)", "Dense"),
]
DATA_FILES = [
    R("data-missing", "compress {ok} --data {missing}.npz", "missing.npz", "no such file"),
    R("data-junk", "compress {ok} --data {junk_npz}", "junk.npz", "not a readable .npz"),
    R("data-empty-file", "compress {ok} --eval-data {empty_npz}", "empty.npz"),
    R("data-no-arrays", "compress {ok} --data {no_arrays}", "no_arrays.npz", "no array named 'x'"),
    R("data-is-directory", "build {ok} --data {a_dir} -o {out}", "a_dir", "is a directory"),
    R("data-wrong-key", "compress {ok} --data {wrong_key}", "no array named 'x'", "inputs"),
    R("data-wrong-shape", "compress {ok} --data {wrong_shape}", "(8, 5)", "(N, 4)"),
    R("data-string-x", "compress {ok} --data {string_x}", "'x' must be numeric"),
    R("data-nan-x", "compress {ok} --data {nan_x}", "NaN"),
    R("data-fraction-labels", "compress {ok} --data {fraction_y}", "integer labels"),
    R("data-label-count", "compress {ok} --eval-data {short_y}", "7 labels", "8 samples"),
    R("val-data-wrong-shape", "compress {ok} --val-data {wrong_shape}", "--val-data", "(8, 5)", "(N, 4)"),
    R("input-range-with-data", "compress {ok} --input-range 0 1 --data {train}", "--input-range",
      "with --data"),
    R("max-drop-without-labels", "compress {ok} --max-accuracy-drop 1 --data {unlabelled}",
      "--max-accuracy-drop", "labels", "--max-fidelity-loss"),
    R("max-drop-eval-data-only", "compress {ok} --max-accuracy-drop 1 --eval-data {train}",
      "validation data", "--eval-data is never used"),
    R("data-npy-not-npz", "compress {ok} --data {npy}", "not an .npz archive"),
    R("labels-outside-classes", "compress {ok} --sparsity 0.5 --epochs 1 --data {labels_out}",
      "3, 7", "3 classes"),
]
SPEC_FILES = [
    R("spec-missing", "compress {absent} --spec {missing}.toml", "missing.toml"),
    R("spec-is-directory", "compress {absent} --spec {a_dir}", "a_dir"),
    R("spec-bad-toml", "compress {absent} --spec {bad_toml}", "invalid TOML"),
    R("spec-unknown-layer", "compress {ok} --spec {unknown_layer}", "unknown layer 'nope'", "fc, out"),
    R("spec-nan-sparsity", "compress {absent} --spec {nan_sparsity}", "sparsity", "nan"),
    R("spec-inf-lambda", "compress {absent} --spec {inf_lambda}", "lambda", "inf"),
    R("spec-unknown-key", "build {absent} --spec {unknown_key} -o {out}", "bitz"),
]
OUTPUTS = [
    R("compress-out-is-file", "compress {absent} -o {a_file}", "a_file", "not a directory"),
    R("compress-out-under-file", "compress {absent} -o {a_file}/report", "a_file", "not a directory"),
    R("compress-out-unwritable", f"compress {{absent}} -o {UNWRITABLE}/report", str(UNWRITABLE.parent)),
    R("build-out-under-file", "build {absent} -o {a_file}/fw", "a_file", "not a directory"),
    R("build-out-unwritable", f"build {{absent}} -o {UNWRITABLE}", str(UNWRITABLE.parent)),
    R("build-out-exists", "build {absent} -o {a_dir}", "a_dir", "already exists"),
    R("save-model-under-file", "compress {absent} --sparsity 0.5 --epochs 1 --data {train} "
      "--save-model {a_file}/m.keras", "a_file", "not a directory"),
    R("sweep-out-is-file", "sweep {absent} --data {train} -o {a_file}", "a_file", "not a directory"),
]
BUILD_DIRS = [
    R("sim-missing-dir", "sim {missing}", "missing"),
    R("sim-not-a-build", "sim {not_a_build}", "not a tinycompress build directory"),
    R("sim-file", "sim {a_file}", "a_file"),
    R("report-missing-dir", "report {missing}", "missing"),
    R("report-not-a-build", "report {not_a_build}", "no build-report.json"),
    R("flash-missing-dir", "flash {missing}", "missing"),
    R("flash-not-a-build", "flash {not_a_build}", "not a tinycompress build directory"),
]
USAGE = [  # click's own usage errors: one line too, not the usage box
    R("unknown-option", "build {absent} --bogus", "No such option: --bogus", "build --help"),
    R("missing-argument", "sim", "Missing argument", "sim --help"),
    R("unknown-command", "nosuch", "No such command 'nosuch'"),
    R("option-without-value", "build {absent} --board", "--board", "requires an argument"),
]
ROWS = (NUMBER_OPTIONS + WORD_OPTIONS + MODEL_FILES + BAD_WEIGHTS + LAYERS + DATA_FILES
        + SPEC_FILES + OUTPUTS + BUILD_DIRS + USAGE)


# ---- the inputs, made once --------------------------------------------------------

def _tiny(keras, bn: bool = False):
    """x (4,) -> fc Dense 5 relu [-> bn] -> out Dense 3 softmax: three classes."""
    inp = keras.Input((4,), name="x")
    h = keras.layers.Dense(5, activation="relu", name="fc")(inp)
    if bn:
        h = keras.layers.BatchNormalization(name="bn")(h)
    out = keras.layers.Dense(3, activation="softmax", name="out")(h)
    return models.randomize(keras.Model(inp, out, name="tiny"), seed=20)


def _with_weight(model, layer: str, index: int, value: float, where=(0,)):
    weights = model.get_layer(layer).get_weights()
    weights[index][where] = value
    model.get_layer(layer).set_weights(weights)
    return model


def _conv(keras, depthwise: bool = False, **kw):
    inp = keras.Input((6, 6, 2), name="image")
    if depthwise:
        layer = keras.layers.DepthwiseConv2D(3, name="dw", **kw)
    else:
        layer = keras.layers.Conv2D(4, 3, name="c", **kw)
    return keras.Model(inp, keras.layers.Flatten(name="flat")(layer(inp)))


def _lambda(keras):
    inp = keras.Input((4,), name="x")
    doubled = keras.layers.Lambda(lambda t: t * 2, name="double")(inp)
    return keras.Model(inp, keras.layers.Dense(2, name="out")(doubled))


def _custom_models(keras) -> dict:
    """Scale and MyDense are registered, so Keras rebuilds them in this process and the
    translator meets them; Twice is not (as in a fresh process), so Keras cannot."""
    @keras.saving.register_keras_serializable(package="hostile")
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    @keras.saving.register_keras_serializable(package="hostile")
    class MyDense(keras.layers.Dense):
        pass

    class Twice(keras.layers.Layer):
        def call(self, x):
            return x + x

    def model(layer):
        inp = keras.Input((4,), name="x")
        return keras.Model(inp, keras.layers.Dense(3, name="out")(layer(inp)))

    return {"custom": model(Scale(name="scale")), "custom_dense": model(MyDense(3, name="mine")),
            "custom_unknown": model(Twice(name="twice"))}


def _save_models(keras, d: Path) -> dict[str, Path]:
    made = {
        "ok": _tiny(keras),
        "nan_kernel": _with_weight(_tiny(keras), "fc", 0, np.nan, (0, slice(0, 3))),
        "inf_bias": _with_weight(_tiny(keras), "out", 1, np.inf),
        "dw_nan": _with_weight(_conv(keras, depthwise=True), "dw", 0, np.nan, (1, 1, 0, 0)),
        "bn_negative_variance": _with_weight(_tiny(keras, bn=True), "bn", 3, -0.5, (2,)),
        "dilated": _conv(keras, dilation_rate=2),
        "grouped": _conv(keras, groups=2),
        "dw_dilated": _conv(keras, depthwise=True, dilation_rate=2),
        "lambda_layer": _lambda(keras),
        "lstm": keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="rnn"),
                                  keras.layers.Dense(2, name="out")]),
        **_custom_models(keras),
    }
    for index, (tensor, value) in enumerate([("gamma", np.nan), ("beta", np.inf),
                                             ("moving_mean", np.inf), ("moving_variance", np.nan)]):
        made[f"bn_{'nan' if np.isnan(value) else 'inf'}_{tensor}"] = _with_weight(
            _tiny(keras, bn=True), "bn", index, value, (1,))
    paths = {}
    for name, model in made.items():
        paths[name] = d / f"{name}.keras"
        model.save(paths[name])
    return paths


def _save_data(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    nan_x = x.copy()
    nan_x[2, 1] = np.nan
    files = {"train": save_npz(d / "train.npz", x, y),
             "unlabelled": save_npz(d / "unlabelled.npz", x),
             "labels_out": save_npz(d / "labels_out.npz", x, np.array([0, 1, 2, 3, 1, 7, 0, 1])),
             "wrong_shape": save_npz(d / "wrong_shape.npz", np.zeros((8, 5))),
             "nan_x": save_npz(d / "nan_x.npz", nan_x),
             "no_arrays": d / "no_arrays.npz", "wrong_key": d / "wrong_key.npz",
             "string_x": d / "string_x.npz", "fraction_y": d / "fraction_y.npz",
             "short_y": d / "short_y.npz", "npy": d / "npy.npz"}
    np.savez(files["no_arrays"])
    np.savez(files["wrong_key"], inputs=x)
    np.savez(files["string_x"], x=np.array([["a", "b", "c", "d"]] * 8))
    np.savez(files["fraction_y"], x=x, y=y + 0.5)
    np.savez(files["short_y"], x=x, y=y[:7])
    with open(files["npy"], "wb") as f:
        np.save(f, x)
    return files


def _save_other(d: Path) -> dict[str, Path]:
    texts = {"junk.keras": b"not a zip archive\n", "empty.keras": b"", "junk.npz": b"PK\x03\x04 oops",
             "empty.npz": b"", "truncated.h5": b"\x89HDF\r\n\x1a\n and then nothing",
             "a_file": b"a plain file\n",
             "bad_toml.toml": b"[defaults\nbits = 4\n",
             "unknown_layer.toml": b"[layers.nope]\nbits = 4\n",
             "nan_sparsity.toml": b"[defaults]\nsparsity = nan\n",
             "inf_lambda.toml": b"[defaults]\nquantizer = 'rd'\nlambda = inf\n",
             "unknown_key.toml": b"[defaults]\nbitz = 4\n"}
    files = {}
    for name, data in texts.items():
        files[name.replace(".", "_").removesuffix("_toml")] = d / name
        (d / name).write_bytes(data)
    for name in ("a_dir", "not_a_build"):
        files[name] = d / name
        files[name].mkdir()
    files["missing"] = d / "missing"
    files["absent"] = d / "absent.keras"
    return files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    return {**_save_models(import_keras(), d), **_save_data(d), **_save_other(d)}


# ---- the contract -----------------------------------------------------------------

def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and directory under `roots`: files by size, mtime and content hash."""
    seen = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                seen[str(path)] = ("dir",)
            else:
                st = path.lstat()
                seen[str(path)] = (st.st_size, st.st_mtime_ns,
                                   hashlib.sha256(path.read_bytes()).hexdigest())
    return seen


def assert_one_error_line(exit_code: int, stderr: str, output: str, row: Row) -> str:
    assert exit_code == 2, (row.id, exit_code, output)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, (row.id, stderr)
    assert lines[0].startswith("error: "), (row.id, lines[0])
    assert "Traceback" not in output and "Traceback" not in stderr, row.id
    for fragment in row.fragments:
        assert fragment in lines[0], (row.id, fragment, lines[0])
    for fragment in row.absent:
        assert fragment not in lines[0], (row.id, fragment, lines[0])
    return lines[0]


def _warning_lines(caught) -> list[str]:
    """What the real process would print for the warnings caught (deprecations are hidden)."""
    hidden = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
    return [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
            for w in caught if not issubclass(w.category, hidden)]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_one_line(row: Row, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a ./tinycompress.toml or ./build would land here
    for var in (cli.DEBUG_ENV, "TINYCOMPRESS_BOARD"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "out"
    inputs = files["ok"].parent
    before = snapshot(inputs, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(cli.app, row.args(files, out))
    stderr = "\n".join([result.stderr.rstrip(), *_warning_lines(caught)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        row.id, repr(result.exception))
    assert_one_error_line(result.exit_code, stderr, result.output, row)
    assert snapshot(inputs, tmp_path) == before, row.id
    assert not out.exists() and not UNWRITABLE.exists()


def test_rows_cover_the_issue():
    assert len(ROWS) >= 40 and len({r.id for r in ROWS}) == len(ROWS)


def test_spec_file_in_cwd_is_checked_before_loading(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinycompress.toml").write_text("[defaults]\nbits = 9\n")
    before = snapshot(tmp_path)
    result = runner.invoke(cli.app, ["compress", str(files["missing"])])  # the spec is read first
    row = R("cwd-spec", "", "tinycompress.toml", "bits = 9")
    assert_one_error_line(result.exit_code, result.stderr, result.output, row)
    assert snapshot(tmp_path) == before


def test_real_process_prints_one_line_for_bad_weights(files, tmp_path):
    # In a real process TensorFlow writes to file descriptor 2 itself and numpy
    # prints its warnings there: neither may add lines to the one error line.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(cli.DEBUG_ENV, None)
    before = snapshot(files["ok"].parent, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tinycompress", "build", str(files["inf_bias"]),
                           "-o", str(tmp_path / "out")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    row = R("real-process-inf-bias", "", "layer out (Dense): bias has 1 infinite value")
    assert_one_error_line(proc.returncode, proc.stderr, proc.stdout, row)
    assert proc.stdout == ""
    assert snapshot(files["ok"].parent, tmp_path) == before


# ---- the same checks, met through the library -----------------------------------------

def test_library_checks_options_before_loading_the_model(tmp_path):
    absent = tmp_path / "absent.keras"  # were the model loaded first, this would be the error
    with pytest.raises(SpecError, match="bits = 9"):
        compress(absent, CompressOptions(bits=9))
    with pytest.raises(SpecError, match="lambda = inf"):
        compress(absent, CompressOptions(quantizer="rd", lam=math.inf))
    with pytest.raises(SpecError, match="--max-accuracy-drop"):
        compress(absent, CompressOptions(max_accuracy_drop=math.nan))


def test_batchnorm_that_overflows_float32_is_named():
    keras = import_keras()
    inp = keras.Input((4,), name="x")
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(5, name="fc")(inp))
    model = models.randomize(keras.Model(inp, keras.layers.Dense(3, name="out")(h)), seed=21)
    _with_weight(model, "bn", 3, 0.0, (1,))       # variance 0: scale = gamma / sqrt(1e-3)
    _with_weight(model, "fc", 0, 100.0, (0, 1))   # a kernel entry the scale multiplies
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # and no numpy overflow warning on the way
        _with_weight(model, "bn", 0, 1e38, (1,))  # gamma: the scale alone exceeds float32's 3.4e38
        with pytest.raises(ModelLoadError, match=r"layer bn \(BatchNormalization\): gamma / "
                                                 r"sqrt\(moving_variance \+ epsilon\) overflows"):
            from_keras(model)
        _with_weight(model, "bn", 0, 1e37, (1,))  # the scale fits; folded into fc it does not
        with pytest.raises(ModelLoadError, match=r"layer fc \(dense\): kernel overflows float32"):
            from_keras(model)


def test_labels_outside_the_classes_are_named_before_fine_tuning():
    model = _tiny(import_keras())
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(DataError, match=r"labels -1, 3 are outside the model's 3 classes \(0..2\)"):
        prune_keras(model, 0.5, x, np.array([0, -1, 3, 2]), epochs=1)
    check_labels(model, np.eye(3)[[0, 1, 2, 0]])  # one-hot rows are targets, not class indices


def test_output_checks_leave_nothing_behind(tmp_path):
    check_output_dir(tmp_path / "new" / "deeper")
    check_output_file(tmp_path / "new" / "m.keras", "--save-model")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="exists and is not a directory"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(OutputPathError, match="is a directory, not a file"):
        check_output_file(tmp_path, "--save-model")


def test_keras_import_drops_only_tensorflow_banners_from_stderr(capfd):
    with _without_import_banners():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n"
                    b"I0000 00:00:1796185720.072586   29662 port.cc:153] oneDNN custom operations "
                    b"are on.\n"
                    b"E0000 00:00:1796185720.072586   29662 cuda.cc:1] a real error\n")
    assert capfd.readouterr().err == "E0000 00:00:1796185720.072586   29662 cuda.cc:1] a real error\n"


def test_failed_build_removes_the_parent_directories_it_made(tmp_path):
    from tinycompress.target.project import staged

    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError):
        with staged(out) as tmp:
            (tmp / "half.c").write_text("int x;\n")
            raise RuntimeError("compile failed")
    assert list(tmp_path.iterdir()) == []


def test_library_build_checks_the_output_path_first(tmp_path):
    from tinycompress.errors import OutputPathError
    from tinycompress.pipeline import build

    (tmp_path / "a_file").write_text("")
    with pytest.raises(OutputPathError, match="is not a directory"):
        build(tmp_path / "absent.keras", "nucleo", tmp_path / "a_file" / "out")
