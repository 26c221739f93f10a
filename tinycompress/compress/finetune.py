"""Pruning with fine-tuning, on the Keras model (the compress stage's TensorFlow part).

`prune_keras(model, sparsity, x, y, ...)` prunes a Keras 3 model and
fine-tunes it on labelled data with the masks re-applied after every training
step, so the pruned weights are exactly zero at the end (plain Keras 3, no
tensorflow-model-optimization, which only works with tf-keras). The masks are
`prune.magnitude_masks`, the same as one-shot pruning of a `Graph`. Load the
result with `tinycompress.frontend.from_keras`.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

import numpy as np

from tinycompress.compress.outputs import check_output_file
from tinycompress.compress.prune import Sparsity, magnitude_masks
from tinycompress.errors import DataError, OutputPathError, SpecError

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


def _out_dim(model) -> int:
    return int(model.output_shape[-1]) if model.output_shape[-1] else 1


def _class_labels(y: np.ndarray, out_dim: int) -> bool:
    """Whether `y` holds class indices (sparse cross-entropy) for `out_dim` outputs."""
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and out_dim > 1


def check_labels(model, y: np.ndarray) -> None:
    """DataError naming the labels outside the model's classes 0..C-1 (C = its outputs);
    TensorFlow would stop mid-epoch with a page-long error instead."""
    out_dim = _out_dim(model)
    if not _class_labels(y, out_dim):
        return
    bad = np.unique(y[(y < 0) | (y >= out_dim)])
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise DataError(f"fine-tuning labels {shown} are outside the model's {out_dim} classes "
                        f"(0..{out_dim - 1})")


def _infer_loss(model, y: np.ndarray):
    """Classification loss for integer labels or one-hot targets, else MSE."""
    import keras

    last = model.layers[-1]
    probs = getattr(getattr(last, "activation", None), "__name__", "") in ("softmax", "sigmoid")
    out_dim = _out_dim(model)
    if _class_labels(y, out_dim):
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
                learning_rate: float = 1e-3, validation: tuple | None = None,
                patience: int = 1):
    """Prune a Keras 3 model and fine-tune it with the masks held at zero.

    Returns a pruned clone (the given model is not modified). `progress(done,
    total)` is called after every training batch. Loss: sparse/categorical
    cross-entropy for labels or one-hot targets (logits unless the last layer
    ends in softmax/sigmoid), else mean squared error. With `validation`
    (x, y), training stops early once the validation loss has not improved
    for `patience` epochs, keeping the best epoch's weights (masked too).
    """
    import keras

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"fine-tuning needs as many labels as samples, got {len(x)} and {len(y)}")
    if epochs < 0 or batch_size < 1:
        raise SpecError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    check_labels(model, y)
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    kvars = _keras_kernels(pruned)
    masks = _keras_masks(kvars, sparsity, scope)
    cb = _mask_callback(kvars, masks, epochs * -(-len(x) // batch_size), progress)
    cb.apply_masks()  # prune before the first step
    if epochs:
        keras.utils.set_random_seed(0)  # deterministic shuffling and dropout
        pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_infer_loss(pruned, y))
        callbacks, val = [cb], None
        if validation is not None:
            val = (np.asarray(validation[0]), np.asarray(validation[1]))
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True))
        pruned.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks,
                   shuffle=True, validation_data=val)
        cb.apply_masks()  # the last step's update is already masked; this is for clarity
    return pruned


def check_save_path(path: str | Path) -> None:
    """SpecError unless `path` names a .keras file; OutputPathError unless it can be written."""
    path = Path(path)
    if path.suffix != ".keras":
        raise SpecError(f"--save-model must name a .keras file, got {path}")
    check_output_file(path, "--save-model")


def save_keras(model, path: str | Path) -> None:
    """Save a fine-tuned model as .keras (written to a temporary name, then renamed)."""
    path = Path(path)
    check_save_path(path)
    # rebuilt from its config: uncompiled, so no optimizer state goes into the file
    plain = model.__class__.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    tmp = path.with_name(path.stem + ".tmp.keras")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        plain.save(tmp)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputPathError(f"--save-model {path}: cannot write ({exc.strerror or exc})") from exc
