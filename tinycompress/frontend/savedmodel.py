"""Loading stage for TensorFlow SavedModel directories -> `Graph` (and a Keras model when possible).

Two routes, chosen by what the directory holds:

1. Written by Keras 2 / tf.keras (`model.save(dir)`): the object graph carries
   each Keras object's metadata (in keras_metadata.pb, or, from older TF, in
   saved_model.pb itself): the model's layer configs, and for every
   `layer_with_weights-i` of the model its layer name and its variables.
   The layers are rebuilt from the config and the weights read from the
   variables checkpoint with `tf.train.load_checkpoint`, never through TF's
   SavedModel loader (which fails on some old files, e.g. optimizer slots of
   tf.keras 2.3). They are handed to the Keras loader as a legacy .h5 in a
   temporary directory (config + weights), so legacy configs are repaired as
   for .h5 files (`legacy`), and the result is a Keras model (fine-tuning works).
2. Anything else (tf.Module, Keras 3 `model.export`): TFLite's converter turns
   the serving signature into a float .tflite, loaded as any .tflite.
"""
from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path

import h5py
import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError
from tinycompress.frontend.keras_import import import_keras
from tinycompress.frontend.legacy import load_keras_model
from tinycompress.frontend.tflite import load_tflite

_KERAS_MODELS = ("_tf_keras_network", "_tf_keras_model", "_tf_keras_sequential")
_METADATA_MODULES = ("tensorflow.python.keras.protobuf.saved_metadata_pb2",
                     "tf_keras.protobuf.saved_metadata_pb2")
_VALUE = ".ATTRIBUTES/VARIABLE_VALUE"


def load_saved_model(path: Path):
    """(Keras model or None, Graph or None): the Keras model when the directory has Keras
    metadata, else None and the Graph of the converted float .tflite."""
    import_keras()
    object_graph = _object_graph(path)
    metadata = _metadata(path, object_graph)
    root = metadata.get(0)
    if root is not None and root[0] in _KERAS_MODELS:
        return _keras_from_metadata(path, object_graph, metadata), None
    return None, _via_tflite(path)


def _object_graph(path: Path):
    from tensorflow.core.protobuf import saved_model_pb2  # heavy: TensorFlow

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as exc:  # DecodeError and friends
        raise ModelLoadError(f"cannot parse {path / 'saved_model.pb'}: {type(exc).__name__}: {exc}") from exc
    if not proto.meta_graphs:
        raise ModelLoadError(f"SavedModel {path} has no MetaGraph")
    return proto.meta_graphs[0].object_graph_def


def _metadata(path: Path, object_graph) -> dict[int, tuple[str, dict]]:
    """node id -> (Keras identifier, metadata JSON) of every Keras object."""
    found: dict[int, tuple[str, dict]] = {}
    for i, node in enumerate(object_graph.nodes):
        if node.WhichOneof("kind") == "user_object" and node.user_object.metadata:
            found[i] = (node.user_object.identifier, json.loads(node.user_object.metadata))
    extra = path / "keras_metadata.pb"
    if extra.is_file():
        saved = _saved_metadata()
        saved.ParseFromString(extra.read_bytes())
        for node in saved.nodes:
            found[int(node.node_id)] = (node.identifier, json.loads(node.metadata))
    return found


def _saved_metadata():
    for name in _METADATA_MODULES:
        try:
            return importlib.import_module(name).SavedMetadata()
        except ImportError:
            continue
    raise ModelLoadError("this TensorFlow has no SavedMetadata proto to read keras_metadata.pb")


def _keras_from_metadata(path: Path, object_graph, metadata):
    """The Keras model rebuilt from the root's config and the checkpoint's weights."""
    _, root = metadata[0]
    config = {"class_name": root.get("class_name"), "config": root.get("config")}
    if not isinstance(config["config"], dict) or "layers" not in config["config"]:
        raise UnsupportedLayerError(f"SavedModel {path}: a subclassed Keras model (class "
                                    f"{config['class_name']}) has no layer config to rebuild")
    weights = _layer_weights(path, object_graph, metadata)
    with tempfile.TemporaryDirectory(prefix="tinycompress-") as tmp:
        h5 = Path(tmp) / f"{path.name or 'model'}.h5"
        _write_legacy_h5(h5, config, weights, root.get("keras_version", "2"))
        return load_keras_model(h5)


def _layer_weights(path: Path, object_graph, metadata) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """[(layer name, [(variable name, value)])] of the root's layer_with_weights-i, by i."""
    import tensorflow as tf  # heavy

    try:
        reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    except Exception as exc:
        raise ModelLoadError(f"cannot read the variables of SavedModel {path}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    children = {c.local_name: c.node_id for c in object_graph.nodes[0].children}
    layers = []
    i = 0
    while f"layer_with_weights-{i}" in children:
        prefix = f"layer_with_weights-{i}"
        node_id = children[prefix]
        identifier, meta = metadata.get(node_id, ("", {}))
        if identifier in _KERAS_MODELS:
            raise UnsupportedLayerError(f"SavedModel {path}: layer {meta.get('name')} is a nested "
                                        "model; supported: models of layers")
        layers.append((meta.get("name", prefix), _variables(reader, object_graph, node_id, prefix)))
        i += 1
    return layers


def _variables(reader, object_graph, node_id: int, prefix: str) -> list[tuple[str, np.ndarray]]:
    """The layer's variables in its own order (its `variables` list), with their values."""
    node = object_graph.nodes[node_id]
    named = {c.node_id: c.local_name for c in node.children}
    listed = {c.local_name: c.node_id for c in node.children}.get("variables")
    order = ([c.node_id for c in sorted(object_graph.nodes[listed].children, key=lambda c: int(c.local_name))]
             if listed is not None else [])
    out = []
    for var_id in order:
        name = named.get(var_id)
        key = f"{prefix}/{name}/{_VALUE}"
        if name is None or not reader.has_tensor(key):
            raise ModelLoadError(f"variable {name or var_id} of {prefix} is not in the checkpoint")
        out.append((name, np.asarray(reader.get_tensor(key))))
    return out


def _write_legacy_h5(h5: Path, config: dict, weights, keras_version: str) -> None:
    """A Keras 2 .h5 (model_config + model_weights) the Keras loader reads."""
    with h5py.File(h5, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = str(keras_version)
        f.attrs["backend"] = "tensorflow"
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode("utf-8") for name, _ in weights]
        for name, variables in weights:
            layer = group.create_group(name)
            names = [f"{name}/{v}:0" for v, _ in variables]
            layer.attrs["weight_names"] = [n.encode("utf-8") for n in names]
            for n, (_, value) in zip(names, variables):
                layer.create_dataset(n, data=value)


def _via_tflite(path: Path):
    """The SavedModel's serving signature through TFLite's converter, as a float .tflite Graph."""
    import tensorflow as tf  # heavy

    try:
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(str(path)).convert()
    except Exception as exc:  # the converter's messages run to pages: keep the first line
        text = str(exc).strip().splitlines()
        raise ModelLoadError(f"SavedModel {path} has no Keras metadata and TFLite's converter "
                             f"cannot convert it: {type(exc).__name__}: {text[0] if text else ''}") from exc
    with tempfile.TemporaryDirectory(prefix="tinycompress-") as tmp:
        tflite = Path(tmp) / f"{path.resolve().name or 'saved_model'}.tflite"
        tflite.write_bytes(flatbuffer)
        return load_tflite(tflite)
