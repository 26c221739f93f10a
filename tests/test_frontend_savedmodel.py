"""TF SavedModel directories as input, written here by the installed TensorFlow.

- Keras 2 style (tf-keras `model.save(dir, save_format="tf")`, after a training
  step so the checkpoint holds optimizer slots too): the digits architecture with
  the digits example's weights is rebuilt from the Keras metadata and the
  variables checkpoint, as a Keras model (so fine-tuning works), and computes
  what the Keras digits model computes.
- Without Keras metadata: a plain `tf.Module` (tf.saved_model.save) and a Keras 3
  `model.export(dir)` go through TFLite's converter to a float .tflite.
- Float reference within 1e-4 of TensorFlow running the SavedModel's serving signature.
- Target tier: the Keras 2 SavedModel and the tf.Module one build for
  nucleo_l4r5zi and run in QEMU bit-exact with the integer reference.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tinycompress.compress.core import CompressOptions, compress
from tinycompress.data import DIGITS_MODEL, Dataset
from tinycompress.errors import DataError, ModelLoadError
from tinycompress.frontend import load, load_with_model
from tinycompress.frontend.detect import detect_format
from tinycompress.frontend.keras_import import import_keras
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import run_int

TOLERANCE = 1e-4
SHAPE = (16, 16, 1)


def digits_keras3():
    return import_keras().models.load_model(DIGITS_MODEL, compile=False)


def keras2_digits(path: Path) -> Path:
    """The digits architecture in tf-keras with the example's weights, one training step, saved."""
    import tf_keras as k2

    L = k2.layers
    model = k2.Sequential([
        L.InputLayer(SHAPE, name="image"),
        L.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(16, 3, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(120, activation="relu", name="fc1"),
        L.Dense(84, activation="relu", name="fc2"),
        L.Dense(10, activation="softmax", name="logits"),
    ], name="digits_k2")
    source = digits_keras3()
    for layer in model.layers:
        layer.set_weights(source.get_layer(layer.name).get_weights())
    model.compile(k2.optimizers.Adam(learning_rate=0.0), "sparse_categorical_crossentropy")
    model.fit(np.zeros((2, *SHAPE), np.float32), np.zeros(2), epochs=1, verbose=0)  # optimizer slots
    model.save(path, save_format="tf")
    return path


class TinyNet:
    """A tf.Module: conv 3x3 + relu, flatten, dense + softmax, on fixed random weights."""

    @staticmethod
    def save(path: Path) -> Path:
        import tensorflow as tf

        rng = np.random.default_rng(0)
        module = tf.Module()
        module.k = tf.Variable(rng.normal(0, 0.3, (3, 3, 1, 4)).astype(np.float32))
        module.b = tf.Variable(rng.normal(0, 0.1, 4).astype(np.float32))
        module.w = tf.Variable(rng.normal(0, 0.1, (14 * 14 * 4, 10)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, *SHAPE], tf.float32)])
        def serve(x):
            y = tf.nn.relu(tf.nn.conv2d(x, module.k, 1, "VALID") + module.b)
            return tf.nn.softmax(tf.reshape(y, [1, -1]) @ module.w)

        module.serve = serve
        tf.saved_model.save(module, str(path), signatures=serve)
        return path


