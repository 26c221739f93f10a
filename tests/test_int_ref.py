"""Integer reference interpreter: hand-derived values and agreement with the float reference."""
from __future__ import annotations

import numpy as np
import pytest

from tests.models import BUILDERS, random_input
from tinycompress.errors import DataError
from tinycompress.ir.graph import Graph, Node
from tinycompress.frontend.keras import from_keras
from tinycompress.compress.quantize import quantize
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import evaluate, predict, run_int


def _tiny_dense() -> Graph:
    """y = x0 - x1 (one dense unit, no bias)."""
    inp = Node("x", "input", [], [], (2,))
    fc = Node("fc", "dense", ["x"], [(2,)], (1,),
              weights={"kernel": np.array([[1.0], [-1.0]], np.float32),
                       "bias": np.zeros(1, np.float32)})
    return Graph("tiny", [inp, fc], ["fc"])


def test_tiny_dense_hand_derived():
    # calib x in {[1, 0], [0, 1]}: input range [0, 1] -> s_in = 1/255, z_in = -128;
    # outputs {1, -1} -> s_out = 2/255, z_out = 0 (zp from max: 127 - 127.5 -> -0.5 -> 0).
    # weights 8 bit per channel: s_w = 1/127, levels [127, -127].
    q = quantize(_tiny_dense(), np.array([[1.0, 0.0], [0.0, 1.0]]))
    fc = q.node("fc")
    assert fc.levels.tolist() == [[127, -127]]
    assert (q.input_zero_point, fc.zero_point) == (-128, 0)
    # bias_f = 0 - z_in * (127 - 127) = 0
    assert fc.params.bias_f.tolist() == [0]
    # x = [0.5, 0] -> q = round(127.5) - 128 = 128 - 128 = 0 (half to even), and -128
    x = q.quantize_input(np.array([[0.5, 0.0]]))
    assert x.tolist() == [[0, -128]]
    # acc = 127*0 + (-127)*(-128) = 16256; * s_in*s_w/s_out = 1/254 -> 64 exactly
    out = run_int(q, x)
    assert out.tolist() == [[64]]
    assert q.dequantize_output(out)[0, 0] == pytest.approx(64 * 2 / 255)  # ~0.5


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model_case(request):
    model = BUILDERS[request.param]()
    graph = from_keras(model)
    qgraph = quantize(graph, random_input(model, 256, seed=1))
    return request.param, graph, qgraph, random_input(model, 48, seed=2)


def test_int_ref_tracks_float_ref(model_case):
    """Every output, dequantized, within a few LSB of the float reference on fresh inputs.

    Bounds: measured max 6.6 LSB / mean 1.2 LSB over these models (8-bit weights,
    errors accumulate over up to 7 requantizations); each rounding adds <= 0.5 LSB.
    """
    name, graph, qgraph, x = model_case
    want = run_float(graph, x, return_all=True)
    got = run_int(qgraph, qgraph.quantize_input(x), return_all=True)
    assert len(qgraph.outputs) == len(graph.outputs)
    for fname, qname in zip(graph.outputs, qgraph.outputs):
        node = qgraph.node(qname)
        deq = qgraph.dequantize_output(got[qname], qname)
        lsb = np.abs(deq - want[fname].reshape(deq.shape)) / node.scale
        assert lsb.max() <= 8.0, f"{name}/{qname}: max error {lsb.max():.2f} LSB"
        assert lsb.mean() <= 1.5, f"{name}/{qname}: mean error {lsb.mean():.2f} LSB"


def test_batch_equals_single_samples(model_case):
    name, _, qgraph, x = model_case
    xq = qgraph.quantize_input(x[:3])
    every = run_int(qgraph, xq, return_all=True)
    for i in range(3):
        one = run_int(qgraph, xq[i], return_all=True)
        for node in qgraph.nodes:
            assert one[node.name].dtype == np.int8
            assert one[node.name].shape == tuple(node.output_shape), node.name
            np.testing.assert_array_equal(one[node.name], every[node.name][i],
                                          err_msg=f"{name}/{node.name} sample {i}")


def test_predict_and_evaluate_on_tiny_graph():
    q = quantize(_tiny_dense(), np.array([[1.0, 0.0], [0.0, 1.0]]))
    x = np.array([[0.5, 0.0], [0.0, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(predict(q, x)[:, 0], [0.5, -0.5, 0.0], atol=2 / 255)
    # single-output regression: argmax over one column is always 0
    assert evaluate(q, x, np.array([0, 0, 1])) == pytest.approx(2 / 3)


def test_run_int_rejects_bad_input():
    q = quantize(_tiny_dense(), np.array([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(DataError, match="int8"):
        run_int(q, np.zeros((1, 2), np.float32))
    with pytest.raises(DataError, match=r"shape \(N, 2\)"):
        run_int(q, np.zeros((1, 3), np.int8))
