"""The design-space sweep: sparsity x bits x quantizer, and its size-loss Pareto front.

    result = sweep(model_path, load_npz("train.npz"), load_npz("test.npz"), "out",
                   SweepOptions(sparsities=(0.0, 0.9), bits=(4, 8), quantizers=("uniform",)))

Every grid point is one `compress()` call, run in a pool of worker processes
(the 'spawn' start method: TensorFlow must not be forked after import). Each
worker imports TensorFlow once and runs with one thread so that results do
not depend on how many workers share the machine.

The data in its three roles (`roles`): `data` calibrates (and fine-tunes);
every point is scored, and the front chosen, on the validation data
(`val_data`, else 20 % held out of `data`); `eval_data` only adds each
point's reported figures. The metric is the budget's (`max_accuracy_drop`:
accuracy; `max_fidelity_loss`: fidelity to the original float model, no
labels needed), else accuracy when the validation data has labels, else
fidelity; each point's `loss_pts` is its loss in points of that metric
against the original float model, before pruning. The budget is also the
rd points' lambda-sweep budget, and marks the points within it.

Files written to the output directory DIR:

- `sweep-points.jsonl`: one JSON object per finished point, appended (flushed
  and fsynced) as soon as the point finishes, in completion order:
      {"key": str,                  # point parameters + fingerprint: the resume key
       "fingerprint": str,          # hash of model file(s), data arrays, epochs, spec file, budget
       "name": "s0.9-b4-uniform", "sparsity": float, "bits": int, "quantizer": str,
       "epochs": int, "model": str, "weight_bytes": int, "float_weight_bytes": int,
       "lambda": float | null,      # the rd lambda chosen (rd points)
       "split": "val",              # what the next five are measured on
       "accuracy": float | null,    # integer (quantized) model, 0..1 (null: no labels)
       "float_accuracy": float | null,  # float model after pruning, before quantization
       "model_float_accuracy": float | null,  # the original float model
       "loss_pts": {"accuracy": float | null, "fidelity": float | null},
       "fidelity": {"split": "val", "samples", "classifier", "top1_agreement",
                    "rel_rms_error", "snr_db"},
       "eval": null | {"split": "eval", "accuracy", "float_accuracy",
                       "model_float_accuracy", "fidelity": {...}},
       "layers": [{name, op, bits, sparsity, layout, weight_bytes, ...}]}
  A rerun with the same DIR skips every grid point whose key is already there;
  lines with another fingerprint (the model, data or budget changed) are
  ignored, not mixed in. A line cut short by a kill is dropped on the next run.
- `sweep.json` (written at the end, atomically: temp file + rename), a superset
  of what `tinycompress.report.page` reads:
      {"schema": 2, "model": str, "model_path": str, "fingerprint": str,
       "split": "val",              # points[].accuracy / float_accuracy / loss_pts and the front
       "validation": str,           # where the validation data came from
       "metric": "accuracy" | "fidelity", "max_loss_pts": float | null,
       "float_accuracy": float | null,  # the original float model on val, 0..1
       "eval": null | {"split": "eval", "source": str, "float_accuracy": float | null},
       "float_weight_bytes": int,
       "grid": {"sparsities": [float], "bits": [int], "quantizers": [str], "epochs": int},
       "points": [{"name", "sparsity", "bits", "quantizer", "lambda", "weight_bytes",
                   "accuracy", "float_accuracy", "loss_pts": float, "fidelity", "eval",
                   "within_budget": bool | null, "pareto": bool, "layers": [...]}],  # grid order
       "pareto": [name]}            # the front (fewest bytes, least loss), bytes ascending
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tinycompress.compress.core import compress
from tinycompress.compress.evaluate import check_validation
from tinycompress.compress.fidelity import Budget
from tinycompress.compress.options import CompressOptions
from tinycompress.compress.roles import DataRoles, assign_roles
from tinycompress.compress.spec import merge
from tinycompress.compress.sweep_files import (  # noqa: F401  (re-exported)
    POINTS_FILE, SCHEMA, SWEEP_FILE, append_point, fingerprint, read_points, write_json_atomic,
)
from tinycompress.data import Dataset
from tinycompress.errors import DataError, SpecError

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
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
    """The grid and how to run it (`jobs` None = one worker per core).

    max_accuracy_drop / max_fidelity_loss (at most one): the budget in points
    that picks the metric, is the rd points' lambda-sweep budget and marks
    the points within it.
    """

    sparsities: Sequence[float] = DEFAULT_SPARSITIES
    bits: Sequence[int] = DEFAULT_BITS
    quantizers: Sequence[str] = DEFAULT_QUANTIZERS
    epochs: int = 0                 # fine-tuning epochs for pruned points (0 = one shot)
    jobs: int | None = None
    cwd: str | Path = "."           # where ./tinycompress.toml is looked for, as in compress
    max_accuracy_drop: float | None = None
    max_fidelity_loss: float | None = None

    @property
    def budget(self) -> Budget | None:
        return CompressOptions(max_accuracy_drop=self.max_accuracy_drop,
                               max_fidelity_loss=self.max_fidelity_loss).budget


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
    """True if (bytes, score) `a` is no larger and no worse than `b`, and one strictly."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_flags(points: Sequence[tuple[int, float]]) -> list[bool]:
    """For each (weight bytes, score: higher is better): is it on the front (dominated by none)?

    Equal points do not dominate each other, so duplicates are all on the front.
    """
    return [not any(dominates(q, p) for q in points) for p in points]


