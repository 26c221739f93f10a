"""Quantization parameters: activation ranges (TFLite nudging) and weight levels.

Activations are int8 asymmetric, `real = scale * (q - zp)`. The calibrated
range is widened to include 0 so that real zero (padding, relu) is exactly
representable, then the zero point is nudged to an integer as TFLite does
(take the zero point from the end with the smaller rounding error, round,
clamp into [-128, 127]).

Weights are symmetric integer levels in [-(2^(b-1)-1), 2^(b-1)-1] with a
scale per output channel (or one per tensor): s = max|w| / (2^(b-1)-1). Zero
weights map to level 0, so pruned weights stay pruned.
"""
from __future__ import annotations

import numpy as np

from tinycompress.errors import SpecError

QMIN, QMAX = -128, 127
MIN_BITS, MAX_BITS = 2, 8


def choose_qparams(rmin: float, rmax: float) -> tuple[float, int]:
    """(scale, zero_point) for int8 covering [min(rmin, 0), max(rmax, 0)]."""
    rmin, rmax = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if rmax - rmin <= 0.0 or not np.isfinite(rmax - rmin):
        # a constant-zero tensor: any scale represents it; 1/256 keeps multipliers tame
        return 1.0 / 256.0, 0
    scale = (rmax - rmin) / (QMAX - QMIN)
    zp_from_min = QMIN - rmin / scale
    zp_from_max = QMAX - rmax / scale
    err_min = abs(QMIN) + abs(rmin / scale)
    err_max = abs(QMAX) + abs(rmax / scale)
    zp = zp_from_min if err_min < err_max else zp_from_max
    return float(scale), int(np.clip(np.round(zp), QMIN, QMAX))


def validate_bits(value, where: str = "bits") -> int:
    """Return `value` as an int in 2..8, else raise SpecError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpecError(f"{where} must be an integer from {MIN_BITS} to {MAX_BITS}, got {value!r}")
    if not MIN_BITS <= int(value) <= MAX_BITS:
        raise SpecError(f"{where} must be from {MIN_BITS} to {MAX_BITS}, got {value}")
    return int(value)


def resolve_bits(bits: int | dict[str, int], layers: list[str], default: int = 8) -> dict[str, int]:
    """{layer: bits} for every weight layer; a dict overrides `default` by name."""
    if not isinstance(bits, dict):
        b = validate_bits(bits)
        return {name: b for name in layers}
    unknown = sorted(set(bits) - set(layers))
    if unknown:
        raise SpecError(f"unknown layer name(s) in bits: {', '.join(unknown)}; "
                        f"weight layers: {', '.join(layers)}")
    return {name: validate_bits(bits.get(name, default), f"bits of {name}") for name in layers}


def weight_matrix(op: str, kernel: np.ndarray) -> np.ndarray:
    """Float kernel -> (rows = output channels, cols = fan-in in natural order)."""
    k = np.asarray(kernel)
    if op == "dense":  # (fan_in, units)
        return k.T
    if op == "conv2d":  # (kh, kw, cin, cout) -> cols (ky, kx, ci) row-major
        return k.reshape(-1, k.shape[3]).T
    if op == "depthwise_conv2d":  # (kh, kw, c, 1) -> cols (ky, kx)
        if k.shape[3] != 1:
            raise SpecError(f"depthwise depth multiplier {k.shape[3]} is not supported (only 1)")
        return k.reshape(-1, k.shape[2]).T
    raise ValueError(f"not a weight op: {op}")


def quantize_weights(matrix: np.ndarray, bits: int, per_channel: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric levels (int8, same shape) and scales (float64, one per row).

    An all-zero row takes the tensor's largest scale (any positive scale
    represents it; a shared one keeps its bias as precise as the others').
    """
    qmax = (1 << (validate_bits(bits) - 1)) - 1
    w = np.asarray(matrix, dtype=np.float64)
    amax = np.abs(w).max(axis=1) if w.size else np.zeros(w.shape[0])
    if not per_channel:
        amax = np.full_like(amax, amax.max() if amax.size else 0.0)
    fallback = amax.max() if amax.size and amax.max() > 0 else float(qmax)
    scales = np.where(amax > 0, amax, fallback) / qmax
    levels = np.clip(np.round(w / scales[:, None]), -qmax, qmax).astype(np.int8)
    return levels, scales
