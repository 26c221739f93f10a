"""tinycompress: trained Keras models -> compressed Cortex-M firmware.

The package reads as the pipeline; data flows one way, top to bottom:

| subpackage    | in -> out                                                          |
|---------------|--------------------------------------------------------------------|
| `frontend/`   | model file -> float `Graph` (Keras 3 .keras/.h5, legacy tf.keras)  |
| `compress/`   | `Graph` (+ data) -> `Plan` -> quantized graph + one layout a layer |
| `codegen/`    | quantized graph + layouts -> C sources (templates in `templates/`) |
| `target/`     | C sources + board -> PlatformIO project -> ELF -> QEMU / flash     |
| `report/`     | the JSON documents of a build -> HTML                              |
| `pipeline.py` | `build()`: the stages chained; `cli/` parses and delegates to it   |

Below them all: `ir/` (the `Graph` and `QGraph` data types), `layouts/`
(integer matrix -> C arrays, exact bytes, op counts), `reference/` (the numpy
float and integer interpreters: the executable spec of every C kernel), and
`errors`, `data`, `paths`. No module imports a later stage.
"""
from __future__ import annotations

__version__ = "0.1.0"

from tinycompress.frontend import load  # noqa: E402  (TensorFlow is imported lazily)

__all__ = ["load", "__version__"]
