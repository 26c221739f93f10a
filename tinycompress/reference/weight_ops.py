"""Integer reference of the weight ops (dense, conv2d, depthwise conv2d).

This is the executable spec the C kernels `tc_fc_*_s8`, `tc_conv2d_*_s8` and
`tc_dwconv2d_*_s8` must match bit for bit, whatever the weight layout
(the layout changes how the sum is formed, never its value):

    acc[r] = bias_f[r] + sum_c W[r, c] * x[c]        (raw int8 x, int32 acc)
    out[r] = clamp(requantize(acc[r], m[r], shift[r]) + z_out, act_min, act_max)

with the input zero point folded into the bias at build time,
`bias_f[r] = bias_q[r] - z_in * sum_c W[r, c]`  (`prepare_weight_op`); an all-zero
row whose constants are its own gets equivalent short-form ones (`_constant_rows`).

Accumulators are computed exactly in int64 and checked against int32: the
Cortex-M adds in 32 bits and would wrap, so a value outside int32 raises
IntegerOverflowError here instead of agreeing with a wrong firmware result
(the build proves beforehand that no int8 input can get there:
tinycompress.reference.bounds).

Weight matrix convention: rows = output channels, columns = fan-in in
natural order (conv2d: (ky, kx, ci) row-major, depthwise: (ky, kx)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinycompress.errors import IntegerOverflowError
from tinycompress.reference import requant, tflite_math
from tinycompress.reference.requant import INT32_MAX, INT32_MIN


@dataclass
class WeightOpParams:
    """Per-layer integer constants, computed once (TFLM's Prepare step)."""

    bias_f: np.ndarray  # int32 (rows,): bias_q - z_in * rowsum(W)
    m: np.ndarray  # int32 (rows,): requant multiplier in [2^30, 2^31)
    shift: np.ndarray  # int32 (rows,): requant shift
    z_out: int
    act_min: int
    act_max: int
    tflite: bool = False  # TFLite's multipliers and double rounding (reference.tflite_math)


def prepare_weight_op(levels, w_scales, bias, s_in: float, z_in: int, s_out: float,
                      z_out: int, act_min: int = -128, act_max: int = 127,
                      tflite: bool = False) -> WeightOpParams:
    """Fold quantization constants of one weight op into `WeightOpParams`.

    levels: int (rows, cols); w_scales: float (rows,) or scalar (per tensor);
    bias: float (rows,) or None. bias_q = round(bias / (s_in * s_w)) with numpy's
    round-half-to-even. IntegerOverflowError when bias_q or bias_f leaves int32.
    """
    levels = np.asarray(levels, dtype=np.int64)
    rows = levels.shape[0]
    s_w = np.broadcast_to(np.asarray(w_scales, dtype=np.float64), (rows,))
    if bias is None:
        bias_q = np.zeros(rows, dtype=np.int64)
    else:
        scaled = np.round(np.asarray(bias, dtype=np.float64) / (float(s_in) * s_w))
        _check_bias(scaled, "bias / (s_in x s_w)")
        bias_q = scaled.astype(np.int64)
    bias_f = bias_q - int(z_in) * levels.sum(axis=1)
    _check_bias(bias_f, f"folded bias bias_q - z_in x row sum (z_in {int(z_in)})")
    quantize = tflite_math.quantize_multipliers if tflite else requant.quantize_multipliers
    m, shift = quantize(float(s_in) * s_w / float(s_out))
    if not tflite:
        bias_f, m, shift = _constant_rows(levels, s_w, bias_f, m, shift)
    return WeightOpParams(bias_f=bias_f.astype(np.int32), m=m, shift=shift, z_out=int(z_out),
                          act_min=int(act_min), act_max=int(act_max), tflite=tflite)


EMPTY_M, EMPTY_SHIFT = 1 << 30, -2  # a scale of 2^-3: requantize(8 v) = v exactly


def _constant_rows(levels, s_w, bias_f, m, shift):
    """(bias_f, m, shift) with every all-zero row's constants replaced by equivalent ones.

    Such a row's accumulator is its bias alone, so its output is one value v; its
    multiplier, from a weight scale with nothing to scale, may be far above 1 (global
    pruning can empty a layer: shift +8), which the kernels requantize on their slow
    long form (the dense convolution then leaves its DSP path). The row gets
    m = 2^30, shift = -2 and bias 8 v instead: the same output, bit for bit, in the
    short form. Only where the row's constants are its own: per channel (the scales
    differ), or every row empty (a per-tensor layer shares one multiplier)."""
    empty = ~np.any(levels != 0, axis=1)
    if not empty.any() or not (empty.all() or np.unique(s_w).size > 1):
        return bias_f, m, shift
    v = requant.requantize(bias_f[empty].astype(np.int64), m[empty], shift[empty]).astype(np.int64)
    v = np.clip(v, -512, 512)  # beyond +-256 of z_out the clamp gives the same int8 anyway
    bias_f, m, shift = bias_f.copy(), np.array(m, copy=True), np.array(shift, copy=True)
    bias_f[empty], m[empty], shift[empty] = 8 * v, EMPTY_M, EMPTY_SHIFT
    return bias_f, m, shift


def _check_bias(values: np.ndarray, what: str) -> None:
    """The bias of every row must be an int32 (bias_f is an int32 array in flash)."""
    if values.size and not np.all((values >= INT32_MIN) & (values <= INT32_MAX)):
        row = int(np.argmax(np.abs(values)))
        raise IntegerOverflowError(f"{what} of row {row} is {float(values[row]):,.0f}, "
                                   f"outside int32 [{INT32_MIN:,}, {INT32_MAX:,}]")


def _checked(acc: np.ndarray) -> np.ndarray:
    """int64 accumulators, raising where the target's int32 would wrap."""
    requant.check_int32(acc, "accumulator")
    return acc


def _output(acc: np.ndarray, p: WeightOpParams) -> np.ndarray:
    """Requantize checked accumulators (channel on the last axis) to int8."""
    if p.tflite:
        return tflite_math.requantize_output(acc, p.m, p.shift, p.z_out, p.act_min, p.act_max)
    return requant.requantize_output(acc, p.m, p.shift, p.z_out, p.act_min, p.act_max)


def _fc_acc(x, levels, params: WeightOpParams) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(levels, dtype=np.int64)
    return _checked(x @ w.T + params.bias_f.astype(np.int64))


def fc_accumulators(x, levels, params: WeightOpParams) -> np.ndarray:
    """int32 accumulators of a fully-connected layer: (rows,) or (batch, rows)."""
    return _fc_acc(x, levels, params).astype(np.int32)


def fc_s8(x, levels, params: WeightOpParams) -> np.ndarray:
    """Fully connected: x int8 (fan_in,) or (batch, fan_in) -> int8 (.., rows)."""
    return _output(_fc_acc(x, levels, params), params)


def _patches(x: np.ndarray, kh: int, kw: int, strides) -> np.ndarray:
    """(H, W, C) -> (OH, OW, kh, kw, C) view of the valid-conv input patches."""
    sh, sw = strides
    win = sliding_window_view(x, (kh, kw), axis=(0, 1))  # (H-kh+1, W-kw+1, C, kh, kw)
    return win[::sh, ::sw].transpose(0, 1, 3, 4, 2)


def conv2d_s8(x, levels, kh: int, kw: int, strides, params: WeightOpParams) -> np.ndarray:
    """Valid conv2d, NHWC: x int8 (H, W, Cin) already padded, levels (cout, kh*kw*cin).

    Returns int8 (OH, OW, cout), OH = (H - kh) // sh + 1.
    """
    x = np.asarray(x, dtype=np.int64)
    pt = _patches(x, kh, kw, strides)
    oh, ow = pt.shape[:2]
    cols = pt.reshape(oh * ow, -1)  # columns in (ky, kx, ci) order, as the weight matrix
    w = np.asarray(levels, dtype=np.int64)
    acc = _checked(cols @ w.T + params.bias_f.astype(np.int64))
    return _output(acc, params).reshape(oh, ow, w.shape[0])


def dwconv2d_s8(x, levels, kh: int, kw: int, strides, params: WeightOpParams) -> np.ndarray:
    """Valid depthwise conv2d (multiplier 1): x int8 (H, W, C), levels (C, kh*kw).

    Returns int8 (OH, OW, C).
    """
    x = np.asarray(x, dtype=np.int64)
    pt = _patches(x, kh, kw, strides)  # (OH, OW, kh, kw, C)
    oh, ow, _, _, c = pt.shape
    taps = pt.reshape(oh, ow, kh * kw, c)
    w = np.asarray(levels, dtype=np.int64)  # (C, kh*kw)
    acc = np.einsum("hwkc,ck->hwc", taps, w) + params.bias_f.astype(np.int64)
    return _output(_checked(acc), params)
