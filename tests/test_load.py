"""Loader: graph structure, file formats, legacy repair and error messages."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests import models
from tinycompress.errors import ModelLoadError, UnsupportedLayerError
from tinycompress.frontend.keras import from_keras, load
from tinycompress.frontend.keras_import import import_keras
from tinycompress.reference.float_ref import run_float


def _ops(graph):
    return {n.name: (n.op, n.activation) for n in graph.nodes}


def _assert_matches_keras(model, graph, tol=1e-4):
    x = models.random_input(model, batch=3, seed=5)
    want, got = model.predict(x, verbose=0), run_float(graph, x)
    np.testing.assert_allclose(got, want.reshape(got.shape), atol=tol, rtol=0)


def test_bn_folded_activations_fused_dropout_removed():
    graph = from_keras(models.bn_fold_model())
    assert _ops(graph) == {
        "image": ("input", "linear"),
        "conv": ("conv2d", "relu"),            # + bn_conv + relu
        "dw": ("depthwise_conv2d", "relu6"),   # + bn_dw + ReLU(max_value=6)
        "conv_relu": ("conv2d", "relu"),
        "bn_standalone": ("affine", "linear"),  # its producer already has relu
        "flatten": ("reshape", "linear"),
        "fc": ("dense", "tanh"),               # + drop (removed) + bn_fc + tanh
    }
    assert graph.outputs == ["fc"]
    conv = graph.node("conv")
    assert conv.weights["bias"].shape == (6,) and np.any(conv.weights["bias"] != 0)
    assert graph.node("bn_standalone").weights["scale"].shape == (4,)


def test_bn_fold_arithmetic_on_dense():
    # y = gamma * (x@W + b - mean) / sqrt(var + eps) + beta, folded by hand.
    keras = import_keras()
    inp = keras.Input((3,))
    x = keras.layers.Dense(2, name="fc")(inp)
    out = keras.layers.BatchNormalization(epsilon=0.5, name="bn")(x)
    model = keras.Model(inp, out)
    w, b = np.array([[1, 2], [3, 4], [5, 6]], np.float32), np.array([1, -1], np.float32)
    model.get_layer("fc").set_weights([w, b])
    gamma, beta = np.array([2, 1], np.float32), np.array([0, 3], np.float32)
    mean, var = np.array([1, 1], np.float32), np.array([3.5, 1.5], np.float32)
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    fc = from_keras(model).node("fc")
    # scale = gamma / sqrt(var + 0.5) = [2/2, 1/sqrt(2)]; offset = beta - mean*scale
    scale = np.array([1.0, 1 / np.sqrt(2)])
    np.testing.assert_allclose(fc.weights["kernel"], w * scale, rtol=1e-6)
    np.testing.assert_allclose(fc.weights["bias"], (b - mean) * scale + beta, rtol=1e-6)


def test_shapes_and_attrs_follow_the_graph_contract():
    graph = from_keras(models.conv_padding_model())
    node = graph.node("same_s2")
    assert node.attrs == {"strides": (2, 2), "padding": "same"}
    assert node.input_shapes == [(12, 13, 5)] and node.output_shape == (6, 7, 6)
    assert graph.node("valid_s2").attrs == {"strides": (2, 2), "padding": "valid"}
    assert graph.node("pointwise").weights["bias"].tolist() == [0.0, 0.0, 0.0]  # use_bias=False
    assert graph.node("head").input_shapes == [(2 * 2 * 3,)]


def test_separable_conv1d_concat_and_padding_translation():
    sep = from_keras(models.separable_model())
    assert _ops(sep)["sep_relu_depthwise"] == ("depthwise_conv2d", "linear")
    assert _ops(sep)["sep_relu"] == ("conv2d", "relu")
    assert sep.node("sep_relu").inputs == ["sep_relu_depthwise"]
    assert sep.node("sep_relu").weights["kernel"].shape == (1, 1, 3, 8)
    assert _ops(sep)["sep"] == ("conv2d", "leaky_relu")  # sep_bn folded, leaky fused
    assert sep.node("sep").activation_alpha == pytest.approx(0.1)

    c1d = from_keras(models.conv1d_model())
    c1 = c1d.node("c1")
    assert (c1.op, c1.input_shapes, c1.output_shape) == ("conv2d", [(1, 17, 3)], (1, 9, 6))
    assert c1.attrs == {"strides": (1, 2), "padding": "same"}
    assert c1.weights["kernel"].shape == (1, 3, 3, 6)

    pool = from_keras(models.pooling_model())
    assert pool.node("cat_channels").attrs == {"axis": 2}  # -1 on (H, W, C)
    assert pool.node("cat_rows").attrs == {"axis": 0}      # keras axis=1
    assert pool.node("pad").attrs == {"pads": ((1, 2), (0, 3))}
    assert pool.node("max_same").attrs == {"pool": (3, 3), "strides": (2, 2), "padding": "same"}


def test_residual_branches_keep_names_and_order():
    graph = from_keras(models.residual_model())
    assert graph.node("add").inputs == ["stem", "block_conv2"]
    assert graph.node("add").activation == "relu"
    assert graph.node("concat").inputs == ["branch", "branch_bn", "add"]
    names = [n.name for n in graph.nodes]
    for node in graph.nodes:  # topological order
        assert all(names.index(i) < names.index(node.name) for i in node.inputs)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("builder", ["residual", "separable", "conv1d"])
def test_saved_files_load(tmp_path, builder, suffix):
    model = models.BUILDERS[builder]()
    path = tmp_path / f"{builder}{suffix}"
    model.save(path)
    graph = load(str(path))
    assert [n.name for n in graph.nodes] == [n.name for n in from_keras(model).nodes]
    _assert_matches_keras(model, graph)


def _legacy_h5(tmp_path):
    """A Keras 3 .h5 whose config is rewritten the way tf.keras 2 saved it."""
    import h5py

    keras = import_keras()
    inp = keras.Input((7, 7, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.25, name="leaky")(x)
    out = keras.layers.Dense(2, name="fc")(keras.layers.Flatten(name="flat")(x))
    model = models.randomize(keras.Model(inp, out), seed=9)
    path = tmp_path / "legacy.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            cfg = layer["config"]
            if layer["class_name"] == "DepthwiseConv2D":
                cfg["groups"] = 1  # tf.keras 2.x saved it; Keras 3 rejects it
            if layer["class_name"] == "BatchNormalization":
                cfg["fused"] = None
            if layer["class_name"] == "LeakyReLU":
                cfg["alpha"] = cfg.pop("negative_slope")  # the Keras 2 name
        f.attrs["model_config"] = json.dumps(config)
    return model, path


def test_legacy_h5_with_removed_arguments_loads(tmp_path):
    keras = import_keras()
    model, path = _legacy_h5(tmp_path)
    with pytest.raises(Exception, match="groups"):  # plain Keras 3 cannot read it
        keras.models.load_model(path, compile=False)
    graph = load(path)
    assert _ops(graph)["dw"] == ("depthwise_conv2d", "leaky_relu")
    assert graph.node("dw").activation_alpha == pytest.approx(0.25)  # alpha kept
    _assert_matches_keras(model, graph)


def test_missing_path():
    with pytest.raises(ModelLoadError, match="no such model file: /nonexistent/m.keras"):
        load("/nonexistent/m.keras")


@pytest.mark.parametrize("name", ["notes.keras", "notes.h5", "notes.txt"])
def test_text_file_is_not_a_model(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not a model\n")
    with pytest.raises(ModelLoadError, match="is not a Keras model file"):
        load(path)


def test_broken_keras_archive(tmp_path):
    import zipfile

    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{not json")
    with pytest.raises(ModelLoadError, match="cannot read model file") as info:
        load(path)
    assert "\n" not in str(info.value) and info.value.__cause__ is not None


def test_truncated_h5(tmp_path):
    path = tmp_path / "cut.h5"
    models.conv1d_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError) as info:
        load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_weights_only_h5(tmp_path):
    path = tmp_path / "only.weights.h5"
    models.conv1d_model().save_weights(path)
    with pytest.raises(ModelLoadError, match="no model config"):
        load(path)


def test_directory_without_saved_model(tmp_path):
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        load(tmp_path)


@pytest.mark.slow
def test_exported_saved_model_asks_for_keras_file(tmp_path):
    model = models.conv1d_model()
    model.export(tmp_path / "exported", verbose=False)
    with pytest.raises(ModelLoadError, match=r"re-save .*\.keras"):
        load(tmp_path / "exported")


@pytest.mark.parametrize("builder, layer, type_name", [
    (models.lstm_model, "lstm_1", "LSTM"),
    (models.conv_transpose_model, "upconv", "Conv2DTranspose"),
])
def test_unsupported_layer_names_layer_type_and_supported(tmp_path, builder, layer, type_name):
    path = tmp_path / "m.keras"
    builder().save(path)
    with pytest.raises(UnsupportedLayerError) as info:
        load(path)
    msg = str(info.value)
    assert f"layer {layer} ({type_name}): layer type not supported" in msg
    assert "supported: " in msg and "Conv2D" in msg and "BatchNormalization" in msg


def test_unsupported_activation_and_subclass():
    keras = import_keras()
    inp = keras.Input((4,))
    gelu = keras.Model(inp, keras.layers.Dense(2, activation="gelu", name="fc")(inp))
    with pytest.raises(UnsupportedLayerError,
                       match=r"layer fc \(Dense\): activation 'gelu' is not supported"):
        from_keras(gelu)

    class Dense(keras.layers.Dense):  # same name, maybe other maths: not trusted
        pass

    custom = keras.Model(inp, Dense(2, name="mine")(inp))
    with pytest.raises(UnsupportedLayerError,
                       match=r"layer mine \(Dense\): custom layer class \(a subclass of Dense"):
        from_keras(custom)


def test_nested_model_is_flattened(tmp_path):
    keras = import_keras()
    base = keras.Sequential([keras.Input((6, 6, 2)),
                             keras.layers.Conv2D(3, 3, name="inner_conv"),
                             keras.layers.BatchNormalization(name="inner_bn")], name="base")
    inp = keras.Input((6, 6, 2), name="image")
    x = keras.layers.ReLU(name="outer_relu")(base(inp))
    out = keras.layers.Dense(2, name="fc")(keras.layers.Flatten(name="flat")(x))
    model = models.randomize(keras.Model(inp, out), seed=12)
    models.randomize(base, seed=13)
    path = tmp_path / "nested.keras"
    model.save(path)
    graph = load(path)
    # base's identity is removed, inner_bn folds into inner_conv, outer_relu fuses.
    assert _ops(graph) == {"image": ("input", "linear"), "inner_conv": ("conv2d", "relu"),
                           "flat": ("reshape", "linear"), "fc": ("dense", "linear")}
    assert graph.node("inner_conv").inputs == ["image"]
    _assert_matches_keras(model, graph)
