"""Which kind of model a path holds, told by its content (the extension only breaks ties).

| format       | how it is recognised                                              |
|--------------|-------------------------------------------------------------------|
| "savedmodel" | a directory holding saved_model.pb                                |
| "h5"         | the HDF5 signature in the first 8 bytes                           |
| "keras"      | a zip archive (a .keras file is one)                              |
| "tflite"     | the FlatBuffer file identifier "TFL3" at bytes 4..8               |
| "onnx"       | a protobuf whose first field is ModelProto.ir_version (tag 0x08)  |

A path that matches none raises ModelLoadError naming what was expected.
"""
from __future__ import annotations

from pathlib import Path

from tinycompress.errors import ModelLoadError

FORMATS = ("keras", "h5", "tflite", "onnx", "savedmodel")
_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_TFLITE_IDENTIFIER = b"TFL3"
# ModelProto field 1 (ir_version, varint): key = (1 << 3) | 0
_ONNX_FIRST_KEY = 0x08
# ONNX IR versions so far are 1..11; a larger first varint is not an ONNX model
_ONNX_MAX_IR_VERSION = 64
_EXPECTED = ("a .keras zip archive, HDF5 (.h5), a TFLite flatbuffer (.tflite), "
             "an ONNX model (.onnx) or a SavedModel directory")


def detect_format(path: str | Path) -> str:
    """One of FORMATS for the model at `path`; ModelLoadError when it is none of them."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"no such model file: {path}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelLoadError(f"{path} is a directory without saved_model.pb; expected {_EXPECTED}")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    found = format_of_bytes(head)
    if found is None:
        raise ModelLoadError(f"{path} is not a model file tinycompress reads; expected {_EXPECTED}")
    return found


def format_of_bytes(head: bytes) -> str | None:
    """The format the first bytes of a file announce, None when none."""
    if head.startswith(_H5_SIGNATURE):
        return "h5"
    if head.startswith(_ZIP_SIGNATURE):
        return "keras"
    if len(head) >= 8 and head[4:8] == _TFLITE_IDENTIFIER:
        return "tflite"
    if head[:1] == bytes([_ONNX_FIRST_KEY]) and 0 < _varint(head[1:]) <= _ONNX_MAX_IR_VERSION:
        return "onnx"
    return None


def _varint(data: bytes) -> int:
    """The protobuf varint at the start of `data` (0 when truncated)."""
    value = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    return 0