# ---- workers -------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(model_path: str, roles: DataRoles, epochs: int, cwd: str, fp: str,
                 budget: Budget | None) -> None:
    """Load TensorFlow once per worker; a failure is raised by the first point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER.update(model_path=model_path, roles=roles, epochs=epochs, cwd=cwd,
                   fingerprint=fp, budget=budget)
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except BaseException as exc:  # noqa: BLE001 - re-raised in _run_point, in the parent
        _WORKER["error"] = exc


def _run_point(point: Point) -> dict:
    """Compress one grid point in a worker; returns its sweep-points.jsonl record."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    w, roles = _WORKER, _WORKER["roles"]
    options = CompressOptions(sparsity=point.sparsity, bits=point.bits, quantizer=point.quantizer,
                              epochs=w["epochs"], cwd=w["cwd"], lambda_budget=w["budget"])
    result = compress(w["model_path"], options, roles.train, roles.eval, val_data=roles.val)
    val = result.validation
    record = {"key": point.key(w["fingerprint"]), "fingerprint": w["fingerprint"],
              "name": point.name, "sparsity": point.sparsity, "bits": point.bits,
              "quantizer": point.quantizer, "epochs": w["epochs"], "model": result.graph.name,
              "weight_bytes": result.weight_bytes, "lambda": result.lam,
              "float_weight_bytes": result.float_weight_bytes, "split": "val",
              **_accuracies(val["accuracy"]), "loss_pts": val["loss_pts"],
              "fidelity": val["fidelity"], "eval": None,
              "layers": [layer.as_dict() for layer in result.layers]}
    if roles.eval is not None:
        acc = result.accuracy if (result.accuracy or {}).get("split") == "eval" else None
        record["eval"] = {"split": "eval", **_accuracies(acc), "fidelity": result.fidelity}
    return record


def _accuracies(acc: dict | None) -> dict:
    """A point's accuracy, float_accuracy (after pruning) and model_float_accuracy (as given)."""
    acc = acc or {}
    return {"accuracy": acc.get("quantized"), "float_accuracy": acc.get("pruned_float", acc.get("float")),
            "model_float_accuracy": acc.get("float")}


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