def serving(path: Path, x: np.ndarray) -> np.ndarray:
    """TensorFlow's own run of the SavedModel's serving signature, one sample at a time."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    outs = [list(fn(tf.constant(xi[None])).values())[0].numpy() for xi in x]
    return np.concatenate(outs)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("savedmodel")
    export = root / "export"
    digits_keras3().export(str(export), verbose=False)
    return {"keras2": keras2_digits(root / "keras2"), "module": TinyNet.save(root / "module"),
            "export": export}


def inputs(n: int = 8) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 1, (n, *SHAPE)).astype(np.float32)


def test_keras2_savedmodel_is_rebuilt_from_metadata_and_checkpoint(saved, digits_graph):
    assert detect_format(saved["keras2"]) == "savedmodel"
    graph, model = load_with_model(saved["keras2"])
    assert model is not None  # a Keras model: fine-tuning and rd can use it
    ops = lambda g: [(n.op, n.activation, tuple(n.output_shape)) for n in g.nodes]
    assert ops(graph) == ops(digits_graph)
    x = inputs()
    assert np.abs(run_float(graph, x) - run_float(digits_graph, x)).max() <= TOLERANCE
    assert np.abs(run_float(graph, x) - serving(saved["keras2"], x)).max() <= TOLERANCE


@pytest.mark.parametrize("name", ["module", "export"])
def test_savedmodel_without_keras_metadata_goes_through_tflite(saved, name):
    graph, model = load_with_model(saved[name])
    assert model is None
    x = inputs()
    assert np.abs(run_float(graph, x) - serving(saved[name], x)).max() <= TOLERANCE


def test_epochs_need_a_keras_model(saved):
    x = inputs(16)
    with pytest.raises(DataError, match="pruning is one-shot: drop --epochs"):
        compress(saved["module"], CompressOptions(sparsity=0.5, epochs=1), Dataset(x, np.zeros(16, np.int64)))


def test_a_damaged_savedmodel_is_one_clear_error(saved, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(saved["keras2"], broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(ModelLoadError, match="cannot read the variables of SavedModel"):
        load(broken)
    (broken / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="cannot parse .*saved_model.pb"):
        load(broken)


@pytest.mark.target
@pytest.mark.slow
@pytest.mark.parametrize("name", ["keras2", "module"])
def test_savedmodel_firmware_is_bit_exact_with_the_reference(saved, name, tmp_path, offline_core):
    from tests.test_frontend_tflite import firmware_outputs
    from tinycompress.pipeline import build
    from tinycompress.target.state import load_state

    out = tmp_path / name
    build(saved[name], "nucleo_l4r5zi", out)
    qgraph = load_state(out).qgraph
    xq = np.random.default_rng(2).integers(-128, 128, (6, *qgraph.input_shape)).astype(np.int8)
    np.testing.assert_array_equal(firmware_outputs(out, xq).reshape(len(xq), -1),
                                  run_int(qgraph, xq).reshape(len(xq), -1))


def as_old_tf_keras(src: Path, dst: Path) -> Path:
    """`src` laid out as TF 2.3's tf.keras wrote it: the Keras metadata inside saved_model.pb
    (no keras_metadata.pb), and, as in files TF's own loader can no longer restore, no
    function library (so only the object graph, the metadata and the checkpoint are left)."""
    import tensorflow as tf  # noqa: F401  (loads the protobuf modules below)
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.keras.protobuf import saved_metadata_pb2

    shutil.copytree(src, dst)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((dst / "saved_model.pb").read_bytes())
    meta = saved_metadata_pb2.SavedMetadata()
    meta.ParseFromString((dst / "keras_metadata.pb").read_bytes())
    nodes = proto.meta_graphs[0].object_graph_def.nodes
    for node in meta.nodes:
        nodes[node.node_id].user_object.metadata = node.metadata
    proto.meta_graphs[0].graph_def.library.Clear()
    (dst / "saved_model.pb").write_bytes(proto.SerializeToString())
    (dst / "keras_metadata.pb").unlink()
    return dst


def test_old_tf_keras_layout_loads_where_tf_cannot(saved, digits_graph, tmp_path):
    import tensorflow as tf

    old = as_old_tf_keras(saved["keras2"], tmp_path / "old")
    with pytest.raises(Exception):
        tf.saved_model.load(str(old))  # TensorFlow's own loader gives up on it
    graph, model = load_with_model(old)
    assert model is not None
    x = inputs()
    assert np.abs(run_float(graph, x) - run_float(digits_graph, x)).max() <= TOLERANCE
