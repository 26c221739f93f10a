"""The build state on disk (tinycompress.target.state): lossless, deterministic, and safe to read.

- Round trip: quantized graphs covering every op and every Params type come
  back from JSON + npz with bit-identical `int_ref.run_int` outputs (every
  tensor, same dtype) and the same layer table.
- Format: a hand-built one-layer graph, its JSON spelled out.
- Determinism: the same state writes the same bytes; save(load(save(q))) too.
- Errors: truncated, random bytes, foreign JSON, another format version, a
  missing or swapped npz, an unknown class name: one `BuildStateError` naming
  the file; through the CLI, exit code 2 and one stderr line, no traceback.
- An old pickle state (build-state.pkl) in the directory is never opened.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pickle
import pkgutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.models import BUILDERS, random_input
from tinycompress import cli
from tinycompress.compress.quantize import quantize
from tinycompress.data import digits_calibration, digits_test
from tinycompress.errors import BuildStateError
from tinycompress.frontend.keras import from_keras
from tinycompress.ir.graph import Graph, Node
from tinycompress.reference.int_ref import run_int
from tinycompress.target import state as state_mod
from tinycompress.target.state import (
    ARRAYS_FILE, OLD_STATE_FILE, STATE_FILE, VERSION, BuildState, load_state, save_state,
)

REPO = Path(__file__).resolve().parents[1]
TINYCOMPRESS = REPO / ".venv" / "bin" / "tinycompress"
runner = CliRunner()
LAYERS = [{"name": "fc", "op": "dense", "layout": "dense", "weight_bytes": 11}]


def _tiny_qgraph():
    """y = x0 - x1, one dense unit (as tests/test_int_ref.py derives it: levels [[127, -127]])."""
    inp = Node("x", "input", [], [], (2,))
    fc = Node("fc", "dense", ["x"], [(2,)], (1,),
              weights={"kernel": np.array([[1.0], [-1.0]], np.float32), "bias": np.zeros(1, np.float32)})
    return quantize(Graph("tiny", [inp, fc], ["fc"]), np.array([[1.0, 0.0], [0.0, 1.0]]))


@pytest.fixture
def saved(tmp_path) -> Path:
    """A build directory holding only the tiny graph's state (enough for `sim` to reach load_state)."""
    save_state(tmp_path, _tiny_qgraph(), LAYERS, "mps2_an386", None, tmp_path / "tiny.keras")
    return tmp_path


@pytest.fixture(scope="module")
def digits_qgraph(digits_graph):
    """The digits example at 4 bits (digits_graph: tests/conftest.py) and 40 int8 test inputs."""
    q = quantize(digits_graph, digits_calibration().x, bits=4)
    return q, q.quantize_input(digits_test().x[:40])


@pytest.fixture(scope="module")
def models() -> dict:
    """Every model of tests/models.py (together they hold every op): name -> (qgraph, int8 inputs)."""
    found = {}
    for name in sorted(BUILDERS):
        model = BUILDERS[name]()
        qgraph = quantize(from_keras(model), random_input(model, 64, seed=1))
        found[name] = qgraph, qgraph.quantize_input(random_input(model, 8, seed=2))
    # TFLite's arithmetic (int8 .tflite models) has its own softmax Params
    model = BUILDERS["activations"]()
    graph = dataclasses.replace(from_keras(model), arithmetic="tflite")
    qgraph = quantize(graph, random_input(model, 64, seed=1))
    found["activations_tflite"] = qgraph, qgraph.quantize_input(random_input(model, 8, seed=2))
    return found


def _round_trip(tmp_path: Path, qgraph, layers=LAYERS, data=None) -> BuildState:
    save_state(tmp_path, qgraph, layers, "nucleo", data, tmp_path / "m.keras")
    return load_state(tmp_path)


