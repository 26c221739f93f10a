"""The grid sweep's files: what identifies a result, the append-only points log, sweep.json.

    fp = fingerprint(model_path, data, eval_data, epochs, cwd, val_data=val, budget=budget)
    append_point(DIR / POINTS_FILE, record); read_points(DIR / POINTS_FILE)
    write_json_atomic(DIR / SWEEP_FILE, document)
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tinycompress.compress.fidelity import Budget
from tinycompress.compress.spec import SPEC_FILENAME
from tinycompress.data import Dataset
from tinycompress.errors import ModelLoadError

POINTS_FILE = "sweep-points.jsonl"
SWEEP_FILE = "sweep.json"
SCHEMA = 2  # 2: accuracies on the validation split, eval figures apart, loss_pts and fidelity


def _hash_path(h, path: Path) -> None:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        h.update(f.read_bytes())


def _hash_dataset(h, data: Dataset | None) -> None:
    for arr in (None, None) if data is None else (data.x, data.y):
        h.update(b"none" if arr is None else f"{arr.shape}{arr.dtype}".encode())
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())


def fingerprint(model_path: str | Path, data: Dataset, eval_data: Dataset | None,
                epochs: int, cwd: str | Path = ".", val_data: Dataset | None = None,
                budget: Budget | None = None) -> str:
    """Hash of everything besides the grid point that changes a result."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelLoadError(f"{model_path}: no such file or directory")
    h = hashlib.sha256(f"schema {SCHEMA} epochs {epochs} budget {budget}".encode())
    _hash_path(h, model_path)
    for ds in (data, eval_data, val_data):
        _hash_dataset(h, ds)
    spec = Path(cwd) / SPEC_FILENAME  # compress applies it: layout, optimize, lambda, ...
    h.update(spec.read_bytes() if spec.is_file() else b"no spec")
    return h.hexdigest()[:16]


def read_points(path: Path) -> dict[str, dict]:
    """Records of `sweep-points.jsonl` by key; a torn last line is cut off the file."""
    if not path.exists():
        return {}
    raw = path.read_bytes()
    complete = raw[:raw.rfind(b"\n") + 1]
    if len(complete) != len(raw):
        with path.open("r+b") as f:  # the next append must start on a fresh line
            f.truncate(len(complete))
    records = {}
    for line in complete.decode("utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a damaged line is a point to redo, not a reason to stop
        if isinstance(record, dict) and "key" in record:
            records[record["key"]] = record
    return records


def append_point(path: Path, record: dict) -> None:
    """Append one record as a line and force it to disk (it survives a kill right after)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(path: Path, document: dict) -> None:
    """Write JSON to a temp file in the same directory, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(document, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
