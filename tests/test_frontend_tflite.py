"""TFLite flatbuffers as input: format detection, float and int8 models, TFLite's arithmetic.

- Detection by content: hand-made headers of every format (the bytes are in the test).
- A float .tflite of the digits example (written by the installed TF's converter)
  loads to the same float function as the Keras model and TFLite's interpreter.
- The MLPerf Tiny int8 files (IC ResNet-8, AD autoencoder in ../shared/models) keep
  their quantization, and the integer reference equals TFLite Micro's outputs bit
  for bit (TFLM's Python interpreter runs its reference kernels), where
  tinycompress's own rounding would not.
- Target tier: both built 8-bit dense for nucleo_l4r5zi, run in QEMU, compared
  with TFLite Micro byte for byte.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tinycompress import cli
from tinycompress.compress.core import CompressOptions, compress
from tinycompress.compress.quantize import quantize
from tinycompress.data import DIGITS_MODEL, Dataset
from tinycompress.errors import DataError, ModelLoadError, UnsupportedLayerError
from tinycompress.frontend import load
from tinycompress.frontend.detect import detect_format
from tinycompress.frontend.keras_import import import_keras
from tinycompress.reference import tflite_math
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import run_int

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "mlperf_tiny"
INT8_MODELS = {"ic": "ic/pretrainedResnet_quant.tflite", "ad": "ad/ad01_int8.tflite"}
runner = CliRunner()


def mlperf(name: str) -> Path:
    path = SHARED / INT8_MODELS[name]
    if not path.is_file():
        pytest.fail(f"MLPerf Tiny model missing: {path} (clone the repo with shared/ beside it)")
    return path


def tflm(path: Path):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_file(str(path))


def tflm_outputs(path: Path, xq: np.ndarray) -> np.ndarray:
    """TFLite Micro's int8 outputs, one inference per row of xq."""
    it = tflm(path)
    outs = []
    for x in xq:
        it.set_input(x[None], 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)[0]))
    return np.stack(outs)


def random_int8(shape, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape)).astype(np.int8)


def write_tflite(path: Path, converter) -> Path:
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def digits_tflite(tmp_path_factory) -> Path:
    """The digits example converted to a float32 .tflite by the installed TensorFlow."""
    keras = import_keras()
    import tensorflow as tf

    model = keras.models.load_model(DIGITS_MODEL, compile=False)
    path = tmp_path_factory.mktemp("tflite") / "digits.tflite"
    return write_tflite(path, tf.lite.TFLiteConverter.from_keras_model(model))


# ---- detection -----------------------------------------------------------------------

@pytest.mark.parametrize("head, fmt", [
    (b"\x89HDF\r\n\x1a\n" + bytes(8), "h5"),             # the HDF5 signature
    (b"PK\x03\x04" + bytes(12), "keras"),                  # a zip local file header
    (b"\x1c\x00\x00\x00TFL3" + bytes(8), "tflite"),       # root offset 28, then "TFL3"
    (b"\x08\x07\x12\x07pytorch", "onnx"),                  # ir_version 7, producer_name
])
def test_formats_are_told_by_content_not_extension(tmp_path, head, fmt):
    path = tmp_path / "model.bin"  # no telling extension
    path.write_bytes(head)
    assert detect_format(path) == fmt


def test_a_directory_with_saved_model_pb_is_a_savedmodel(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert detect_format(tmp_path) == "savedmodel"


@pytest.mark.parametrize("head", [b"hello world, not a model", b"\x08\xff\xff\xff\x7f"])
def test_unknown_content_is_one_error_naming_the_formats(tmp_path, head):
    path = tmp_path / "model.tflite"
    path.write_bytes(head)
    with pytest.raises(ModelLoadError, match="expected a .keras zip archive, HDF5 .*TFLite.*ONNX"):
        detect_format(path)


# ---- float .tflite -------------------------------------------------------------------

def test_float_tflite_matches_keras_and_the_tflite_interpreter(digits_tflite, digits_graph):
    import tensorflow as tf

    graph = load(digits_tflite)
    assert graph.arithmetic == "tinycompress"
    assert [n.op for n in graph.nodes if n.params] == [n.op for n in digits_graph.nodes if n.params]
    assert graph.params == digits_graph.params
    x = np.random.default_rng(0).uniform(0, 1, (16, *digits_graph.inputs[0].output_shape)).astype(np.float32)
    it = tf.lite.Interpreter(model_path=str(digits_tflite))
    it.resize_tensor_input(it.get_input_details()[0]["index"], x.shape)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    got = run_float(graph, x)
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got - run_float(digits_graph, x)).max() < 1e-4


