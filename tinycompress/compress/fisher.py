"""The diagonal of the empirical Fisher information, for the rate-distortion quantizer.

F_i = mean over samples of (d log p(y|x) / d w_i)**2: how much the loss
cares about weight i. Computed on the Keras model (the only part of the
compress stage besides fine-tuning that runs TensorFlow), then mapped onto
the graph's BatchNorm-folded kernels and reshaped to weight matrices.
"""
from __future__ import annotations

import numpy as np

from tinycompress.compress.rd import kernel_matrix
from tinycompress.ir.graph import WEIGHT_OPS, Graph, Node


def _log_likelihood(model, x, y):
    """Per-sample log p(y|x) (tensor, shape (B,)); softmax output or logits."""
    import keras
    import tensorflow as tf

    out = model(x, training=False)
    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.softmax:
        logp = tf.math.log(tf.clip_by_value(out, 1e-12, 1.0))
    else:
        logp = tf.nn.log_softmax(out, axis=-1)
    return tf.gather(logp, y, axis=1, batch_dims=1)


def fisher_diagonal(model, x, y=None, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Diagonal Fisher of every layer kernel: mean over samples of (d log p(y|x) / dw)**2.

    Returns {Keras layer name: array of the kernel's shape} for layers with a
    `kernel` (Dense, Conv2D, DepthwiseConv2D...). With labels `y` (integers or
    one-hot) this is the empirical Fisher; with `y=None` the model's own
    argmax predictions are used as labels (a one-sample stand-in for the true
    Fisher that needs no labels). Per-sample gradients come from a vectorised
    Jacobian, so the mean of squares is exact, not a mini-batch approximation.

    Speed: the Jacobian is traced once, as a tf.function of fixed batch shape
    (tracing pfor costs more than running it), and every batch reuses it; the
    last batch is padded and its padding weighted 0. Squares are summed in
    float64 in the graph, as before in numpy.
    """
    import tensorflow as tf

    x = np.asarray(x, np.float32)
    if y is None:
        y = np.argmax(model.predict(x, batch_size=256, verbose=0), axis=-1)
    y = np.asarray(y)
    y = np.argmax(y, axis=-1) if y.ndim == 2 else y.astype(np.int64)
    layers = [la for la in model.layers if getattr(la, "kernel", None) is not None]
    kernels = [la.kernel for la in layers]
    batch = max(1, min(batch_size, len(x)))
    squares = _squared_jacobian_fn(model, kernels, batch, x.shape[1:])
    acc = [np.zeros(tuple(k.shape), np.float64) for k in kernels]
    for start in range(0, len(x), batch):
        xb, yb, wb = _padded_batch(x, y, start, batch)
        for a, sq in zip(acc, squares(tf.constant(xb), tf.constant(yb), tf.constant(wb))):
            a += sq.numpy()
    return {la.name: a / len(x) for la, a in zip(layers, acc)}


def _squared_jacobian_fn(model, kernels, batch: int, sample_shape):
    """tf.function (x, y, weights) -> per kernel, sum_i weights[i] * (d log p(y_i|x_i) / dw)**2."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([batch, *sample_shape], tf.float32),
                                  tf.TensorSpec([batch], tf.int64),
                                  tf.TensorSpec([batch], tf.float64)])
    def squares(xb, yb, wb):
        with tf.GradientTape() as tape:
            ll = _log_likelihood(model, xb, yb)
        jac = tape.jacobian(ll, kernels, experimental_use_pfor=True)
        return [tf.tensordot(wb, tf.square(tf.cast(j, tf.float64)), axes=1) for j in jac]
    return squares


def _padded_batch(x, y, start: int, batch: int):
    """Samples start..start+batch, the last batch padded with its first sample at weight 0."""
    xb, yb = x[start:start + batch], y[start:start + batch].astype(np.int64)
    wb = np.ones(batch, np.float64)
    pad = batch - len(xb)
    if pad:
        wb[len(xb):] = 0.0
        xb = np.concatenate([xb, np.repeat(xb[:1], pad, axis=0)])
        yb = np.concatenate([yb, np.repeat(yb[:1], pad)])
    return xb, yb, wb


def _fold_factor(folded: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Per-output-channel s with folded ~= raw * s (BatchNorm folding scales channels)."""
    f = folded.reshape(-1, folded.shape[-1]) if folded.ndim > 1 else folded[None]
    r = raw.reshape(-1, raw.shape[-1]) if raw.ndim > 1 else raw[None]
    den = np.square(r).sum(axis=0)
    return np.where(den > 0, (f * r).sum(axis=0) / np.where(den > 0, den, 1.0), 1.0)


def fisher_for_graph(graph: Graph, model, fisher: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map per-Keras-layer Fisher onto the graph's (possibly BN-folded) kernels.

    BatchNorm folding turns kernel W into W' = W * s per output channel. Since
    dL/dW' = dL/dW / s, the Fisher of W' is F / s**2 (exact for the diagonal).
    `s` is recovered from the two kernels by least squares, so this works for
    any per-channel folding the loader did; channels with s = 0 keep F. Depth-
    wise kernels fold per channel on axis 2; their last axis is 1, handled by
    flattening to (…, c). Graph layers with no Keras twin are left out.
    """
    out = {}
    for node in graph.nodes:
        if node.op not in WEIGHT_OPS or node.name not in fisher:
            continue
        folded = np.asarray(node.weights["kernel"], np.float64)
        raw = np.asarray(model.get_layer(node.name).kernel, np.float64)
        f = fisher[node.name].reshape(folded.shape)
        if node.op == "depthwise_conv2d":
            s = _fold_factor(folded[..., 0], raw.reshape(folded.shape)[..., 0])[:, None]
        else:
            s = _fold_factor(folded, raw.reshape(folded.shape))
        s2 = np.square(s)
        out[node.name] = np.where(s2 > 0, f / np.where(s2 > 0, s2, 1.0), f)
    return out


def node_matrices(node: Node, fisher: np.ndarray | None = None):
    """(weight matrix, Fisher matrix or None) of a weight node, rows = output channels."""
    m = kernel_matrix(node.op, node.weights["kernel"])
    return m, None if fisher is None else kernel_matrix(node.op, fisher)


def graph_fisher_matrices(graph: Graph, model, x, y=None) -> dict[str, np.ndarray]:
    """Fisher of every weight node of `graph` as a matrix (BN folding accounted for)."""
    per_kernel = fisher_for_graph(graph, model, fisher_diagonal(model, x, y))
    return {name: kernel_matrix(graph.node(name).op, f) for name, f in per_kernel.items()}
