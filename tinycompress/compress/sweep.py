"""The design-space sweep: sparsity x bits x quantizer, and its size-accuracy Pareto front.

    result = sweep(model_path, load_npz("train.npz"), load_npz("test.npz"), "out",
                   SweepOptions(sparsities=(0.0, 0.9), bits=(4, 8), quantizers=("uniform",)))

Every grid point is one `compress()` call, run in a pool of worker processes
(the 'spawn' start method: TensorFlow must not be forked after import). Each
worker imports TensorFlow and loads the model once, and runs with one thread so
that results do not depend on how many workers share the machine.

Files written to the output directory DIR:

- `sweep-points.jsonl`: one JSON object per finished point, appended (flushed
  and fsynced) as soon as the point finishes, in completion order:
      {"key": str,                  # point parameters + fingerprint: the resume key
       "fingerprint": str,          # hash of model file(s), data arrays, epochs, spec file
       "name": "s0.9-b4-uniform", "sparsity": float, "bits": int, "quantizer": str,
       "epochs": int, "model": str, "weight_bytes": int, "float_weight_bytes": int,
       "accuracy": float,           # integer (quantized) model, 0..1
       "float_accuracy": float,     # float model after pruning, before quantization
       "model_float_accuracy": float,  # the unpruned float model
       "layers": [{name, op, bits, sparsity, layout, weight_bytes}]}
  A rerun with the same DIR skips every grid point whose key is already there;
  lines with another fingerprint (the model or data changed) are ignored, not
  mixed in. A line cut short by a kill is dropped on the next run.
- `sweep.json` (written at the end, atomically: temp file + rename), a superset
  of what `tinycompress.report.page` reads:
      {"schema": 1, "model": str, "model_path": str, "fingerprint": str,
       "float_accuracy": float,     # the unpruned float model, 0..1
       "float_weight_bytes": int,
       "grid": {"sparsities": [float], "bits": [int], "quantizers": [str], "epochs": int},
       "points": [{"name", "sparsity", "bits", "quantizer", "weight_bytes", "accuracy",
                   "float_accuracy", "pareto": bool, "layers": [...]}],  # grid order
       "pareto": [name]}            # the front, by weight bytes ascending
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from tinycompress.compress.core import check_data, compress
from tinycompress.compress.options import CompressOptions
from tinycompress.compress.spec import SPEC_FILENAME, merge
from tinycompress.data import Dataset
from tinycompress.errors import DataError, ModelLoadError, SpecError
from tinycompress.frontend import load
from tinycompress.reference.float_ref import run_float

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
POINTS_FILE = "sweep-points.jsonl"
SWEEP_FILE = "sweep.json"
SCHEMA = 1
STAGE = "sweep"
DEFAULT_SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95)
DEFAULT_BITS = (2, 3, 4, 6, 8)
DEFAULT_QUANTIZERS = ("uniform", "rd")
# One thread per worker, whatever the job count: thread count changes the order of
# float reductions (BLAS, TensorFlow), and with it the last bits of the results.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass(frozen=True, order=True)
class Point:
    """One grid point; ordered by (sparsity, bits, quantizer)."""

    sparsity: float
    bits: int
    quantizer: str

    @property
    def name(self) -> str:
        return f"s{self.sparsity:g}-b{self.bits}-{self.quantizer}"

    def key(self, fingerprint: str) -> str:
        """The resume key: the exact parameters plus what they were computed on."""
        return json.dumps([self.sparsity, self.bits, self.quantizer, fingerprint])


@dataclass(frozen=True)
class SweepOptions:
    """The grid and how to run it (`jobs` None = one worker per core)."""

    sparsities: Sequence[float] = DEFAULT_SPARSITIES
    bits: Sequence[int] = DEFAULT_BITS
    quantizers: Sequence[str] = DEFAULT_QUANTIZERS
    epochs: int = 0                 # fine-tuning epochs for pruned points (0 = one shot)
    jobs: int | None = None
    cwd: str | Path = "."           # where ./tinycompress.toml is looked for, as in compress


@dataclass
class SweepResult:
    """The sweep.json document, where it was written, and how many points ran now."""

    document: dict
    path: Path
    computed: int                   # points compressed by this call
    reused: int                     # points taken from an earlier run's sweep-points.jsonl


# ---- the grid ------------------------------------------------------------------

def parse_values(text: str, key: str, flag: str) -> tuple:
    """'0,0.5,0.9' -> (0.0, 0.5, 0.9) for `key` sparsity | bits | quantizer; SpecError if bad."""
    convert = {"sparsity": float, "bits": int, "quantizer": str}[key]
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise SpecError(f"{flag}: no values given (expected a comma-separated list)")
    try:
        return tuple(convert(item) for item in items)
    except ValueError as exc:
        kind = "an integer" if convert is int else "a number"
        raise SpecError(f"{flag}: {text!r}: every value must be {kind}") from exc


def grid(options: SweepOptions) -> list[Point]:
    """The sorted, de-duplicated grid; SpecError for an empty axis or an invalid value."""
    axes = {"sparsity": options.sparsities, "bits": options.bits,
            "quantizer": options.quantizers}
    checked = {}
    for key, values in axes.items():
        if not values:
            raise SpecError(f"sweep: empty {key} list, the grid has no points")
        checked[key] = sorted({getattr(merge({key: v}, None).defaults, key) for v in values})
    if options.epochs < 0:
        raise SpecError(f"sweep: epochs = {options.epochs}: must be >= 0")
    return sorted(Point(float(s), int(b), q) for s in checked["sparsity"]
                  for b in checked["bits"] for q in checked["quantizer"])


# ---- the Pareto front ------------------------------------------------------------

def dominates(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """True if (bytes, accuracy) `a` is no larger and no less accurate than `b`, and one strictly."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_flags(points: Sequence[tuple[int, float]]) -> list[bool]:
    """For each (weight bytes, accuracy): is it on the front (dominated by no other point)?

    Equal points do not dominate each other, so duplicates are all on the front.
    """
    return [not any(dominates(q, p) for q in points) for p in points]


