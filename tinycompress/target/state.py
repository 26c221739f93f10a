"""The build state: what `sim`, `flash` and the bench read back from a build directory.

    save_state(build_dir, qgraph, layers, board, data_source, model_path)
    state = load_state(build_dir)   # BuildState: qgraph, layers, board, data, model

Two files under DIR/tinycompress/, both plain data:

- `build-state.json`: {"kind": "tinycompress-build-state", "version": 1,
  "arrays_sha256": ..., "board", "data", "model", "layers", "qgraph"}. Values
  are encoded generically: a dataclass -> {"__dataclass__": "<ClassName>",
  field: value, ...}; an array -> {"__array__": key in the npz}; a tuple ->
  {"__tuple__": [...]}; a numpy scalar -> {"__scalar__": dtype, "value": v};
  a non-finite float -> {"__float__": "nan" | "inf" | "-inf"}. Python floats
  are written as their repr, which reads back to the same float exactly.
- `build-state.npz`: every array, one uncompressed .npy member per key, in key
  order with a fixed timestamp, so the same build writes the same bytes. The
  JSON holds its SHA-256: an npz from another build is refused, not mixed in.

Loading executes nothing from the directory: the npz is read with
`allow_pickle=False`, and "__dataclass__" names pick a class only from
`DATACLASSES` (the dataclasses of `DATACLASS_MODULES`). A missing, truncated
or foreign file, another format version or a damaged npz raises one
`BuildStateError` that names the file and what is wrong. The pickle the state
was before (`build-state.pkl`) is never opened.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tinycompress.errors import BuildStateError
from tinycompress.ir import graph as ir_graph
from tinycompress.ir import qgraph as ir_qgraph
from tinycompress.ir.qgraph import QGraph
from tinycompress.reference import int_prepare, tflite_math, weight_ops

STATE_DIR = Path("tinycompress")
STATE_FILE = STATE_DIR / "build-state.json"
ARRAYS_FILE = STATE_DIR / "build-state.npz"
OLD_STATE_FILE = STATE_DIR / "build-state.pkl"
KIND = "tinycompress-build-state"
VERSION = 1
REBUILD = "rebuild with `tinycompress build`"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry: no build time in the bytes

DATACLASS, ARRAY, TUPLE, SCALAR, FLOAT = "__dataclass__", "__array__", "__tuple__", "__scalar__", "__float__"
SCALAR_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                           "uint64", "float16", "float32", "float64"})

# The modules whose dataclasses a QGraph may hold (ir's graphs, the Params of
# every prepare_* function). The one place to update when reference/ gains or
# splits a module; tests/test_state.py fails while one that defines a dataclass
# is missing here.
DATACLASS_MODULES = (ir_graph, ir_qgraph, int_prepare, tflite_math, weight_ops)


def _collect_dataclasses(modules: Iterable) -> dict[str, type]:
    """Class name -> dataclass type, for the dataclasses each module defines itself."""
    found: dict[str, type] = {}
    for module in modules:
        for name, obj in vars(module).items():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                if name in found:
                    raise RuntimeError(f"two dataclasses named {name}: the state could not tell them apart")
                found[name] = obj
    return found


DATACLASSES = _collect_dataclasses(DATACLASS_MODULES)


@dataclass
class BuildState:
    """What a build leaves for `sim`, `flash` and the bench."""

    qgraph: QGraph
    layers: list[dict]  # per executed layer: name, op, layout, weight_bytes (Rendered.layers())
    board: str  # board name (boards/<name>)
    data: str | None  # the path of the build's .npz data, or None (sim: random inputs)
    model: str | None  # the model file, resolved (None: built from an in-memory model)


# ----------------------------------------------------------------- writing

def save_state(build_dir: str | Path, qgraph: QGraph, layers: list[dict], board: str,
               data_source: str | None, model_path: str | Path | None) -> Path:
    """Write DIR/tinycompress/build-state.json and .npz (module doc); returns the JSON's path.

    TypeError when the graph holds a value the format cannot store (a class not
    in `DATACLASSES`, an object array, a dict key starting with "__").
    """
    arrays: dict[str, np.ndarray] = {}
    model = None if model_path is None else str(Path(model_path).resolve())
    body = {"board": board, "data": data_source, "model": model,
            "layers": _encode(list(layers), "layers", arrays), "qgraph": _encode(qgraph, "qgraph", arrays)}
    npz = npz_bytes(arrays)
    doc = {"kind": KIND, "version": VERSION, "arrays_sha256": hashlib.sha256(npz).hexdigest(), **body}
    path = Path(build_dir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    (Path(build_dir) / ARRAYS_FILE).write_bytes(npz)  # first: a JSON on disk always has its arrays
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz that np.load reads: one stored `<key>.npy` per array, sorted, fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            with zf.open(zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE), "w") as member:
                np.lib.format.write_array(member, arrays[key], allow_pickle=False)
    return buf.getvalue()


def _encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """`value` as JSON data; arrays go to `arrays` under `key` (the value's path in the state)."""
    if isinstance(value, np.generic):  # first: np.float64 and np.str_ subclass float and str
        return _encode_scalar(value, key)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {FLOAT: repr(value)}
    if isinstance(value, np.ndarray):
        return _encode_array(value, key, arrays)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value, key, arrays)
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
        return {TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return _encode_dict(value, key, arrays)
    raise TypeError(f"build state: cannot store a {type(value).__name__} (at {key})")


def _encode_scalar(value: np.generic, key: str) -> dict:
    if value.dtype.name not in SCALAR_DTYPES:
        raise TypeError(f"build state: cannot store a numpy {value.dtype} scalar (at {key})")
    item = value.item()  # the Python bool/int/float of the same value (float32 -> float is exact)
    return {SCALAR: value.dtype.name, "value": _encode(item, key, {})}


def _encode_array(value: np.ndarray, key: str, arrays: dict[str, np.ndarray]) -> dict:
    if value.dtype.hasobject:
        raise TypeError(f"build state: cannot store an object array (at {key})")
    if key in arrays:
        raise TypeError(f"build state: two arrays at {key} (a dict key with a '.'?)")
    arrays[key] = value
    return {ARRAY: key}


def _encode_dataclass(value: Any, key: str, arrays: dict[str, np.ndarray]) -> dict:
    name = type(value).__name__
    if DATACLASSES.get(name) is not type(value):
        raise TypeError(f"build state: {type(value).__qualname__} is not a dataclass of "
                        f"DATACLASS_MODULES (at {key})")
    fields = {f.name: _encode(getattr(value, f.name), f"{key}.{f.name}", arrays)
              for f in dataclasses.fields(value) if f.init}
    return {DATACLASS: name, **fields}


def _encode_dict(value: dict, key: str, arrays: dict[str, np.ndarray]) -> dict:
    for k in value:
        if not isinstance(k, str) or k.startswith("__"):
            raise TypeError(f"build state: dict key {k!r} (at {key}) is not a string without a leading '__'")
    return {k: _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}


# ----------------------------------------------------------------- reading

def load_state(build_dir: str | Path) -> BuildState:
    """The state `save_state` wrote into `build_dir`; BuildStateError if it is absent or unusable."""
    build_dir = Path(build_dir)
    path = build_dir / STATE_FILE
    doc = _read_document(build_dir, path)
    arrays = _read_arrays(build_dir / ARRAYS_FILE, path, doc.get("arrays_sha256"))
    try:
        return _build_state(doc, arrays)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise BuildStateError(f"{path}: damaged ({_reason(exc)}); {REBUILD}") from exc


def _read_document(build_dir: Path, path: Path) -> dict:
    """The parsed JSON with its kind and version checked."""
    if not path.is_file():
        if (build_dir / OLD_STATE_FILE).exists():
            raise BuildStateError(f"{build_dir} was built by an older tinycompress ({OLD_STATE_FILE} "
                                  f"is not read any more); {REBUILD}")
        raise BuildStateError(f"{build_dir} is not a tinycompress build directory (no {STATE_FILE})")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise BuildStateError(f"{path}: cannot be read ({exc.strerror}); {REBUILD}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BuildStateError(f"{path}: not valid JSON, the file is damaged or truncated; {REBUILD}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise BuildStateError(f'{path}: not a tinycompress build state (no "kind": "{KIND}")')
    _check_version(doc.get("version"), path)
    return doc


def _check_version(version: Any, path: Path) -> None:
    if type(version) is not int:
        raise BuildStateError(f"{path}: damaged (no integer state format version); {REBUILD}")
    if version != VERSION:
        age = "newer" if version > VERSION else "older"
        raise BuildStateError(f"{path}: written by an {age} tinycompress (state format {version}, "
                              f"this one reads {VERSION}); {REBUILD}")


def _read_arrays(npz: Path, path: Path, sha256: Any) -> dict[str, np.ndarray]:
    """Every array of the npz, checked against the checksum in the JSON."""
    try:
        data = npz.read_bytes()
    except FileNotFoundError as exc:
        raise BuildStateError(f"{npz}: missing (it holds the arrays of {path}); {REBUILD}") from exc
    except OSError as exc:
        raise BuildStateError(f"{npz}: cannot be read ({exc.strerror}); {REBUILD}") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BuildStateError(f"{npz}: damaged or from another build (its SHA-256 is not the one "
                              f"{path} records); {REBUILD}")
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an archive")
        with archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise BuildStateError(f"{npz}: not a readable .npz ({_reason(exc)}); {REBUILD}") from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return " ".join(str(exc).split()) or type(exc).__name__


def _build_state(doc: dict, arrays: dict[str, np.ndarray]) -> BuildState:
    qgraph = _decode(doc["qgraph"], arrays)
    if not isinstance(qgraph, QGraph) or not all(isinstance(n, ir_qgraph.QNode) for n in qgraph.nodes):
        raise ValueError("'qgraph' is not a QGraph of QNodes")
    layers = _decode(doc["layers"], arrays)
    if not isinstance(layers, list) or not all(isinstance(l, dict) for l in layers):
        raise ValueError("'layers' is not a list of objects")
    board, data, model = doc["board"], doc["data"], doc["model"]
    if not isinstance(board, str) or not all(isinstance(v, (str, type(None))) for v in (data, model)):
        raise ValueError("'board', 'data' or 'model' is not a string")
    return BuildState(qgraph=qgraph, layers=layers, board=board, data=data, model=model)


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of `_encode`; ValueError/KeyError/TypeError on anything it did not write."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value  # None, bool, int, float, str
    if DATACLASS in value:
        return _decode_dataclass(value, arrays)
    marker = [k for k in value if k.startswith("__")]
    if not marker:
        return {k: _decode(v, arrays) for k, v in value.items()}
    if value.keys() == {ARRAY} and isinstance(arrays.get(value[ARRAY]), np.ndarray):
        return arrays[value[ARRAY]]
    if value.keys() == {TUPLE} and isinstance(value[TUPLE], list):
        return tuple(_decode(v, arrays) for v in value[TUPLE])
    if value.keys() == {FLOAT} and value[FLOAT] in ("nan", "inf", "-inf"):
        return float(value[FLOAT])
    if value.keys() == {SCALAR, "value"} and value[SCALAR] in SCALAR_DTYPES:
        return _decode_scalar(value[SCALAR], _decode(value["value"], arrays))
    raise ValueError(f"unknown or malformed entry {marker[0]!r}")


def _decode_scalar(dtype: str, item: Any) -> np.generic:
    if not isinstance(item, (bool, int, float)):
        raise ValueError(f"a {dtype} scalar holds {type(item).__name__}")
    return np.dtype(dtype).type(item)


def _decode_dataclass(value: dict, arrays: dict[str, np.ndarray]) -> Any:
    name = value[DATACLASS]
    cls = DATACLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown type {name!r}")
    expected = {f.name for f in dataclasses.fields(cls) if f.init}
    given = set(value) - {DATACLASS}
    if given != expected:
        raise ValueError(f"{name} has fields {sorted(given)}, expected {sorted(expected)}")
    return cls(**{k: _decode(v, arrays) for k, v in value.items() if k != DATACLASS})
