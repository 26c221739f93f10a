"""The one way tinycompress imports Keras: lazily, with TensorFlow's logging silenced.

Both the file reader (`legacy`) and the translator (`keras`) call
`import_keras()` inside their functions, so importing tinycompress never
imports TensorFlow.
"""
from __future__ import annotations

import os


def import_keras():
    """Import Keras with TensorFlow's C++ and Python logging silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return keras
