"""tinycompress: Keras models to compressed Cortex-M firmware."""
from __future__ import annotations

__version__ = "0.1.0"

# `tinycompress.load(path) -> Graph`. Importing the function by name also makes
# the package attribute `load` the function rather than the submodule of the
# same name (import the module's other names with `from tinycompress.load import ...`).
# tinycompress.load imports TensorFlow lazily, so this stays cheap.
from tinycompress.load import load  # noqa: E402

__all__ = ["load", "__version__"]
