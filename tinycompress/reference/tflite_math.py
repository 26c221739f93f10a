"""TFLite's integer arithmetic, for int8 models read from .tflite files (arithmetic "tflite").

An int8 `.tflite` keeps its results only if it is computed as TFLite (Micro)
computes it. Where tinycompress's own arithmetic (reference.requant) differs,
these are the numpy twins of TFLite's reference kernels (the C twins are in
firmware/runtime/include/tc_requant.h and src/tc_softmax_tflite_s8.c):

- multipliers: `QuantizeMultiplier` (frexp, mantissa rounded half away from
  zero, a shift under -31 gives multiplier 0);
- requantization: `MultiplyByQuantizedMultiplier`, i.e. two roundings:
      srdhm(a, b)  = round_half_away(a * b / 2^31)   (SaturatingRoundingDoublingHighMul)
      rdbp(x, e)   = round_half_away(x / 2^e)        (RoundingDivideByPOT)
      rq(acc, m, s) = rdbp(srdhm(acc * 2^max(s, 0), m), max(-s, 0))
- softmax: gemmlowp's fixed-point exp and reciprocal (`tflite_softmax`).
Saturation only happens at srdhm(INT32_MIN, INT32_MIN), which no int8 model
reaches; int32 ranges are checked as in reference.requant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinycompress.reference import requant

INT32_MIN, INT32_MAX = requant.INT32_MIN, requant.INT32_MAX
SOFTMAX_DIFF_INT_BITS = 5  # kScaledDiffIntegerBits
SOFTMAX_ACC_INT_BITS = 12  # kAccumulationIntegerBits
SOFTMAX_OUT_BITS = 8


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (m, shift), real ~= m * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    if not real > 0.0 or not math.isfinite(real):
        raise ValueError(f"multiplier must be positive and finite, got {real}")
    mant, shift = math.frexp(real)
    m = int(math.floor(mant * (1 << 31) + 0.5))  # std::round: half away from zero (mant > 0)
    if m == 1 << 31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier {real} is too large")
    return m, shift


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier: int32 m and int32 shift arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    return (np.array([p[0] for p in pairs], np.int64).astype(np.int32),
            np.array([p[1] for p in pairs], np.int32))


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """TFLite's MEAN (QuantizedMeanOrSum): the multiplier of s_in/s_out divided by the count,
    2^shift at a time with shift = floor(log2 count) (at most 32 and 31 + the shift)."""
    m, shift = quantize_multiplier(real)
    k = min(int(count).bit_length() - 1, 32, 31 + shift)
    return (m << k) // int(count), shift - k


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values (int64 arrays in and out)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rdbp(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x, e = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def requantize(acc, m, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier in int64; IntegerOverflowError where an int32 would wrap."""
    acc = np.asarray(acc, np.int64)
    shift = np.asarray(shift, np.int64)
    shifted = acc << np.maximum(shift, 0)
    requant.check_int32(shifted, "requantization input shifted left")
    out = rdbp(srdhm(shifted, m), np.maximum(-shift, 0))
    requant.check_int32(out, "requantized value")
    return out


def requantize_output(acc, m, shift, zero_point: int, act_min: int, act_max: int) -> np.ndarray:
    """Requantize, add the output zero point, clamp, int8 (TFLite's order)."""
    out = requantize(acc, m, shift)
    return np.clip(out + int(zero_point), act_min, act_max).astype(np.int8)


TABLE_ACTIVATIONS = ("relu", "relu6", "leaky_relu")


def activation_table(name: str, s_in: float, z_in: int, s_out: float, z_out: int,
                     alpha: float = 0.0) -> np.ndarray:
    """int8 (256,) table, index x + 128, of TFLite's integer RELU, RELU6 or LEAKY_RELU:
    rq(x - z_in) by s_in/s_out (by s_in*alpha/s_out below zero for LEAKY_RELU, both
    ratios formed in float32 as TFLite does) + z_out, clamped to the activation's range."""
    f32 = np.float32
    v = np.arange(-128, 128, dtype=np.int64) - int(z_in)
    identity = quantize_multiplier(float(f32(s_in) / f32(s_out)))
    y = requantize(v, *identity)
    lo, hi = -128, 127
    if name == "leaky_relu":
        below = quantize_multiplier(float(f32(f32(s_in) * f32(alpha)) / f32(s_out)))
        y = np.where(v >= 0, y, requantize(v, *below))
    elif name in ("relu", "relu6"):
        lo = max(lo, int(z_out))
        if name == "relu6":
            hi = min(hi, int(z_out) + int(np.round(f32(6.0) / f32(s_out))))
    else:
        raise ValueError(f"no TFLite table for activation {name!r}; have {TABLE_ACTIVATIONS}")
    return np.clip(y + int(z_out), lo, hi).astype(np.int8)