# ---- identity of what was swept --------------------------------------------------

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
                epochs: int, cwd: str | Path = ".") -> str:
    """Hash of everything besides the grid point that changes a result."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelLoadError(f"{model_path}: no such file or directory")
    h = hashlib.sha256(f"schema {SCHEMA} epochs {epochs}".encode())
    _hash_path(h, model_path)
    _hash_dataset(h, data)
    _hash_dataset(h, eval_data)
    spec = Path(cwd) / SPEC_FILENAME  # compress applies it: layout, optimize, lambda, ...
    h.update(spec.read_bytes() if spec.is_file() else b"no spec")
    return h.hexdigest()[:16]


# ---- the points log ------------------------------------------------------------

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


# ---- workers -------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(model_path: str, data: Dataset, eval_data: Dataset, epochs: int,
                 cwd: str, fp: str) -> None:
    """Load TensorFlow and the model once per worker; a failure is raised by the first point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER.update(model_path=model_path, data=data, eval_data=eval_data, epochs=epochs,
                   cwd=cwd, fingerprint=fp)
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        graph = load(model_path)
        check_data(graph, data, "--data")
        check_data(graph, eval_data, "--eval-data")
        pred = np.argmax(np.asarray(run_float(graph, eval_data.x)), axis=-1)
        _WORKER["model_float_accuracy"] = float(np.mean(pred == eval_data.y))
    except BaseException as exc:  # noqa: BLE001 - re-raised in _run_point, in the parent
        _WORKER["error"] = exc


