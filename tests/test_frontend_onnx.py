"""ONNX models as input (tests/onnx_models.py builds them with onnx.helper).

The float reference of the loaded Graph (NHWC) is checked against ONNX's own
reference evaluator (NCHW) on random inputs within 1e-4; the digits model in
ONNX is also the same function as the Keras digits example, which shows the
Flatten of an NCHW tensor is permuted into the dense layer correctly. Errors:
an unsupported op and a quantized model are one line each, exit 2.
Target tier: the ONNX digits model builds for nucleo_l4r5zi and runs in QEMU
bit-exact with the integer reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from typer.testing import CliRunner

from tests.onnx_models import digits_onnx, ops_onnx
from tinycompress import cli
from tinycompress.compress.quantize import quantize
from tinycompress.data import DIGITS_MODEL
from tinycompress.frontend import load
from tinycompress.frontend.keras_import import import_keras
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import run_int

TOLERANCE = 1e-4
runner = CliRunner()


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory) -> dict[str, Path]:
    keras = import_keras()
    root = tmp_path_factory.mktemp("onnx")
    files = {"digits": root / "digits.onnx", "ops": root / "ops.onnx"}
    onnx.save(digits_onnx(keras.models.load_model(DIGITS_MODEL, compile=False)), files["digits"])
    onnx.save(ops_onnx(seed=0), files["ops"])
    return files


def worst_difference(path: Path, n: int = 8, seed: int = 0) -> float:
    """Max |Graph float reference - onnx.reference| over n random NCHW inputs in [-1, 1]."""
    model = onnx.load(str(path))
    evaluator = ReferenceEvaluator(model)
    graph = load(path)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).uniform(-1, 1, (n, *dims[1:])).astype(np.float32)
    want = np.concatenate([evaluator.run(None, {model.graph.input[0].name: xi[None]})[0] for xi in x])
    got = run_float(graph, x.transpose(0, 2, 3, 1))  # NCHW -> the Graph's NHWC
    return float(np.abs(got.reshape(want.shape) - want).max())


@pytest.mark.parametrize("name", ["digits", "ops"])
def test_float_reference_agrees_with_onnx_reference(onnx_files, name):
    assert worst_difference(onnx_files[name]) <= TOLERANCE


def test_digits_in_onnx_is_the_keras_digits_model(onnx_files, digits_graph):
    graph = load(onnx_files["digits"])
    ops = lambda g: [(n.op, n.activation, tuple(n.output_shape)) for n in g.nodes if n.op != "input"]
    assert ops(graph) == ops(digits_graph)  # MatMul + Add fused into one dense, Relu into its producer
    x = np.random.default_rng(1).uniform(0, 1, (16, 16, 16, 1)).astype(np.float32)
    assert np.abs(run_float(graph, x) - run_float(digits_graph, x)).max() <= TOLERANCE


def test_every_listed_op_is_covered_and_quantizes(onnx_files):
    used = {n.op_type for f in onnx_files.values() for n in onnx.load(str(f)).graph.node}
    assert used >= {"Conv", "Gemm", "MatMul", "Add", "BatchNormalization", "Relu", "Clip", "Sigmoid",
                    "Tanh", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Flatten",
                    "Reshape", "Softmax", "Pad", "LeakyRelu"}
    graph = load(onnx_files["ops"])
    assert {n.op for n in graph.nodes} >= {"depthwise_conv2d", "affine", "zero_pad2d", "concat"}
    x = np.random.default_rng(2).uniform(-1, 1, (32, 12, 12, 3)).astype(np.float32)
    qgraph = quantize(graph, x)
    assert run_int(qgraph, qgraph.quantize_input(x)).shape == (32, 5)


def _save(model, path: Path) -> Path:
    onnx.save(model, path)
    return path


def _one_op_model(op: str, **attrs) -> onnx.ModelProto:
    io = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4])
    node = helper.make_node(op, ["x"], ["y"], name=f"my_{op.lower()}", **attrs)
    graph = helper.make_graph([node], "g", [io("x")], [io("y")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_unsupported_op_is_one_line_with_node_and_supported_list(tmp_path):
    path = _save(_one_op_model("Exp"), tmp_path / "exp.onnx")
    result = runner.invoke(cli.app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: op Exp (node my_exp): op not supported; supported: Add, AveragePool")


def test_a_quantized_onnx_model_is_not_supported_yet(tmp_path):
    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zp = helper.make_tensor("z", TensorProto.INT8, [], [0])
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 4])], [scale, zp])
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "q.onnx")
    result = runner.invoke(cli.app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: op QuantizeLinear (node q): quantized ONNX models are "
                                     "not supported yet; export the float model")


def test_an_old_opset_is_refused_in_one_line(tmp_path):
    model = _one_op_model("Relu")
    model.opset_import[0].version = 11
    result = runner.invoke(cli.app, ["inspect", str(_save(model, tmp_path / "old.onnx"))])
    assert result.exit_code == 2 and "opset 11 is not supported; supported: opset 13 or later" in result.output


@pytest.mark.target
@pytest.mark.slow
def test_onnx_digits_firmware_is_bit_exact_with_the_reference(onnx_files, tmp_path, offline_core):
    from tests.test_frontend_tflite import firmware_outputs
    from tinycompress.pipeline import build
    from tinycompress.target.state import load_state

    out = tmp_path / "digits"
    build(onnx_files["digits"], "nucleo_l4r5zi", out)
    qgraph = load_state(out).qgraph
    xq = np.random.default_rng(4).integers(-128, 128, (6, *qgraph.input_shape)).astype(np.int8)
    np.testing.assert_array_equal(firmware_outputs(out, xq).reshape(len(xq), -1),
                                  run_int(qgraph, xq).reshape(len(xq), -1))
