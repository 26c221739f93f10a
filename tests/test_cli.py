"""The command line as the user sees it: `inspect`, `--version`, and the error contract.

Error contract: a user mistake prints exactly one line `error: ...` on stderr,
exits with code 2 and never shows a traceback.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tinycompress import __version__, cli
from tinycompress.data import DIGITS_MODEL, load_npz, save_npz
from tinycompress.errors import DataError

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

# Digits LeNet (examples/digits/train.py), derived by hand:
#   conv1 5x5x1->6 same on 16x16:  params 5*5*1*6+6 = 156,    MACs 16*16*6*(5*5*1) = 38,400
#   pool1 16x16x6 -> 8x8x6
#   conv2 3x3x6->16 valid on 8x8:  params 3*3*6*16+16 = 880,  MACs 6*6*16*(3*3*6) = 31,104
#   pool2 6x6x16 -> 3x3x16, flatten -> 144
#   fc1 144->120: params 144*120+120 = 17,400, MACs 17,280
#   fc2 120->84:  params 120*84+84 = 10,164,   MACs 10,080
#   logits 84->10: params 84*10+10 = 850,      MACs 840
DIGITS_PARAMS = 156 + 880 + 17400 + 10164 + 850  # 29,450
DIGITS_MACS = 38400 + 31104 + 17280 + 10080 + 840  # 97,704
WEIGHT_LAYERS = {  # name: (op, input shape, output shape, params, macs)
    "conv1": ("conv2d", [16, 16, 1], [16, 16, 6], 156, 38400),
    "conv2": ("conv2d", [8, 8, 6], [6, 6, 16], 880, 31104),
    "fc1": ("dense", [144], [120], 17400, 17280),
    "fc2": ("dense", [120], [84], 10164, 10080),
    "logits": ("dense", [84], [10], 850, 840),
}


def assert_user_error(result, *fragments: str) -> str:
    """Exit 2, one stderr line starting with 'error:', no traceback; returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_version():
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"tinycompress {__version__}"


def test_no_arguments_shows_help_with_inspect():
    result = runner.invoke(cli.app, [])
    assert "inspect" in result.output


