"""Side by side: the float model as given, TFLite int8 and ours, on every split that has data.

    table = compare(loaded, keras_model, applied, roles, calib_x, weight_bytes)
    table["rows"]       # [{"model", "weight_bytes", "size_ratio", "splits": {"val": {...}, "eval": {...}}}]
    table["confusion"]  # ours, on the reported split: {"split", "labels", "matrix"} (classifiers)

Each split gives top-1 accuracy (with labels) and fidelity to the float
model as given: top-1 agreement (classifiers), relative RMS error and SNR.
The TFLite row is TensorFlow's full-integer converter calibrated on the same
inputs as ours, run by the LiteRT interpreter; it is left out, with the
reason in `table["tflite"]`, without a Keras model or without `ai-edge-litert`.
Its `weight_bytes` is the .tflite file size (weights, graph and metadata).
"""
from __future__ import annotations

import numpy as np

from tinycompress.compress.evaluate import float_outputs, int_outputs, top1
from tinycompress.compress.fidelity import fidelity
from tinycompress.compress.plan import Applied
from tinycompress.compress.results import float_weight_bytes
from tinycompress.compress.roles import DataRoles
from tinycompress.compress.tflite_ref import available, tflite_int8, tflite_predict
from tinycompress.ir.graph import Graph

FLOAT_NAME, TFLITE_NAME, OURS_NAME = "float (as given)", "TFLite int8", "tinycompress"


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return np.argmax(y, axis=1) if y.ndim == 2 else y


def _split_figures(ref: np.ndarray, out: np.ndarray, y, classifier: bool) -> dict:
    fid = fidelity(ref, out, classifier).as_dict("")
    fid.pop("split")
    return {"accuracy": None if y is None else round(top1(out, y), 6), **fid}


def confusion(out: np.ndarray, y: np.ndarray, classes: int) -> list[list[int]]:
    """matrix[true][predicted] counts."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (_labels(y).astype(np.int64), np.argmax(out, axis=1)), 1)
    return m.tolist()


def _tflite(keras_model, calib_x) -> tuple[bytes | None, str]:
    if keras_model is None:
        return None, "left out: the model was not given as a Keras model"
    if not available():
        return None, "left out: ai-edge-litert is not installed (pip install 'tinycompress[bench]')"
    try:
        return tflite_int8(keras_model, calib_x), "TensorFlow's full-integer converter, LiteRT interpreter"
    except Exception as exc:  # noqa: BLE001  (the converter raises many types; the build goes on)
        return None, f"left out: the TFLite converter failed ({type(exc).__name__})"


def compare(loaded: Graph, keras_model, applied: Applied, roles: DataRoles, calib_x: np.ndarray,
            weight_bytes: int, classifier: bool) -> dict | None:
    """The side-by-side table (None without any data to measure on)."""
    splits = {name: d for name, d in (("val", roles.val), ("eval", roles.eval)) if d is not None}
    if not splits:
        return None
    float_bytes = float_weight_bytes(loaded)
    tfl, how = _tflite(keras_model, calib_x)
    rows = {FLOAT_NAME: {}, OURS_NAME: {}, **({TFLITE_NAME: {}} if tfl is not None else {})}
    outs = {}
    for split, data in splits.items():
        ref = float_outputs(loaded, data.x)
        outs[split] = {FLOAT_NAME: ref, OURS_NAME: int_outputs(applied, data.x)}
        if tfl is not None:
            outs[split][TFLITE_NAME] = tflite_predict(tfl, data.x).reshape(len(data.x), -1)
        for name in rows:
            rows[name][split] = _split_figures(ref, outs[split][name], data.y, classifier)
    sizes = {FLOAT_NAME: float_bytes, OURS_NAME: weight_bytes,
             **({TFLITE_NAME: len(tfl)} if tfl is not None else {})}
    table = {"tflite": how, "rows": [
        {"model": name, "weight_bytes": sizes[name], "size_ratio": round(sizes[name] / float_bytes, 6),
         "splits": rows[name]} for name in (FLOAT_NAME, TFLITE_NAME, OURS_NAME) if name in rows]}
    reported = "eval" if "eval" in splits else "val"
    y = splits[reported].y
    if classifier and y is not None:
        ours = outs[reported][OURS_NAME]
        table["confusion"] = {"split": reported, "labels": list(range(ours.shape[1])),
                              "matrix": confusion(ours, y, ours.shape[1])}
    return table
