"""tinycompress: Keras models to compressed Cortex-M firmware."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load", "__version__"]


def load(path):
    """Load a Keras model file (.keras, .h5, SavedModel dir) into a `Graph`."""
    from tinycompress.load import load as _load

    return _load(path)
