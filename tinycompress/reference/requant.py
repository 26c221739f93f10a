"""Fixed-point requantization: the arithmetic every C kernel shares.

A real multiplier `r > 0` is stored as `(m, shift)` with `m` in [2**30, 2**31)
and `r ~= m * 2**(shift - 31)`. Requantizing an int32 accumulator is a single
rounding step in 64-bit arithmetic (TFLite's "single rounding" mode):

    total = 31 - shift                      # 1 <= total <= 62
    out   = (acc * m + (1 << (total - 1))) >> total     # arithmetic shift

This is `tc_requantize()` in firmware/runtime/include/tc_requant.h, bit for bit.
The output of a layer is then `clamp(out + zero_point, act_min, act_max)`.

The kernel keeps `out` (and `out + zero_point`) in an int32, which would wrap;
this twin computes in int64 and raises IntegerOverflowError instead, so the
reference can never agree with a wrapped firmware result (`check_int32`).
"""
from __future__ import annotations

import math

import numpy as np

from tinycompress.errors import IntegerOverflowError

MIN_SHIFT, MAX_SHIFT = -31, 30
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Return (m, shift) with m in [2**30, 2**31) and real ~= m * 2**(shift-31)."""
    if not real > 0.0 or not math.isfinite(real):
        raise ValueError(f"multiplier must be positive and finite, got {real}")
    mant, exp = math.frexp(real)  # real = mant * 2**exp, mant in [0.5, 1)
    m = int(round(mant * (1 << 31)))
    if m == (1 << 31):
        m //= 2
        exp += 1
    if exp < MIN_SHIFT:  # too small to represent: the result is always 0
        return 1 << 30, MIN_SHIFT
    if exp > MAX_SHIFT:
        raise ValueError(f"multiplier {real} is too large")
    return m, exp


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier: int32 m and int32 shift arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    m = np.array([p[0] for p in pairs], dtype=np.int64).astype(np.int32)
    s = np.array([p[1] for p in pairs], dtype=np.int32)
    return m, s


def check_range(lo: int, hi: int, what: str) -> None:
    """Raise IntegerOverflowError unless [lo, hi] lies inside int32."""
    if hi > INT32_MAX:
        raise IntegerOverflowError(f"{what} reaches {hi:,}, over int32's {INT32_MAX:,}")
    if lo < INT32_MIN:
        raise IntegerOverflowError(f"{what} reaches {lo:,}, under int32's {INT32_MIN:,}")


def check_int32(a: np.ndarray, what: str) -> tuple[int, int]:
    """(min, max) of the int64 array `a`; IntegerOverflowError if a value leaves int32."""
    if a.size == 0:
        return 0, 0
    lo, hi = int(a.min()), int(a.max())
    check_range(lo, hi, what)
    return lo, hi


def _requantize64(acc, m, shift) -> tuple[np.ndarray, int, int]:
    """rq(acc) in int64 with its checked (min, max). acc must be int32-valued (the
    caller checks it) and m < 2^31, so |acc * m| + 2^61 < 2^63 cannot wrap."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    out = (acc * m + (np.int64(1) << (total - 1))) >> total
    lo, hi = check_int32(out, "requantized value")
    return out, lo, hi


def requantize(acc: np.ndarray, m, shift) -> np.ndarray:
    """int32 accumulators -> int32 requantized values (before zero point and clamp).

    `m` and `shift` broadcast against `acc` (scalars, or per output channel on the
    last axis). Raises IntegerOverflowError when a result leaves int32.
    """
    return _requantize64(acc, m, shift)[0].astype(np.int32)


def requantize_output(acc, m, shift, zero_point: int, act_min: int, act_max: int) -> np.ndarray:
    """Requantize, add the output zero point, clamp to [act_min, act_max], int8."""
    out, lo, hi = _requantize64(acc, m, shift)
    check_range(lo + zero_point, hi + zero_point, "requantized value plus output zero point")
    return np.clip(out + zero_point, act_min, act_max).astype(np.int8)
