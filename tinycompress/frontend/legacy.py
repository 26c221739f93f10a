"""Open a model file with Keras, repairing legacy `.h5` configs when needed.

Keras 2 / tf.keras saved every constructor argument of a layer in the file;
Keras 3 refuses arguments it no longer has (DepthwiseConv2D `groups`,
BatchNormalization `fused`, ...). Those arguments never change inference, so
the repair drops, from each saved layer config, the keys its Keras 3 class
does not accept, writes the patched config into a temporary copy of the file
and lets Keras load that copy (weights included) through its public API.
"""
from __future__ import annotations

import inspect
import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import h5py

from tinycompress.errors import ModelLoadError
from tinycompress.frontend.keras_import import import_keras
from tinycompress.frontend.keras_layers import unsupported_type

# Keys Keras 3 still understands in legacy configs although no __init__ names them.
_LEGACY_BASE_KEYS = {"name", "trainable", "dtype", "batch_input_shape", "batch_shape",
                     "input_shape", "input_dim", "batch_size"}
_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Legacy names an __init__ takes out of **kwargs itself (LeakyReLU "alpha").
_KWARGS_KEY = re.compile(r"""kwargs\.pop\(\s*["'](\w+)["']|["'](\w+)["']\s+in\s+kwargs""")


def load_keras_model(path: Path):
    """A Keras model from `.keras`, `.h5` or a SavedModel directory; ModelLoadError otherwise."""
    keras = import_keras()
    if path.is_dir():
        return _load_saved_model_dir(keras, path)
    if _is_h5(path):
        return _load_h5(keras, path)
    config = _read_keras_config(path)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise (_layer_problem(keras, config) or ModelLoadError(
            f"cannot read model file {path}: {_first_line(exc)}")) from exc


def _read_keras_config(path: Path) -> dict | None:
    """config.json of a .keras archive (None when unreadable: Keras then says why)."""
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path} is not a Keras model file (neither a .keras zip archive nor HDF5)")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ModelLoadError(f"{path} is not a Keras model file (a zip archive "
                                     "without config.json)")
            return json.loads(archive.read("config.json"))
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def _layer_problem(keras, config: dict | None) -> Exception | None:
    """Why Keras could not rebuild a saved model, when a layer config tells: a Lambda
    (Keras refuses to unpickle its Python code) or a custom class this process
    does not know (and that could not be translated if it did)."""
    for layer in _layer_configs(config):
        cls = str(layer.get("class_name", ""))
        cfg = layer.get("config")
        name = (cfg.get("name") if isinstance(cfg, dict) else None) or layer.get("name", "?")
        where = f"layer {name} ({cls})"
        registered = layer.get("registered_name")
        module = layer.get("module")
        builtin = (inspect.isclass(getattr(keras.layers, cls, None)) and registered in (None, cls)
                   and (module is None or str(module).startswith("keras")))
        if cls == "Lambda" or not builtin:
            custom = None if builtin else (
                f"registered as {registered!r}" if registered and ">" in str(registered)
                else "not a Keras layer")
            return unsupported_type(where, cls, custom)
    return None


def _layer_configs(config) -> list[dict]:
    """Every layer config of a saved model config, nested models' layers included."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return []
    found = []
    for layer in config["config"].get("layers", []):
        if not isinstance(layer, dict):
            continue
        inner = layer.get("config")
        nested = isinstance(inner, dict) and isinstance(inner.get("layers"), list)
        found.extend(_layer_configs(layer) if nested else [layer])
    return found


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _is_h5(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == _H5_SIGNATURE
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from exc


def _load_saved_model_dir(keras, path: Path):
    if not (path / "saved_model.pb").exists():
        raise ModelLoadError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras 3 reads no SavedModel; its message is a paragraph
        raise ModelLoadError(
            f"cannot recover Keras layers from SavedModel {path}: Keras 3 reads only "
            ".keras and .h5 files; re-save the model with model.save('model.keras')") from exc


def _load_h5(keras, path: Path):
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as first:
        config = _read_h5_config(path, first)
        problem = _layer_problem(keras, config)
        if problem is not None:
            raise problem from first
        patched, dropped = patch_config(keras, config)
        if not dropped:
            raise ModelLoadError(f"cannot read model file {path}: {_first_line(first)}") from first
        try:
            return _load_patched_copy(keras, path, patched)
        except Exception as exc:
            raise ModelLoadError(
                f"cannot read legacy model file {path} even after dropping arguments "
                f"{sorted(dropped)}: {_first_line(exc)}") from exc


def _read_h5_config(path: Path, cause: Exception) -> dict:
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except Exception as exc:
        raise ModelLoadError(f"cannot read HDF5 file {path}: {_first_line(exc)}") from exc
    if raw is None:
        raise ModelLoadError(
            f"{path} holds no model config (a weights-only file?): {_first_line(cause)}") from cause
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def _load_patched_copy(keras, path: Path, config: dict):
    with tempfile.TemporaryDirectory(prefix="tinycompress-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as f:
            f.attrs["model_config"] = json.dumps(config)
        return keras.models.load_model(copy, compile=False)


def patch_config(keras, config: dict) -> tuple[dict, set[str]]:
    """Drop from every layer config the keys its Keras 3 class does not accept.

    Returns the patched config (a new dict) and the set of "Class.key" dropped.
    """
    dropped: set[str] = set()
    return _patch_layer(keras, json.loads(json.dumps(config)), dropped), dropped


def _patch_layer(keras, layer_config: dict, dropped: set[str]) -> dict:
    cfg = layer_config.get("config")
    if not isinstance(cfg, dict):
        return layer_config
    for sub in cfg.get("layers", []):  # nested Sequential / Functional
        _patch_layer(keras, sub, dropped)
    cls = getattr(keras.layers, layer_config.get("class_name", ""), None)
    if not inspect.isclass(cls) or "layers" in cfg:
        return layer_config
    accepted = _accepted_args(cls)
    for key in [k for k in cfg if k not in accepted]:
        dropped.add(f"{cls.__name__}.{key}")
        del cfg[key]
    return layer_config


def _accepted_args(cls) -> set[str]:
    names = set(_LEGACY_BASE_KEYS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params
                     if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self")
        names.update(_popped_kwargs(init))
    return names


def _popped_kwargs(init) -> set[str]:
    try:
        source = inspect.getsource(init)
    except (OSError, TypeError):  # builtins / C extensions have no source
        return set()
    return {a or b for a, b in _KWARGS_KEY.findall(source)}
