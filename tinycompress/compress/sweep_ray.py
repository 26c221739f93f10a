"""The sweep on a Ray cluster: one Ray task per grid point (`--backend ray [--address ADDR]`).

    with ray_session(address=None, jobs=2):     # ADDR: an existing cluster; None: start one here
        run_ray(todo, job, on_record)

What runs where:

- The machine that runs `tinycompress sweep` (the driver) checks the inputs,
  reads and appends `sweep-points.jsonl` (the single source of truth: a rerun
  skips every point already there, whichever backend computed it), shows the
  progress and writes `sweep.json`. Building firmware (`tinycompress build`,
  PlatformIO, QEMU) never runs on the cluster: it stays on the machine that
  runs `build`.
- Ray workers run `sweep_exec.run_point`, the very function the local pool
  runs, with the same single-threaded environment (WORKER_ENV), so a point
  gives the same record on either backend. Workers need tinycompress with the
  `tf` extra, the same version as the driver; they need no copy of the model,
  data or spec file.
- The model file(s), the data and ./tinycompress.toml go into the object
  store once (`ray.put`), not once per point; each worker node writes the
  model and spec to a directory of its own named by the sweep's fingerprint.

A point whose worker dies (killed, out of memory, node lost) is retried once
by Ray (`max_retries=1`); if it dies again, or the point raises, it is recorded
as failed with its error and the sweep goes on. Exceptions are not retried:
the computation is deterministic, a second run would raise again.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tinycompress.compress.spec import SPEC_FILENAME
from tinycompress.compress.sweep_exec import (
    WORKER_ENV, OnRecord, Point, PointJob, outcome, run_point, start_order,
)
from tinycompress.errors import SpecError, ToolError, missing_extra

RunPoint = Callable[[PointJob, Point], dict]
DEFAULT_PORT = 6379          # `ray start --head`'s GCS port
CLIENT_PORT = 10001          # Ray Client's port (ray://HOST)
PROBE_SECONDS = 5.0          # ray.init retries an unreachable address for minutes: probe first
STORE_FLOOR = 80 * 2**20     # Ray refuses an object store under ~75 MiB
TASK_OPTIONS = {"num_cpus": 1, "max_retries": 1, "retry_exceptions": False,
                "runtime_env": {"env_vars": WORKER_ENV}}


def import_ray():
    """The ray module; ToolError naming the `cluster` extra when it is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise missing_extra("Ray (--backend ray)", "cluster") from exc
    return ray


# ---- connecting ------------------------------------------------------------------

def parse_address(address: str) -> tuple[str, int]:
    """'HOST[:PORT]' or 'ray://HOST[:PORT]' -> (host, port); SpecError if malformed."""
    client = address.startswith("ray://")
    text = address[len("ray://"):] if client else address
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(CLIENT_PORT if client else DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(f"--address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), "
                        "ray://HOST:PORT or 'auto'")
    return host.strip("[]"), int(port)


def probe(address: str) -> None:
    """ToolError in one line unless something listens at the address (ray.init would hang)."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ToolError(f"--address {address}: no Ray cluster answers at {host}:{port} ({reason});"
                        " start one with `ray start --head` or check the address") from exc


def _store_bytes(shipped: dict) -> int:
    """Object store size for a cluster started here: room for the shipped job twice."""
    size = sum(len(b) for b in shipped["files"].values())
    roles = shipped["job"].roles
    size += sum(a.nbytes for ds in (roles.train, roles.val, roles.eval) if ds is not None
                for a in (ds.x, ds.y) if a is not None)
    return max(STORE_FLOOR, 2 * size)


@contextmanager
def ray_session(address: str | None, jobs: int | None, store_bytes: int = STORE_FLOOR) -> Iterator:
    """Connect to the cluster at `address`, or start one here with `jobs` CPUs (default: all);
    an already initialised Ray is used as it is and left running."""
    ray = import_ray()
    if address and address != "auto":
        probe(address)
    if ray.is_initialized():
        yield ray
        return
    settings = {"address": address} if address else {  # "local": a new one, even when
        "address": "local", "num_cpus": jobs or os.cpu_count() or 1,  # `ray start` ran here
        "include_dashboard": False, "object_store_memory": store_bytes}
    with _stderr_captured() as captured:
        try:
            ray.init(**settings, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - whatever stops Ray from starting: one line
            captured.seek(0)
            raise _connect_error(address, exc, captured.read()) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def _stderr_captured() -> Iterator:
    """File descriptor 2 into a temp file: Ray's C++ client logs every connection retry there."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _connect_error(address: str | None, exc: Exception, log: str) -> ToolError:
    where = f"--address {address}" if address else "a local Ray instance"
    if "InvalidAuthToken" in log or "Unauthenticated" in log:
        return ToolError(f"{where}: the Ray cluster refused this machine's token: set "
                         "RAY_AUTH_MODE=token and its token (`ray get-auth-token` on the head; "
                         "RAY_AUTH_TOKEN or ~/.ray/auth_token here)")
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                 type(exc).__name__)
    return ToolError(f"{where}: Ray could not start or connect: {first}")