def _run_point(point: Point) -> dict:
    """Compress one grid point in a worker; returns its sweep-points.jsonl record."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    w = _WORKER
    options = CompressOptions(sparsity=point.sparsity, bits=point.bits, quantizer=point.quantizer,
                              epochs=w["epochs"], cwd=w["cwd"])
    result = compress(w["model_path"], options, w["data"], w["eval_data"])
    return {"key": point.key(w["fingerprint"]), "fingerprint": w["fingerprint"],
            "name": point.name, "sparsity": point.sparsity, "bits": point.bits,
            "quantizer": point.quantizer, "epochs": w["epochs"], "model": result.graph.name,
            "weight_bytes": result.weight_bytes,
            "float_weight_bytes": result.float_weight_bytes,
            "accuracy": result.accuracy["quantized"], "float_accuracy": result.accuracy["float"],
            "model_float_accuracy": w["model_float_accuracy"],
            "layers": [layer.as_dict() for layer in result.layers]}


@contextmanager
def _worker_env() -> Iterator[None]:
    """WORKER_ENV in os.environ while the pool spawns (children inherit it), then restored."""
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_pool(todo: list[Point], init_args: tuple, jobs: int,
              on_record: Callable[[dict], None]) -> None:
    # rd points cost ~5x uniform ones: start them first so no worker idles at the end
    order = sorted(todo, key=lambda p: (p.quantizer != "rd", p))
    with _worker_env():
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=init_args)
        try:
            futures = [pool.submit(_run_point, p) for p in order]
            for future in as_completed(futures):
                on_record(future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ---- the sweep -----------------------------------------------------------------

def _check_labels(data: Dataset | None, eval_data: Dataset | None, epochs: int) -> None:
    if data is None:
        raise DataError("sweep needs --data FILE.npz (labelled: accuracy is what it measures)")
    if eval_data is None and data.y is None:
        raise DataError("--data has no labels 'y': the sweep needs them to measure accuracy "
                        "(or give labelled --eval-data)")
    if eval_data is not None and eval_data.y is None:
        raise DataError("--eval-data has no labels 'y': the sweep needs them to measure accuracy")
    if epochs > 0 and data.y is None:
        raise DataError(f"--epochs {epochs}: fine-tuning needs labels 'y' in --data")


def sweep(model_path: str | Path, data: Dataset | None, eval_data: Dataset | None = None,
          out_dir: str | Path = "sweep", options: SweepOptions | None = None,
          progress: Progress | None = None) -> SweepResult:
    """Compress MODEL at every grid point not already in OUT/sweep-points.jsonl; write sweep.json.

    Accuracy is measured on `eval_data` (default: `data`), which must be labelled.
    `progress(STAGE, done, total)` counts the points still to compute (total 0:
    everything was already done). Raises SpecError, DataError, ModelLoadError.
    """
    options = options or SweepOptions()
    points = grid(options)
    _check_labels(data, eval_data, options.epochs)
    evaluate_on = eval_data if eval_data is not None else data
    fp = fingerprint(model_path, data, eval_data, options.epochs, options.cwd)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / POINTS_FILE
    done = {k: r for k, r in read_points(log).items() if r.get("fingerprint") == fp}
    todo = [p for p in points if p.key(fp) not in done]
    tick = progress or (lambda stage, n, total: None)
    tick(STAGE, 0, len(todo))
    if todo:
        def record(rec: dict) -> None:
            append_point(log, rec)
            done[rec["key"]] = rec
            tick(STAGE, sum(p.key(fp) in done for p in todo), len(todo))

        init_args = (str(Path(model_path).resolve()), data, evaluate_on, options.epochs,
                     str(Path(options.cwd).resolve()), fp)
        _run_pool(todo, init_args, options.jobs or os.cpu_count() or 1, record)
    document = sweep_document([done[p.key(fp)] for p in points], options, str(model_path), fp)
    write_json_atomic(out / SWEEP_FILE, document)
    return SweepResult(document, out / SWEEP_FILE, len(todo), len(points) - len(todo))


POINT_KEYS = ("name", "sparsity", "bits", "quantizer", "weight_bytes", "accuracy",
              "float_accuracy")


def sweep_document(records: list[dict], options: SweepOptions, model_path: str,
                   fp: str) -> dict:
    """The sweep.json document from the records of every grid point, in grid order."""
    flags = pareto_flags([(r["weight_bytes"], r["accuracy"]) for r in records])
    points = [{**{k: r[k] for k in POINT_KEYS}, "pareto": flag, "layers": r["layers"]}
              for r, flag in zip(records, flags)]
    front = sorted((p for p in points if p["pareto"]),
                   key=lambda p: (p["weight_bytes"], -p["accuracy"], p["name"]))
    first = records[0]
    return {"schema": SCHEMA, "model": first["model"], "model_path": model_path,
            "fingerprint": fp, "float_accuracy": first["model_float_accuracy"],
            "float_weight_bytes": first["float_weight_bytes"],
            "grid": {"sparsities": sorted({r["sparsity"] for r in records}),
                     "bits": sorted({r["bits"] for r in records}),
                     "quantizers": sorted({r["quantizer"] for r in records}),
                     "epochs": options.epochs},
            "points": points, "pareto": [p["name"] for p in front]}