def _assert_same_int_ref(name: str, before, after, x) -> None:
    want, got = run_int(before, x, return_all=True), run_int(after, x, return_all=True)
    assert list(got) == list(want), name
    for tensor in want:
        assert got[tensor].dtype == want[tensor].dtype, f"{name}/{tensor}: dtype"
        bad = np.argwhere(got[tensor] != want[tensor])
        assert bad.size == 0, (f"{name}/{tensor}: index {tuple(bad[0])} expected "
                               f"{want[tensor][tuple(bad[0])]}, got {got[tensor][tuple(bad[0])]}")


# ---- round trip ----------------------------------------------------------------

def test_digits_round_trip_is_bit_exact(digits_qgraph, tmp_path):
    q, x = digits_qgraph
    layers = [{"name": n.name, "op": n.op, "layout": "csr" if n.is_weight_op else None, "weight_bytes": 7}
              for n in q.nodes]
    back = _round_trip(tmp_path, q, layers, data="digits")
    _assert_same_int_ref("digits", q, back.qgraph, x)
    assert back.layers == layers
    assert (back.board, back.data, back.model) == ("nucleo", "digits", str((tmp_path / "m.keras").resolve()))
    assert back.qgraph.layer_table() == q.layer_table()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_model_round_trips_bit_exact(models, name, tmp_path):
    q, x = models[name]
    back = _round_trip(tmp_path, q).qgraph
    _assert_same_int_ref(name, q, back, x)
    for before, after in zip(q.nodes, back.nodes):
        where = f"{name}/{before.name}"
        assert type(after.params) is type(before.params), where
        assert after.attrs == before.attrs and after.output_shape == before.output_shape, where
        for field in ("levels", "w_scales", "bias"):
            a, b = getattr(before, field), getattr(after, field)
            same = (a is None and b is None) or (a.dtype == b.dtype and np.array_equal(a, b))
            assert same, f"{where}.{field}"


def test_the_models_hold_every_params_type(models):
    """So the round trip above covers every class the state may have to rebuild."""
    held = {type(v).__name__ for q, _ in models.values() for node in q.nodes
            for v in _dataclass_values(node.params)}
    params = {name for name, cls in state_mod.DATACLASSES.items()
              if cls.__module__.startswith("tinycompress.reference.")}
    assert params <= held, params - held


def _dataclass_values(value):
    if dataclasses.is_dataclass(value):
        yield value
        for f in dataclasses.fields(value):
            yield from _dataclass_values(getattr(value, f.name))
    elif isinstance(value, tuple):
        for v in value:
            yield from _dataclass_values(v)


def test_a_build_from_an_in_memory_model_has_no_model_path(tmp_path):
    save_state(tmp_path, _tiny_qgraph(), LAYERS, "nucleo", "/data/eval.npz", None)
    back = load_state(tmp_path)
    assert (back.model, back.data) == (None, "/data/eval.npz")


def test_numpy_scalars_tuples_and_odd_floats_come_back_with_their_types(tmp_path):
    q = _tiny_qgraph()
    attrs = {"f32": np.float32(0.1), "f64": np.float64(1 / 3), "i16": np.int16(-7), "flag": np.bool_(True),
             "third": 1 / 3, "inf": float("-inf"), "pads": ((1, 2), (0, 1)), "list": [1, (2, 3)]}
    q.node("fc").attrs = dict(attrs)
    back = _round_trip(tmp_path, q).qgraph.node("fc").attrs
    assert back == attrs
    for key, value in attrs.items():
        assert type(back[key]) is type(value), key
    assert back["f32"] == np.float32(0.1) and back["third"] == 1 / 3
    assert type(back["list"][1]) is tuple
    nan = _tiny_qgraph()
    nan.node("fc").attrs = {"alpha": float("nan")}
    assert np.isnan(_round_trip(tmp_path, nan).qgraph.node("fc").attrs["alpha"])


