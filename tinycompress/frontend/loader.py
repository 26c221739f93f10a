"""The one entry point from a model path to a `Graph`, whatever the format.

    graph = load(path)
    graph, keras_model = load_with_model(path)   # keras_model None unless Keras

The format is told by content (`detect.detect_format`): Keras (.keras, .h5)
and SavedModel directories written by Keras give a Keras model too (for
fine-tuning and the Fisher information); TFLite, ONNX and other SavedModels
give the Graph only.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError
from tinycompress.frontend.detect import detect_format
from tinycompress.frontend.keras import from_keras
from tinycompress.frontend.keras import load_with_model as load_keras_with_model
from tinycompress.frontend.onnx import load_onnx
from tinycompress.frontend.savedmodel import load_saved_model
from tinycompress.frontend.tflite import load_tflite
from tinycompress.ir.graph import Graph

# formats whose loading yields a Keras model (fine-tuning and rd need one)
KERAS_FORMATS = ("keras", "h5")


def load(path: str | Path) -> Graph:
    """The `Graph` of the model at `path` (any format `detect_format` knows)."""
    return load_with_model(path)[0]


def load_with_model(path: str | Path):
    """(Graph, Keras model or None). ModelLoadError / UnsupportedLayerError as one line."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt in KERAS_FORMATS:
        return load_keras_with_model(path)
    try:
        return _LOADERS[fmt](path)
    except (ModelLoadError, UnsupportedLayerError):
        raise
    except Exception as exc:  # a parser's internals surprise; keep one clear line
        raise ModelLoadError(f"cannot read {fmt} model {path}: {type(exc).__name__}: {exc}") from exc


def _tflite(path: Path):
    return load_tflite(path), None


def _onnx(path: Path):
    return load_onnx(path), None


def _saved_model(path: Path):
    model, graph = load_saved_model(path)
    return (graph, None) if model is None else (from_keras(model), model)


_LOADERS = {
    "tflite": _tflite,
    "onnx": _onnx,
    "savedmodel": _saved_model,
}


def recalibrated(graph: Graph) -> Graph:
    """`graph` without the activation quantization its file gave (an int8 .tflite's), so
    calibration on the user's data sets every scale and zero point; weights keep theirs.
    The file's quantization stays in attrs["file_qparams"] (`as_given`)."""
    return replace(graph, nodes=[_moved(n, "qparams", "file_qparams") for n in graph.nodes])


def as_given(graph: Graph) -> Graph | None:
    """The int8 model an int8 .tflite describes (its own activation quantization, weights
    unpruned), to quantize at 8 bits as the yardstick of losses; None for other graphs."""
    if graph.arithmetic != "tflite" or not any("levels" in n.attrs for n in graph.nodes):
        return None
    for n in graph.nodes:
        if "levels" in n.attrs and np.count_nonzero(n.weights["kernel"]) != np.count_nonzero(n.attrs["levels"]):
            return None  # pruned: no longer the file's weights
    return replace(graph, nodes=[_moved(n, "file_qparams", "qparams") for n in graph.nodes])


def _moved(node, old: str, new: str):
    if old not in node.attrs:
        return node
    attrs = {k: v for k, v in node.attrs.items() if k != old}
    return replace(node, attrs={**attrs, new: node.attrs[old]})
