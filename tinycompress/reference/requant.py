"""Fixed-point requantization: the arithmetic every C kernel shares.

A real multiplier `r > 0` is stored as `(m, shift)` with `m` in [2**30, 2**31)
and `r ~= m * 2**(shift - 31)`. Requantizing an int32 accumulator is a single
rounding step in 64-bit arithmetic (TFLite's "single rounding" mode):

    total = 31 - shift                      # 1 <= total <= 62
    out   = (acc * m + (1 << (total - 1))) >> total     # arithmetic shift

This is `tc_requantize()` in firmware/runtime/include/tc_requant.h, bit for bit.
The output of a layer is then `clamp(out + zero_point, act_min, act_max)`.
"""
from __future__ import annotations

import math

import numpy as np

MIN_SHIFT, MAX_SHIFT = -31, 30


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


def requantize(acc: np.ndarray, m, shift) -> np.ndarray:
    """int32 accumulators -> int32 requantized values (before zero point and clamp).

    `m` and `shift` broadcast against `acc` (scalars, or per output channel on the
    last axis).
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    prod = acc * m + (np.int64(1) << (total - 1))
    return (prod >> total).astype(np.int32)


def requantize_output(acc, m, shift, zero_point: int, act_min: int, act_max: int) -> np.ndarray:
    """Requantize, add the output zero point, clamp to [act_min, act_max], int8."""
    out = requantize(acc, m, shift).astype(np.int64) + zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)
