"""Fisher-weighted rate-distortion (RD) quantization of weight matrices.

Uniform rounding picks the level nearest to each weight. The RD quantizer
(the objective of DeepCABAC: Wiedemann et al., "DeepCABAC: A universal
compression algorithm for deep neural networks", IEEE JSTSP 2020) picks for weight i the level q minimising

    F_i * (w_i - delta * q)**2 + lam * bits(q),    bits(q) = -log2 p(q)

where F_i is the diagonal of the Fisher information (how much the loss cares
about w_i), delta the uniform step of its row, and p the distribution of the
tensor's levels, re-estimated over a few passes. With a second-order view of
the loss, sum_i F_i dw_i**2 / 2 is the expected increase of the mean negative
log-likelihood (in nats), so one `lam` (nats per bit, up to the factor 2) is
comparable across layers.

Design choices (kept simple on purpose, documented here):
- delta is exactly the uniform quantizer's step (`quantize_params.
  quantize_weights`: max|w_row| / (2**(b-1) - 1), per output channel or per
  tensor), so the RD levels drop into the same integer pipeline; `lam = 0`
  reproduces uniform rounding bit for bit.
- candidates per weight: floor and ceil of w/delta, and 0. Pruned weights
  (exactly 0) stay 0.
- p(q) is estimated with add-half smoothing so an unused level has finite
  cost and can still be chosen when the distortion demands it.

Numpy only: the Fisher diagonal comes from `compress.fisher`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinycompress.compress.qparams import quantize_weights, weight_matrix

RD_ITERATIONS = 6
SMOOTHING = 0.5  # pseudo-count per level in the rate model


# ------------------------------------------------------------------ matrices

def kernel_matrix(op: str, kernel: np.ndarray) -> np.ndarray:
    """Kernel (or a Fisher array of its shape) -> matrix, rows = output channels.

    The quantizer's own `weight_matrix`, so RD and uniform levels line up.
    """
    return weight_matrix(op, kernel)


def uniform_quantize(m: np.ndarray, bits: int, per_channel: bool = True):
    """Round-to-nearest levels (int8) and step per row: the quantizer's own rule."""
    return quantize_weights(m, bits, per_channel)


# ------------------------------------------------------------------ RD core

def level_bits(q: np.ndarray, qmax: int) -> np.ndarray:
    """Code length -log2 p(level) for levels -qmax..qmax (index level + qmax)."""
    counts = np.bincount((q.ravel() + qmax).astype(np.int64), minlength=2 * qmax + 1)
    p = (counts + SMOOTHING) / (counts.sum() + SMOOTHING * counts.size)
    return -np.log2(p)


def entropy_bits(q: np.ndarray) -> float:
    """Empirical entropy of the levels in bits per weight (no smoothing)."""
    _, counts = np.unique(np.asarray(q).ravel(), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def rd_quantize(w: np.ndarray, fisher: np.ndarray, bits: int, lam: float,
                per_channel: bool = True, iterations: int = RD_ITERATIONS):
    """Fisher-weighted RD levels of matrix `w` -> (levels int8 (rows, cols), step per row).

    `fisher` has the shape of `w` (use `kernel_matrix` on both). `lam = 0`
    gives exactly `uniform_quantize`. Larger `lam` trades distortion for a
    cheaper code: more zeros, fewer distinct levels, lower entropy.
    """
    w = np.asarray(w, np.float64)
    q0, scale = uniform_quantize(w, bits, per_channel)
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    if lam == 0:
        return q0, scale
    qmax = 2 ** (bits - 1) - 1
    t = w / scale[:, None]
    cands = np.stack([np.floor(t), np.ceil(t), np.zeros_like(t)]).clip(-qmax, qmax)
    dist = np.asarray(fisher, np.float64) * ((t - cands) * scale[:, None]) ** 2
    idx = (cands + qmax).astype(np.int64)
    q = q0.astype(np.int64)
    for _ in range(iterations):
        rate = level_bits(q, qmax)[idx]
        pick = np.argmin(dist + lam * rate, axis=0)
        new = np.take_along_axis(cands, pick[None], axis=0)[0].astype(np.int64)
        new[w == 0] = 0
        if np.array_equal(new, q):
            break
        q = new
    return q.astype(np.int8), scale


# ------------------------------------------------------------------ quantizer

WeightQuantizer = Callable[[str, np.ndarray, int, bool], tuple[np.ndarray, np.ndarray]]


def rd_weight_quantizer(fisher_mats: dict[str, np.ndarray], lam: float) -> WeightQuantizer:
    """A `(name, matrix, bits, per_channel) -> (levels, w_scales)` callable for quantize().

    `fisher_mats` are Fisher arrays as weight matrices (rows = output
    channels); a layer without one is rounded uniformly.
    """
    def quantize_one(name: str, matrix: np.ndarray, bits: int, per_channel: bool):
        if name not in fisher_mats:
            return quantize_weights(matrix, bits, per_channel)
        return rd_quantize(matrix, fisher_mats[name], bits, lam, per_channel)
    return quantize_one


def lambda_scale(qgraph, fisher_mats: dict[str, np.ndarray]) -> float:
    """Natural unit of lambda: mean Fisher-weighted cost of one quantization step.

    F_i * delta_i**2 averaged over all weights with a Fisher; lambda of this
    size trades about one step of error for one bit.
    """
    costs = [(fisher_mats[qn.name] * np.square(qn.w_scales)[:, None]).ravel()
             for qn in qgraph.weight_nodes if qn.name in fisher_mats]
    return float(np.mean(np.concatenate(costs))) if costs else 0.0
