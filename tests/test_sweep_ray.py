"""The sweep on Ray (`--backend ray`) against the local process pool, on a real local Ray instance.

The same small digits grid (2 sparsities x 2 bits x uniform) runs on both
backends; the files must be the same, byte for byte. Resume and worker
death are real too: a points log as a kill leaves it, and tasks whose worker
process exits (os._exit) under Ray.
"""
import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinycompress.cli import app
from tinycompress.compress.roles import assign_roles
from tinycompress.compress.sweep import (POINTS_FILE, STAGE, SWEEP_FILE, SweepOptions, sweep,
                                         sweep_document)
from tinycompress.compress.sweep_exec import Point, local_job, run_point
from tinycompress.compress.sweep_files import fingerprint
from tinycompress.compress.sweep_ray import STORE_FLOOR, probe, run_ray
from tinycompress.errors import ToolError
from tinycompress.data import load_npz
from tests.test_cli import assert_user_error
from tests.test_sweep import MODEL, NAMES, SMALL, TEST, TRAIN, Calls, lines

pytestmark = pytest.mark.slow  # a Ray instance (~8 s to start) and 4-point sweeps on 2 cores


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray with 2 CPUs, no dashboard and the smallest object store Ray accepts."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=STORE_FLOOR, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    return load_npz(TRAIN), load_npz(TEST)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data, ray_instance):
    """The same grid on the local pool and on Ray, each in a fresh directory."""
    out = {}
    for backend in ("local", "ray"):
        out[backend] = tmp_path_factory.mktemp(backend)
        calls = Calls()
        result = sweep(MODEL, *data, out[backend], SweepOptions(**SMALL, jobs=2, backend=backend),
                       progress=calls)
        out[backend + "_result"], out[backend + "_calls"] = result, calls
    return out


def records_by_name(path: Path) -> dict:
    return {r["name"]: r for r in map(json.loads, lines(path))}


def test_ray_gives_the_same_files_as_the_local_pool(runs):
    assert (runs["ray"] / SWEEP_FILE).read_bytes() == (runs["local"] / SWEEP_FILE).read_bytes()
    # the log is in completion order, which differs; line for line the same records
    assert records_by_name(runs["ray"] / POINTS_FILE) == records_by_name(runs["local"] / POINTS_FILE)
    assert sorted(records_by_name(runs["ray"] / POINTS_FILE)) == NAMES
    doc = runs["ray_result"].document
    assert doc["failed"] == [] and doc["pareto"] == runs["local_result"].document["pareto"]
    # progress as points finish: 0 of 4, then one call per point
    assert runs["ray_calls"].calls == [(STAGE, n, 4) for n in range(5)]


def test_interrupted_ray_sweep_resumes_from_the_log(runs, data, tmp_path):
    kept = [line for line in lines(runs["local"] / POINTS_FILE)
            if json.loads(line)["name"] in ("s0-b4-uniform", "s0.9-b8-uniform")]
    # as a kill leaves it: two finished points and a line cut short mid-write
    (tmp_path / POINTS_FILE).write_text("\n".join(kept) + "\n" + kept[1][:50])
    calls = Calls()
    resumed = sweep(MODEL, *data, tmp_path, SweepOptions(**SMALL, backend="ray"), progress=calls)
    assert calls.calls == [(STAGE, 0, 2), (STAGE, 1, 2), (STAGE, 2, 2)]  # only the missing two
    assert (resumed.computed, resumed.reused) == (2, 2)
    log = lines(tmp_path / POINTS_FILE)
    assert log[:2] == kept and len(log) == 4
    assert (tmp_path / SWEEP_FILE).read_bytes() == (runs["local"] / SWEEP_FILE).read_bytes()


# ---- worker death: a task function whose process exits --------------------------------

def dying_run(attempts, job, point):
    """Kills its worker process: always for sparsity 0, only on the first attempt otherwise.

    Attempts are counted in files under `attempts` (a retry runs in a new process).
    """
    attempts = Path(attempts)
    tries = len(list(attempts.glob(f"{point.name}.*")))
    (attempts / f"{point.name}.{tries}").touch()
    if point.sparsity == 0.0 or tries == 0:
        os._exit(1)
    return run_point(job, point)


def test_a_dead_worker_is_retried_once_then_the_point_is_recorded_failed(runs, data, tmp_path):
    train, test = data
    roles = assign_roles(train, None, test)
    job = local_job(MODEL, roles, 0, ".", fingerprint(MODEL, train, test, 0), None)
    records = []
    run_ray([Point(0.0, 4, "uniform"), Point(0.9, 4, "uniform")], job, records.append,
            run=functools.partial(dying_run, str(tmp_path)))
    by_name = {r["name"]: r for r in records}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s0-b4-uniform.0", "s0-b4-uniform.1",      # died twice: one retry, then failed
        "s0.9-b4-uniform.0", "s0.9-b4-uniform.1"]  # died once, the retry finished it
    assert "error" not in by_name["s0.9-b4-uniform"]
    assert by_name["s0.9-b4-uniform"] == records_by_name(runs["local"] / POINTS_FILE)["s0.9-b4-uniform"]
    failed = by_name["s0-b4-uniform"]
    assert failed["key"] == Point(0.0, 4, "uniform").key(job.fingerprint)
    assert "died" in failed["error"].lower() or "crash" in failed["error"].lower(), failed["error"]
    # sweep.json lists it apart; the grid still names its sparsity
    doc = sweep_document([by_name["s0.9-b4-uniform"]], SweepOptions(**SMALL), MODEL, job.fingerprint,
                         roles, "accuracy", None, [failed])
    assert doc["failed"] == [{"name": "s0-b4-uniform", "error": failed["error"]}]
    assert [p["name"] for p in doc["points"]] == ["s0.9-b4-uniform"] and doc["grid"]["sparsities"] == [0.0, 0.9]


