"""Prepare step of the non-weight ops: real scales -> integer Params, once, at build time.

TFLite-Micro split: `prepare_<op>(real scales, zero points, attrs)` does all
the quantization arithmetic (float and exact-fraction multipliers, tables,
pool geometry) and returns a frozen `<Op>Params` of ints and int arrays;
`tinycompress.reference.int_eval` runs the integer loops on them, and
codegen writes the same Params into the C `tc_<op>_params` structs. The
formulas the Params serve are in int_eval's docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from tinycompress.reference import requant, tflite_math

ADD_LEFT_SHIFT = 20
ADD_MAX_INPUTS = 16
SOFTMAX_EXP_BITS = 20
SOFTMAX_MAX_ROW = 2047
SOFTMAX_OUT_SCALE = 1.0 / 256.0
SOFTMAX_OUT_ZP = -128
AFFINE_MAX_TOTAL = 38
AFFINE_MAX_RATIO = float(1 << 14)
AFFINE_MAX_OFFSET = float(1 << 23)


# ----------------------------------------------------------------- Params

@dataclass(frozen=True)
class PadParams:
    top: int
    bottom: int
    left: int
    right: int
    value: int  # int8 fill, the input zero point


@dataclass(frozen=True)
class RescaleParams:
    """Requantize op, and the rescale step of max pools and concat inputs."""

    z_in: int
    m: int  # int32 multiplier in [2^30, 2^31)
    shift: int
    z_out: int
    act_min: int = -128
    act_max: int = 127
    tflite: bool = False  # TFLite's double rounding (reference.tflite_math)


@dataclass(frozen=True)
class PoolGeometry:
    pool_h: int
    pool_w: int
    stride_h: int
    stride_w: int
    pad_top: int  # implicit 'same' padding; padded taps are skipped
    pad_left: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int


@dataclass(frozen=True)
class MaxPoolParams:
    geom: PoolGeometry
    rescale: RescaleParams


@dataclass(frozen=True)
class AvgPoolParams:
    geom: PoolGeometry
    z_in: int
    m: np.ndarray  # int32 (pool_h*pool_w + 1,), indexed by valid-tap count (0 unused)
    shift: np.ndarray  # int32, same shape
    z_out: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class GlobalAvgPoolParams:
    count: int  # H * W
    z_in: int
    m: int
    shift: int
    z_out: int
    act_min: int
    act_max: int
    tflite: bool = False  # TFLite's MEAN: tflite_math.requantize(sum, m, shift), m from s_in/s_out/count


@dataclass(frozen=True)
class AddParams:
    z_in: tuple[int, ...]
    m_in: tuple[int, ...]
    shift_in: tuple[int, ...]
    left_shift: int
    m_out: int
    shift_out: int
    z_out: int
    act_min: int
    act_max: int
    tflite: bool = False  # TFLite's multipliers and double rounding


@dataclass(frozen=True)
class ConcatParams:
    axis: int  # of the unbatched tensor; negative counts from the end
    inputs: tuple[RescaleParams, ...]


@dataclass(frozen=True)
class LutParams:
    table: np.ndarray  # int8 (256,), index x + 128


@dataclass(frozen=True)
class SoftmaxParams:
    exp_table: np.ndarray  # int32 (256,), index max - x


@dataclass(frozen=True)
class AffineParams:
    z_in: int
    m: np.ndarray  # int32 (C,), signed
    shift: np.ndarray  # int32 (C,), 31 - shift <= AFFINE_MAX_TOTAL
    offset: np.ndarray  # int64 (C,), rounding half included
    z_out: int
    act_min: int
    act_max: int


# ----------------------------------------------------------------- helpers

def round_half_away(v) -> np.ndarray:
    """Round to nearest, ties away from zero (float in, int64 out)."""
    v = np.asarray(v, dtype=np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def _multiplier_up(real: Fraction) -> tuple[int, int]:
    """(m, shift) with m in [2^30, 2^31) and m * 2^(shift-31) >= real, the least such m."""
    if real <= 0:
        raise ValueError(f"multiplier must be positive, got {float(real)}")
    shift = math.frexp(float(real))[1]
    while True:
        total = 31 - shift
        m = math.ceil(real * (Fraction(2) ** total))
        if m >= (1 << 31):
            shift += 1
        elif m < (1 << 30):
            shift -= 1
        else:
            break
    if not requant.MIN_SHIFT <= shift <= requant.MAX_SHIFT:
        raise ValueError(f"multiplier {float(real)} out of range")
    return m, shift


def _geometry(in_shape, pool, strides, padding: str) -> PoolGeometry:
    in_h, in_w = int(in_shape[0]), int(in_shape[1])
    (ph, pw), (sh, sw) = pool, strides
    if padding == "valid":
        out_h, out_w, pt, pl = (in_h - ph) // sh + 1, (in_w - pw) // sw + 1, 0, 0
    elif padding == "same":
        out_h, out_w = -(-in_h // sh), -(-in_w // sw)
        pt = max((out_h - 1) * sh + ph - in_h, 0) // 2
        pl = max((out_w - 1) * sw + pw - in_w, 0) // 2
    else:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"pool {pool} does not fit input {in_shape[:2]}")
    return PoolGeometry(ph, pw, sh, sw, pt, pl, in_h, in_w, out_h, out_w)


# ----------------------------------------------------------------- prepare

def prepare_pad(pads, z_in: int) -> PadParams:
    """pads = ((top, bottom), (left, right)); fill with the input zero point."""
    (top, bottom), (left, right) = pads
    return PadParams(int(top), int(bottom), int(left), int(right), int(z_in))


def prepare_requantize(s_in: float, z_in: int, s_out: float, z_out: int,
                       act_min: int = -128, act_max: int = 127,
                       tflite: bool = False) -> RescaleParams:
    """Rescale a tensor from (s_in, z_in) to (s_out, z_out)."""
    quantize = tflite_math.quantize_multiplier if tflite else requant.quantize_multiplier
    m, shift = quantize(float(s_in) / float(s_out))
    return RescaleParams(int(z_in), m, shift, int(z_out), int(act_min), int(act_max), tflite)


def prepare_max_pool2d(in_shape, pool, strides, padding: str, s_in: float, z_in: int,
                       s_out: float, z_out: int, act_min: int = -128,
                       act_max: int = 127) -> MaxPoolParams:
    """Max pool over (H, W); in_shape = (H, W, C)."""
    return MaxPoolParams(_geometry(in_shape, pool, strides, padding),
                         prepare_requantize(s_in, z_in, s_out, z_out, act_min, act_max))


def prepare_avg_pool2d(in_shape, pool, strides, padding: str, s_in: float, z_in: int,
                       s_out: float, z_out: int, act_min: int = -128,
                       act_max: int = 127) -> AvgPoolParams:
    """Average pool (Keras: 'same' divides by the count of valid taps)."""
    geom = _geometry(in_shape, pool, strides, padding)
    n_max = geom.pool_h * geom.pool_w
    ratio = Fraction(float(s_in)) / Fraction(float(s_out))
    pairs = [(0, 0)] + [_multiplier_up(ratio / n) for n in range(1, n_max + 1)]
    m = np.array([p[0] for p in pairs], dtype=np.int64).astype(np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return AvgPoolParams(geom, int(z_in), m, shift, int(z_out), int(act_min), int(act_max))


def prepare_global_avg_pool2d(in_shape, s_in: float, z_in: int, s_out: float, z_out: int,
                              act_min: int = -128, act_max: int = 127,
                              tflite: bool = False) -> GlobalAvgPoolParams:
    """Mean over H and W of an (H, W, C) tensor, rounded as avg_pool2d (or as TFLite's MEAN)."""
    count = int(in_shape[0]) * int(in_shape[1])
    if tflite:
        m, shift = tflite_math.mean_multiplier(float(s_in) / float(s_out), count)
        return GlobalAvgPoolParams(count, int(z_in), m, shift, int(z_out), int(act_min),
                                   int(act_max), True)
    m, shift = _multiplier_up(Fraction(float(s_in)) / (Fraction(float(s_out)) * count))
    return GlobalAvgPoolParams(count, int(z_in), m, shift, int(z_out), int(act_min),
                               int(act_max))


def prepare_global_max_pool2d(s_in: float, z_in: int, s_out: float, z_out: int,
                              act_min: int = -128, act_max: int = 127) -> RescaleParams:
    """Max over H and W, then rescaled (exact identity for equal scales)."""
    return prepare_requantize(s_in, z_in, s_out, z_out, act_min, act_max)


def prepare_add(s_ins: Sequence[float], z_ins: Sequence[int], s_out: float, z_out: int,
                act_min: int = -128, act_max: int = 127, tflite: bool = False) -> AddParams:
    """Elementwise sum of 2..16 same-shape tensors, each with its own scale."""
    if not 2 <= len(s_ins) <= ADD_MAX_INPUTS or len(s_ins) != len(z_ins):
        raise ValueError(f"add needs 2..{ADD_MAX_INPUTS} inputs with one zero point each")
    quantize = tflite_math.quantize_multiplier if tflite else requant.quantize_multiplier
    twice_max = 2.0 * max(float(s) for s in s_ins)
    pairs = [quantize(float(s) / twice_max) for s in s_ins]
    m_out, shift_out = quantize(twice_max / ((1 << ADD_LEFT_SHIFT) * float(s_out)))
    return AddParams(tuple(int(z) for z in z_ins), tuple(p[0] for p in pairs),
                     tuple(p[1] for p in pairs), ADD_LEFT_SHIFT, m_out, shift_out,
                     int(z_out), int(act_min), int(act_max), tflite)


def prepare_concat(s_ins: Sequence[float], z_ins: Sequence[int], s_out: float, z_out: int,
                   axis: int = -1, tflite: bool = False) -> ConcatParams:
    """Join along `axis`, rescaling every input into the output scale."""
    return ConcatParams(int(axis), tuple(prepare_requantize(s, z, s_out, z_out, tflite=tflite)
                                         for s, z in zip(s_ins, z_ins, strict=True)))


def prepare_lut(fn: Callable[[np.ndarray], np.ndarray], s_in: float, z_in: int,
                s_out: float, z_out: int) -> LutParams:
    """Tabulate out = quantize(fn(dequantize(x))) for all 256 int8 inputs."""
    x = np.arange(-128, 128, dtype=np.float64)
    y = np.asarray(fn(float(s_in) * (x - int(z_in))), dtype=np.float64)
    q = round_half_away(y / float(s_out)) + int(z_out)
    return LutParams(np.clip(q, -128, 127).astype(np.int8))


ACTIVATION_FNS = {
    "linear": lambda x, a: x,
    "relu": lambda x, a: np.maximum(x, 0.0),
    "relu6": lambda x, a: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x, a: np.where(x >= 0.0, x, a * x),
    "sigmoid": lambda x, a: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda x, a: np.tanh(x),
}


def prepare_activation(name: str, s_in: float, z_in: int, s_out: float, z_out: int,
                       alpha: float = 0.0) -> LutParams:
    """LUT of a named elementwise activation (graph.ACTIVATIONS except softmax)."""
    if name not in ACTIVATION_FNS:
        raise ValueError(f"no table for activation {name!r}; have {sorted(ACTIVATION_FNS)}")
    fn = ACTIVATION_FNS[name]
    return prepare_lut(lambda x: fn(x, float(alpha)), s_in, z_in, s_out, z_out)


def prepare_softmax(s_in: float, z_in: int, s_out: float = SOFTMAX_OUT_SCALE,
                    z_out: int = SOFTMAX_OUT_ZP, beta: float = 1.0) -> SoftmaxParams:
    """Softmax over the last axis; output must be (1/256, -128). z_in cancels out."""
    if float(s_out) != SOFTMAX_OUT_SCALE or int(z_out) != SOFTMAX_OUT_ZP:
        raise ValueError(f"softmax output must have scale 1/256 and zero point -128, "
                         f"got {s_out}, {z_out}")
    d = np.arange(256, dtype=np.float64)
    e = round_half_away(np.exp(-float(beta) * float(s_in) * d) * (1 << SOFTMAX_EXP_BITS))
    return SoftmaxParams(e.astype(np.int32))


def prepare_affine(scale, offset, s_in: float, z_in: int, s_out: float, z_out: int,
                   act_min: int = -128, act_max: int = 127) -> AffineParams:
    """Per-channel y = scale_c * x + offset_c (standalone BatchNorm), channel last."""
    ratios = np.asarray(scale, dtype=np.float64) * float(s_in) / float(s_out)
    offs = np.asarray(offset, dtype=np.float64) / float(s_out)
    if ratios.shape != offs.shape or ratios.ndim != 1:
        raise ValueError("affine scale and offset must be 1-D of equal length")
    if not np.all(np.isfinite(ratios)) or np.any(np.abs(ratios) > AFFINE_MAX_RATIO):
        raise ValueError(f"affine scale*s_in/s_out must be finite and <= {AFFINE_MAX_RATIO}")
    cols = [_affine_channel(float(r), float(o)) for r, o in zip(ratios, offs)]
    m, shift, off = (np.array(c) for c in zip(*cols))
    return AffineParams(int(z_in), m.astype(np.int32), shift.astype(np.int32),
                        off.astype(np.int64), int(z_out), int(act_min), int(act_max))


def _affine_channel(ratio: float, off: float) -> tuple[int, int, int]:
    """(signed m, shift, int64 offset with rounding half) of one channel."""
    min_shift = 31 - AFFINE_MAX_TOTAL
    if ratio == 0.0:
        m, shift = 0, min_shift
    else:
        m, shift = requant.quantize_multiplier(abs(ratio))
        if shift < min_shift:  # keep t <= AFFINE_MAX_TOTAL: denormalized m
            m, shift = int(round(abs(ratio) * 2.0 ** AFFINE_MAX_TOTAL)), min_shift
    total = 31 - shift
    off = min(max(off, -AFFINE_MAX_OFFSET), AFFINE_MAX_OFFSET)
    off_q = math.floor(Fraction(off) * (1 << total) + Fraction(1, 2)) + (1 << (total - 1))
    return (m if ratio >= 0 else -m), shift, off_q


def concat_sizes(shapes: Sequence[Sequence[int]], axis: int) -> tuple[int, tuple[int, ...]]:
    """(outer, inner_sizes) of tc_concat_params: dims before the axis, each input's from it on."""
    axis = axis % len(shapes[0])
    return math.prod(shapes[0][:axis]), tuple(math.prod(s[axis:]) for s in shapes)
