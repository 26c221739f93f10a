"""Activation memory (codegen.memory): execution order, in-place operators, the plan run
'in the arena'.

The numpy reference is run in one byte array, every tensor at its planned
offset and each kernel's scratch overwritten with junk at its step; every
node's output read back from the arena must equal the normal reference's, for
every test model, digits, and MLPerf Tiny IC ResNet-8 (`../shared/models`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.models import BUILDERS, random_input
from tinycompress import layouts as layouts_mod
from tinycompress.codegen import memory, verify
from tinycompress.codegen.arena import ArenaPlan, TensorLife
from tinycompress.codegen.render import arena_lives, plan, render, scheduled, tensor_lives
from tinycompress.compress.quantize import quantize
from tinycompress.compress.weights import col_map
from tinycompress.data import DIGITS_MODEL, digits_calibration
from tinycompress.frontend import load
from tinycompress.frontend.keras import from_keras
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.reference.int_ref import run_int

IC_MODEL = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "mlperf_tiny" / "ic" / "pretrainedResnet.h5"


def _dense(q: QGraph, bits: int = 8) -> dict:
    return {n.name: layouts_mod.encode_as("dense", n.levels, n.bits, col_map(n))
            for n in q.weight_nodes}


def _assert_runs_in_arena(q: QGraph, lay: dict, x_float: np.ndarray) -> QGraph:
    s = scheduled(q, lay)
    arena = plan(s, lay)
    for x in q.quantize_input(x_float):
        want = run_int(q, x, return_all=True)
        got = verify.run_in_arena(s, *arena_lives(s, lay), arena, x)
        for name, value in got.items():
            assert np.array_equal(value, want[name].ravel()), \
                f"{q.name}: layer {name} differs in the arena at index " \
                f"{int(np.argmax(value != want[name].ravel()))}"
    return s


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_test_models_run_in_the_arena(name):
    model = BUILDERS[name]()
    x = random_input(model, batch=8, seed=5)
    q = quantize(from_keras(model), x, bits=8)
    _assert_runs_in_arena(q, _dense(q), x[:2])


def test_digits_runs_in_the_arena():
    calib = digits_calibration(32).x
    q = quantize(load(DIGITS_MODEL), calib)
    _assert_runs_in_arena(q, _dense(q), calib[:2])


def test_ic_resnet8_runs_in_the_arena_with_adds_in_place():
    if not IC_MODEL.is_file():
        pytest.fail(f"MLPerf Tiny model missing: {IC_MODEL} (clone the repo with shared/ beside it)")
    x = np.random.default_rng(7).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    q = quantize(load(IC_MODEL), x)
    s = _assert_runs_in_arena(q, _dense(q), x[:2])
    adds = [n.name for n in s.nodes if n.op == "add"]
    over = memory.inplace_inputs(s)
    assert len(adds) == 3 and all(a in over for a in adds)  # every residual add writes over an input
    arena = plan(s, _dense(q))
    assert arena.optimal  # reaches the largest live total: nothing better exists for this order


def test_residual_add_and_activations_write_over_their_input():
    model = BUILDERS["residual"]()
    q = quantize(from_keras(model), random_input(model, batch=8, seed=1))
    over = memory.inplace_inputs(q)
    assert over["add"] in q.node("add").inputs
    lives = {t.name: t for t in tensor_lives(q)}
    assert lives["add"].alias_of == over["add"]
    arena = plan(q, _dense(q))
    assert arena.offset("add") == arena.offset(over["add"])
    # the model output is never overwritten, and without in-place nothing aliases
    assert q.outputs[0] not in over.values()
    assert all(t.alias_of is None for t in memory.tensor_lives(q, inplace=False)
               if q.node(t.name).op != "reshape")


def _node(name, op, inputs, size):
    return QNode(name, op, list(inputs), [(1,)] * len(inputs), (size,), 1.0, 0)


def test_schedule_runs_the_branch_that_frees_memory_first():
    # input(100) feeds A1(1000) -> A2(10) and B1(500) -> B2(10); C = concat(A2, B2).
    # Given order A1, B1, A2, B2: at B1 the input, A1 and B1 are live: 1,600 B.
    # Best: A1, A2 (A1 freed), B1, B2: peaks 100 + 1,000 + 10 = 1,110 at A2.
    nodes = [_node("in", "input", [], 100), _node("A1", "dense", ["in"], 1000),
             _node("B1", "dense", ["in"], 500), _node("A2", "dense", ["A1"], 10),
             _node("B2", "dense", ["B1"], 10), _node("C", "concat", ["A2", "B2"], 20)]
    q = QGraph("branches", nodes, ["C"], "in", (100,), 1.0, 0)
    assert memory.schedule(q) == ["in", "A1", "A2", "B1", "B2", "C"]
    rows = memory.timeline(q, tensor_lives(q), [], plan(q))
    assert memory.peak(rows)["layer"] == "B1" and memory.peak(rows)["bytes"] == 1600
    s = memory.reordered(q, memory.schedule(q))
    rows = memory.timeline(s, tensor_lives(s), [], plan(s))
    assert memory.peak(rows)["layer"] == "A2" and memory.peak(rows)["bytes"] == 1110
    assert plan(s).size == 1112  # 1,110 rounded up to the 4-byte alignment


def test_check_plan_rejects_overlapping_live_buffers():
    lives = [TensorLife("x", 64, 0, 2), TensorLife("y", 64, 1, 2)]
    with pytest.raises(ValueError, match="tensor x .* overlaps tensor y"):
        verify.check_plan(lives, [], ArenaPlan({"x": 0, "y": 32}, 96))
    with pytest.raises(ValueError, match=r"tensor x \[0, 64\) overlaps scratch of y \[60, 68\)"):
        verify.check_plan(lives, [TensorLife("y", 8, 1, 1)],
                          ArenaPlan({"x": 0, "y": 64}, 136, {"y": 60}))
    verify.check_plan(lives, [], ArenaPlan({"x": 0, "y": 64}, 128))


def test_rendered_arena_is_exactly_the_plan_and_the_report_has_a_timeline():
    model = BUILDERS["residual"]()
    q = quantize(from_keras(model), random_input(model, batch=8, seed=1))
    lay = _dense(q)
    r = render(q, lay, "mps2_an386")
    size = plan(scheduled(q, lay), lay).size
    assert f"#define TC_MODEL_ARENA_BYTES {size}\n" in r.files["tc_model.h"]
    assert "int8_t bytes[TC_MODEL_ARENA_BYTES];" in r.files["tc_model.c"]
    mem = r.memory
    assert mem["arena_bytes"] == size and mem["lower_bound_bytes"] <= size
    assert [row["layer"] for row in mem["timeline"]] == [s.name for s in r.steps]
    top = max(mem["timeline"], key=lambda row: row["bytes"])
    assert (mem["peak_layer"], mem["peak_bytes"]) == (top["layer"], top["bytes"])
    for row in mem["timeline"]:
        assert row["bytes"] == sum(b["bytes"] for b in row["live"]) <= size


def test_fit_error_names_the_peak_operator():
    from tinycompress.errors import BoardError
    from tinycompress.pipeline import check_fit
    from tinycompress.report.memory import peak_text
    from tinycompress.target.boards import load_board

    model = BUILDERS["residual"]()
    q = quantize(from_keras(model), random_input(model, batch=8, seed=1))
    mem = render(q, _dense(q), "mps2_an386").memory
    board = load_board("nucleo")
    with pytest.raises(BoardError, match=f"peak at layer {mem['peak_layer']} \\({mem['peak_op']}\\): "
                                         f"{mem['peak_bytes']:,} B live"):
        check_fit(board, 100, board.ram.size, peak=peak_text(mem))
    with pytest.raises(BoardError) as flash_only:  # RAM fits: no peak named
        check_fit(board, board.flash.size + 1, 100, peak=peak_text(mem))
    assert "peak at" not in str(flash_only.value)


def test_report_plots_the_timeline():
    from tinycompress.report.memory import memory_section, plot_memory
    from tinycompress.report.page import _figure, _png_uri

    model = BUILDERS["residual"]()
    q = quantize(from_keras(model), random_input(model, batch=8, seed=1))
    mem = memory_section(render(q, _dense(q), "mps2_an386").memory,
                         {"ram_bytes": 9000, "stack_bytes": 700}, None)
    assert mem["static_bytes"] == 9000 - 700 - mem["arena_bytes"]
    uri = plot_memory({**mem, "tflm_arena_bytes": 4000}, _figure, _png_uri)
    assert uri.startswith("data:image/png;base64,") and len(uri) > 1000
    assert plot_memory(mem, _figure, _png_uri) == plot_memory(mem, _figure, _png_uri)  # deterministic
