"""The one way tinycompress imports Keras: lazily, with TensorFlow's logging silenced.

Both the file reader (`legacy`) and the translator (`keras`) call
`import_keras()` inside their functions, so importing tinycompress never
imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

from tinycompress.errors import missing_extra

# What TensorFlow's C++ side writes straight to file descriptor 2 while it is
# imported, whatever TF_CPP_MIN_LOG_LEVEL says: absl's notice that logging is
# not initialised yet, and info lines such as the oneDNN one. They would turn
# the CLI's one `error: ...` line into five.
_IMPORT_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:. ]+\d+ \S+:\d+\] .*)$")


def import_keras():
    """Import Keras with TensorFlow's C++ and Python logging silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if "tensorflow" not in sys.modules:
            with _without_import_banners():
                import tensorflow  # noqa: F401  (Keras' backend: imported here, quietly)
        import keras
        import tensorflow as tf
    except ModuleNotFoundError as exc:
        if exc.name not in ("tensorflow", "keras"):
            raise
        raise missing_extra("TensorFlow/Keras", "tf") from exc

    tf.get_logger().setLevel("ERROR")
    return keras


@contextlib.contextmanager
def _without_import_banners() -> Iterator[None]:
    """Hold what is written to fd 2 meanwhile; pass on every line but TensorFlow's banners."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _IMPORT_BANNER.match(line.rstrip("\n")))
            if kept:
                os.write(2, kept.encode("utf-8"))