def _sat_shift_left(x: int, e: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0."""
    threshold = (1 << (31 - e)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << e


def _mul(a: int, b: int) -> int:
    return int(srdhm(a, b))


def _rdbp(x: int, e: int) -> int:
    return int(rdbp(x, e))


def _exp_near_zero(a: int) -> int:
    """gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in and out)."""
    constant_term, one_third = 1895147668, 715827883  # exp(-1/8), 1/3 in Q0.31
    x = a + (1 << 28)  # + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = _rdbp(x4, 2)
    poly = _rdbp(_mul(x4_over_4 + x3, one_third) + x2, 1)
    return constant_term + _mul(constant_term, x + poly)


# (exponent, Q0.31 of exp(-2^exponent)) of gemmlowp's barrel shifter
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, int_bits: int = SOFTMAX_DIFF_INT_BITS) -> int:
    """gemmlowp exp_on_negative_values: Q(int_bits).(31-int_bits) <= 0 -> Q0.31."""
    frac_bits = 31 - int_bits
    quarter = 1 << (frac_bits - 2)
    mod_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_near_zero(_sat_shift_left(mod_minus_quarter, int_bits))
    remainder = mod_minus_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if int_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = _mul(result, multiplier)
    if int_bits > 5 and a < -(1 << (36 - int_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def one_over_one_plus_x(a: int) -> int:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 x in [0, 1) -> Q0.31 1/(1+x)."""
    s = a + INT32_MAX  # RoundingHalfSum(a, One()): (s + sign(s)) / 2, truncated toward zero
    half_denominator = (s + 1) // 2 if s >= 0 else -((1 - s) // 2)
    x = 1515870810 + _mul(half_denominator, -1010580540)  # 48/17 - 32/17 d, Q2.29
    for _ in range(3):
        one_minus = (1 << 29) - _mul(half_denominator, x)
        x = x + _sat_shift_left(_mul(x, one_minus), 2)
    return _sat_shift_left(x, 1)


def reciprocal(x: int, int_digits: int) -> tuple[int, int]:
    """TFLite GetReciprocal: (Q0.31 scale, num_bits_over_unit) for a positive Q(int_digits) x."""
    headroom_plus_one = 32 - int(x).bit_length()  # CountLeadingZeros of the uint32
    shifted_minus_one = ((x << headroom_plus_one) - (1 << 31)) & 0xFFFFFFFF
    if shifted_minus_one >= 1 << 31:
        shifted_minus_one -= 1 << 32
    return one_over_one_plus_x(shifted_minus_one), int_digits - headroom_plus_one


@dataclass(frozen=True)
class TfliteSoftmaxParams:
    """Int8 softmax as TFLite computes it, its exp values tabulated by d = max - x.

    exp_table[d]: exp_on_negative_values of the rescaled difference -d (Q0.31), 0 for
    d beyond TFLite's -diff_min (TFLite skips those values: they add nothing to the
    sum and come out -128, as a 0 entry makes them). The C kernel is tc_softmax_s8
    built with TC_ARITHMETIC_TFLITE: the same table, so codegen treats both alike.
    """

    exp_table: np.ndarray  # int32 (256,)


def prepare_softmax(s_in: float, beta: float = 1.0) -> TfliteSoftmaxParams:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius, then the exp tables."""
    real = min(float(beta) * float(np.float32(s_in)) * (1 << (31 - SOFTMAX_DIFF_INT_BITS)),
               float((1 << 31) - 1))
    m, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << SOFTMAX_DIFF_INT_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_INT_BITS))
                        / (1 << left_shift))
    exp0 = np.zeros(256, np.int64)
    for d in range(min(radius, 255) + 1):
        rescaled = int(srdhm(-d * (1 << left_shift), m))
        exp0[d] = exp_on_negative_values(rescaled)
    return TfliteSoftmaxParams(exp0.astype(np.int32))


def softmax_s8(x, p: TfliteSoftmaxParams) -> np.ndarray:
    """TFLite reference int8 softmax over the last axis; output scale 1/256, zero point -128."""
    x = np.asarray(x, np.int64)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, np.int8)
    table = np.asarray(p.exp_table, np.int64)
    for i, row in enumerate(flat):
        e = table[int(row.max()) - row]
        total = int(rdbp(e, SOFTMAX_ACC_INT_BITS).sum())  # gemmlowp Rescale<12>: Q12.19
        requant.check_int32(np.array([total]), "softmax sum of exps")
        scale, bits_over_unit = reciprocal(total, SOFTMAX_ACC_INT_BITS)
        q = rdbp(srdhm(scale, e), bits_over_unit + 31 - SOFTMAX_OUT_BITS)
        out[i] = np.clip(q - 128, -128, 127)
    return out.reshape(x.shape)
