"""ONNX test models built with onnx.helper (NCHW, float32, opset 17), as PyTorch exports them.

- `digits_onnx(keras_model)`: the digits example's architecture and trained weights in
  NCHW: Conv 5x5 (pads 2) + Relu, MaxPool, Conv 3x3 + Relu, MaxPool, Flatten (of an
  NCHW tensor: C, H, W order), Gemm (transB) + Relu, MatMul + Add + Relu, Gemm, Softmax.
- `ops_onnx(seed)`: every other supported op on random weights: BatchNormalization,
  depthwise Conv (group = channels), Clip (ReLU6), LeakyRelu, Sigmoid, Tanh, Pad,
  AveragePool, Add, Concat, GlobalAveragePool, Reshape, and Conv with explicit pads.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes, inputs, outputs, inits, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v, np.float32) if v.dtype.kind == "f"
                                                       else v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tinycompress-tests")
    onnx.checker.check_model(model)
    return model


def _io(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def digits_onnx(keras_model) -> onnx.ModelProto:
    """The Keras digits model (16x16x1 -> 10) as an NCHW ONNX graph with the same weights."""
    w = {layer.name: [np.asarray(v) for v in layer.get_weights()] for layer in keras_model.layers}
    conv = lambda k: k.transpose(3, 2, 0, 1)  # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
    # Keras flattens (h, w, c); ONNX (c, h, w): fc1's rows in ONNX order
    fc1 = w["fc1"][0].reshape(3, 3, 16, -1).transpose(2, 0, 1, 3).reshape(144, -1)
    inits = {"c1w": conv(w["conv1"][0]), "c1b": w["conv1"][1], "c2w": conv(w["conv2"][0]),
             "c2b": w["conv2"][1], "f1w": fc1.T, "f1b": w["fc1"][1], "f2w": w["fc2"][0],
             "f2b": w["fc2"][1], "f3w": w["logits"][0], "f3b": w["logits"][1]}
    nodes = [
        helper.make_node("Conv", ["image", "c1w", "c1b"], ["c1"], name="conv1", pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "f1w", "f1b"], ["g1"], name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["r3"], name="relu3"),
        helper.make_node("MatMul", ["r3", "f2w"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "f2b"], ["a2"], name="fc2_bias"),
        helper.make_node("Relu", ["a2"], ["r4"], name="relu4"),
        helper.make_node("Gemm", ["r4", "f3w", "f3b"], ["g3"], name="logits"),
        helper.make_node("Softmax", ["g3"], ["probs"], name="softmax", axis=-1),
    ]
    return _model(nodes, [_io("image", (1, 1, 16, 16))], [_io("probs", (1, 10))], inits, "digits")


def ops_onnx(seed: int = 0) -> onnx.ModelProto:
    """A 3x12x12 -> 5 graph using every supported op but those of digits_onnx."""
    rng = np.random.default_rng(seed)
    r = lambda *shape, s=0.3: (rng.normal(size=shape) * s).astype(np.float32)
    inits = {
        "bn_s": 1 + r(3), "bn_b": r(3), "bn_m": r(3), "bn_v": 0.5 + np.abs(r(3)),
        "dw_w": r(3, 1, 3, 3), "dw_b": r(3), "pw_w": r(8, 3, 1, 1), "pw_b": r(8),
        "ex_w": r(8, 3, 3, 3), "ex_b": r(8), "as_w": r(8, 3, 3, 3), "as_b": r(8),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(6.0, np.float32), "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "shape": np.array([1, -1], np.int64), "fc_w": r(16, 5), "fc_b": r(5),
    }
    nodes = [
        helper.make_node("BatchNormalization", ["x", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn"),
        helper.make_node("Conv", ["bn", "dw_w", "dw_b"], ["dw"], name="dw", group=3, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["dw", "lo", "hi"], ["dw6"], name="relu6"),
        helper.make_node("Conv", ["dw6", "pw_w", "pw_b"], ["pw"], name="pw"),
        helper.make_node("LeakyRelu", ["pw"], ["lr"], name="leaky", alpha=0.1),
        helper.make_node("Pad", ["x", "pads"], ["xp"], name="pad"),  # 12x12 -> 14x14
        helper.make_node("Conv", ["xp", "ex_w", "ex_b"], ["ex"], name="padded"),  # -> 12x12
        helper.make_node("Sigmoid", ["ex"], ["sg"], name="sigmoid"),
        # pads (top 0, left 1, bottom 2, right 1): not TF 'same', so a zero_pad2d node
        helper.make_node("Conv", ["x", "as_w", "as_b"], ["asym"], name="asym", pads=[0, 1, 2, 1]),
        helper.make_node("Add", ["lr", "sg"], ["sum"], name="add"),
        helper.make_node("Add", ["sum", "asym"], ["sum2"], name="add2"),
        helper.make_node("Tanh", ["sum2"], ["th"], name="tanh"),
        helper.make_node("AveragePool", ["th"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("MaxPool", ["th"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Concat", ["ap", "mp"], ["cat"], name="concat", axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"),
        helper.make_node("Reshape", ["gap", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], name="fc"),
    ]
    return _model(nodes, [_io("x", (1, 3, 12, 12))], [_io("y", (1, 5))], inits, "ops")