def test_inspect_table_shows_layers_and_totals():
    result = runner.invoke(cli.app, ["inspect", str(DIGITS_MODEL)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "logits"):
        assert name in out
    for op in ("conv2d", "max_pool2d", "dense"):
        assert op in out
    total_line = next(line for line in out.splitlines() if "total" in line)
    assert f"{DIGITS_PARAMS:,}" in total_line and f"{DIGITS_MACS:,}" in total_line
    assert "16x16x1" in out and "6x6x16" in out


def test_inspect_json_schema_and_values():
    result = runner.invoke(cli.app, ["inspect", str(DIGITS_MODEL), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds the JSON document and nothing else
    assert set(doc) == {"layers", "params", "macs"}
    keys = {"name", "op", "input_shape", "output_shape", "params", "macs"}
    assert all(set(layer) == keys for layer in doc["layers"])
    assert (doc["params"], doc["macs"]) == (DIGITS_PARAMS, DIGITS_MACS)
    assert sum(layer["params"] for layer in doc["layers"]) == DIGITS_PARAMS
    by_name = {layer["name"]: layer for layer in doc["layers"]}
    for name, (op, shape_in, shape_out, params, macs) in WEIGHT_LAYERS.items():
        layer = by_name[name]
        got = (layer["op"], layer["input_shape"], layer["output_shape"],
               layer["params"], layer["macs"])
        assert got == (op, shape_in, shape_out, params, macs), name


def test_missing_model_path(tmp_path):
    missing = tmp_path / "nope.keras"
    assert_user_error(runner.invoke(cli.app, ["inspect", str(missing)]), "nope.keras")


@pytest.mark.parametrize("filename, content", [
    ("junk.keras", b"this is not a zip archive\n"),
    ("junk.h5", b"\x89HDF\r\n\x1a\n but truncated"),
    ("notes.txt", b"hello\n"),
])
def test_file_that_is_not_a_model(tmp_path, filename, content):
    path = tmp_path / filename
    path.write_bytes(content)
    assert_user_error(runner.invoke(cli.app, ["inspect", str(path)]), filename)


def _save_unsupported(tmp_path: Path, kind: str) -> Path:
    import keras

    if kind == "LSTM":
        layers = [keras.Input((8, 4)), keras.layers.LSTM(3, name="recurrent"),
                  keras.layers.Dense(2, name="head")]
    else:
        layers = [keras.Input((6, 6, 2)), keras.layers.Conv2DTranspose(3, 3, name="upsample"),
                  keras.layers.Flatten(), keras.layers.Dense(2, name="head")]
    path = tmp_path / f"{kind}.keras"
    keras.Sequential(layers).save(path)
    return path


@pytest.mark.parametrize("kind, layer_name", [("LSTM", "recurrent"),
                                              ("Conv2DTranspose", "upsample")])
def test_unsupported_layer_names_layer_type_and_supported(tmp_path, kind, layer_name):
    path = _save_unsupported(tmp_path, kind)
    line = assert_user_error(runner.invoke(cli.app, ["inspect", str(path)]), layer_name, kind)
    assert "Conv2D" in line.replace(kind, "") and "Dense" in line  # the supported ops are listed


# ---- the one error handler, exercised through a throwaway app using it ---------

def _app_with(body) -> typer.Typer:
    """A Typer app on tinycompress's group class, so it gets the same error handling."""
    app = typer.Typer(cls=cli._Group)
    @app.callback()
    def root(debug: bool = typer.Option(False, "--debug", envvar=cli.DEBUG_ENV)):
        pass

    app.command("run")(body)
    return app


def test_data_error_from_npz_becomes_one_line(tmp_path):
    bad = save_npz(tmp_path / "calib.npz", np.zeros((4, 8, 8, 1)))

    def run():
        load_npz(bad, input_shape=(16, 16, 1))

    line = assert_user_error(runner.invoke(_app_with(run), ["run"]), "calib.npz")
    assert "(N, 16, 16, 1)" in line and "(4, 8, 8, 1)" in line


def test_multiline_message_is_folded_to_one_line():
    def run():
        raise DataError("first part\nsecond part")

    line = assert_user_error(runner.invoke(_app_with(run), ["run"]))
    assert line == "error: first part second part"


def test_keyboard_interrupt_exits_130_with_one_line():
    def run():
        raise KeyboardInterrupt

    result = runner.invoke(_app_with(run), ["run"])
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted"


def test_debug_env_reraises_with_cause(tmp_path):
    def run():
        load_npz(tmp_path / "missing.npz")

    result = runner.invoke(_app_with(run), ["run"], env={cli.DEBUG_ENV: "1"})
    assert isinstance(result.exception, DataError)
    result = runner.invoke(_app_with(run), ["--debug", "run"])
    assert isinstance(result.exception, DataError)


def test_bug_is_not_disguised_as_user_error():
    def run():
        raise ZeroDivisionError("a bug")

    result = runner.invoke(_app_with(run), ["run"])
    assert isinstance(result.exception, ZeroDivisionError)
    assert "error:" not in result.stderr


# ---- the real entry point ---------------------------------------------------------

def _run_module(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(cli.DEBUG_ENV, None)
    return subprocess.run([sys.executable, "-m", "tinycompress", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_python_m_inspect_json_stdout_is_pure_json():
    proc = _run_module("inspect", str(DIGITS_MODEL), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["params"], doc["macs"]) == (DIGITS_PARAMS, DIGITS_MACS)


def test_python_m_missing_model_one_stderr_line(tmp_path):
    proc = _run_module("inspect", str(tmp_path / "absent.keras"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "absent.keras" in lines[0]
