"""Train the bundled digits example: a LeNet-style CNN on scikit-learn's digits.

    cd <repo> && PYTHONPATH=. .venv/bin/python examples/digits/train.py

Writes examples/digits/model.keras (weights only, no optimizer state, so the
file stays small) and prints the test accuracy. The data split comes from
`tinycompress.data.load_digits_split`, the same one the tests and demo use.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tinycompress.data import DIGITS_CLASSES, DIGITS_INPUT_SHAPE, load_digits_split  # noqa: E402

SEED = 7
EPOCHS = 20
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
OUT = Path(__file__).resolve().parent / "model.keras"


def build_model() -> keras.Model:
    """LeNet-5 shape, scaled to 16x16 inputs: about 29k parameters."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(DIGITS_INPUT_SHAPE, name="image"),
            layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),  # 16x16x6 -> 8x8x6
            layers.Conv2D(16, 3, padding="valid", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),  # 6x6x16 -> 3x3x16
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="fc1"),
            layers.Dense(84, activation="relu", name="fc2"),
            layers.Dense(DIGITS_CLASSES, activation="softmax", name="logits"),
        ],
        name="digits_lenet",
    )


def train() -> tuple[keras.Model, float]:
    """Train with fixed seeds; returns the model and its test accuracy."""
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    split = load_digits_split()
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(split.x_train, split.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2)
    predicted = np.argmax(model.predict(split.x_test, verbose=0), axis=1)
    return model, float(np.mean(predicted == split.y_test))


def save_without_optimizer(model: keras.Model, path: Path) -> None:
    """Save architecture and weights only; optimizer slots would triple the file."""
    plain = build_model()
    plain.set_weights(model.get_weights())
    plain.save(path)


def main() -> None:
    model, accuracy = train()
    save_without_optimizer(model, OUT)
    print(f"params: {model.count_params()}")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"saved: {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
