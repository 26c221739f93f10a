"""Pruning with fine-tuning, on the Keras model (the compress stage's TensorFlow part).

`prune_keras(model, sparsity, x, y, ...)` prunes a Keras 3 model and
fine-tunes it on labelled data with the masks re-applied after every training
step, so the pruned weights are exactly zero at the end (plain Keras 3, no
tensorflow-model-optimization, which only works with tf-keras). The masks are
`prune.magnitude_masks`, the same as one-shot pruning of a `Graph`. Load the
result with `tinycompress.frontend.from_keras`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from tinycompress.compress.prune import Sparsity, magnitude_masks
from tinycompress.errors import DataError, SpecError

Progress = Callable[[int, int], None]

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


def save_keras(model, path: str | Path) -> None:
    """Save a fine-tuned model as .keras (written to a temporary name, then renamed)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise SpecError(f"--save-model must name a .keras file, got {path}")
    # rebuilt from its config: uncompiled, so no optimizer state goes into the file
    plain = model.__class__.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    tmp = path.with_name(path.stem + ".tmp.keras")
    plain.save(tmp)
    tmp.replace(path)
