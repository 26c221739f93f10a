"""Running the sweep's grid points: what every point shares, one point's record, the local pool.

    job = PointJob(model_path, roles, epochs, cwd, fingerprint, budget)
    run_local(todo, job, jobs=2, on_record=append)   # a process pool on this machine
    record = run_point(job, point)                   # in any worker process, local or Ray

Every point runs in a worker process with one thread (WORKER_ENV, then
TensorFlow's own thread pools set to 1), so its result does not depend on
how many workers share a machine, nor on which backend started the worker:
the local pool here and the Ray tasks of `sweep_ray` call the same
`run_point` and give the same record, bit for bit.

A point that raises anything but a user error (`TinyCompressError`, which
every point would hit: it is raised) is recorded as failed, with its error,
and the sweep goes on; a rerun retries it.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tinycompress.compress.core import compress
from tinycompress.compress.fidelity import Budget
from tinycompress.compress.options import CompressOptions
from tinycompress.compress.roles import DataRoles
from tinycompress.errors import TinyCompressError

OnRecord = Callable[[dict], None]
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
class PointJob:
    """What every grid point of one sweep shares: model, data, fine-tuning, spec directory."""

    model_path: str                 # absolute, on the machine that runs the point
    roles: DataRoles
    epochs: int
    cwd: str                        # where tinycompress.toml is looked for
    fingerprint: str
    budget: Budget | None


def start_order(todo: Sequence[Point]) -> list[Point]:
    """rd points cost ~5x uniform ones: start them first so no worker idles at the end."""
    return sorted(todo, key=lambda p: (p.quantizer != "rd", p))


# ---- one point, in a worker --------------------------------------------------------

_THREADS_SET: list[bool] = []


def single_threaded_tf() -> None:
    """Pin TensorFlow's thread pools to one thread, once per worker process."""
    if not _THREADS_SET:
        try:
            import tensorflow as tf
        except ImportError:
            return  # compress() names the missing extra, as a user error
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _THREADS_SET.append(True)


def run_point(job: PointJob, point: Point) -> dict:
    """Compress one grid point; returns its sweep-points.jsonl record."""
    single_threaded_tf()
    roles = job.roles
    options = CompressOptions(sparsity=point.sparsity, bits=point.bits, quantizer=point.quantizer,
                              epochs=job.epochs, cwd=job.cwd, lambda_budget=job.budget)
    result = compress(job.model_path, options, roles.train, roles.eval, val_data=roles.val)
    val = result.validation
    record = {**_identity(job, point), "epochs": job.epochs, "model": result.graph.name,
              "weight_bytes": result.weight_bytes, "lambda": result.lam,
              "float_weight_bytes": result.float_weight_bytes, "split": "val",
              **_accuracies(val["accuracy"]), "loss_pts": val["loss_pts"],
              "fidelity": val["fidelity"], "eval": None,
              "layers": [layer.as_dict() for layer in result.layers]}
    if roles.eval is not None:
        acc = result.accuracy if (result.accuracy or {}).get("split") == "eval" else None
        record["eval"] = {"split": "eval", **_accuracies(acc), "fidelity": result.fidelity}
    return record


def _identity(job: PointJob, point: Point) -> dict:
    return {"key": point.key(job.fingerprint), "fingerprint": job.fingerprint,
            "name": point.name, "sparsity": point.sparsity, "bits": point.bits,
            "quantizer": point.quantizer}


def _accuracies(acc: dict | None) -> dict:
    """A point's accuracy, float_accuracy (after pruning) and model_float_accuracy (as given)."""
    acc = acc or {}
    return {"accuracy": acc.get("quantized"), "float_accuracy": acc.get("pruned_float", acc.get("float")),
            "model_float_accuracy": acc.get("float")}


def failed_record(job: PointJob, point: Point, error: BaseException | str) -> dict:
    """The record of a point that could not be computed; a rerun retries it."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {**_identity(job, point), "error": " ".join(text.split()) or "unknown error"}


def outcome(job: PointJob, point: Point, error: BaseException) -> dict:
    """A point's failure as a record; a user error (every point would hit it) is raised."""
    if isinstance(error, TinyCompressError):
        raise error
    return failed_record(job, point, error)


# ---- the local backend: a process pool --------------------------------------------

def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


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


def run_local(todo: Sequence[Point], job: PointJob, jobs: int, on_record: OnRecord) -> None:
    """Run `todo` in `jobs` worker processes ('spawn': TensorFlow must not be forked after
    import); `on_record` gets each point's record as it finishes, in the calling process."""
    with _worker_env():
        pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo))),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)
        try:
            futures = {pool.submit(run_point, job, p): p for p in start_order(todo)}
            for future in as_completed(futures):
                error = future.exception()
                on_record(future.result() if error is None
                          else outcome(job, futures[future], error))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def local_job(model_path: str | Path, roles: DataRoles, epochs: int, cwd: str | Path,
              fingerprint: str, budget: Budget | None) -> PointJob:
    """The job with this machine's absolute paths (the workers' cwd may differ)."""
    return PointJob(str(Path(model_path).resolve()), roles, epochs, str(Path(cwd).resolve()),
                    fingerprint, budget)
