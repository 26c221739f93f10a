"""`sim` warns when its inputs lie far outside the model input's calibrated range.

Quantizing such inputs clips them to -128/127, so the firmware stays bit-exact
with the reference while the accuracy it reports means little; sim reports the
share of input values clipped (`input_saturation` in sim-report.json) and, above
1 % (SATURATION_WARN_SHARE), one warning line on stderr.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.firmware_builds import digits_builds  # noqa: F401  (session fixture)
from tinycompress import cli
from tinycompress.data import digits_test, save_npz
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.target.sim import SATURATION_WARN_SHARE, SimReport, input_saturation

runner = CliRunner()


def unit_range_graph() -> QGraph:
    # input range [0, 1]: scale 1/255, zero point -128 (0.0 -> -128, 1.0 -> 127)
    node = QNode("x", "input", [], [], (5,), 1 / 255, -128)
    return QGraph("g", [node], ["x"], "x", (5,), 1 / 255, -128)


def test_input_saturation_by_hand():
    # x / s + z:  0 -> -128 | 0.5 -> 127.5 - 128, rounds to 0 | 1 -> 127 | 2 -> 382 (clipped)
    #             -1 -> -383 (clipped): 2 of 5 values saturate
    x = np.array([[0.0, 0.5, 1.0, 2.0, -1.0]])
    assert input_saturation(unit_range_graph(), x) == pytest.approx(0.4)
    assert input_saturation(unit_range_graph(), x[:, :3]) == 0.0


def _report(share: float | None) -> SimReport:
    return SimReport("nucleo", "netduinoplus2", 1, True, [], None, 1.0, [],
                     input_saturation=share, input_range=(0.0, 1.0))


def test_warning_threshold():
    assert SATURATION_WARN_SHARE == 0.01
    assert _report(None).warnings == [] and _report(0.01).warnings == []
    (line,) = _report(0.0125).warnings
    assert line.startswith("1.2 % of the input values are outside the model's calibrated input range [0, 1]")
    assert "input_saturation" in _report(0.0125).to_dict()
    assert "input_range" not in _report(0.0125).to_dict()


@pytest.mark.target
def test_sim_warns_on_inputs_scaled_far_out_of_range(digits_builds, tmp_path):
    out = digits_builds["nucleo"].out_dir
    x = digits_test().x[:5]
    y = digits_test().y[:5]
    # digits pixels are multiples of 1/16 in [0, 1], the calibrated range: x 100 sends
    # every non-zero pixel past 1 (clipped to 127); zeros stay 0 (-128, not clipped).
    share = np.count_nonzero(x) / x.size
    far = save_npz(tmp_path / "far.npz", x * 100, y)
    result = runner.invoke(cli.app, ["sim", str(out), "--data", str(far)])
    assert result.exit_code == 0, result.output
    warnings = [l for l in result.stderr.splitlines() if l.startswith("warning:")]
    assert warnings == [f"warning: {100 * share:.1f} % of the input values are outside the model's "
                        f"calibrated input range [0, 1] and were clipped to -128/127; the accuracy "
                        f"is of clipped inputs"], result.stderr
    assert "5 inputs: bit-exact" in result.stdout  # clipped, yet the same in firmware and reference
    saved = json.loads((out / "sim-report.json").read_text())
    assert saved["input_saturation"] == pytest.approx(share)

    near = save_npz(tmp_path / "near.npz", x, y)
    result = runner.invoke(cli.app, ["sim", str(out), "--data", str(near), "--json"])
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["input_saturation"] == 0.0
