"""Compile-time variant masks of the row engines (tc_layouts_internal.h).

The renderer tells the compiler which index-type / bit-width loops a model
runs (TC_CSR_VARIANTS, TC_CER_VARIANTS, TC_CSER_VARIANTS, TC_DENSE_BITS), so
the firmware links only those. Checked here: the masks the renderer derives
(hand-derived from the index dtypes), that a kernel built with a mask still
matches the numpy reference on the loops it kept and rejects the others with
TC_ERR_ARG, that the cross-compiled object really shrinks, and the short
requantization path of the row loops at every shift.
"""
from __future__ import annotations

import ctypes as C
import shutil
import subprocess

import numpy as np
import pytest

from tests.cbuild import RUNTIME, build_shared
from tests.test_weight_kernels_host import (FcDims, call, make_params, quant_struct, scratch_args,
                                            weights_struct)
from tinycompress import layouts
from tinycompress.reference import weight_ops as wo
from tinycompress.codegen.render import variant_masks
from tinycompress.codegen.ops import Step, variant_bit

pytestmark = pytest.mark.host
FC_SOURCES = [RUNTIME / "src" / f"tc_fc_{lay}_s8.c" for lay in layouts.LAYOUT_NAMES]


def _levels(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random((rows, cols)) < 0.3, rng.integers(-7, 8, (rows, cols)), 0)


def test_variant_bit_from_index_dtypes():
    # 3 x 10 matrix: columns < 256 -> col_idx uint8; nnz < 256 -> omega_ptr uint8
    small = _levels(3, 10)
    # 2 x 300: column 299 needs uint16 col_idx; nnz ~180 still fits uint8 omega_ptr
    wide = _levels(2, 300, seed=1)
    lay = lambda name, m: layouts.encode_as(name, m, 4)  # noqa: E731
    assert variant_bit(lay("csr", small), lay("csr", small).arrays) == ("TC_CSR_VARIANTS", 0)
    assert variant_bit(lay("csr", wide), lay("csr", wide).arrays) == ("TC_CSR_VARIANTS", 1)
    # CER/CSER bit = 3 * slot(col_idx) + slot(omega_ptr): (u8, u8) -> 0, (u16, u8) -> 3
    assert variant_bit(lay("cer", small), lay("cer", small).arrays) == ("TC_CER_VARIANTS", 0)
    assert variant_bit(lay("cser", wide), lay("cser", wide).arrays) == ("TC_CSER_VARIANTS", 3)
    # dense: bit bits-1
    assert variant_bit(lay("dense", small), {}) == ("TC_DENSE_BITS", 3)


def test_masks_or_over_layers_and_flags():
    steps = [Step("a", "dense", "cer", "k", [], "o", 1, variant=("TC_CER_VARIANTS", 0)),
             Step("b", "dense", "cer", "k", [], "o", 1, variant=("TC_CER_VARIANTS", 4)),
             Step("c", "dense", "dense", "k", [], "o", 1, variant=("TC_DENSE_BITS", 7)),
             Step("d", "softmax", None, "k", [], "o", 1)]
    # bits 0 and 4 -> 0x11; bit 7 -> 0x80; the softmax step adds nothing
    assert variant_masks(steps) == {"TC_CER_VARIANTS": 0x11, "TC_DENSE_BITS": 0x80}


@pytest.fixture(scope="module")
def masked_lib():
    # CSR only uint16 columns, CER/CSER only (u8, u8), dense only 4-bit
    flags = ["-DTC_CSR_VARIANTS=0x2", "-DTC_CER_VARIANTS=0x1", "-DTC_CSER_VARIANTS=0x1",
             "-DTC_DENSE_BITS=0x8"]
    return build_shared(FC_SOURCES, extra_flags=flags)


