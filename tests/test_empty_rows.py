"""An all-zero weight row (global pruning can empty a whole layer) gets constants
that requantize in the kernels' short form and give the same output, bit for bit."""
from __future__ import annotations

import numpy as np

from tinycompress.reference import requant, weight_ops


def _spec(levels, s_w, bias, x, s_in=0.05, z_in=-3, s_out=0.1, z_out=5):
    """The output by the module's formula with the multipliers straight from the scales."""
    bias_q = np.round(bias / (s_in * s_w)).astype(np.int64)
    bias_f = bias_q - z_in * levels.sum(axis=1)
    m, shift = requant.quantize_multipliers(s_in * s_w / s_out)
    acc = x.astype(np.int64) @ levels.T.astype(np.int64) + bias_f
    return requant.requantize_output(acc, m, shift, z_out, -128, 127), m, shift


def _prepared(levels, s_w, bias):
    return weight_ops.prepare_weight_op(levels, s_w, bias, 0.05, -3, 0.1, 5)


def test_empty_rows_per_channel_get_short_constants_and_the_same_output():
    rng = np.random.default_rng(0)
    levels = rng.integers(-7, 8, (4, 10))
    levels[[1, 3]] = 0
    s_w = np.array([0.01, 40.0, 0.02, 3.0])  # the empty rows' scales: multipliers 20 and 1.5
    bias = np.array([0.3, 0.02, -0.4, -0.09])
    x = rng.integers(-128, 128, (50, 10))
    want, m0, shift0 = _spec(levels, s_w, bias, x)
    assert shift0[1] > 0 and shift0[3] >= -1  # the long form, as built before
    p = _prepared(levels, s_w, bias)
    assert np.array_equal(weight_ops.fc_s8(x, levels, p), want)
    assert list(p.shift) == [shift0[0], -2, shift0[2], -2] and list(p.m[[1, 3]]) == [1 << 30] * 2
    assert np.array_equal(p.m[[0, 2]], m0[[0, 2]])


def test_a_per_tensor_layer_keeps_its_shared_constants_unless_every_row_is_empty():
    rng = np.random.default_rng(1)
    levels = rng.integers(-7, 8, (3, 6))
    levels[0] = 0
    s_w, bias = np.full(3, 4.0), np.array([0.5, -0.2, 0.1])
    x = rng.integers(-128, 128, (20, 6))
    want, m0, shift0 = _spec(levels, s_w, bias, x)
    p = _prepared(levels, s_w, bias)  # one multiplier for all rows: left as it is
    assert np.array_equal(p.m, m0) and np.array_equal(p.shift, shift0)
    assert np.array_equal(weight_ops.fc_s8(x, levels, p), want)
    empty = np.zeros_like(levels)
    want, _, shift0 = _spec(empty, s_w, bias, x)
    p = _prepared(empty, s_w, bias)
    assert shift0[0] > -2 and set(p.shift.tolist()) == {-2}
    assert np.array_equal(weight_ops.fc_s8(x, empty, p), want)