def _metric(roles: DataRoles, budget: Budget | None, options: SweepOptions) -> str:
    """The metric the points are scored on; DataError when the data cannot measure it."""
    if roles.train is None:
        raise DataError("sweep needs --data FILE.npz (it calibrates; 20 % is held out for "
                        "validation unless --val-data is given)")
    if roles.val is None:
        raise DataError("--data is too small to hold 20 % out for validation: give --val-data")
    metric = budget.metric if budget else ("accuracy" if roles.val.y is not None else "fidelity")
    check_validation(metric, roles.val)
    if budget is None and metric == "fidelity" and "rd" in options.quantizers:
        raise DataError("the validation data has no labels: rd points sweep lambda within a "
                        "budget, give --max-fidelity-loss P (or --quantizers uniform)")
    if options.epochs > 0 and roles.train.y is None:
        raise DataError(f"--epochs {options.epochs}: fine-tuning needs labels 'y' in --data")
    return metric


def sweep(model_path: str | Path, data: Dataset | None, eval_data: Dataset | None = None,
          out_dir: str | Path = "sweep", options: SweepOptions | None = None,
          progress: Progress | None = None, *, val_data: Dataset | None = None) -> SweepResult:
    """Compress MODEL at every grid point not already in OUT/sweep-points.jsonl; write sweep.json.

    Points are scored, and the front chosen, on the validation data
    (`val_data`, else 20 % held out of `data`); `eval_data` adds each point's
    reported figures and nothing else. `progress(STAGE, done, total)` counts
    the points still to compute (total 0: everything was already done).
    Raises SpecError, DataError, ModelLoadError.
    """
    options = options or SweepOptions()
    points = grid(options)
    budget = options.budget
    roles = assign_roles(data, val_data, eval_data)
    metric = _metric(roles, budget, options)
    fp = fingerprint(model_path, data, eval_data, options.epochs, options.cwd, val_data, budget)
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

        init_args = (str(Path(model_path).resolve()), roles, options.epochs,
                     str(Path(options.cwd).resolve()), fp, budget)
        _run_pool(todo, init_args, options.jobs or os.cpu_count() or 1, record)
    records = [done[p.key(fp)] for p in points]
    document = sweep_document(records, options, str(model_path), fp, roles, metric, budget)
    write_json_atomic(out / SWEEP_FILE, document)
    return SweepResult(document, out / SWEEP_FILE, len(todo), len(points) - len(todo))


POINT_KEYS = ("name", "sparsity", "bits", "quantizer", "lambda", "weight_bytes", "accuracy",
              "float_accuracy", "fidelity", "eval")


def sweep_document(records: list[dict], options: SweepOptions, model_path: str, fp: str,
                   roles: DataRoles, metric: str, budget: Budget | None) -> dict:
    """The sweep.json document from the records of every grid point, in grid order."""
    losses = [r["loss_pts"][metric] for r in records]  # None: not measurable (zero reference)
    ordered = [math.inf if loss is None else loss for loss in losses]
    flags = pareto_flags([(r["weight_bytes"], -loss) for r, loss in zip(records, ordered)])
    points = [{**{k: r[k] for k in POINT_KEYS}, "loss_pts": loss,
               "within_budget": None if budget is None else budget.holds(key),
               "pareto": flag, "layers": r["layers"]}
              for r, loss, key, flag in zip(records, losses, ordered, flags)]
    front = sorted((i for i, p in enumerate(points) if p["pareto"]),
                   key=lambda i: (points[i]["weight_bytes"], ordered[i], points[i]["name"]))
    first = records[0]
    evaluated = None if roles.eval is None else {
        "split": "eval", "source": roles.eval_source,
        "float_accuracy": (first["eval"] or {}).get("model_float_accuracy")}
    return {"schema": SCHEMA, "model": first["model"], "model_path": model_path,
            "fingerprint": fp, "split": "val", "validation": roles.val_source,
            "metric": metric, "max_loss_pts": None if budget is None else budget.points,
            "float_accuracy": first["model_float_accuracy"], "eval": evaluated,
            "float_weight_bytes": first["float_weight_bytes"],
            "grid": {"sparsities": sorted({r["sparsity"] for r in records}),
                     "bits": sorted({r["bits"] for r in records}),
                     "quantizers": sorted({r["quantizer"] for r in records}),
                     "epochs": options.epochs},
            "points": points, "pareto": [points[i]["name"] for i in front]}