def test_a_point_logged_as_failed_is_retried_by_the_next_run(runs, data, tmp_path):
    failed = {**json.loads(lines(runs["local"] / POINTS_FILE)[0]), "error": "WorkerCrashedError: x"}
    failed = {k: failed[k] for k in ("key", "fingerprint", "name", "sparsity", "bits",
                                     "quantizer", "error")}
    ok = [line for line in lines(runs["local"] / POINTS_FILE) if json.loads(line)["name"] != failed["name"]]
    (tmp_path / POINTS_FILE).write_text("\n".join([json.dumps(failed), *ok]) + "\n")
    again = sweep(MODEL, *data, tmp_path, SweepOptions(**SMALL, backend="ray"))
    assert (again.computed, again.reused, again.failed) == (1, 3, 0)
    assert (tmp_path / SWEEP_FILE).read_bytes() == (runs["local"] / SWEEP_FILE).read_bytes()


# ---- a separate cluster: `ray start --head`, then --address ---------------------------

@pytest.fixture
def head(tmp_path):
    """A one-CPU Ray head in its own processes (`--block`: SIGTERM stops them all)."""
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # the default of a new head; explicit here
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head",
                             "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
                             f"--object-store-memory={STORE_FLOOR}", "--block"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(240):  # up to a minute on a loaded machine
            try:
                probe(f"127.0.0.1:{port}")
                break
            except ToolError:
                assert proc.poll() is None, "ray start --head exited"
                time.sleep(0.25)
        yield f"127.0.0.1:{port}", env
    finally:
        proc.terminate()
        proc.wait(timeout=120)


def test_command_against_a_running_cluster(runs, head, tmp_path):
    address, env = head
    res = subprocess.run([sys.executable, "-m", "tinycompress", "sweep", str(Path(MODEL).resolve()),
                          "--data", str(Path(TRAIN).resolve()), "--eval-data", str(Path(TEST).resolve()),
                          "-o", "out", "--sparsities", "0.9", "--bits-list", "4", "--quantizers",
                          "uniform", "--backend", "ray", "--address", address],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    local = records_by_name(runs["local"] / POINTS_FILE)["s0.9-b4-uniform"]
    assert records_by_name(tmp_path / "out" / POINTS_FILE) == {"s0.9-b4-uniform": local}


# ---- the command's errors --------------------------------------------------------------

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_command_with_backend_ray(runs, tmp_path):
    res = runner.invoke(app, ["sweep", MODEL, "--data", TRAIN, "--eval-data", TEST, "-o", str(tmp_path),
                              "--sparsities", "0.9", "--bits-list", "4", "--quantizers", "uniform",
                              "--backend", "ray"])  # on the running instance
    assert res.exit_code == 0, res.output
    assert "1 points computed, 0 reused" in " ".join(res.stdout.split())
    local = records_by_name(runs["local"] / POINTS_FILE)["s0.9-b4-uniform"]
    assert records_by_name(tmp_path / POINTS_FILE) == {"s0.9-b4-uniform": local}


def test_unreachable_address_is_one_line_and_writes_nothing(tmp_path, ray_instance):
    out = tmp_path / "out"
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    res = runner.invoke(app, ["sweep", MODEL, "--data", TRAIN, "-o", str(out), "--quantizers",
                              "uniform", "--backend", "ray", "--address", address])
    assert_user_error(res, address, "no Ray cluster answers", "ray start --head")
    assert not out.exists()


@pytest.mark.parametrize("flags, fragment", [
    (["--backend", "dask"], "--backend 'dask'"),
    (["--address", "10.0.0.5:6379"], "--backend ray"),
    (["--backend", "ray", "--address", "10.0.0.5:port"], "HOST:PORT"),
])
def test_command_rejects_bad_backend_options(flags, fragment, tmp_path):
    res = runner.invoke(app, ["sweep", MODEL, "--data", TRAIN, "-o", str(tmp_path / "o"), *flags])
    assert_user_error(res, fragment)
    assert not (tmp_path / "o").exists()


def test_backend_ray_without_ray_names_the_extra(tmp_path):
    # as in an install without the [cluster] extra: `import ray` raises ImportError
    code = ("import sys; sys.modules['ray'] = None; from tinycompress.cli import main; "
            "sys.argv = ['tinycompress'] + sys.argv[1:]; main()")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-c", code, "sweep", MODEL, "--data", TRAIN, "-o", str(out),
                          "--backend", "ray"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0, res.stderr  # one line
    assert "pip install 'tinycompress[cluster]'" in res.stderr and "Ray" in res.stderr
    assert not out.exists()
