"""No silent int32 overflow: the build proves every layer's integer ranges, the reference raises.

The wide layer: Dense(fan_in -> 2) with unit weights on inputs in [0, 1].
- weights 1.0, 8 bits per channel: scale 1/127, every level 127;
- input range [0, 1] -> scale 1/255, zero point -128 (real 0 is q = -128);
- bias 0 -> bias_q = 0, bias_f = bias_q - z_in * row sum = 128 * 127 * fan_in;
- largest accumulator, every x = 127: bias_f + 127 * 127 * fan_in = 127 * 255 * fan_in.
  fan_in 70,000: 2,266,950,000 > 2,147,483,647 (int32 max): refused.
  fan_in 66,311: 2,147,481,735 fits (66,311 = floor(2,147,483,647 / 32,385)); 66,312 does not.
(The smallest, every x = -128: bias_f - 128 * 127 * fan_in = 0.)
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from tinycompress import cli
from tinycompress.compress import CompressOptions, compress
from tinycompress.compress.quantize import quantize
from tinycompress.data import Dataset, save_npz
from tinycompress.errors import IntegerOverflowError
from tinycompress.ir.graph import Graph, Node
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.reference import bounds, int_eval, int_prepare, int_ref, weight_ops

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

INT32_MAX = 2**31 - 1
REFUSED_70K = "layer fc1: accumulator can reach 2,266,950,000"


def wide_graph(fan_in: int) -> Graph:
    kernel = np.ones((fan_in, 2), np.float32)
    return Graph("wide", [
        Node("x", "input", [], [], (fan_in,)),
        Node("fc1", "dense", ["x"], [(fan_in,)], (2,),
             weights={"kernel": kernel, "bias": np.zeros(2, np.float32)}),
    ], ["fc1"])


def unit_inputs(fan_in: int, n: int = 4) -> np.ndarray:
    x = np.random.default_rng(0).uniform(0.0, 1.0, (n, fan_in)).astype(np.float32)
    x[0, 0] = 0.0  # calibrated range exactly [0, max]: zero point -128
    return x


def test_wide_dense_is_refused_with_layer_and_bound():
    with pytest.raises(IntegerOverflowError) as err:
        quantize(wide_graph(70_000), unit_inputs(70_000))
    msg = str(err.value)
    assert msg.startswith(REFUSED_70K)
    # bias_f = 128 * 127 * 70,000 = 1,137,920,000; sum of the positive levels 127 * 70,000
    assert "bias_f 1,137,920,000 + 127 x 8,890,000 + 128 x 0" in msg
    assert "over int32's 2,147,483,647" in msg


def test_compress_refuses_a_keras_model():
    inp = keras.Input((70_000,))
    out = keras.layers.Dense(2, name="fc1", kernel_initializer="ones")(inp)
    model = keras.Model(inp, out)
    with pytest.raises(IntegerOverflowError, match=REFUSED_70K):
        compress(model, CompressOptions(), Dataset(unit_inputs(70_000)))


def test_cli_compress_is_one_line_and_exit_2(tmp_path):
    inp = keras.Input((70_000,))
    out = keras.layers.Dense(2, name="fc1", kernel_initializer="ones")(inp)
    keras.Model(inp, out).save(tmp_path / "wide.keras")
    data = save_npz(tmp_path / "d.npz", unit_inputs(70_000))
    result = CliRunner().invoke(cli.app, ["compress", str(tmp_path / "wide.keras"), "--data", str(data)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {REFUSED_70K}"), result.stderr


def test_just_under_the_bound_is_accepted_and_exact():
    qg = quantize(wide_graph(66_311), unit_inputs(66_311))
    fc1 = qg.node("fc1")
    assert fc1.levels.min() == fc1.levels.max() == 127 and qg.input_zero_point == -128
    np.testing.assert_array_equal(fc1.params.bias_f, [128 * 127 * 66_311] * 2)  # 1,077,951,616
    top = np.full((1, 66_311), 127, np.int8)
    acc = weight_ops.fc_accumulators(top, fc1.levels, fc1.params)
    np.testing.assert_array_equal(acc, [[2_147_481_735] * 2])  # 127 * 255 * 66,311
    with pytest.raises(IntegerOverflowError, match="accumulator can reach 2,147,514,120"):
        quantize(wide_graph(66_312), unit_inputs(66_312))  # 127 * 255 * 66,312


def hand_made_wide(fan_in: int) -> QGraph:
    """The quantized wide layer assembled by hand: prepare_weight_op, no bounds check."""
    levels = np.full((2, fan_in), 127, np.int8)
    params = weight_ops.prepare_weight_op(levels, 1 / 127, np.zeros(2), 1 / 255, -128, 0.5, 0)
    nodes = [QNode("x", "input", [], [], (fan_in,), 1 / 255, -128),
             QNode("fc1", "dense", ["x"], [(fan_in,)], (2,), 0.5, 0, params=params,
                   levels=levels, bits=8, w_scales=np.full(2, 1 / 127))]
    return QGraph("wide", nodes, ["fc1"], "x", (fan_in,), 1 / 255, -128)


def test_reference_raises_instead_of_wrapping():
    qg = hand_made_wide(66_312)
    with pytest.raises(IntegerOverflowError, match="accumulator can reach 2,147,514,120"):
        bounds.check_qgraph(qg)
    # Every x = 127: 2,147,514,120, which a 32-bit add wraps to -2,147,453,176, an output of
    # -128 instead of 127 that the firmware and a wrapping reference would agree on.
    with pytest.raises(IntegerOverflowError,
                       match=r"layer fc1 \(dense\): accumulator reaches 2,147,514,120"):
        int_ref.run_int(qg, np.full(66_312, 127, np.int8))
    # an input that stays in range still runs: x = -128 gives acc 0 -> rq(0) = 0
    assert int_ref.run_int(qg, np.full(66_312, -128, np.int8)).tolist() == [0, 0]


def test_weight_op_bounds_by_hand():
    # levels [[3, -2, 0], [-7, 7, 1]]: P (positive sum), N (negative magnitudes)
    #   row 0: P = 3, N = 2; products t in [-(128*3 + 127*2), 127*3 + 128*2] = [-638, 637]
    #   row 1: P = 8, N = 7; t in [-(128*8 + 127*7), 127*8 + 128*7] = [-1913, 1912]
    # bias_f [100, -50]: accumulator row 0 [-538, 737], row 1 [-1963, 1862]
    levels = np.array([[3, -2, 0], [-7, 7, 1]])
    lo, hi, t_lo, t_hi = bounds.accumulator_ranges(levels, [100, -50])
    assert (lo.tolist(), hi.tolist(), t_lo.tolist(), t_hi.tolist()) == \
        ([-538, -1963], [737, 1862], [-638, -1913], [637, 1912])
    # m = 2^30: row 0 shift 0 (x 1/2), row 1 shift -1 (x 1/4); z_out 5
    #   rq(737) = (737 * 2^30 + 2^30) >> 31 = 369;   rq(-538) = floor(-537 / 2) = -269
    #   rq(1862) = (1862 * 2^30 + 2^31) >> 32 = 466; rq(-1963) = floor(-1961 / 4) = -491
    p = weight_ops.WeightOpParams(bias_f=np.array([100, -50], np.int32),
                                  m=np.array([1 << 30] * 2, np.int32),
                                  shift=np.array([0, -1], np.int32), z_out=5, act_min=-128, act_max=127)
    found = {(b.what, b.lo, b.hi) for b in bounds.weight_op_bounds(levels, p)}
    assert found == {
        ("sum of raw inputs over a patch", -384, 381),           # 3 inputs x [-128, 127]
        ("accumulator", 1912, 1912),                              # row 1, t alone (bias_f < 0)
        ("accumulator", -1963, -1963),                            # row 1, bias_f + t_lo
        ("requantization multiplier", 1 << 30, 1 << 30),
        ("requantization shift", -1, 0),
        ("requantized accumulator", 471, 471),                    # 466 + 5
        ("requantized accumulator", -486, -486),                  # -491 + 5
    }


def test_other_op_bounds_by_hand():
    # avg pool 2x2, z_in -128: 4 taps x (128 + 128) = 1,024 bounds the raw sum and acc
    pool = int_prepare.prepare_avg_pool2d((4, 4, 1), (2, 2), (2, 2), "valid", 0.1, -128, 0.1, -128)
    sums = [b for b in bounds.avg_pool_bounds(pool) if b.what == "pool sum"]
    assert [(b.lo, b.hi) for b in sums] == [(-256, 256), (-512, 512), (-768, 768), (-1024, 1024)]
    # softmax, rows of 10, E max = E[0] = 2^20: sum 10 * 2^20 = 10,485,760;
    # numerator 256 * 2^20 + 10 * 2^20 / 2 = 273,678,336
    sm = {b.what: b.hi for b in bounds.softmax_bounds(int_prepare.prepare_softmax(0.1, 0), 10)}
    assert sm["softmax sum"] == 10_485_760 and sm["softmax numerator"] == 273_678_336


def _node(op: str, params, in_shape=(4, 4, 3)) -> QNode:
    return QNode("n1", op, ["x"], [in_shape], in_shape, 0.1, 0, params=params)


@pytest.mark.parametrize("node,what", [
    # requantize from scale 2^30 times finer: shift 30, every x - z_in != 0 leaves int32
    (_node("requantize", int_prepare.RescaleParams(0, 1 << 30, 30, 0)), "rescaled value requantized"),
    (_node("requantize", int_prepare.RescaleParams(0, 1 << 30, 31, 0)), "rescaled value shift"),
    (_node("global_avg_pool2d", int_prepare.GlobalAvgPoolParams(1 << 23, 0, 1 << 30, -23, 0, -128, 127)),
     "global pool positions"),
    (_node("add", int_prepare.AddParams((0, 0), (1 << 30, 1 << 30), (0, 0), 20, 1 << 30, 30, 0, -128, 127)),
     "add output requantized"),
    (_node("add", int_prepare.AddParams((0, 0), (1 << 30, 1 << 30), (0, 0), 24, 1 << 30, 0, 0, -128, 127)),
     "add left shift"),
    (_node("softmax", int_prepare.prepare_softmax(0.1, 0), (3000,)), "softmax row length"),
])
def test_other_ops_refused_with_layer_name(node, what):
    with pytest.raises(IntegerOverflowError, match=f"^layer n1: {what} can reach"):
        bounds.check_node(node)


def test_reference_requantize_raises_instead_of_wrapping():
    p = int_prepare.RescaleParams(0, 1 << 30, 30, 0)  # x 2^29
    with pytest.raises(IntegerOverflowError, match="requantized value reaches 64,424,509,440"):
        int_eval.requantize_s8(np.array([120], np.int8), p)  # 120 * 2^29 = 64,424,509,440


def test_bias_beyond_int32_is_refused_not_saturated():
    # a bias of 1,000 on weights of 1e-6 and inputs of scale ~1/255: bias_q ~ 1e3 / (1/255 * 1e-6 / 127)
    graph = wide_graph(8)
    graph.nodes[1].weights["kernel"] = np.full((8, 2), 1e-6, np.float32)
    graph.nodes[1].weights["bias"] = np.full(2, 1000.0, np.float32)
    with pytest.raises(IntegerOverflowError, match="^layer fc1: bias / \\(s_in x s_w\\) of row 0 is "):
        quantize(graph, unit_inputs(8))
