"""Magnitude pruning of the weight-op kernels (dense, conv2d, depthwise_conv2d).

Two entry points:

- `prune(graph, sparsity)`: one shot, on a `Graph`, no data needed.
- `prune_keras(model, sparsity, x, y, ...)`: prune a Keras 3 model and fine-tune
  it on labelled data with the masks re-applied after every training step, so
  the pruned weights are exactly zero at the end (plain Keras 3, no
  tensorflow-model-optimization, which only works with tf-keras). Load the
  result with `tinycompress.frontend.keras.from_keras`.

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
from typing import Callable

import numpy as np

from tinycompress.errors import DataError, SpecError
from tinycompress.ir.graph import WEIGHT_OPS, Graph

Sparsity = float | dict[str, float]
Progress = Callable[[int, int], None]


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


# --- fine-tuning with Keras 3 -------------------------------------------------

_PRUNABLE_KERAS = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv1D",
                   "SeparableConv2D")


def _keras_kernels(model) -> dict[str, list]:
    """{layer name: [kernel variables]} of the prunable layers of a Keras model."""
    found = {}
    for layer in model._flatten_layers(include_self=False):
        if type(layer).__name__ not in _PRUNABLE_KERAS:
            continue
        kern = [v for v in layer.trainable_weights if v.path.split("/")[-1].endswith("kernel")]
        if kern:
            found[layer.name] = kern
    return found


def _keras_masks(kvars: dict[str, list], sparsity: Sparsity, scope: str | None) -> dict:
    """Masks per kernel variable path; a layer's sparsity applies to all its kernels."""
    arrays, owner = {}, {}
    for layer, variables in kvars.items():
        for v in variables:
            arrays[v.path], owner[v.path] = np.asarray(v.numpy()), layer
    if isinstance(sparsity, dict):
        unknown = sorted(set(sparsity) - set(kvars))
        if unknown:
            raise SpecError(f"unknown layer name(s) in sparsity: {', '.join(unknown)}; "
                            f"prunable layers: {', '.join(kvars)}")
        sparsity = {p: sparsity[owner[p]] for p in arrays if owner[p] in sparsity}
    return magnitude_masks(arrays, sparsity, scope)


def _infer_loss(model, y: np.ndarray):
    """Classification loss for integer labels or one-hot targets, else MSE."""
    import keras

    last = model.layers[-1]
    probs = getattr(getattr(last, "activation", None), "__name__", "") in ("softmax", "sigmoid")
    out_dim = int(model.output_shape[-1]) if model.output_shape[-1] else 1
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and out_dim > 1:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
    if y.ndim == 2 and y.shape[1] == out_dim and out_dim > 1 and np.all((y == 0) | (y == 1)):
        return keras.losses.CategoricalCrossentropy(from_logits=not probs)
    return keras.losses.MeanSquaredError()


def _mask_callback(kvars: dict[str, list], masks: dict, total: int, progress: Progress | None):
    """A Keras callback that re-applies the masks after every batch and reports progress."""
    import keras

    pairs = [(v, keras.ops.convert_to_tensor(masks[v.path], dtype=v.dtype))
             for vs in kvars.values() for v in vs]

    class _ApplyMasks(keras.callbacks.Callback):
        done = 0

        def apply_masks(self):
            for v, m in pairs:
                v.assign(v * m)

        def on_train_batch_end(self, batch, logs=None):
            self.apply_masks()
            self.done += 1
            if progress is not None:
                progress(self.done, total)

    return _ApplyMasks()


def prune_keras(model, sparsity: Sparsity, x, y, epochs: int = 2, batch_size: int = 32,
                progress: Progress | None = None, scope: str | None = None,
                learning_rate: float = 1e-3):
    """Prune a Keras 3 model and fine-tune it with the masks held at zero.

    Returns a pruned clone (the given model is not modified). `progress(done,
    total)` is called after every training batch. Loss: sparse/categorical
    cross-entropy for labels or one-hot targets (logits unless the last layer
    ends in softmax/sigmoid), else mean squared error.
    """
    import keras

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"fine-tuning needs as many labels as samples, got {len(x)} and {len(y)}")
    if epochs < 0 or batch_size < 1:
        raise SpecError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    kvars = _keras_kernels(pruned)
    masks = _keras_masks(kvars, sparsity, scope)
    cb = _mask_callback(kvars, masks, epochs * -(-len(x) // batch_size), progress)
    cb.apply_masks()  # prune before the first step
    if epochs:
        keras.utils.set_random_seed(0)  # deterministic shuffling and dropout
        pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_infer_loss(pruned, y))
        pruned.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[cb],
                   shuffle=True)
        cb.apply_masks()  # the last step's update is already masked; this is for clarity
    return pruned
