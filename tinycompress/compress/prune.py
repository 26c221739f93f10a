"""Magnitude pruning of the weight-op kernels (dense, conv2d, depthwise_conv2d).

`prune(graph, sparsity)` prunes one shot, on a `Graph`, no data needed
(`compress.finetune` prunes a Keras model and fine-tunes it with the same
masks).

Pruning removes the `k = round(sparsity * n)` weights of smallest magnitude
(ties broken by position, so the achieved sparsity is exact and deterministic).
With a single float and `scope="global"` one threshold is shared by all
kernels (layers with many redundant weights give up more); `scope="layer"`
or a dict {layer name: sparsity} prunes every listed layer to its own target.
Biases are never pruned. Weights that are already zero count as pruned.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from tinycompress.errors import SpecError
from tinycompress.ir.graph import WEIGHT_OPS, Graph

Sparsity = float | dict[str, float]


@dataclass(frozen=True)
class LayerSparsity:
    """Achieved sparsity of one kernel: `zeros` of `params` weights are zero."""

    name: str
    op: str
    params: int
    zeros: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.params if self.params else 0.0


@dataclass(frozen=True)
class PruneReport:
    """Per-layer achieved sparsity, in graph order, and the total over all kernels."""

    layers: list[LayerSparsity]

    @property
    def params(self) -> int:
        return sum(la.params for la in self.layers)

    @property
    def zeros(self) -> int:
        return sum(la.zeros for la in self.layers)

    @property
    def sparsity(self) -> float:
        return self.zeros / self.params if self.params else 0.0

    def layer(self, name: str) -> LayerSparsity:
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(name)


def validate_sparsity(value: float, where: str = "sparsity") -> float:
    """Return `value` as float if it lies in [0, 1), else raise SpecError."""
    try:
        s = float(value)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where} must be a number in [0, 1), got {value!r}") from exc
    if not 0.0 <= s < 1.0:
        raise SpecError(f"{where} must be in [0, 1) (fraction of weights set to zero), got {s}")
    return s


def _resolve_targets(names: list[str], sparsity: Sparsity, scope: str | None):
    """-> (scope, {name: target}) after validating names, values and scope."""
    if isinstance(sparsity, dict):
        if scope == "global":
            raise SpecError("per-layer sparsity (a dict) cannot use scope='global'")
        unknown = sorted(set(sparsity) - set(names))
        if unknown:
            raise SpecError(f"unknown layer name(s) in sparsity: {', '.join(unknown)}; "
                            f"prunable layers: {', '.join(names)}")
        return "layer", {k: validate_sparsity(v, f"sparsity of {k}") for k, v in sparsity.items()}
    scope = scope or "global"
    if scope not in ("global", "layer"):
        raise SpecError(f"scope must be 'global' or 'layer', got {scope!r}")
    s = validate_sparsity(sparsity)
    return scope, {n: s for n in names}


def _smallest_mask(mags: np.ndarray, k: int) -> np.ndarray:
    """Boolean keep-mask over flat `mags` that drops exactly the k smallest."""
    keep = np.ones(mags.size, dtype=bool)
    if k > 0:
        order = np.argsort(mags, kind="stable")
        keep[order[:k]] = False
    return keep


def magnitude_masks(kernels: dict[str, np.ndarray], sparsity: Sparsity,
                    scope: str | None = None) -> dict[str, np.ndarray]:
    """Keep-masks (bool, kernel shape) for magnitude pruning of named kernels.

    Layers missing from a per-layer dict get an all-True mask.
    """
    names = list(kernels)
    scope, targets = _resolve_targets(names, sparsity, scope)
    masks = {n: np.ones(k.shape, dtype=bool) for n, k in kernels.items()}
    if scope == "global" and names:
        mags = np.concatenate([np.abs(kernels[n]).ravel() for n in names])
        keep = _smallest_mask(mags, int(round(targets[names[0]] * mags.size)))
        start = 0
        for n in names:
            size = kernels[n].size
            masks[n] = keep[start:start + size].reshape(kernels[n].shape)
            start += size
        return masks
    for n, s in targets.items():
        k = kernels[n]
        masks[n] = _smallest_mask(np.abs(k).ravel(), int(round(s * k.size))).reshape(k.shape)
    return masks


def sparsity_report(graph: Graph) -> PruneReport:
    """Measure the zeros of every weight-op kernel of `graph`."""
    layers = []
    for n in graph.nodes:
        if n.op in WEIGHT_OPS:
            k = n.weights["kernel"]
            layers.append(LayerSparsity(n.name, n.op, int(k.size), int(np.count_nonzero(k == 0))))
    return PruneReport(layers)


def prune(graph: Graph, sparsity: Sparsity, scope: str | None = None) -> tuple[Graph, PruneReport]:
    """Magnitude-prune the kernels of `graph`; return a pruned copy and its report.

    sparsity: fraction in [0, 1) for all weight ops, or {layer name: fraction}.
    scope: "global" (one threshold over all kernels, default for a float) or
    "layer" (each kernel to the target; implied by a dict).
    """
    kernels = {n.name: n.weights["kernel"] for n in graph.nodes if n.op in WEIGHT_OPS}
    masks = magnitude_masks(kernels, sparsity, scope)
    out = copy.deepcopy(graph)
    for n in out.nodes:
        if n.name in masks:
            k = n.weights["kernel"]
            n.weights["kernel"] = np.where(masks[n.name], k, np.zeros_like(k))
    return out, sparsity_report(out)
