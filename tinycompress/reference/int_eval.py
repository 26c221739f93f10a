"""Eval step of the non-weight ops: the integer spec their C kernels must match.

TFLite-Micro split: `tinycompress.reference.int_prepare` turns real scales
into a frozen `<Op>Params` once, at build time; `<op>_s8(x..., params)` here
is pure integer numpy, the twin of `tc_<op>_s8` in firmware/runtime. Tensors
are int8 NHWC without the batch axis.

Exact formulas (v = x - z_in; rq(a, m, s) = requant.requantize, i.e.
floor(a * m / 2^(31-s) + 1/2) in one int64 step; clamp to [act_min, act_max]):

- pad:         constant `value` (the input zero point) around H and W.
- rescale:     out = clamp(rq(v, m, s) + z_out), m/s from s_in/s_out. Exact
               identity when s_in == s_out and z_in == z_out (m = 2^30, s = 1).
- max pool:    rescale(max over the window's valid taps); 'same' pads never win.
- avg pool:    acc = sum of v over valid taps, n = their count;
               out = clamp(sgn(acc) * rq(|acc|, m[n], s[n]) + z_out), m[n]/s[n]
               from s_in/(s_out*n) rounded *up*, so with equal scales this is
               exactly round-half-away-from-zero(acc / n) (TFLite's rounding,
               taken about the zero point, i.e. about real 0).
- add:         TFLite: a_i = rq(v_i << 20, m_i, s_i) with m_i from
               s_i/(2 max s); out = clamp(rq(sum a_i, m_o, s_o) + z_out), m_o from
               2 max s / (2^20 s_out). At most 16 inputs (int32 sum).
- concat:      each input rescaled to the output scale, then joined.
- lut:         out = table[x + 128], table[x+128] = clamp(rha(f(s_in v) / s_out) + z_out),
               rha = round half away from zero.
- softmax:     per row on the last axis: d = max - x in [0, 255];
               e = E[d], E[d] = rha(2^20 exp(-beta s_in d)) (E[0] = 2^20);
               S = sum e (row length <= 2047 keeps S < 2^31);
               q = (256 e + S // 2) // S  (round half up); out = min(q - 128, 127).
               Output scale 1/256, zero point -128 (TFLite).
- affine:      out = clamp(z_out + ((v * m_c + off_c) >> t_c)), t_c = 31 - shift_c,
               m_c signed (|m_c| * 2^-t_c = |a_c s_in / s_out|), int64
               off_c = floor(b_c / s_out * 2^t_c + 1/2) + 2^(t_c - 1): one rounding
               of a_c s_in/s_out v + b_c/s_out. t_c <= 38 (m_c is denormalized
               for tiny scales) and |b_c/s_out| is clamped to 2^23, so the sum fits
               int64; |a_c s_in / s_out| must be <= 2^14.

Every value a kernel holds in an int32 (uint32 for softmax, int64 for affine)
is computed here exactly and checked against that range: IntegerOverflowError,
never a wrapped result (the build's proof that no input gets there is
tinycompress.reference.bounds).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinycompress.errors import IntegerOverflowError
from tinycompress.reference import requant, tflite_math
from tinycompress.reference.int_prepare import (
    SOFTMAX_MAX_ROW, SOFTMAX_OUT_ZP, AddParams, AffineParams, AvgPoolParams, ConcatParams,
    GlobalAvgPoolParams, LutParams, MaxPoolParams, PadParams, PoolGeometry, RescaleParams,
    SoftmaxParams,
)


UINT32_MAX = (1 << 32) - 1
INT64_MAX = (1 << 63) - 1


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _rescale(v: np.ndarray, m: int, shift: int, z_out: int, lo: int, hi: int,
             tflite: bool = False) -> np.ndarray:
    if tflite:
        return tflite_math.requantize_output(v, m, shift, z_out, lo, hi)
    return requant.requantize_output(v, m, shift, z_out, lo, hi)


def _sym_requant(acc: np.ndarray, m, shift) -> np.ndarray:
    """sgn(acc) * rq(|acc|): round half away from zero."""
    acc = np.asarray(acc, dtype=np.int64)
    mag = requant.requantize(np.abs(acc), m, shift).astype(np.int64)
    return np.where(acc < 0, -mag, mag)


def pad_s8(x, p: PadParams) -> np.ndarray:
    """(H, W, C) -> (H+top+bottom, W+left+right, C) filled with p.value."""
    widths = ((p.top, p.bottom), (p.left, p.right), (0, 0))
    return np.pad(np.asarray(x, np.int8), widths, constant_values=np.int8(p.value))


def requantize_s8(x, p: RescaleParams) -> np.ndarray:
    """Rescale every element: clamp(rq(x - z_in, m, shift) + z_out)."""
    return _rescale(_i64(x) - p.z_in, p.m, p.shift, p.z_out, p.act_min, p.act_max, p.tflite)


def _windows(x: np.ndarray, g: PoolGeometry, fill: int) -> np.ndarray:
    """(out_h, out_w, C, pool_h, pool_w) windows of x padded with `fill`."""
    if x.shape[:2] != (g.in_h, g.in_w):
        raise ValueError(f"pool prepared for {(g.in_h, g.in_w)}, got {x.shape[:2]}")
    bottom = max((g.out_h - 1) * g.stride_h + g.pool_h - g.in_h - g.pad_top, 0)
    right = max((g.out_w - 1) * g.stride_w + g.pool_w - g.in_w - g.pad_left, 0)
    xp = np.pad(x, ((g.pad_top, bottom), (g.pad_left, right), (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, (g.pool_h, g.pool_w), axis=(0, 1))
    return win[::g.stride_h, ::g.stride_w][:g.out_h, :g.out_w]


def max_pool2d_s8(x, p: MaxPoolParams) -> np.ndarray:
    """Max over valid taps of each window, then rescaled; (H, W, C) -> (oh, ow, C)."""
    wins = _windows(_i64(x), p.geom, fill=-(1 << 20))  # never wins against int8
    return requantize_s8(wins.max(axis=(-2, -1)), p.rescale)


def avg_pool2d_s8(x, p: AvgPoolParams) -> np.ndarray:
    """Mean over valid taps, rounded half away from zero (about z_in)."""
    v = _i64(x) - p.z_in
    acc = _windows(v, p.geom, fill=0).sum(axis=(-2, -1))
    requant.check_int32(acc, "pool sum")
    ones = np.ones(v.shape[:2] + (1,), dtype=np.int64)
    count = _windows(ones, p.geom, fill=0).sum(axis=(-2, -1))
    q = _sym_requant(acc, _i64(p.m)[count], _i64(p.shift)[count]) + p.z_out
    return np.clip(q, p.act_min, p.act_max).astype(np.int8)


def global_avg_pool2d_s8(x, p: GlobalAvgPoolParams) -> np.ndarray:
    """(H, W, C) -> (C,) mean, rounded as avg_pool2d_s8."""
    x = _i64(x)
    if x.shape[0] * x.shape[1] != p.count:
        raise ValueError(f"global pool prepared for {p.count} positions, got {x.shape[:2]}")
    acc = (x - p.z_in).sum(axis=(0, 1))
    requant.check_int32(acc, "pool sum")
    if p.tflite:
        q = tflite_math.requantize(acc, p.m, p.shift) + p.z_out
        return np.clip(q, p.act_min, p.act_max).astype(np.int8)
    q = _sym_requant(acc, p.m, p.shift) + p.z_out
    return np.clip(q, p.act_min, p.act_max).astype(np.int8)


def global_max_pool2d_s8(x, p: RescaleParams) -> np.ndarray:
    """(H, W, C) -> (C,) max, then rescaled."""
    return requantize_s8(_i64(x).max(axis=(0, 1)), p)


def add_s8(xs: Sequence, p: AddParams) -> np.ndarray:
    """Elementwise sum of same-shape int8 tensors, TFLite integer semantics."""
    if len(xs) != len(p.z_in):
        raise ValueError(f"add prepared for {len(p.z_in)} inputs, got {len(xs)}")
    rq = tflite_math.requantize if p.tflite else requant.requantize
    total = np.zeros(np.shape(xs[0]), dtype=np.int64)
    for x, z, m, s in zip(xs, p.z_in, p.m_in, p.shift_in):
        requant.check_range((-128 - z) << p.left_shift, (127 - z) << p.left_shift,
                            "shifted add input")
        total += rq((_i64(x) - z) << p.left_shift, m, s)
        requant.check_int32(total, "sum of rescaled add inputs")
    return _rescale(total, p.m_out, p.shift_out, p.z_out, p.act_min, p.act_max, p.tflite)


def concat_s8(xs: Sequence, p: ConcatParams) -> np.ndarray:
    """Join the rescaled inputs along p.axis."""
    if len(xs) != len(p.inputs):
        raise ValueError(f"concat prepared for {len(p.inputs)} inputs, got {len(xs)}")
    return np.concatenate([requantize_s8(x, r) for x, r in zip(xs, p.inputs)], axis=p.axis)


def lut_s8(x, p: LutParams) -> np.ndarray:
    """out = table[x + 128]."""
    return p.table[_i64(x) + 128]


def softmax_s8(x, p: SoftmaxParams) -> np.ndarray:
    """Softmax over the last axis (length <= SOFTMAX_MAX_ROW), output (1/256, -128)."""
    if isinstance(p, tflite_math.TfliteSoftmaxParams):
        return tflite_math.softmax_s8(x, p)
    x = _i64(x)
    if not 1 <= x.shape[-1] <= SOFTMAX_MAX_ROW:
        raise ValueError(f"softmax row length must be 1..{SOFTMAX_MAX_ROW}, got {x.shape[-1]}")
    e = _i64(p.exp_table)[x.max(axis=-1, keepdims=True) - x]
    s = e.sum(axis=-1, keepdims=True)
    if s.size:  # the kernel sums, and scales by 256, in uint32
        top, e_max, e_min = int(s.max()), int(e.max()), int(e.min())
        if e_min < 0 or top > UINT32_MAX or 256 * e_max + top // 2 > UINT32_MAX:
            raise IntegerOverflowError(f"softmax: exp values [{e_min:,}, {e_max:,}] with row sums up "
                                       f"to {top:,} leave the kernel's uint32")
    q = (e * 256 + s // 2) // s
    return np.minimum(q + SOFTMAX_OUT_ZP, 127).astype(np.int8)


def affine_s8(x, p: AffineParams) -> np.ndarray:
    """Per-channel (last axis) clamp(z_out + ((v * m_c + off_c) >> (31 - shift_c)))."""
    v = _i64(x) - p.z_in
    worst = (128 + abs(p.z_in)) * int(np.abs(_i64(p.m)).max()) + int(np.abs(_i64(p.offset)).max())
    if worst > INT64_MAX:  # numpy's int64 would wrap as silently as the kernel's
        raise IntegerOverflowError(f"affine (x - z_in) m + offset can reach {worst:,}, over int64")
    q = (v * _i64(p.m) + _i64(p.offset)) >> (31 - _i64(p.shift))
    return np.clip(q + p.z_out, p.act_min, p.act_max).astype(np.int8)
