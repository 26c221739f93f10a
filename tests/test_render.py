"""Render tier and host tier of the generated firmware code.

- Golden: a small fixed model (conv + depthwise + affine + dense) rendered
  for every board must equal the golden files byte for byte, but for the
  board name in the banner: tests/golden/render/ with its four weight layers
  in dense, csr, cer, cser; tests/golden/render_pcsr/ with all of them in
  pcsr. Regenerate with `TC_UPDATE_GOLDEN=1 pytest tests/test_render.py`.
- Host: the generated tc_model.c plus the runtime kernels it names, compiled
  with the host cc (-std=c99 -Wall -Wextra -Werror), run on inputs and compared
  exactly with the integer reference (int_ref.run_int), for models covering
  every op and every weight layout.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

from tests.cbuild import RUNTIME, build_shared
from tests.models import BUILDERS, random_input
from tinycompress import layouts as layouts_mod
from tinycompress.target.boards import list_boards, load_board
from tinycompress.compress.weights import col_map
from tinycompress.frontend.keras import from_keras
from tinycompress.ir.graph import WEIGHT_OPS
from tinycompress.paths import STARTUP_DIR
from tinycompress.codegen.arena import TensorLife
from tinycompress.compress.quantize import quantize
from tinycompress.reference.int_ref import run_int
from tinycompress.codegen.render import MODEL_FILES, render, tensor_lives

GOLDEN = Path(__file__).parent / "golden" / "render"
UPDATE = os.environ.get("TC_UPDATE_GOLDEN", "") not in ("", "0")
LAYOUT_CYCLE = layouts_mod.LAYOUT_NAMES  # dense, csr, cer, cser, pcsr

HOST_HARNESS = r"""
#include <stdint.h>
#include "tc_model.h"
#include "tc_platform.h"

/* The host has no timer: every layer reads 0 ticks. */
void tc_timer_start(void) {}
uint32_t tc_timer_elapsed(void) { return 0u; }

