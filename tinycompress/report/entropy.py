"""Zero-order entropy bound of quantized weight tensors.

The bound of one tensor is what an ideal entropy coder that knows the exact
frequency of every level (and nothing else: no context, no position) would
need to write its levels: the empirical entropy of the levels over all its
weights, zeros included,

    H0 = -sum_v p_v log2 p_v,   p_v = (count of level v) / (number of weights),

times the number of weights, in bytes (H0 * n / 8). It is a yardstick, not
a size anything executable reaches: it holds no scales, biases or row
structure, and a tensor of one single value has bound 0.
"""
from __future__ import annotations

import numpy as np


def entropy_bits_per_weight(levels) -> float:
    """Zero-order empirical entropy (bits per weight) of the integer `levels`."""
    flat = np.asarray(levels).ravel()
    if flat.size == 0:
        return 0.0
    _, counts = np.unique(flat, return_counts=True)
    p = counts / flat.size
    return float(-(p * np.log2(p)).sum() + 0.0)  # + 0.0 turns -0.0 into 0.0


def entropy_bound_bytes(levels) -> float:
    """Entropy bound of one tensor in bytes: H0 * number of weights / 8."""
    flat = np.asarray(levels).ravel()
    return entropy_bits_per_weight(flat) * flat.size / 8.0


def graph_entropy_bounds(qgraph) -> dict[str, float]:
    """Entropy bound (bytes) of every weight node's levels, by node name, in graph order."""
    return {node.name: entropy_bound_bytes(node.levels) for node in qgraph.weight_nodes}


def ratio(actual_bytes: float, bound_bytes: float) -> float | None:
    """`actual_bytes` as a multiple of the bound; None when the bound is 0 (no multiple exists)."""
    return None if bound_bytes <= 0 else float(actual_bytes) / float(bound_bytes)
