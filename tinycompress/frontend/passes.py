"""Graph clean-up after translation: drop identities, fold BatchNorm, fuse activations.

Each pass removes a node X whose output equals (a function of) its single
input P and rewires X's consumers (and the graph outputs) to read P instead.
Shapes never change: identities, affines and activations keep their shape.
"""
from __future__ import annotations

import numpy as np

from tinycompress.ir.graph import WEIGHT_OPS, Graph, Node

# Ops that may carry a fused activation: the integer kernels of these
# requantize their accumulator, so clamping there is free.
FUSABLE_OPS = WEIGHT_OPS + ("affine", "add")


def _remove(graph: Graph, node: Node, replacement: str) -> None:
    graph.nodes.remove(node)
    for other in graph.nodes:
        other.inputs = [replacement if i == node.name else i for i in other.inputs]
    graph.outputs = [replacement if o == node.name else o for o in graph.outputs]


def _sole_producer(graph: Graph, node: Node) -> Node | None:
    """The producer of `node` when `node` is its only reader and it is no output."""
    if len(node.inputs) != 1:
        return None
    producer = graph.node(node.inputs[0])
    if graph.consumers(producer.name) != [node] or producer.name in graph.outputs:
        return None
    return producer


def remove_identities(graph: Graph) -> None:
    """Drop Dropout-like nodes (identity at inference)."""
    for node in [n for n in graph.nodes if n.op == "identity"]:
        _remove(graph, node, node.inputs[0])


def _fold_affine(producer: Node, scale: np.ndarray, offset: np.ndarray) -> None:
    kernel = producer.weights["kernel"].astype(np.float64)
    bias = producer.weights["bias"].astype(np.float64)
    if producer.op == "depthwise_conv2d":
        kernel = kernel * scale[None, None, :, None]  # (kh, kw, c, 1)
    else:
        kernel = kernel * scale  # output channels are the last axis of dense/conv2d
    producer.weights["kernel"] = kernel.astype(np.float32)
    producer.weights["bias"] = (bias * scale + offset).astype(np.float32)


def fold_batchnorm(graph: Graph) -> None:
    """Fold each affine into the weight op before it when nothing else reads that op."""
    for node in [n for n in graph.nodes if n.op == "affine"]:
        producer = _sole_producer(graph, node)
        if producer is None or producer.op not in WEIGHT_OPS or producer.activation != "linear":
            continue
        _fold_affine(producer, node.weights["scale"].astype(np.float64),
                     node.weights["offset"].astype(np.float64))
        _remove(graph, node, producer.name)


def fuse_activations(graph: Graph) -> None:
    """Move each activation node into its producer when that is safe."""
    for node in [n for n in graph.nodes if n.op == "activation"]:
        producer = _sole_producer(graph, node)
        if producer is None or producer.op not in FUSABLE_OPS or producer.activation != "linear":
            continue
        producer.activation = node.activation
        producer.activation_alpha = node.activation_alpha
        _remove(graph, node, producer.name)


def simplify(graph: Graph) -> Graph:
    """Run all passes in order (identities first so BN can reach its conv)."""
    remove_identities(graph)
    fold_batchnorm(graph)
    fuse_activations(graph)
    return graph