@pytest.mark.parametrize("name,bits,cols,kept", [
    ("csr", 4, 300, True), ("csr", 4, 40, False),      # u16 kept, u8 left out
    ("cer", 4, 40, True), ("cer", 4, 300, False),      # (u8, u8) kept, (u16, u8) left out
    ("cser", 4, 40, True), ("cser", 4, 300, False),
    ("dense", 4, 40, True), ("dense", 8, 40, False),   # 4-bit kept, 8-bit left out
])
def test_masked_build_keeps_exactly_its_variants(masked_lib, name, bits, cols, kept):
    levels = _levels(5, cols, seed=cols)
    rng = np.random.default_rng(3)
    params = make_params(rng, levels)
    x = rng.integers(-128, 128, cols).astype(np.int8)
    lay = layouts.encode_as(name, levels, bits)
    if kept:
        got = call(masked_lib, f"tc_fc_{name}_s8", FcDims(cols, 5), lay, params, x, (5,))
        np.testing.assert_array_equal(got, wo.fc_s8(x, levels, params))
    else:
        q, _keep = quant_struct(params)
        w = weights_struct(lay)
        out = np.zeros(5, np.int8)
        fn = getattr(masked_lib, f"tc_fc_{name}_s8")
        ctx, _scratch = scratch_args(masked_lib, fn.__name__, FcDims(cols, 5), bits)
        assert fn(*ctx, C.byref(FcDims(cols, 5)), C.byref(q), C.byref(w), x.ctypes.data,
                  out.ctypes.data) == -1


def _arm_text_bytes(source, flags, tmp_path) -> int:
    gcc = shutil.which("arm-none-eabi-gcc")
    assert gcc, "arm-none-eabi-gcc is required (apt-get install gcc-arm-none-eabi)"
    obj = tmp_path / "k.o"
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c99", "-Wall", "-Wextra",
                    "-Werror", f"-I{RUNTIME / 'include'}", *flags, "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(obj)], check=True,
                         capture_output=True, text=True).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith(".text"))


@pytest.mark.parametrize("name,flag", [("cer", "-DTC_CER_VARIANTS=0x1"),
                                       ("cser", "-DTC_CSER_VARIANTS=0x1")])
def test_one_variant_is_a_fraction_of_all(name, flag, tmp_path):
    # nine (col_idx, omega_ptr) loops of similar size -> one of them is well under 1/3
    src = RUNTIME / "src" / f"tc_fc_{name}_s8.c"
    every, one = _arm_text_bytes(src, [], tmp_path), _arm_text_bytes(src, [flag], tmp_path)
    assert one * 3 < every, f"{name}: one variant {one} B vs all {every} B"


@pytest.mark.parametrize("name", layouts.LAYOUT_NAMES)
def test_requantization_at_every_shift(name):
    # One row per shift in [-31, 30] (total = 31 - shift = 1..62: both sides of the
    # row loops' short path, which starts at total 33), with accumulators at the
    # largest magnitude whose requantized value still fits int32 (the build
    # refuses anything larger, so no kernel meets it), and near 0:
    # acc = bias_f + 1 * x, x = 127.
    lib = build_shared(FC_SOURCES)
    shifts = np.arange(-31, 31)
    rows = shifts.size
    rng = np.random.default_rng(5)
    m = rng.integers(1 << 30, (1 << 31) - 1, rows)
    # |acc| <= reach keeps acc * m / 2^(31 - shift) inside int32 (with room for z_out)
    reach = np.array([min(2**31 - 200, ((2**31 - 256) << int(31 - s)) // int(mi))
                      for s, mi in zip(shifts, m)])
    acc = np.clip(rng.integers(-5000, 5000, rows), -reach, reach)
    acc = np.where(np.arange(rows) % 3 == 0, reach, acc)
    acc = np.where(np.arange(rows) % 3 == 1, -reach, acc)
    bias = (acc - 127).astype(np.int32)
    params = wo.WeightOpParams(bias_f=bias, m=m.astype(np.int32),
                               shift=shifts.astype(np.int32), z_out=3, act_min=-128, act_max=127)
    levels = np.ones((rows, 1), np.int64)
    x = np.array([127], np.int8)
    got = call(lib, f"tc_fc_{name}_s8", FcDims(1, rows), layouts.encode_as(name, levels, 8),
               params, x, (rows,))
    np.testing.assert_array_equal(got, wo.fc_s8(x, levels, params))
