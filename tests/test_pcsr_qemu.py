"""Target tier: models with every layer in PCSR, bit-exact in QEMU.

The digits example (conv2d, dense) and tests/models.py's separable model (three
depthwise layers, two pointwise convolutions), one build each (mps2_an386,
4-bit, `--layout pcsr`); the expected outputs come from the numpy integer
reference (int_ref.run_int) inside `simulate`.
"""
from __future__ import annotations

import json

import pytest

from tests import models
from tinycompress.compress.core import CompressOptions
from tinycompress.data import DIGITS_MODEL
from tinycompress.pipeline import build
from tinycompress.target.sim import simulate

pytestmark = [pytest.mark.target, pytest.mark.slow]


def test_digits_all_pcsr_bit_exact_in_qemu(tmp_path, offline_core):
    options = CompressOptions(layout="pcsr", sparsity=0.9, bits=4)
    out = build(DIGITS_MODEL, "mps2_an386", tmp_path / "pcsr", options=options).out_dir
    report = json.loads((out / "build-report.json").read_text())
    assert {l["layout"] for l in report["layers"]} == {"pcsr"}
    assert {"tc_fc_pcsr_s8.c", "tc_conv2d_pcsr_s8.c"} <= set(report["kernels"])
    sim = simulate(out, n=8)
    assert sim.bit_exact and sim.mismatches == [] and sim.n_inputs == 8


def test_depthwise_all_pcsr_bit_exact_in_qemu(tmp_path, offline_core):
    models.separable_model().save(tmp_path / "separable.keras")
    options = CompressOptions(layout="pcsr", sparsity=0.5, bits=4)
    out = build(tmp_path / "separable.keras", "mps2_an386", tmp_path / "pcsr", options=options).out_dir
    report = json.loads((out / "build-report.json").read_text())
    depthwise = [l["name"] for l in report["layers"] if l["op"] == "depthwise_conv2d"]
    assert len(depthwise) == 3 and {l["layout"] for l in report["layers"]} == {"pcsr"}
    assert "tc_dwconv2d_pcsr_s8.c" in report["kernels"]
    sim = simulate(out, n=8)
    assert sim.bit_exact, (sim.mismatches[:3], sim.first_divergent_layer)
    assert sim.n_inputs == 8
