"""TFLite int8 / TFLM baselines on a tiny Keras model trained in the test."""
import keras
import numpy as np
import pytest

from bench import baselines
from tinycompress.data import load_digits_split

HIDDEN = 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 256-16-10 MLP on the digits split, saved as .keras; with its data."""
    split = load_digits_split()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 1)), keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(split.x_train, split.y_train, epochs=15, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model.save(path)
    flat = baselines.tflite_int8(path, split.x_train[:100])
    return path, model, split, flat


def test_float_weight_bytes(tiny):
    path, *_ = tiny
    # (256*16 + 16) + (16*10 + 10) = 4282 float32 parameters = 17,128 bytes
    assert baselines.float_weight_bytes(path) == 17128


def test_int8_flatbuffer_runs_in_litert(tiny):
    from ai_edge_litert.interpreter import Interpreter

    _, _, split, flat = tiny
    assert flat[4:8] == b"TFL3"  # TFLite flatbuffer file identifier
    # int8 weights: 4282 parameters as int8 + int32 biases, well under float's 17,128 B
    assert 4282 < len(flat) < 17128
    interp = Interpreter(model_content=flat)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert tuple(inp["shape"]) == (1, 16, 16, 1) and tuple(out["shape"]) == (1, 10)
    interp.set_tensor(inp["index"], np.zeros((1, 16, 16, 1), np.int8))
    interp.invoke()
    assert interp.get_tensor(out["index"]).shape == (1, 10)


def test_int8_accuracy_close_to_float(tiny):
    _, model, split, flat = tiny
    float_acc = float(np.mean(np.argmax(model.predict(split.x_test, verbose=0), -1) == split.y_test))
    int8_acc = baselines.tflite_accuracy(flat, split.x_test, split.y_test)
    assert float_acc > 0.85  # the tiny MLP learned something
    assert abs(int8_acc - float_acc) <= 0.02


def test_tflm_arena_plausible(tiny):
    *_, flat = tiny
    arena = baselines.tflm_arena_bytes(flat)
    # The arena must at least hold the int8 input (256 B) and the hidden
    # activations (16 B) at once; interpreter bookkeeping for 3 ops stays far below 64 KB.
    assert 256 + HIDDEN <= arena < 64 * 1024


def test_tflm_smallest_arena_runs_and_one_less_fails(tiny):
    *_, flat = tiny
    smallest = baselines.tflm_smallest_arena(flat)
    assert baselines._run_tflm(flat, smallest)[0]
    assert not baselines._run_tflm(flat, smallest - 1)[0]
    assert smallest >= 256 + HIDDEN