def test_float16_tensors_are_not_supported_yet(tmp_path, digits_tflite):
    keras = import_keras()
    import tensorflow as tf

    model = keras.models.load_model(DIGITS_MODEL, compile=False)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    path = write_tflite(tmp_path / "f16.tflite", conv)
    with pytest.raises(UnsupportedLayerError, match="float16 tensors are not supported yet"):
        load(path)
    result = runner.invoke(cli.app, ["inspect", str(path)])
    assert result.exit_code == 2
    assert "not supported yet" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unsupported_op_is_one_line_with_op_tensor_and_supported_list(tmp_path):
    import_keras()
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def f(x):
        return tf.exp(x, name="my_exp")

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = write_tflite(tmp_path / "exp.tflite", conv)
    result = runner.invoke(cli.app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "op EXP (tensor " in line and "supported: ADD, AVERAGE_POOL_2D" in line


# ---- int8 .tflite: kept quantization, TFLite's arithmetic ----------------------------

@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_int8_reference_equals_tflite_micro_bit_for_bit(name):
    path = mlperf(name)
    graph = load(path)
    assert graph.arithmetic == "tflite"
    shape = graph.inputs[0].output_shape
    calib = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    qgraph = quantize(graph, calib)  # calibration data only fills ranges the file does not give
    xq = random_int8(shape, 12, seed=2)
    want = tflm_outputs(path, xq)
    np.testing.assert_array_equal(run_int(qgraph, xq), want)
    # tinycompress's own (single) rounding would not agree: the flag is what makes it exact
    own = quantize(dataclasses.replace(graph, arithmetic="tinycompress"), calib)
    assert np.count_nonzero(run_int(own, xq) != want) > 0


def test_int8_file_keeps_its_quantization_unless_data_recalibrates():
    path = mlperf("ad")
    it = tflm(path)
    (s_in,), (z_in,) = (it.get_input_details(0)["quantization_parameters"][k]
                        for k in ("scales", "zero_points"))
    (s_out,), (z_out,) = (it.get_output_details(0)["quantization_parameters"][k]
                          for k in ("scales", "zero_points"))
    kept = compress(path, CompressOptions(bits=8, sparsity=0.0, layout="dense")).qgraph
    assert (kept.input_scale, kept.input_zero_point) == (float(s_in), int(z_in))
    out = kept.node(kept.outputs[0])
    assert (out.scale, out.zero_point) == (float(s_out), int(z_out))
    data = Dataset(np.random.default_rng(3).normal(0, 1, (64, 640)).astype(np.float32), None)
    recal = compress(path, CompressOptions(bits=8, sparsity=0.0, layout="dense"), data).qgraph
    assert recal.input_scale != float(s_in)
    # the int8 weights stay the file's
    first = kept.weight_nodes[0]
    np.testing.assert_array_equal(recal.weight_nodes[0].levels, first.levels)


def test_epochs_on_a_tflite_model_says_pruning_is_one_shot():
    x = np.random.default_rng(0).normal(size=(32, 640)).astype(np.float32)
    data = Dataset(x, np.zeros(32, np.int64))
    with pytest.raises(DataError, match="not one, so its pruning is one-shot: drop --epochs"):
        compress(mlperf("ad"), CompressOptions(sparsity=0.5, epochs=1), data)


# ---- target: firmware vs TFLite Micro in QEMU ----------------------------------------

def firmware_outputs(build_dir: Path, xq: np.ndarray) -> np.ndarray:
    """The simulation firmware's int8 outputs for int8 inputs (QEMU)."""
    from tinycompress.target.boards import load_board, sim_machine
    from tinycompress.target.qemu import run_elf
    from tinycompress.target.sim import SIM_ELF, default_timeout, parse_output, write_inputs
    from tinycompress.target.state import load_state

    state = load_state(build_dir)
    run_dir = build_dir / "tflm-compare"
    write_inputs(run_dir, xq)
    machine = sim_machine(load_board(state.board)).qemu_machine
    result = run_elf(build_dir / SIM_ELF, machine, timeout_s=default_timeout(len(xq), state.qgraph),
                     cwd=run_dir)
    return np.stack(parse_output(result.stdout, len(xq), len(state.layers)).outputs)


@pytest.mark.target
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_int8_firmware_equals_tflite_micro_in_qemu(name, tmp_path, offline_core):
    from tinycompress.pipeline import build

    path = mlperf(name)
    out = tmp_path / name
    build(path, "nucleo_l4r5zi", out, options=CompressOptions(bits=8, sparsity=0.0, layout="dense"))
    assert "-DTC_ARITHMETIC_TFLITE=0x1" in (out / "platformio.ini").read_text()
    shape = load(path).inputs[0].output_shape
    xq = random_int8(shape, 6, seed=5)
    got = firmware_outputs(out, xq).reshape(len(xq), -1)
    np.testing.assert_array_equal(got, tflm_outputs(path, xq).reshape(len(xq), -1))


@pytest.mark.target
@pytest.mark.slow
def test_float_tflite_firmware_is_bit_exact_with_the_reference(digits_tflite, tmp_path, offline_core):
    from tinycompress.pipeline import build
    from tinycompress.target.state import load_state

    out = tmp_path / "digits"
    build(digits_tflite, "nucleo_l4r5zi", out)
    qgraph = load_state(out).qgraph
    xq = random_int8(qgraph.input_shape, 6, seed=6)
    np.testing.assert_array_equal(firmware_outputs(out, xq).reshape(len(xq), -1),
                                  run_int(qgraph, xq).reshape(len(xq), -1))


# ---- int8 ops beyond the MLPerf files: each converted by TF, checked against TFLite Micro ----

def _int8_tflite(build, shape, path: Path) -> Path:
    """A Keras 3 model (input `shape` -> build(x)) converted to a full-integer int8 .tflite."""
    keras = import_keras()
    import tensorflow as tf

    inp = keras.Input(shape)
    model = keras.Model(inp, build(keras.layers, inp))
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(32):
            yield [rng.uniform(-1, 1, (1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return write_tflite(path, conv)


# name -> (input shape, layers); the converter fuses what it can, the rest stays standalone
OP_MODELS = {
    "depthwise_relu6_maxpool": ((8, 8, 4), lambda L, x: L.MaxPooling2D(2)(
        L.DepthwiseConv2D(3, padding="same", activation="relu6")(x))),
    "mean": ((8, 8, 3), lambda L, x: L.GlobalAveragePooling2D()(L.Conv2D(4, 3)(x))),
    "pad_concat": ((6, 6, 3), lambda L, x: L.Concatenate()(
        [L.ZeroPadding2D(1)(x), L.Conv2D(3, 3, padding="same")(L.ZeroPadding2D(1)(x))])),
    "logistic": ((16,), lambda L, x: L.Activation("sigmoid")(L.Dense(8)(x))),
    "tanh": ((16,), lambda L, x: L.Activation("tanh")(L.Dense(8)(x))),
    "leaky_relu": ((16,), lambda L, x: L.LeakyReLU(0.2)(L.Dense(8)(x))),
    "avgpool_same": ((9, 9, 3), lambda L, x: L.AveragePooling2D(3, strides=2, padding="same")(
        L.Conv2D(4, 3)(x))),
}


@pytest.mark.parametrize("name", sorted(OP_MODELS))
def test_int8_op_equals_tflite_micro_bit_for_bit(name, tmp_path):
    shape, build = OP_MODELS[name]
    path = _int8_tflite(build, shape, tmp_path / f"{name}.tflite")
    graph = load(path)
    qgraph = quantize(graph, np.random.default_rng(1).uniform(-1, 1, (4, *shape)).astype(np.float32))
    xq = random_int8(shape, 16, seed=3)
    np.testing.assert_array_equal(run_int(qgraph, xq).reshape(len(xq), -1),
                                  tflm_outputs(path, xq).reshape(len(xq), -1))


@pytest.mark.target
@pytest.mark.slow
def test_int8_ops_firmware_equals_tflite_micro_in_qemu(tmp_path, offline_core):
    """Depthwise, MEAN, LEAKY_RELU, LOGISTIC, PAD, CONCATENATION and MAX_POOL in one model."""
    from tinycompress.pipeline import build

    def layers(L, x):
        y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(L.ZeroPadding2D(1)(x))
        y = L.Concatenate()([y, L.Conv2D(4, 3, padding="same")(L.ZeroPadding2D(1)(x))])
        y = L.LeakyReLU(0.2)(L.Conv2D(8, 3)(L.MaxPooling2D(2)(y)))
        return L.Activation("sigmoid")(L.Dense(5)(L.GlobalAveragePooling2D()(y)))

    path = _int8_tflite(layers, (8, 8, 4), tmp_path / "ops.tflite")
    out = tmp_path / "ops"
    build(path, "nucleo_l4r5zi", out, options=CompressOptions(bits=8, sparsity=0.0, layout="dense"))
    xq = random_int8((8, 8, 4), 8, seed=7)
    np.testing.assert_array_equal(firmware_outputs(out, xq).reshape(len(xq), -1),
                                  tflm_outputs(path, xq).reshape(len(xq), -1))


def test_fidelity_is_measured_against_the_tflite_as_given():
    """At 8 bits with its own weights the model is the file: no loss at all; fewer bits or
    recalibrated activations are scored against the file's integer outputs."""
    x = np.load(SHARED / "ad" / "toycar_id01_clip0.npz")["x"][:48]
    dense = dict(sparsity=0.0, layout="dense")
    as_given = compress(mlperf("ad"), CompressOptions(bits=8, **dense), None, Dataset(x, None))
    assert as_given.fidelity["rel_rms_error"] == 0.0
    fewer = compress(mlperf("ad"), CompressOptions(bits=4, **dense), None, Dataset(x, None))
    recal = compress(mlperf("ad"), CompressOptions(bits=8, **dense), Dataset(x, None), Dataset(x, None))
    assert fewer.fidelity["rel_rms_error"] > recal.fidelity["rel_rms_error"] > 0.0


# ---- tc_requant.h built with TC_ARITHMETIC_TFLITE vs tflite_math, on the host ----------

REQUANT_SHIM = """
#include "tc_requant.h"
int32_t rq(int32_t acc, int32_t m, int32_t shift) { return tc_requantize(acc, m, shift); }
"""


@pytest.mark.host
def test_c_requantization_is_tflites_double_rounding(tmp_path):
    """The folded one-step form for right shifts and the plain form for the rest both
    equal srdhm + rdbp, on random values and on constructed ties of either rounding."""
    import ctypes

    from tests.cbuild import build_shared

    src = tmp_path / "rq.c"
    src.write_text(REQUANT_SHIM, encoding="utf-8")
    lib = build_shared([src], extra_flags=["-DTC_ARITHMETIC_TFLITE"])
    lib.rq.restype = ctypes.c_int32
    lib.rq.argtypes = [ctypes.c_int32] * 3
    rng = np.random.default_rng(0)
    # m = 3 * 2^29 and acc = 4k + 2: acc * m = k' 2^31 + 2^30, a tie of the first rounding;
    # small |acc| with large shifts land on ties of the second
    ties = np.arange(-64, 64) * 4 + 2
    for shift in [-31, -20, -9, -3, -2, -1, 0, 1, 4]:
        for m in (int(rng.integers(1 << 30, 1 << 31)), 3 << 29):
            span = (1 << 31) >> shift if shift > 0 else 1 << 31
            acc = np.concatenate([rng.integers(-span, span, 400), np.arange(-300, 300), ties])
            want = tflite_math.requantize(acc, m, shift)
            got = np.array([lib.rq(int(a), m, shift) for a in acc])
            np.testing.assert_array_equal(got, want, err_msg=f"shift {shift}, m {m}")
