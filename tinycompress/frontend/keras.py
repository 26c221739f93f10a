"""Loading stage: Keras model file or in-memory model -> `Graph`.

Only this stage imports TensorFlow/Keras, and only inside the functions, so
importing tinycompress stays cheap.

What loads:
- `.keras` files (Keras 3).
- `.h5` files from Keras 3 and legacy Keras 2 / tf.keras. When Keras 3
  rejects a saved layer config because it carries arguments Keras 3 no
  longer accepts (e.g. DepthwiseConv2D `groups`), the config is read with
  h5py, every layer config is cut down to the arguments its Keras 3 class
  takes, and the model is rebuilt from a patched temporary copy whose weights
  are then loaded as usual (see `tinycompress.frontend.legacy`).
- SavedModel directories only when Keras can load them as a Keras model;
  Keras 3 cannot rebuild layers from a SavedModel, so those raise a
  ModelLoadError asking to re-save the model as `.keras`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError
from tinycompress.ir.graph import OPS, Graph, Node
from tinycompress.frontend.keras_import import import_keras
from tinycompress.frontend.keras_layers import LayerContext, translate
from tinycompress.frontend.legacy import load_keras_model
from tinycompress.frontend.passes import simplify


def load(path: str | Path) -> Graph:
    """Load `.keras`, `.h5` or a SavedModel directory into a `Graph`.

    Raises ModelLoadError for a missing or unreadable file and
    UnsupportedLayerError for a layer the Graph cannot express.
    """
    return load_with_model(path)[0]


def load_with_model(path: str | Path):
    """(Graph, the Keras model it was translated from): for callers that also
    train or differentiate the model, so the file is read once."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"no such model file: {path}")
    model = load_keras_model(path)
    try:
        return from_keras(model), model
    except (ModelLoadError, UnsupportedLayerError):
        raise
    except Exception as exc:  # a Keras internals surprise; keep one clear line
        raise ModelLoadError(f"cannot translate model {path}: {type(exc).__name__}: {exc}") from exc


def from_keras(model) -> Graph:
    """Translate an in-memory, built Keras model into a `Graph`.

    BatchNormalization is folded into the conv/dense before it, activations
    are fused into their producer where safe, Dropout is removed. Raises
    ModelLoadError for NaN or infinite weights, UnsupportedLayerError for a
    layer the Graph cannot express.
    """
    functional = _functional(model)
    # BatchNorm folding may overflow float32: reported by layer name (`_batchnorm`,
    # `_check_folded`), not as numpy warnings on stderr
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        graph = _translate(model, functional)
    leftover = [n.name for n in graph.nodes if n.op not in OPS]
    assert not leftover, f"untranslated nodes left: {leftover}"
    _check_folded(graph)
    return graph


def _translate(model, functional) -> Graph:
    nodes = _translate_functional(functional)
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ModelLoadError(f"model '{model.name}' has several layers named {dup}")
    outputs = [t._keras_history.operation.name for t in functional.outputs]
    return simplify(Graph(name=model.name, nodes=_inputs_first(functional, nodes),
                          outputs=outputs))


def _check_folded(graph: Graph) -> None:
    """ModelLoadError when folding finite weights overflowed float32 (a huge BatchNorm
    gamma over a tiny variance): every weight was finite when it was read."""
    for node in graph.nodes:
        for name, array in node.weights.items():
            if not np.all(np.isfinite(array)):
                raise ModelLoadError(
                    f"layer {node.name} ({node.op}): {name} overflows float32 once the "
                    "BatchNormalization after it is folded in; non-finite weights cannot be quantized")


def _inputs_first(functional, nodes: list[Node]) -> list[Node]:
    """Input nodes first, in the model's input order (Graph.inputs follows node order)."""
    order = [t._keras_history.operation.name for t in functional.inputs]
    inputs = sorted((n for n in nodes if n.op == "input"), key=lambda n: order.index(n.name))
    return inputs + [n for n in nodes if n.op != "input"]


def _translate_functional(functional) -> list[Node]:
    calls = _layer_calls(functional)
    nodes: list[Node] = []
    for layer in functional.operations:
        if id(layer) in calls:  # layers that do not feed an output are skipped
            nodes.extend(_translate_call(layer, calls[id(layer)]))
    return nodes


def _translate_call(layer, call) -> list[Node]:
    keras = import_keras()
    if not isinstance(layer, (keras.Sequential, keras.Model)):
        return translate(_context(layer, call))
    return _inline_submodel(layer, call)


def _inline_submodel(model, call) -> list[Node]:
    """A nested Sequential/functional model, flattened into the outer graph.

    Its input layers are dropped (their readers read the outer tensors) and
    an identity node named after the submodel forwards its output, so outer
    layers can keep reading the submodel by name; the identity is removed later.
    """
    inner = _functional(model)
    if len(inner.outputs) != 1:
        raise UnsupportedLayerError(
            f"layer {model.name} ({type(model).__name__}): a nested model with "
            f"{len(inner.outputs)} outputs is not supported; supported: 1 output")
    outer_inputs = [t._keras_history.operation.name for t in call.input_tensors]
    rename = {t._keras_history.operation.name: o for t, o in zip(inner.inputs, outer_inputs)}
    nodes = [n for n in _translate_functional(inner) if n.op != "input"]
    for node in nodes:
        node.inputs = [rename.get(i, i) for i in node.inputs]
    out = inner.outputs[0]
    last = out._keras_history.operation.name
    nodes.append(Node(model.name, "identity", [last], [_shape(model, out)], _shape(model, out)))
    return nodes


def _functional(model):
    keras = import_keras()
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ModelLoadError(
                f"Sequential model '{model.name}' has no input shape; "
                "start it with keras.Input(shape) or call model.build(shape)")
        return functional
    if not hasattr(model, "operations") or not hasattr(model, "outputs"):
        raise ModelLoadError(
            f"model '{model.name}' of type {type(model).__name__} is not a functional "
            "or Sequential Keras model (subclassed models have no layer graph)")
    return model


def _layer_calls(functional) -> dict[int, object]:
    """id(layer) -> its call (Keras Node) inside `functional`.

    Found by walking back from the outputs along each tensor's
    `_keras_history` (operation, node_index, tensor_index): a layer may have
    other calls outside this model (e.g. a Sequential built more than once).
    """
    calls: dict[int, object] = {}
    stack = list(functional.outputs)
    while stack:
        operation, node_index, _ = stack.pop()._keras_history
        call = operation._inbound_nodes[node_index]
        seen = calls.setdefault(id(operation), call)
        if seen is not call:
            raise UnsupportedLayerError(
                f"layer {operation.name} ({type(operation).__name__}) is called more than "
                "once in the model; shared layers are not supported")
        stack.extend(call.input_tensors)
    return calls


def _shape(layer, tensor) -> tuple[int, ...]:
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise ModelLoadError(
            f"layer {layer.name} ({type(layer).__name__}) has an unknown dimension in shape "
            f"{(None,) + shape}; "
            "give the model input a fixed shape")
    return tuple(int(d) for d in shape)


def _context(layer, call) -> LayerContext:
    if len(call.output_tensors) != 1:
        raise UnsupportedLayerError(
            f"layer {layer.name} ({type(layer).__name__}): {len(call.output_tensors)} outputs "
            "are not supported; supported: 1 output")
    inputs = [t._keras_history.operation.name for t in call.input_tensors]
    return LayerContext(layer, inputs,
                        [_shape(layer, t) for t in call.input_tensors],
                        _shape(layer, call.output_tensors[0]))