int32_t tc_host_run(const int8_t *input, int8_t *output)
{
    uint32_t ticks[TC_MODEL_N_LAYERS];
    int8_t *x = tc_model_input();
    const int8_t *y;
    int32_t k, failed;

    for (k = 0; k < TC_MODEL_INPUT_BYTES; k++) {
        x[k] = input[k];
    }
    failed = tc_model_run(ticks, 0);
    y = tc_model_output();
    for (k = 0; k < TC_MODEL_OUTPUT_BYTES; k++) {
        output[k] = y[k];
    }
    return failed;
}
"""


def _quantized(name: str, per_channel: bool = True, bits: int = 8):
    model = BUILDERS[name]()
    return quantize(from_keras(model), random_input(model, batch=64, seed=1), bits=bits,
                    per_channel=per_channel)


def _cycled_names(qgraph, shift: int = 0) -> dict[str, str]:
    """Weight layer k gets layout LAYOUT_CYCLE[(k + shift) % 5]: every layout on every op in a few models."""
    return {n.name: LAYOUT_CYCLE[(k + shift) % len(LAYOUT_CYCLE)] for k, n in enumerate(qgraph.weight_nodes)}


def _encoded(qgraph, names: dict[str, str]) -> dict:
    return {n.name: layouts_mod.encode_as(names[n.name], n.levels, n.bits, col_map(n))
            for n in qgraph.weight_nodes}


def _cycled_layouts(qgraph, shift: int = 0) -> dict:
    return _encoded(qgraph, _cycled_names(qgraph, shift))


@pytest.fixture(scope="module")
def golden_bn_fold():
    return _quantized("bn_fold", per_channel=True, bits=4)


@pytest.fixture(scope="module")
def golden_model(golden_bn_fold):
    return golden_bn_fold, _cycled_layouts(golden_bn_fold)


@pytest.fixture(scope="module")
def golden_sets(golden_model, golden_bn_fold):
    """golden directory -> (quantized model, layouts): the cycled layouts, and every layer in pcsr."""
    q = golden_bn_fold
    return {"render": golden_model,
            "render_pcsr": (q, _encoded(q, {n.name: "pcsr" for n in q.weight_nodes}))}


def board_neutral(text: str, board: str) -> str:
    """The rendered text with the board name in the banner replaced by `<board>`.

    The generated sources differ between boards only in that banner (board
    facts live in tc_board.h and the linker script, golden-tested in
    test_boards.py), so one golden set serves every board; any other
    per-board difference makes this test fail.
    """
    banner, rest = text.split("\n", 1)
    return banner.replace(f"on board {board};", "on board <board>;") + "\n" + rest


def test_golden_sets_use_the_layouts_they_are_named_for(golden_sets):
    q, cycled = golden_sets["render"]
    assert [(n.op, cycled[n.name].name) for n in q.weight_nodes] == [
        ("conv2d", "dense"), ("depthwise_conv2d", "csr"), ("conv2d", "cer"), ("dense", "cser")]
    _, pcsr = golden_sets["render_pcsr"]
    assert {lay.name for lay in pcsr.values()} == {"pcsr"} and set(pcsr) == set(cycled)


@pytest.mark.parametrize("golden_set", ["render", "render_pcsr"])
@pytest.mark.parametrize("board", [b.name for b in list_boards()])
def test_golden_render(golden_sets, golden_set, board):
    q, lay = golden_sets[golden_set]
    files = render(q, lay, load_board(board).name, sample_input=q.quantize_input(random_input_np(q))).files
    assert sorted(files) == sorted(MODEL_FILES)
    golden = GOLDEN.parent / golden_set
    for name, text in files.items():
        path, text = golden / name, board_neutral(text, board)
        if UPDATE:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text, f"{board}: {path} differs (TC_UPDATE_GOLDEN=1 to regenerate)"


def random_input_np(q) -> np.ndarray:
    return np.random.default_rng(5).normal(size=q.input_shape).astype(np.float32)


def test_render_is_deterministic(golden_model):
    q, lay = golden_model
    board = load_board("nucleo")
    assert render(q, lay, board.name).files == render(q, lay, board.name).files


def test_generated_banner_and_no_layer_left_out(golden_model):
    q, lay = golden_model
    r = render(q, lay, load_board("mps2_an386").name)
    for text in r.files.values():
        assert text.startswith("/* Generated by tinycompress") and "do not edit" in text.splitlines()[0]
    executed = [n.name for n in q.nodes if n.op not in ("input", "reshape")]
    assert [s.name for s in r.steps] == executed
    # weight bytes of a step are exactly its arrays' bytes, as weights.py counts them
    from tinycompress.compress.weights import layer_weight_bytes
    for s in r.steps:
        if s.layout:
            assert s.weight_bytes == layer_weight_bytes(q.node(s.name), lay[s.name])


def test_tensor_lives_hand_derived(golden_model):
    q, _ = golden_model
    lives = {t.name: t for t in tensor_lives(q)}
    names = [n.name for n in q.nodes]
    # The input is written at step 0 and last read by the node right after it (the pad).
    assert lives[names[0]] == TensorLife(names[0], int(np.prod(q.input_shape)), 0, 1, None)
    # The model output stays live past the last step; a reshape aliases its input.
    assert lives[q.outputs[0]].last == len(q.nodes)
    for n in q.nodes:
        if n.op == "reshape":
            assert lives[n.name].alias_of == n.inputs[0]


# ------------------------------------------------------------------ host tier

def _host_library(rendered, tmp_path: Path) -> ctypes.CDLL:
    gen = tmp_path / "gen"
    gen.mkdir()
    for name, text in rendered.files.items():
        (gen / name).write_text(text)
    (gen / "harness.c").write_text(HOST_HARNESS)
    sources = [gen / "tc_model.c", gen / "harness.c"] + [RUNTIME / "src" / k for k in rendered.kernel_sources]
    # with the project's variant flags: a layer whose loop the masks left out would fail (TC_ERR_ARG)
    return build_shared(sources, include_dirs=[gen, STARTUP_DIR / "include"],
                        extra_flags=rendered.build_flags())


def _host_outputs(lib, x: np.ndarray, out_shape) -> np.ndarray:
    outs = []
    for sample in x:
        xi = np.ascontiguousarray(sample, np.int8)
        out = np.zeros(out_shape, np.int8)
        failed = lib.tc_host_run(ctypes.c_void_p(xi.ctypes.data), ctypes.c_void_p(out.ctypes.data))
        assert failed == 0, f"kernel of layer {failed - 1} returned an error"
        outs.append(out)
    return np.stack(outs)


# (model, per_channel, bits, layout shift): the shifts are chosen so that every weight op
# meets every layout (test_host_cases_cover_every_op_in_every_layout).
HOST_CASES = [("conv_padding", True, 8, 0), ("conv_padding", False, 3, 4), ("bn_fold", True, 4, 1),
              ("bn_fold", False, 8, 3), ("residual", True, 5, 0), ("residual", False, 8, 4),
              ("pooling", True, 8, 1), ("separable", True, 6, 2), ("separable", False, 2, 3),
              ("conv1d", True, 8, 4)]


def test_host_cases_cover_every_op_in_every_layout():
    seen = set()
    for name, per_channel, bits, shift in HOST_CASES:
        q = _quantized(name, per_channel, bits)
        names = _cycled_names(q, shift)
        seen |= {(n.op, names[n.name]) for n in q.weight_nodes}
    assert seen == {(op, lay) for op in WEIGHT_OPS for lay in LAYOUT_CYCLE}, seen


@pytest.mark.parametrize("name,per_channel,bits,shift", HOST_CASES)
def test_host_model_matches_int_ref(name, per_channel, bits, shift, tmp_path):
    q = _quantized(name, per_channel, bits)
    rendered = render(q, _cycled_layouts(q, shift), load_board("mps2_an386").name)
    lib = _host_library(rendered, tmp_path)
    x = q.quantize_input(np.random.default_rng(2).normal(size=(12, *q.input_shape)) * 1.5)
    expected = run_int(q, x)
    got = _host_outputs(lib, x, q.node(q.outputs[0]).output_shape)
    bad = np.argwhere(got.reshape(len(x), -1) != expected.reshape(len(x), -1))
    assert bad.size == 0, f"{name}: input {bad[0][0]}, output {bad[0][1]} differs"


@pytest.fixture(scope="module")
def digits_qgraph():
    from tinycompress.data import DIGITS_MODEL, digits_calibration, digits_test
    from tinycompress.frontend.keras import load

    q = quantize(load(DIGITS_MODEL), digits_calibration().x, bits=4)
    return q, q.quantize_input(digits_test().x[:40])


@pytest.mark.parametrize("layout", LAYOUT_CYCLE)
def test_host_digits_every_layout_matches_int_ref(digits_qgraph, layout, tmp_path):
    q, x = digits_qgraph
    lay = {n.name: layouts_mod.encode_as(layout, n.levels, n.bits, col_map(n)) for n in q.weight_nodes}
    lib = _host_library(render(q, lay, load_board("nucleo").name), tmp_path)
    np.testing.assert_array_equal(_host_outputs(lib, x, (10,)), run_int(q, x))
