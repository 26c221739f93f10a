"""TFLite int8, the route users compare against: convert a Keras model, run it with LiteRT.

    tfl = tflite_int8(keras_model, calib_x)      # full-integer .tflite bytes
    out = tflite_predict(tfl, x)                 # dequantized outputs, (N, ...)

The converter is TensorFlow's (post-training full-integer quantization,
calibrated on the same inputs as ours); the interpreter is `ai-edge-litert`
(the `bench` extra). `available()` says whether the interpreter is installed.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io

import numpy as np

INTERPRETER_PACKAGE = "ai_edge_litert"


def available() -> bool:
    """Whether the LiteRT interpreter can be imported (`pip install 'tinycompress[bench]'`)."""
    return importlib.util.find_spec(INTERPRETER_PACKAGE) is not None


def tflite_int8(keras_model, calib_x: np.ndarray) -> bytes:
    """Full-integer int8 `.tflite` of a Keras model, calibrated on `calib_x` (N, *input)."""
    import tensorflow as tf

    calib = np.asarray(calib_x, dtype=np.float32)

    def representative():
        for sample in calib:  # one sample per step, with its batch axis
            yield [sample[np.newaxis]]

    # Keras' export prints "Saved artifact at ..." on stdout, which is the CLI's (--json)
    with contextlib.redirect_stdout(io.StringIO()):
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        return bytes(converter.convert())


def tflite_predict(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantized first output (N, ...) of an int8 `.tflite` on float inputs `x` (N, *input)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    info = np.iinfo(inp["dtype"])
    results = []
    for sample in np.asarray(x, dtype=np.float32):
        q = np.clip(np.round(sample / in_scale) + in_zero, info.min, info.max)
        interp.set_tensor(inp["index"], q.astype(inp["dtype"])[np.newaxis])
        interp.invoke()
        raw = interp.get_tensor(out["index"])[0].astype(np.float32)
        results.append((raw - out_zero) * out_scale)
    return np.stack(results)