def test_values_the_format_cannot_read_back_are_refused_when_saving(tmp_path):
    @dataclasses.dataclass
    class Stranger:
        x: int = 1

    for bad in (Stranger(), np.array([object()]), {"__array__": "x"}, {1: "int key"}, {1, 2}):
        q = _tiny_qgraph()
        q.node("fc").attrs = {"value": bad}
        with pytest.raises(TypeError, match="build state"):
            save_state(tmp_path, q, LAYERS, "nucleo", None, "m.keras")


def test_registry_lists_every_module_that_defines_a_dataclass():
    """int_prepare/weight_ops today; a new module of Params must be added to DATACLASS_MODULES."""
    defining = set()
    for package in ("tinycompress.ir", "tinycompress.reference"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            module = importlib.import_module(f"{package}.{info.name}")
            if any(dataclasses.is_dataclass(v) and isinstance(v, type) and v.__module__ == module.__name__
                   for v in vars(module).values()):
                defining.add(module.__name__)
    assert defining == {m.__name__ for m in state_mod.DATACLASS_MODULES}


# ---- the format ---------------------------------------------------------------------

def test_format_of_a_one_layer_graph(saved):
    doc = json.loads((saved / STATE_FILE).read_text())
    assert (doc["kind"], doc["version"], doc["board"], doc["data"]) == (
        "tinycompress-build-state", 1, "mps2_an386", None)
    fc = doc["qgraph"]["nodes"][1]
    # node 1 of qgraph.nodes; every array is named by its path in the state
    assert fc["params"] == {"__dataclass__": "WeightOpParams",
                            "bias_f": {"__array__": "qgraph.nodes.1.params.bias_f"},
                            "m": {"__array__": "qgraph.nodes.1.params.m"},
                            "shift": {"__array__": "qgraph.nodes.1.params.shift"},
                            "z_out": 0, "act_min": -128, "act_max": 127, "tflite": False}
    assert doc["qgraph"]["arithmetic"] == "tinycompress"
    assert fc["input_shapes"] == [{"__tuple__": [2]}] and fc["levels"] == {"__array__": "qgraph.nodes.1.levels"}
    # s_in = 1/255 (calibration range [0, 1]): the JSON number is repr(1/255)
    assert doc["qgraph"]["input_scale"] == 1 / 255
    with np.load(saved / ARRAYS_FILE, allow_pickle=False) as arrays:
        assert arrays.files == ["qgraph.nodes.1.bias", "qgraph.nodes.1.levels", "qgraph.nodes.1.params.bias_f",
                                "qgraph.nodes.1.params.m", "qgraph.nodes.1.params.shift", "qgraph.nodes.1.w_scales"]
        assert arrays["qgraph.nodes.1.levels"].tolist() == [[127, -127]]
        assert arrays["qgraph.nodes.1.levels"].dtype == np.int8


def test_same_state_same_bytes(digits_qgraph, tmp_path):
    q, _ = digits_qgraph
    first, second, third = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    save_state(first, q, LAYERS, "nucleo", "digits", "m.keras")
    save_state(second, q, LAYERS, "nucleo", "digits", "m.keras")
    back = load_state(first)
    save_state(third, back.qgraph, back.layers, back.board, back.data, back.model)
    for rel in (STATE_FILE, ARRAYS_FILE):
        assert (first / rel).read_bytes() == (second / rel).read_bytes() == (third / rel).read_bytes(), rel


# ---- damaged, foreign and old states ---------------------------------------------

def _rewrite(saved: Path, change) -> None:
    path = saved / STATE_FILE
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _truncate(saved: Path) -> None:
    path = saved / STATE_FILE
    path.write_bytes(path.read_bytes()[:1000])


def _random_bytes(saved: Path) -> None:
    (saved / STATE_FILE).write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _future(saved: Path) -> None:
    _rewrite(saved, lambda doc: doc.update(version=VERSION + 1))


def _foreign(saved: Path) -> None:
    (saved / STATE_FILE).write_text(json.dumps({"name": "some other tool", "version": 1}))


def _older(saved: Path) -> None:
    _rewrite(saved, lambda doc: doc.update(version=VERSION - 1))


def _unknown_class(saved: Path) -> None:
    _rewrite(saved, lambda doc: doc["qgraph"]["nodes"][1]["params"].update(__dataclass__="Popen"))


def _missing_npz(saved: Path) -> None:
    (saved / ARRAYS_FILE).unlink()


def _other_npz(saved: Path) -> None:
    # a valid npz, but not the one the JSON was written with
    (saved / ARRAYS_FILE).write_bytes(state_mod.npz_bytes({"qgraph.nodes.1.levels": np.zeros((1, 2), np.int8)}))


def _no_state(saved: Path) -> None:
    (saved / STATE_FILE).unlink()


DAMAGE = {  # how: (damage(dir), the file the message names, what it says)
    "truncated": (_truncate, STATE_FILE, "not valid JSON"),
    "random bytes": (_random_bytes, STATE_FILE, "not valid JSON"),
    "future version": (_future, STATE_FILE,
                       f"newer tinycompress (state format {VERSION + 1}, this one reads {VERSION})"),
    "older version": (_older, STATE_FILE, "older tinycompress"),
    "foreign json": (_foreign, STATE_FILE, "not a tinycompress build state"),
    "unknown class": (_unknown_class, STATE_FILE, "damaged (unknown type 'Popen')"),
    "missing npz": (_missing_npz, ARRAYS_FILE, "missing"),
    "other npz": (_other_npz, ARRAYS_FILE, "damaged or from another build"),
    "no state": (_no_state, STATE_FILE, "not a tinycompress build directory"),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_state_is_one_clear_error(saved, how):
    damage, named, says = DAMAGE[how]
    damage(saved)
    with pytest.raises(BuildStateError) as caught:
        load_state(saved)
    message = str(caught.value)
    assert str(named) in message and says in message, message


@pytest.mark.parametrize("how", ["truncated", "random bytes", "future version", "foreign json", "missing npz"])
def test_cli_sim_on_a_damaged_state_exits_2_with_one_line(saved, how):
    damage, named, says = DAMAGE[how]
    damage(saved)
    result = runner.invoke(cli.app, ["sim", str(saved)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(named) in lines[0] and says in lines[0] and "Traceback" not in result.output


def test_installed_command_on_a_truncated_state(saved):
    _truncate(saved)
    env = {k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV}
    proc = subprocess.run([str(TINYCOMPRESS), "sim", str(saved)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {saved / STATE_FILE}: not valid JSON, the file is damaged or truncated; "
        "rebuild with `tinycompress build`"]


# ---- the old pickle state is never read -------------------------------------------

class _RunsCode:
    """Unpickling this writes `marker`: what a crafted build-state.pkl could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "code ran")


def test_the_payload_would_run_code(tmp_path):
    """The payload below is real: unpickling it does write its marker."""
    pickle.loads(pickle.dumps(_RunsCode(tmp_path / "ran")))
    assert (tmp_path / "ran").read_text() == "code ran"


def test_an_old_pickle_state_is_not_read(tmp_path):
    marker = tmp_path / "ran"
    old = tmp_path / "build" / OLD_STATE_FILE
    old.parent.mkdir(parents=True)
    old.write_bytes(pickle.dumps({"qgraph": _RunsCode(marker)}))
    result = runner.invoke(cli.app, ["sim", str(tmp_path / "build")])
    assert result.exit_code == 2 and "older tinycompress" in result.stderr and "rebuild" in result.stderr
    assert not marker.exists()


def test_a_pickle_next_to_a_good_state_is_ignored(saved):
    marker = saved / "ran"
    (saved / OLD_STATE_FILE).write_bytes(pickle.dumps(_RunsCode(marker)))
    assert load_state(saved).board == "mps2_an386"
    assert not marker.exists()
