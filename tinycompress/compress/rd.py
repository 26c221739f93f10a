"""Fisher-weighted rate-distortion (RD) quantization of weight matrices.

Uniform rounding picks the level nearest to each weight. The RD quantizer
(DeepCABAC's objective, DESIGN.md) picks for weight i the level q minimising

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

Only `fisher_diagonal` / `fisher_for_graph` import Keras; `rd_quantize` is numpy.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from tinycompress.ir.graph import WEIGHT_OPS, Graph, Node
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


# ------------------------------------------------------------------ Fisher

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


# ------------------------------------------------------------------ pipeline glue

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


def graph_fisher_matrices(graph: Graph, model, x, y=None) -> dict[str, np.ndarray]:
    """Fisher of every weight node of `graph` as a matrix (BN folding accounted for)."""
    per_kernel = fisher_for_graph(graph, model, fisher_diagonal(model, x, y))
    return {name: kernel_matrix(graph.node(name).op, f) for name, f in per_kernel.items()}


def apply_weight_quantizer(qgraph, graph: Graph, quantizer: WeightQuantizer):
    """A copy of `qgraph` whose weight levels come from `quantizer` (activations kept).

    Interim bridge until quantize() accepts `weight_quantizer=` itself: the
    float kernels are read from `graph` (the one `qgraph` was quantized from),
    and each layer's integer constants are re-prepared with the same input and
    output quantization. Scales must be the uniform ones (rd_quantize keeps them).
    """
    from tinycompress.reference.weight_ops import prepare_weight_op

    out = copy.deepcopy(qgraph)
    for qn in out.weight_nodes:
        matrix = kernel_matrix(qn.op, graph.node(qn.source or qn.name).weights["kernel"])
        levels, w_scales = quantizer(qn.name, matrix, qn.bits, qn.per_channel)
        src, p = out.node(qn.inputs[0]), qn.params
        qn.levels, qn.w_scales = levels, w_scales
        qn.params = prepare_weight_op(levels, w_scales, qn.bias, src.scale, src.zero_point,
                                      qn.scale, qn.zero_point, p.act_min, p.act_max)
    return out


SWEEP_FACTORS = (0.03, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def lambda_scale(qgraph, fisher_mats: dict[str, np.ndarray]) -> float:
    """Natural unit of lambda: mean Fisher-weighted cost of one quantization step.

    F_i * delta_i**2 averaged over all weights with a Fisher; lambda of this
    size trades about one step of error for one bit.
    """
    costs = [(fisher_mats[qn.name] * np.square(qn.w_scales)[:, None]).ravel()
             for qn in qgraph.weight_nodes if qn.name in fisher_mats]
    return float(np.mean(np.concatenate(costs))) if costs else 0.0


def sweep_lambda(qgraph, graph: Graph, fisher_mats, x_val, y_val, min_accuracy: float,
                 factors=SWEEP_FACTORS, progress=None):
    """Automatic lambda: the RD QGraph with the fewest weight bytes whose accuracy
    on (x_val, y_val) is >= min_accuracy, trying lambda = factor * lambda_scale.

    Returns (lam, qgraph, curve) with curve = [(lam, accuracy, weight_bytes)];
    lam = 0 (uniform rounding) when no lambda keeps the accuracy.
    """
    from tinycompress.reference import int_ref
    from tinycompress.compress.search import weight_bytes

    unit = lambda_scale(qgraph, fisher_mats)
    best = (0.0, qgraph, weight_bytes(qgraph))
    curve = [(0.0, int_ref.evaluate(qgraph, x_val, y_val), best[2])]
    for i, factor in enumerate(factors):
        lam = factor * unit
        cand = apply_weight_quantizer(qgraph, graph, rd_weight_quantizer(fisher_mats, lam))
        acc, nbytes = int_ref.evaluate(cand, x_val, y_val), weight_bytes(cand)
        curve.append((lam, acc, nbytes))
        if acc >= min_accuracy and nbytes < best[2]:
            best = (lam, cand, nbytes)
        if progress is not None:
            progress(i + 1, len(factors))
    return best[0], best[1], curve
