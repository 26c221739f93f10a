"""The design-space sweep: sparsity x bits x quantizer, and its size-loss Pareto front.

    result = sweep(model_path, load_npz("train.npz"), load_npz("test.npz"), "out",
                   SweepOptions(sparsities=(0.0, 0.9), bits=(4, 8), quantizers=("uniform",)))

Every grid point is one `compress()` call in a worker process with one
thread, so that results do not depend on how many workers share a machine:
`backend="local"` runs a process pool here (`sweep_exec`), `backend="ray"`
one Ray task per point on a cluster (`sweep_ray`, which says what runs
where). Both run the same `sweep_exec.run_point` and give the same records,
the same front and the same sweep.json.

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
  A point that failed (it raised, or its Ray worker died twice) is logged as
      {"key", "fingerprint", "name", "sparsity", "bits", "quantizer", "error": str}
  and retried by the next run.
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
       "pareto": [name],            # the front (fewest bytes, least loss), bytes ascending
       "failed": [{"name", "error"}]}  # points not computed (grid order); a rerun retries them
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from tinycompress.compress.evaluate import check_validation
from tinycompress.compress.fidelity import Budget
from tinycompress.compress.options import CompressOptions
from tinycompress.compress.roles import DataRoles, assign_roles
from tinycompress.compress.spec import merge
from tinycompress.compress.sweep_exec import Point, PointJob, local_job, run_local
from tinycompress.compress.sweep_files import (  # noqa: F401  (re-exported)
    POINTS_FILE, SCHEMA, SWEEP_FILE, append_point, fingerprint, read_points, write_json_atomic,
)
from tinycompress.compress.sweep_ray import import_ray, parse_address, run_ray
from tinycompress.data import Dataset
from tinycompress.errors import DataError, SpecError, ToolError

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
STAGE = "sweep"
DEFAULT_SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95)
DEFAULT_BITS = (2, 3, 4, 6, 8)
DEFAULT_QUANTIZERS = ("uniform", "rd")
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class SweepOptions:
    """The grid and how to run it.

    max_accuracy_drop / max_fidelity_loss (at most one): the budget in points
    that picks the metric, is the rd points' lambda-sweep budget and marks
    the points within it. backend: "local" (a process pool of `jobs` workers,
    None = one per core) or "ray" (one Ray task per point on the cluster at
    `address`, or on a Ray instance started here with `jobs` CPUs).
    """

    sparsities: Sequence[float] = DEFAULT_SPARSITIES
    bits: Sequence[int] = DEFAULT_BITS
    quantizers: Sequence[str] = DEFAULT_QUANTIZERS
    epochs: int = 0                 # fine-tuning epochs for pruned points (0 = one shot)
    jobs: int | None = None
    cwd: str | Path = "."           # where ./tinycompress.toml is looked for, as in compress
    max_accuracy_drop: float | None = None
    max_fidelity_loss: float | None = None
    backend: str = "local"
    address: str | None = None      # an existing Ray cluster (backend "ray")

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
    failed: int = 0                 # points that failed in this call (sweep.json's `failed`)


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


def check_backend(options: SweepOptions) -> None:
    """SpecError for an unknown backend or a misplaced --address; ToolError if Ray is missing."""
    if options.backend not in BACKENDS:
        raise SpecError(f"--backend {options.backend!r}: expected one of {', '.join(BACKENDS)}")
    if options.backend == "local":
        if options.address is not None:
            raise SpecError("--address names a Ray cluster: it needs --backend ray")
        return
    import_ray()
    if options.address not in (None, "auto"):
        parse_address(options.address)


def sweep(model_path: str | Path, data: Dataset | None, eval_data: Dataset | None = None,
          out_dir: str | Path = "sweep", options: SweepOptions | None = None,
          progress: Progress | None = None, *, val_data: Dataset | None = None) -> SweepResult:
    """Compress MODEL at every grid point not already in OUT/sweep-points.jsonl; write sweep.json.

    Points are scored, and the front chosen, on the validation data
    (`val_data`, else 20 % held out of `data`); `eval_data` adds each point's
    reported figures and nothing else. `progress(STAGE, done, total)` counts
    the points still to compute (total 0: everything was already done). A
    point that fails is logged with its error, listed in sweep.json's
    `failed` and retried by the next run. Nothing is written before the first
    point finishes (a cluster that cannot be reached leaves no directory).
    Raises SpecError, DataError, ModelLoadError, ToolError (Ray missing or
    unreachable; every point failed).
    """
    options = options or SweepOptions()
    points = grid(options)
    check_backend(options)
    budget = options.budget
    roles = assign_roles(data, val_data, eval_data)
    metric = _metric(roles, budget, options)
    fp = fingerprint(model_path, data, eval_data, options.epochs, options.cwd, val_data, budget)
    out = Path(out_dir)
    log = out / POINTS_FILE
    done = {k: r for k, r in read_points(log).items()
            if r.get("fingerprint") == fp and "error" not in r}
    todo = [p for p in points if p.key(fp) not in done]
    failed: dict[str, dict] = {}
    tick = progress or (lambda stage, n, total: None)
    tick(STAGE, 0, len(todo))
    if todo:
        def record(rec: dict) -> None:
            # as a resumed run reads it back from the log: sweep.json is the same, byte for byte
            rec = json.loads(json.dumps(rec, sort_keys=True))
            out.mkdir(parents=True, exist_ok=True)
            append_point(log, rec)
            (failed if "error" in rec else done)[rec["key"]] = rec
            tick(STAGE, len(failed) + sum(p.key(fp) in done for p in todo), len(todo))

        _execute(todo, local_job(model_path, roles, options.epochs, options.cwd, fp, budget),
                 options, record)
    records = [done[p.key(fp)] for p in points if p.key(fp) in done]
    failures = [failed[p.key(fp)] for p in points if p.key(fp) in failed]
    if not records:
        raise ToolError(f"sweep: every point failed; {failures[0]['name']}: {failures[0]['error']}")
    document = sweep_document(records, options, str(model_path), fp, roles, metric, budget,
                              failures)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / SWEEP_FILE, document)
    return SweepResult(document, out / SWEEP_FILE, len(todo) - len(failures),
                       len(points) - len(todo), len(failures))


def _execute(todo: list[Point], job: PointJob, options: SweepOptions,
             record: Callable[[dict], None]) -> None:
    if options.backend == "ray":
        run_ray(todo, job, record, address=options.address, jobs=options.jobs)
    else:
        run_local(todo, job, options.jobs or os.cpu_count() or 1, record)


POINT_KEYS = ("name", "sparsity", "bits", "quantizer", "lambda", "weight_bytes", "accuracy",
              "float_accuracy", "fidelity", "eval")


def sweep_document(records: list[dict], options: SweepOptions, model_path: str, fp: str,
                   roles: DataRoles, metric: str, budget: Budget | None,
                   failures: Sequence[dict] = ()) -> dict:
    """The sweep.json document from the records of the grid points, in grid order, and of
    those that failed."""
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
            "grid": {"sparsities": sorted({r["sparsity"] for r in (*records, *failures)}),
                     "bits": sorted({r["bits"] for r in (*records, *failures)}),
                     "quantizers": sorted({r["quantizer"] for r in (*records, *failures)}),
                     "epochs": options.epochs},
            "points": points, "pareto": [points[i]["name"] for i in front],
            "failed": [{"name": r["name"], "error": r["error"]} for r in failures]}
