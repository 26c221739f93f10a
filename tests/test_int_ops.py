"""int_prepare + int_eval (numpy integer spec of the non-weight ops): hand-derived cases and
accuracy against the float op, quantized, on hypothesis-generated inputs.

The float references here are written independently (plain loops, float64),
so they share no code with the spec beyond the quantization convention.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinycompress.reference import int_eval, int_prepare

SETTINGS = settings(max_examples=60, deadline=None)
scales = st.floats(1e-3, 2.0, allow_nan=False, allow_infinity=False)
zps = st.integers(-128, 127)


def int8_arrays(draw, shape):
    return np.array(draw(st.lists(st.integers(-128, 127), min_size=math.prod(shape),
                                  max_size=math.prod(shape))), dtype=np.int8).reshape(shape)


def quantize(real, s, z):
    """Float -> int8 with round-half-away, the convention of every op."""
    v = np.asarray(real, dtype=np.float64) / s
    return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + z, -128, 127).astype(np.int64)


def assert_within(op, expected, got, tol=1):
    diff = np.abs(np.asarray(expected, np.int64) - np.asarray(got, np.int64))
    if diff.size and diff.max() > tol:
        idx = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), diff.shape))
        raise AssertionError(f"{op}: index {idx}: expected {expected[idx]} got {got[idx]} "
                             f"(more than {tol} LSB off)")


def float_pool(real, pool, strides, padding, reduce):
    """Keras pooling on an (H, W, C) float array by explicit windows."""
    h, w, _ = real.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "valid":
        oh, ow, pt, pl = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    else:
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        pt, pl = max((oh - 1) * sh + ph - h, 0) // 2, max((ow - 1) * sw + pw - w, 0) // 2
    out = np.zeros((oh, ow, real.shape[2]))
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * sh - pt, ox * sw - pl
            win = real[max(y0, 0):y0 + ph, max(x0, 0):x0 + pw]
            out[oy, ox] = reduce(win.reshape(-1, real.shape[2]), axis=0)
    return out


# ------------------------------------------------------------ hand-derived

def test_pad_fills_with_zero_point():
    x = np.array([[[1], [2]]], dtype=np.int8)  # (1, 2, 1)
    p = int_prepare.prepare_pad(((1, 0), (0, 1)), z_in=-5)
    # one row of -5 on top, one column of -5 on the right:
    expected = np.array([[-5, -5, -5], [1, 2, -5]], dtype=np.int8)[..., None]
    np.testing.assert_array_equal(int_eval.pad_s8(x, p), expected)


def test_avg_pool_rounds_half_away_from_zero_about_zero_point():
    # z = 1: v = x - 1. Window 1: v = 1,2,3,4 -> 10/4 = 2.5 -> 3 -> out 4.
    # Window 2: v = -1,-2,-3,-4 -> -2.5 -> -3 -> out -2.
    x = np.array([[[2, 0], [3, -1]], [[4, -2], [5, -3]]], dtype=np.int8)  # (2, 2, 2)
    p = int_prepare.prepare_avg_pool2d(x.shape, (2, 2), (2, 2), "valid", 0.1, 1, 0.1, 1)
    np.testing.assert_array_equal(int_eval.avg_pool2d_s8(x, p), [[[4, -2]]])


def test_avg_pool_same_divides_by_valid_count():
    # 3x3 input, pool 2, stride 2, same: out 2x2, pad total 1 -> pad_top 0, bottom 1.
    # x = 0..8 (z=0): windows {0,1,3,4}=8/4=2, {2,5}=7/2=3.5->4, {6,7}=13/2=6.5->7, {8}=8.
    x = np.arange(9, dtype=np.int8).reshape(3, 3, 1)
    p = int_prepare.prepare_avg_pool2d(x.shape, (2, 2), (2, 2), "same", 0.5, 0, 0.5, 0)
    np.testing.assert_array_equal(int_eval.avg_pool2d_s8(x, p)[..., 0], [[2, 4], [7, 8]])


def test_max_pool_same_ignores_padding():
    # all-negative input: a zero pad would win if padded taps were counted.
    x = np.full((3, 3, 1), -100, dtype=np.int8)
    p = int_prepare.prepare_max_pool2d(x.shape, (2, 2), (2, 2), "same", 0.5, 0, 0.5, 0)
    np.testing.assert_array_equal(int_eval.max_pool2d_s8(x, p), np.full((2, 2, 1), -100))


def test_softmax_hand_values():
    p = int_prepare.prepare_softmax(1.0, 0)
    # equal row of 4: 256/4 = 64 -> 64 - 128 = -64; equal row of 3: 256/3 = 85.3 -> -43.
    np.testing.assert_array_equal(int_eval.softmax_s8(np.zeros((1, 4), np.int8), p), [[-64] * 4])
    np.testing.assert_array_equal(int_eval.softmax_s8(np.zeros((1, 3), np.int8), p), [[-43] * 3])
    # equal row of 512: 256/512 = 0.5, a tie, rounds up to 1 -> -127.
    np.testing.assert_array_equal(int_eval.softmax_s8(np.zeros((1, 512), np.int8), p),
                                  [[-127] * 512])
    # d = 255 at s_in = 1: exp(-255) * 2^20 rounds to 0 -> 0/256 and 256/256 (saturates at 127).
    np.testing.assert_array_equal(int_eval.softmax_s8(np.array([[127, -128]], np.int8), p),
                                  [[127, -128]])


def test_affine_hand_values():
    # s_in 0.1, s_out 0.05, z_in 0, z_out -5, x = 10 (real 1.0):
    # c0: 1.5*1 + 0.3 = 1.8 -> 36 -> 31; c1: -2*1 - 0.1 = -2.1 -> -42 -> -47;
    # c2: 0*1 + 0.2 = 0.2 -> 4 -> -1.
    p = int_prepare.prepare_affine([1.5, -2.0, 0.0], [0.3, -0.1, 0.2], 0.1, 0, 0.05, -5)
    np.testing.assert_array_equal(int_eval.affine_s8(np.full((1, 3), 10, np.int8), p),
                                  [[31, -47, -1]])


def test_add_hand_values():
    # 0.5*(3) + 0.5*(4) = 3.5 real -> /0.5 = 7; with z_out = 2 -> 9.
    p = int_prepare.prepare_add([0.5, 0.5], [0, 0], 0.5, 2)
    xs = [np.array([3], np.int8), np.array([4], np.int8)]
    np.testing.assert_array_equal(int_eval.add_s8(xs, p), [9])


def test_lut_relu_table():
    # s_in = s_out, z_in = z_out = -10: relu maps x < -10 to -10 and keeps the rest.
    p = int_prepare.prepare_activation("relu", 0.1, -10, 0.1, -10)
    x = np.array([-128, -11, -10, 0, 127], dtype=np.int8)
    np.testing.assert_array_equal(int_eval.lut_s8(x, p), [-10, -10, -10, 0, 127])


def test_requantize_identity_is_exact():
    p = int_prepare.prepare_requantize(0.3, 7, 0.3, 7)
    x = np.arange(-128, 128, dtype=np.int8)
    np.testing.assert_array_equal(int_eval.requantize_s8(x, p), x)


@pytest.mark.parametrize("call", [
    lambda: int_prepare.prepare_softmax(0.1, 0, 0.1, 0),
    lambda: int_prepare.prepare_add([0.1], [0], 0.1, 0),
    lambda: int_prepare.prepare_affine([1e6], [0.0], 1.0, 0, 1.0, 0),
    lambda: int_prepare.prepare_max_pool2d((2, 2, 1), (3, 3), (1, 1), "valid", 1, 0, 1, 0),
    lambda: int_prepare.prepare_activation("softmax", 1, 0, 1, 0),
])
def test_prepare_rejects_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------ against float

@st.composite
def pool_cases(draw):
    h, w, c = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if padding == "valid":
        ph, pw = min(ph, h), min(pw, w)
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    s_in = draw(scales)
    s_out = draw(st.sampled_from([s_in, s_in * draw(st.floats(0.5, 2.0))]))
    return (int8_arrays(draw, (h, w, c)), (ph, pw), strides, padding, s_in, draw(zps),
            s_out, draw(zps))


@SETTINGS
@given(pool_cases())
def test_pools_match_float(case):
    x, pool, strides, padding, s_in, z_in, s_out, z_out = case
    real = s_in * (x.astype(np.float64) - z_in)
    for name, reduce in (("max_pool2d", np.max), ("avg_pool2d", np.mean)):
        prep = getattr(int_prepare, f"prepare_{name}")(x.shape, pool, strides, padding,
                                                       s_in, z_in, s_out, z_out)
        got = getattr(int_eval, f"{name}_s8")(x, prep)
        want = quantize(float_pool(real, pool, strides, padding, reduce), s_out, z_out)
        assert_within(name, want, got)


@SETTINGS
@given(st.data())
def test_avg_pool_equal_scales_is_exact_division(data):
    # Equal scales: exactly round-half-away(sum(x - z) / n) + z, in integers.
    x = int8_arrays(data.draw, (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6)), 2))
    z = data.draw(zps)
    p = int_prepare.prepare_global_avg_pool2d(x.shape, 0.37, z, 0.37, z)
    acc = (x.astype(np.int64) - z).sum(axis=(0, 1))
    n = x.shape[0] * x.shape[1]
    want = np.sign(acc) * ((np.abs(acc) * 2 + n) // (2 * n)) + z
    np.testing.assert_array_equal(int_eval.global_avg_pool2d_s8(x, p), np.clip(want, -128, 127))


@SETTINGS
@given(st.data())
def test_global_pools_match_float(data):
    x = int8_arrays(data.draw, (data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)), 3))
    s_in, z_in, s_out, z_out = data.draw(scales), data.draw(zps), data.draw(scales), data.draw(zps)
    real = s_in * (x.astype(np.float64) - z_in)
    avg = int_eval.global_avg_pool2d_s8(
        x, int_prepare.prepare_global_avg_pool2d(x.shape, s_in, z_in, s_out, z_out))
    assert_within("global_avg_pool2d", quantize(real.mean(axis=(0, 1)), s_out, z_out), avg)
    mx = int_eval.global_max_pool2d_s8(
        x, int_prepare.prepare_global_max_pool2d(s_in, z_in, s_out, z_out))
    assert_within("global_max_pool2d", quantize(real.max(axis=(0, 1)), s_out, z_out), mx)


@SETTINGS
@given(st.data())
def test_add_matches_float(data):
    n = data.draw(st.integers(2, 5))
    shape = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)))
    xs = [int8_arrays(data.draw, shape) for _ in range(n)]
    s = [data.draw(scales) for _ in range(n)]
    z = [data.draw(zps) for _ in range(n)]
    s_out, z_out = data.draw(scales), data.draw(zps)
    lo = data.draw(st.sampled_from([-128, z_out]))  # plain or fused relu
    got = int_eval.add_s8(xs, int_prepare.prepare_add(s, z, s_out, z_out, act_min=lo))
    real = sum(si * (x.astype(np.float64) - zi) for x, si, zi in zip(xs, s, z))
    assert_within("add", np.maximum(quantize(real, s_out, z_out), lo), got)


@SETTINGS
@given(st.data())
def test_concat_and_requantize_match_float(data):
    n = data.draw(st.integers(1, 4))
    axis = data.draw(st.integers(0, 2))
    base = [data.draw(st.integers(1, 4)) for _ in range(3)]
    xs, s, z = [], [], []
    for _ in range(n):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 4))
        xs.append(int8_arrays(data.draw, tuple(shape)))
        s.append(data.draw(scales))
        z.append(data.draw(zps))
    s_out, z_out = data.draw(scales), data.draw(zps)
    got = int_eval.concat_s8(xs, int_prepare.prepare_concat(s, z, s_out, z_out, axis=axis))
    real = np.concatenate([si * (x.astype(np.float64) - zi) for x, si, zi in zip(xs, s, z)], axis)
    assert_within("concat", quantize(real, s_out, z_out), got)


@SETTINGS
@given(st.sampled_from(["linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh"]),
       scales, zps, scales, zps, st.floats(0.0, 0.5))
def test_lut_matches_float(name, s_in, z_in, s_out, z_out, alpha):
    fns = {"linear": lambda v: v, "relu": lambda v: max(v, 0.0),
           "relu6": lambda v: min(max(v, 0.0), 6.0),
           "leaky_relu": lambda v: v if v >= 0 else alpha * v,
           "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "tanh": math.tanh}
    x = np.arange(-128, 128)
    want = quantize([fns[name](s_in * (q - z_in)) for q in x], s_out, z_out)
    p = int_prepare.prepare_activation(name, s_in, z_in, s_out, z_out, alpha)
    got = int_eval.lut_s8(x.astype(np.int8), p)
    assert_within(f"lut[{name}]", want, got)


@SETTINGS
@given(st.data())
def test_softmax_matches_float(data):
    rows, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 300))
    x = int8_arrays(data.draw, (rows, n))
    if data.draw(st.booleans()):
        x[0] = x[0, 0]  # an all-equal row
    s_in, z_in = data.draw(st.floats(1e-3, 1.0)), data.draw(zps)
    got = int_eval.softmax_s8(x, int_prepare.prepare_softmax(s_in, z_in))
    real = s_in * (x.astype(np.float64) - z_in)
    e = np.exp(real - real.max(axis=1, keepdims=True))
    want = quantize(e / e.sum(axis=1, keepdims=True), 1 / 256, -128)
    assert_within("softmax", want, got, tol=2)


@SETTINGS
@given(st.data())
def test_affine_matches_float(data):
    c = data.draw(st.integers(1, 5))
    x = int8_arrays(data.draw, (data.draw(st.integers(1, 4)), c))
    a = np.array([data.draw(st.floats(-4.0, 4.0)) for _ in range(c)])
    b = np.array([data.draw(st.floats(-3.0, 3.0)) for _ in range(c)])
    s_in, z_in, s_out, z_out = data.draw(scales), data.draw(zps), data.draw(scales), data.draw(zps)
    assume(np.all(np.abs(a) * s_in / s_out <= int_prepare.AFFINE_MAX_RATIO))
    got = int_eval.affine_s8(x, int_prepare.prepare_affine(a, b, s_in, z_in, s_out, z_out))
    want = quantize(a * s_in * (x.astype(np.float64) - z_in) + b, s_out, z_out)
    assert_within("affine", want, got)
