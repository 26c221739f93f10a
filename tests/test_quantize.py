"""Post-training quantization: parameters by hand, lowering, accuracy on the digits CNN."""
from __future__ import annotations

import numpy as np
import pytest

from tinycompress.errors import DataError, SpecError
from tinycompress.compress.quantize import quantize
from tinycompress.compress.qparams import choose_qparams, quantize_weights, weight_matrix
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import evaluate

CALIB = 300


@pytest.fixture(scope="module")
def float_acc(digits_graph, split):
    return float(np.mean(np.argmax(run_float(digits_graph, split.x_test), 1) == split.y_test))


@pytest.fixture(scope="module")
def acc_by_bits(digits_graph, split):
    calib = split.x_train[:CALIB]
    return {b: evaluate(quantize(digits_graph, calib, bits=b), split.x_test, split.y_test)
            for b in (2, 3, 4, 6, 8)}


def test_choose_qparams_hand_derived():
    # [0, 1]: scale 1/255; zp from min = -128 - 0/scale = -128
    assert choose_qparams(0.0, 1.0) == pytest.approx((1 / 255, -128))
    # [-1, 1]: scale 2/255; zp from max = 127 - 127.5 = -0.5 (smaller error) -> round -> 0
    assert choose_qparams(-1.0, 1.0) == pytest.approx((2 / 255, 0))
    # [2, 5] is widened to [0, 5] so that real 0 is exact
    assert choose_qparams(2.0, 5.0) == pytest.approx((5 / 255, -128))
    # [-3, -1] -> [-3, 0]: zp from max = 127 - 0 = 127
    assert choose_qparams(-3.0, -1.0) == pytest.approx((3 / 255, 127))


def test_quantize_weights_hand_derived():
    # values chosen so that every quotient is exact in binary floating point
    w = np.array([[1.5, -0.75, 0.0], [0.0, 0.0, 0.0], [0.125, 0.375, -0.75]])
    levels, scales = quantize_weights(w, bits=3)  # levels in [-3, 3]
    # row 0: s = 1.5/3 = 0.5; -0.75/0.5 = -1.5 -> -2 (half to even)
    # row 1: all zero, takes the largest scale 0.5
    # row 2: s = 0.25; 0.5 -> 0, 1.5 -> 2, -3
    assert levels.tolist() == [[3, -2, 0], [0, 0, 0], [0, 2, -3]]
    np.testing.assert_allclose(scales, [0.5, 0.5, 0.25])
    levels, scales = quantize_weights(w, bits=3, per_channel=False)  # one scale 0.5
    assert levels.tolist() == [[3, -2, 0], [0, 0, 0], [0, 1, -2]]  # 0.25 -> 0, 0.75 -> 1
    np.testing.assert_allclose(scales, [0.5] * 3)
    levels, _ = quantize_weights(w, bits=2)  # levels in [-1, 1]; row 0 s = 1.5
    assert levels[0].tolist() == [1, 0, 0]  # -0.5 -> -0


def test_weight_matrix_layout():
    conv = np.arange(2 * 2 * 3 * 4, dtype=float).reshape(2, 2, 3, 4)  # (kh, kw, cin, cout)
    m = weight_matrix("conv2d", conv)
    assert m.shape == (4, 12)
    assert m[1, 5] == conv[0, 1, 2, 1]  # column 5 = (ky 0, kx 1, ci 2)
    dw = np.arange(3 * 3 * 5, dtype=float).reshape(3, 3, 5, 1)
    assert weight_matrix("depthwise_conv2d", dw)[2, 4] == dw[1, 1, 2, 0]  # col 4 = (1, 1)
    dense = np.arange(6.0).reshape(3, 2)  # (fan_in, units)
    assert weight_matrix("dense", dense).tolist() == [[0, 2, 4], [1, 3, 5]]