# ---- shipping the job ------------------------------------------------------------

def pack(job: PointJob) -> dict:
    """The job with the model file(s) and spec file as bytes, for workers without them."""
    model = Path(job.model_path)
    files = ({f"model/{model.name}/{f.relative_to(model).as_posix()}": f.read_bytes()
              for f in sorted(model.rglob("*")) if f.is_file()} if model.is_dir()
             else {f"model/{model.name}": model.read_bytes()})
    spec = Path(job.cwd) / SPEC_FILENAME
    if spec.is_file():
        files[f"spec/{SPEC_FILENAME}"] = spec.read_bytes()
    return {"job": job, "model_name": model.name, "files": files}


_UNPACKED: dict[str, PointJob] = {}


def unpack(shipped: dict) -> PointJob:
    """The job with paths on this node: its files written once per node (atomic rename)."""
    job = shipped["job"]
    if job.fingerprint not in _UNPACKED:
        home = Path(tempfile.gettempdir()) / "tinycompress-sweep" / job.fingerprint
        if not home.is_dir():
            home.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{job.fingerprint}.", dir=home.parent))
            for rel, data in shipped["files"].items():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_bytes(data)
            (staging / "spec").mkdir(exist_ok=True)
            try:
                os.rename(staging, home)
            except OSError:  # another worker on this node was first: same bytes
                shutil.rmtree(staging, ignore_errors=True)
        _UNPACKED[job.fingerprint] = replace(job, model_path=str(home / "model" / shipped["model_name"]),
                                             cwd=str(home / "spec"))
    return _UNPACKED[job.fingerprint]


def _task(shipped: dict, point: Point, run: RunPoint) -> dict:
    return run(unpack(shipped), point)


# ---- running ---------------------------------------------------------------------

def run_ray(todo: Sequence[Point], job: PointJob, on_record: OnRecord, *, address: str | None = None,
            jobs: int | None = None, run: RunPoint = run_point) -> None:
    """Run each point of `todo` as a Ray task; `on_record` gets each record as it finishes.

    `run` is what a task runs (`run_point`; a test passes one whose worker dies).
    """
    shipped = pack(job)
    with ray_session(address, jobs, _store_bytes(shipped)) as ray:
        shipped_ref = ray.put(shipped)  # once: every task gets the reference, not a copy
        task = ray.remote(_task).options(**TASK_OPTIONS)
        pending = {task.remote(shipped_ref, p, run): p for p in start_order(todo)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                point = pending.pop(ready[0])
                on_record(_result(ray, ready[0], job, point))
        finally:
            for ref in pending:  # interrupted (Ctrl-C, a user error): stop the rest
                ray.cancel(ref, force=True)


def _result(ray, ref, job: PointJob, point: Point) -> dict:
    """The point's record, or its failure (the task's own exception when it raised)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        return outcome(job, point, exc.cause if isinstance(exc.cause, BaseException) else exc)
    except ray.exceptions.RayError as exc:  # the worker died twice, the node was lost
        return outcome(job, point, RuntimeError(_first_line(exc)))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"
