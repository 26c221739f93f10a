"""The committed digits example: small, ~29k parameters, accurate on its test split."""
from __future__ import annotations

import numpy as np

import tinycompress
from tinycompress.data import DIGITS_MODEL, digits_test

# conv1 156 + conv2 880 + fc1 17,400 + fc2 10,164 + logits 850 (derived in test_cli.py)
DIGITS_PARAMS = 29450


def test_model_is_committed_and_small():
    assert DIGITS_MODEL.is_file()
    # 29,450 float32 weights are 117,800 bytes; no optimizer state is stored
    assert DIGITS_MODEL.stat().st_size < 200_000


def test_keras_model_params_and_float_accuracy():
    import keras

    model = keras.models.load_model(DIGITS_MODEL, compile=False)
    assert model.count_params() == DIGITS_PARAMS
    test = digits_test()
    predicted = np.argmax(model.predict(test.x, verbose=0), axis=1)
    accuracy = float(np.mean(predicted == test.y))
    assert accuracy >= 0.95, accuracy


def test_graph_of_example_has_same_params():
    graph = tinycompress.load(DIGITS_MODEL)
    assert graph.params == DIGITS_PARAMS