def test_lowering_of_the_digits_cnn(digits_graph, split):
    q = quantize(digits_graph, split.x_train[:CALIB])
    ops = [(n.name, n.op) for n in q.nodes]
    # 'same' convs are padded inside their kernels: no zero_pad2d node
    assert ops[:2] == [("image", "input"), ("conv1", "conv2d")]
    assert "zero_pad2d" not in {op for _, op in ops}
    assert ops[-2:] == [("logits", "dense"), ("logits_softmax", "softmax")]
    assert q.outputs == ["logits_softmax"]
    conv1 = q.node("conv1")
    # 5x5 'same' on 16x16: 2 each side; fill = input zero point; input is [0, 1] -> -128
    assert conv1.attrs["pads"] == ((2, 2), (2, 2)) and conv1.input_shapes[0] == (16, 16, 1)
    assert conv1.attrs["pad_value"] == q.input_zero_point == -128
    assert q.input_scale == pytest.approx(1 / 255)
    assert (conv1.kh, conv1.kw, conv1.strides) == (5, 5, (1, 1))
    assert conv1.levels.shape == (6, 25) and conv1.levels.dtype == np.int8
    # fused relu: clamp at the zero point (real 0)
    assert conv1.params.act_min == conv1.zero_point and conv1.params.act_max == 127
    soft = q.node("logits_softmax")
    assert (soft.scale, soft.zero_point) == (1 / 256, -128)
    assert (soft.source, conv1.source) == ("logits", "conv1")
    assert q.node("pool1").scale == conv1.scale  # max pool keeps its input's quantization


def test_8bit_within_half_point_of_float(acc_by_bits, float_acc):
    assert acc_by_bits[8] >= float_acc - 0.005


def test_lower_bits_degrade_monotonically(acc_by_bits):
    assert acc_by_bits[8] >= acc_by_bits[4] - 0.01
    assert acc_by_bits[4] >= acc_by_bits[2] - 0.01
    assert acc_by_bits[4] >= 0.85  # 4-bit per-channel still works on digits


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
def test_levels_within_bit_range(digits_graph, split, bits):
    q = quantize(digits_graph, split.x_train[:50], bits=bits)
    qmax = 2 ** (bits - 1) - 1
    for n in q.weight_nodes:
        assert n.bits == bits
        assert np.abs(n.levels.astype(int)).max() == qmax, n.name  # per-channel max hits qmax


def test_per_layer_bits_and_per_tensor(digits_graph, split):
    q = quantize(digits_graph, split.x_train[:50], bits={"fc1": 3}, per_channel=False)
    assert {n.name: n.bits for n in q.weight_nodes}["fc1"] == 3
    assert q.node("fc2").bits == 8
    for n in q.weight_nodes:
        assert not n.per_channel and np.all(n.w_scales == n.w_scales[0])
        row_max = np.abs(n.levels.astype(int)).max(axis=1)
        assert row_max.max() == 2 ** (n.bits - 1) - 1
    pc = quantize(digits_graph, split.x_train[:50], per_channel=True)
    assert len(set(pc.node("fc1").w_scales)) > 1


def test_per_tensor_8bit_accuracy(digits_graph, split, float_acc):
    q = quantize(digits_graph, split.x_train[:CALIB], per_channel=False)
    assert evaluate(q, split.x_test, split.y_test) >= float_acc - 0.01


@pytest.mark.parametrize("bad", [1, 9, 0, 4.5, True, "8"])
def test_invalid_bits_rejected(digits_graph, split, bad):
    with pytest.raises(SpecError, match="bits"):
        quantize(digits_graph, split.x_train[:10], bits=bad)


def test_invalid_bits_spec_rejected(digits_graph, split):
    with pytest.raises(SpecError, match="unknown layer name.*conv9"):
        quantize(digits_graph, split.x_train[:10], bits={"conv9": 4})
    with pytest.raises(SpecError, match="bits of fc2 must be from 2 to 8, got 9"):
        quantize(digits_graph, split.x_train[:10], bits={"fc2": 9})


def test_bad_calibration_data(digits_graph):
    with pytest.raises(DataError, match=r"shape \(N, 16, 16, 1\)"):
        quantize(digits_graph, np.zeros((4, 8, 8, 1)))
    with pytest.raises(DataError, match="NaN"):
        quantize(digits_graph, np.full((2, 16, 16, 1), np.nan))


def test_quantize_input_and_dequantize_output(digits_graph, split):
    q = quantize(digits_graph, split.x_train[:50])
    # input scale 1/255, zp -128: 0 -> -128, 1 -> 127, 0.5 -> 127.5 - 128 = -0.5 -> -0 (even)
    assert q.quantize_input(np.array([0.0, 1.0, 0.5, 2.0])).tolist() == [-128, 127, 0, 127]
    # softmax output: (q + 128) / 256
    assert q.dequantize_output(np.array([-128, 0, 127], np.int8)).tolist() == [0, 0.5, 255 / 256]
