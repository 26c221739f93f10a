"""Target tier: `tinycompress sim` runs the built digits firmware in QEMU, bit-exact.

The expected outputs come from the numpy integer reference (int_ref.run_int),
an independent implementation of the same integer arithmetic.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.firmware_builds import digits_builds  # noqa: F401  (session fixture)
from tinycompress import cli
from tinycompress.data import digits_test, save_npz
from tinycompress.errors import SimulationError
from tinycompress.target.sim import simulate
from tinycompress.target.state import load_state, save_state

pytestmark = pytest.mark.target
runner = CliRunner()
SIM_REPORT_KEYS = {"board", "qemu_machine", "n_inputs", "bit_exact", "mismatches", "accuracy",
                   "instructions_per_inference", "layers"}


@pytest.mark.parametrize("name,machine", [("nucleo", "netduinoplus2"), ("mps2_an386", "mps2-an386")])
def test_digits_bit_exact_in_qemu(digits_builds, name, machine):
    out = digits_builds[name].out_dir
    report = simulate(out, n=8)
    assert report.bit_exact and report.mismatches == [] and report.n_inputs == 8
    assert report.qemu_machine == machine
    saved = json.loads((out / "sim-report.json").read_text())
    assert SIM_REPORT_KEYS <= set(saved)
    # 'same' conv1 pads inside its kernel: no pad step (issue 10)
    assert [l["name"] for l in saved["layers"]] == ["conv1", "pool1", "conv2", "pool2",
                                                  "fc1", "fc2", "logits", "logits_softmax"]
    # Exact instruction counts: the same input set gives the same counts on every run.
    assert simulate(out, n=8).layers == report.layers
    # conv1 does 16*16*6*25 = 38,400 MACs; plain C needs a few instructions per MAC.
    conv1 = next(l for l in report.layers if l["name"] == "conv1")["instructions"]
    assert 2 * 38_400 < conv1 < 20 * 38_400
    assert report.instructions_per_inference == pytest.approx(sum(l["instructions"] for l in report.layers))


def test_default_inputs_are_the_builds_eval_data_with_accuracy(digits_builds):
    report = simulate(digits_builds["nucleo"].out_dir, n=30)
    assert report.bit_exact and report.inputs.endswith("test.npz")
    assert report.accuracy is not None and report.accuracy > 0.9


def test_user_data_file(digits_builds, tmp_path):
    test = digits_test()
    data = save_npz(tmp_path / "d.npz", test.x[100:105], test.y[100:105])
    result = runner.invoke(cli.app, ["sim", str(digits_builds["mps2_an386"].out_dir), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "5 inputs: bit-exact" in result.output


def test_bad_data_file_is_one_line(digits_builds, tmp_path):
    bad = save_npz(tmp_path / "bad.npz", np.zeros((3, 4), np.float32))
    result = runner.invoke(cli.app, ["sim", str(digits_builds["nucleo"].out_dir), "--data", str(bad)])
    assert result.exit_code == 2 and "'x' has shape (3, 4)" in result.output


def test_not_a_build_dir(tmp_path):
    result = runner.invoke(cli.app, ["sim", str(tmp_path)])
    assert result.exit_code == 2 and "not a tinycompress build directory" in result.output


def test_hang_is_stopped(digits_builds):
    with pytest.raises(SimulationError, match="timed out"):
        simulate(digits_builds["nucleo"].out_dir, n=400, timeout_s=0.05)


def test_mismatch_names_input_index_and_first_layer(digits_builds, tmp_path):
    """A copy of the build whose saved reference differs in fc2's bias: the firmware is unchanged,
    so fc2 is the first layer whose tensor disagrees, and outputs differ downstream."""
    import shutil

    src = digits_builds["mps2_an386"].out_dir
    out = tmp_path / "copy"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(".pio"))
    state = load_state(out)
    fc2 = state.qgraph.node("fc2")
    fc2.params.bias_f = fc2.params.bias_f + 1_000_000  # a large shift: every fc2 output saturates
    save_state(out, state.qgraph, state.layers, state.board, state.data, state.model)
    report = simulate(out, n=3)
    assert not report.bit_exact and report.first_divergent_layer == "fc2"
    first = report.mismatches[0]
    assert first["input"] == 0 and first["expected"] != first["got"]
