"""User-facing errors: one type per kind of mistake.

The CLI turns any `TinyCompressError` into one line on stderr and exit code 2.
Raise them with `from exc` so the cause is kept for debugging (`--debug`).
"""


class TinyCompressError(Exception):
    """Base of every error caused by the user's input or environment."""


class ModelLoadError(TinyCompressError):
    """Missing path, unreadable or corrupt model file."""


class UnsupportedLayerError(TinyCompressError):
    """A layer type the loader cannot translate."""


class DataError(TinyCompressError):
    """Calibration/evaluation data missing, malformed or of the wrong shape."""


class SpecError(TinyCompressError):
    """Invalid option values or per-layer spec (bits, sparsity, layout, names)."""


class BoardError(TinyCompressError):
    """Unknown board, invalid board data, or a model that does not fit."""


class ToolError(TinyCompressError):
    """A required external tool is missing or failed (compiler, PlatformIO, QEMU)."""


# Ends every "tool missing" message: the command that checks everything at once.
DOCTOR_HINT = "(`tinycompress doctor` checks the rest)"


def missing_extra(what: str, extra: str) -> ToolError:
    """The error for an optional dependency that is not installed, naming the extra that brings it."""
    return ToolError(f"{what} is not installed: pip install 'tinycompress[{extra}]' {DOCTOR_HINT}")


class SimulationError(TinyCompressError):
    """The simulator hung, crashed, or its output could not be read."""


class BuildStateError(TinyCompressError):
    """A build directory's saved state is missing, damaged, or from another tinycompress version."""


class OutputExistsError(TinyCompressError):
    """The output directory exists and --force was not given."""


class IntegerOverflowError(TinyCompressError):
    """A layer's integer arithmetic can leave the range the kernels compute in (int32 accumulator, requantization)."""


class OutputPathError(TinyCompressError):
    """An output path cannot be created or written: a file in the way, no permission."""
