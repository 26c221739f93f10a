"""Host tier: the dense engine behind tc_fc_dense_s8 and tc_conv2d_dense_s8.

The engine (firmware/runtime/src/tc_fc_dense_s8.c) has two inner loops: plain C
(Cortex-M3, the host; tests/test_weight_kernels_host.py runs it) and the DSP
loop (SXTB16/SMLAD on Cortex-M4), which unpacks sub-byte levels into offset-
binary int16 lanes scaled by 2^S. Here the DSP loop runs on the host too, built
with -DTC_DENSE_EMULATE_DSP (portable C stand-ins for those instructions), on
the same hypothesis cases and on sweeps chosen to hit its edges: every width
1..8, row lengths that end inside a group (the last rows read from a padded
copy), odd row counts (the last row paired with itself), odd pixel counts (the
last pixel alone), strides, and rows too long for the lanes' int32 headroom
(the row-engine fallback). QEMU runs the real instructions
(tests/test_dense_speed_qemu.py, tests/test_qemu_ops.py).

Also checked: the scratch sizes the C kernels ask for equal the renderer's
Python formulas (tinycompress.codegen.scratch), and a kernel given too little,
no or misaligned scratch returns TC_ERR_ARG.
"""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest
from hypothesis import given, settings

from tests.cbuild import build_shared
from tests.test_weight_kernels_host import (SOURCES, ConvDims, Ctx, FcDims, KINDS, check_conv,
                                            check_fc, conv_cases, fc_cases, make_levels,
                                            make_params, quant_struct, weights_struct)
from tinycompress import layouts
from tinycompress.codegen import scratch
from tinycompress.reference import weight_ops as wo

pytestmark = pytest.mark.host
SETTINGS = settings(max_examples=60, deadline=None)


@pytest.fixture(scope="module", params=["dsp", "plain"])
def engine(request):
    """The kernels with the DSP loop (emulated) and with the plain C loop."""
    flags = ["-DTC_DENSE_EMULATE_DSP"] if request.param == "dsp" else []
    return build_shared(SOURCES, extra_flags=flags)


@SETTINGS
@given(fc_cases())
def test_fc_matches_reference(engine, case):
    check_fc(engine, *case)


@SETTINGS
@given(conv_cases(depthwise=False))
def test_conv2d_matches_reference(engine, case):
    check_conv(engine, False, *case)


@pytest.mark.parametrize("bits", range(1, 9))
def test_fc_every_width_and_group_remainder(engine, bits):
    # rows 1..5 (odd: the last row pairs with itself); fan_in from 1 to two groups + 1,
    # so every remainder of the group (4, 8, 16 or 32 levels) occurs
    group = scratch.dense_group(bits)
    lo, hi = (-1, 0) if bits == 1 else (-(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1)
    rng = np.random.default_rng(bits)
    for cols in range(1, 2 * group + 2):
        rows = 1 + cols % 5
        levels = rng.integers(lo, hi + 1, (rows, cols))
        if cols % 3 == 0:
            levels[rng.random(levels.shape) < 0.5] = lo  # the most negative level, often
        x = rng.integers(-128, 128, cols).astype(np.int8)
        check_fc(engine, bits, levels, x, make_params(rng, levels), f" cols {cols}")


@pytest.mark.parametrize("bits", [1, 3, 4, 5, 8])
def test_fc_many_units(engine, bits):
    # 15..49 units (the hypothesis cases stop at 9): many row pairs before the tail rows
    # (fan_in 13: rows do not end on a group) and after
    lo, hi = (-1, 0) if bits == 1 else (-(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1)
    rng = np.random.default_rng(30 + bits)
    for units in (15, 16, 17, 32, 33, 49):
        for cols in (13, 64):
            levels = rng.integers(lo, hi + 1, (units, cols))
            x = rng.integers(-128, 128, cols).astype(np.int8)
            check_fc(engine, bits, levels, x, make_params(rng, levels), f" {units}x{cols}")


@pytest.mark.parametrize("bits", range(1, 9))
def test_rows_shorter_than_their_padded_group(engine, bits):
    # one or two levels per row: a row's group reads up to 7 bytes past the row, over
    # several later rows, so the last several rows are read from the tail copy
    # (tc_dense_tail_rows); ASan (tests/test_sanitizers_host.py) checks nothing reads past
    lo, hi = (-1, 0) if bits == 1 else (-(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1)
    rng = np.random.default_rng(20 + bits)
    for rows in (1, 2, 3, 8, 9):
        for cols in (1, 2, 3):
            levels = rng.integers(lo, hi + 1, (rows, cols))
            x = rng.integers(-128, 128, cols).astype(np.int8)
            check_fc(engine, bits, levels, x, make_params(rng, levels), f" {rows}x{cols}")
    if bits >= 2:  # conv2d: a 1x1 kernel on one channel, 9 output channels
        levels = rng.integers(lo, hi + 1, (9, 1))
        x = rng.integers(-128, 128, (3, 5, 1)).astype(np.int8)
        check_conv(engine, False, bits, (1, 1), (1, 1), x, levels, make_params(rng, levels))


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("geometry", [
    ((6, 7, 8), (1, 1), (1, 1)),   # pointwise, runs of whole groups
    ((5, 4, 3), (1, 1), (1, 2)),   # pointwise on 3 channels: one run, partial group
    ((7, 7, 3), (3, 3), (2, 2)),   # 3x3 on 3 channels: patches gathered
    ((6, 6, 8), (3, 3), (1, 1)),   # 3x3 on 8 channels: runs packed in place
    ((9, 5, 1), (5, 4), (1, 1)),   # a tall narrow kernel on one channel
    ((4, 3, 16), (2, 3), (2, 1)),  # 2x3, stride 2 x 1
    ((3, 3, 5), (3, 3), (1, 1)),   # one output pixel (alone)
])
def test_conv2d_geometries(engine, bits, geometry):
    (h, w, cin), k, s = geometry
    rng = np.random.default_rng(10 * bits + cin)
    for cout in (1, 4, 7):
        cols = k[0] * k[1] * cin
        levels = make_levels(rng, KINDS[cout % len(KINDS)], cout, cols, bits)
        x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
        check_conv(engine, False, bits, k, s, x, levels, make_params(rng, levels))


@pytest.mark.parametrize("bits", [3, 5, 8])
def test_rows_past_the_lane_headroom_fall_back_exactly(engine, bits):
    # at 5 bits the DSP lanes hold |2^6 * sum| < 2^31 for rows shorter than 2^14 levels;
    # longer rows take the row engine, with the same result
    cols = 17_000
    rng = np.random.default_rng(bits)
    hi = (1 << (bits - 1)) - 1
    levels = rng.integers(-hi - 1, hi + 1, (3, cols))
    x = rng.integers(-128, 128, cols).astype(np.int8)
    check_fc(engine, bits, levels, x, make_params(rng, levels), " long rows")


def test_requantization_at_every_shift(engine):
    # one output channel per shift in [-31, 30]: the output stage's forms (shift <= -2
    # with SMMLA, shift >= -1 in 64 bits or, in a conv table whose accumulator bound allows
    # it, with SMMLA on acc * 2^(2 + shift); shift < -23 the general path), accumulators near
    # the largest magnitude whose requantized value still fits int32 (about 2^31 for
    # shift < 0, 2^(30 - shift) above) and near 0 (acc = bias + 1 * x), the zero point
    # folded in; FC works the constants out per call, conv2d (1x1 on one channel,
    # 3 pixels) takes them from its table
    shifts = np.arange(-31, 31)
    rows = shifts.size
    rng = np.random.default_rng(5)
    big = np.where(shifts < 0, 2**31 - 200, 2.0 ** (30 - np.maximum(shifts, 0))).astype(np.int64)
    small = np.minimum(5000, big // 4)
    bias = np.where(np.arange(rows) % 3 == 0, big, rng.integers(-small, small + 1))
    bias = np.where(np.arange(rows) % 3 == 1, -big, bias).astype(np.int32)
    for z_out in (-128, 3, 127):
        params = wo.WeightOpParams(bias_f=bias, m=rng.integers(1 << 30, (1 << 31) - 1, rows)
                                   .astype(np.int32), shift=shifts.astype(np.int32),
                                   z_out=z_out, act_min=-128, act_max=127)
        levels = (shifts < 20).astype(np.int64).reshape(rows, 1)  # above, x * 1 alone overflows
        check_fc(engine, 8, levels, np.array([127], np.int8), params, f" z_out {z_out}")
        x = np.array([127, -128, 5], np.int8).reshape(1, 3, 1)
        check_conv(engine, False, 8, (1, 1), (1, 1), x, levels, params)


def _size(lib, name, dims, bits) -> int:
    fn = getattr(lib, f"{name}_buffer_size")
    fn.restype = C.c_int32
    return fn(C.byref(dims), bits)


def test_buffer_sizes_equal_the_renderers_formulas(engine):
    for bits in range(1, 9):
        for fan_in in (1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 144, 1000):
            for units in (1, 2, 5):
                assert _size(engine, "tc_fc_dense_s8", FcDims(fan_in, units), bits) == \
                    scratch.fc_dense_buffer_size(fan_in, units, bits), (bits, fan_in, units)
        for kh, kw, cin in ((1, 1, 1), (1, 1, 8), (1, 1, 3), (3, 3, 1), (3, 3, 3), (3, 3, 8),
                            (5, 5, 1), (10, 4, 1), (2, 3, 16), (1, 5, 3), (3, 1, 32)):
            for cout in (1, 4):
                dims = ConvDims(12, 12, cin, kh, kw, 1, 1, 13 - kh, 13 - kw, cout)
                assert _size(engine, "tc_conv2d_dense_s8", dims, bits) == \
                    scratch.conv2d_dense_buffer_size(kh, kw, cin, cout, bits), (bits, kh, kw, cin)
                # 'same' at stride 1: windows reach into the padding (a gather area)
                same = ConvDims(12, 12, cin, kh, kw, 1, 1, 12, 12, cout, (kh - 1) // 2,
                                (kw - 1) // 2, -3)
                assert _size(engine, "tc_conv2d_dense_s8", same, bits) == \
                    scratch.conv2d_dense_buffer_size(kh, kw, cin, cout, bits,
                                                     padded=kh > 1 or kw > 1), (bits, kh, kw)
                # stride 2 (a 1x1 one has two columns at 8 bits too)
                s2 = ConvDims(12, 12, cin, kh, kw, 2, 2, (12 - kh) // 2 + 1, (12 - kw) // 2 + 1,
                              cout)
                assert _size(engine, "tc_conv2d_dense_s8", s2, bits) == \
                    scratch.conv2d_dense_buffer_size(kh, kw, cin, cout, bits,
                                                     strides=(2, 2)), (bits, kh, kw, cin)


def test_buffer_sizes_by_hand():
    # 8 bits, fan_in 10, 3 units: groups of 4 -> 12 levels, 24 B of int16 lanes. A row is
    # 10 B but its groups read 12 B, so the last row is copied: 10 B + 2 B of zeros -> 36
    assert scratch.fc_dense_buffer_size(10, 3, 8) == 36
    # 3 bits, fan_in 16, 40 units: one whole group of 16 -> 32 B, rows end on a group, no copy
    assert scratch.fc_dense_buffer_size(16, 40, 3) == 32
    # 7 bits, fan_in 1: a row is 1 B, its group of 8 levels reads 7 B: the last 6 of 9 rows
    # are copied (row 2 reads bytes 2..8, inside the array), 6 B + 6 B of zeros = 12 B;
    # plus the column, 8 levels -> 16 B
    assert scratch.dense_tail_bytes(9, 1, 7) == 12
    assert scratch.fc_dense_buffer_size(1, 9, 7) == 28
    # ... and with only 2 rows, both: 2 B + 6 B = 8 B
    assert scratch.dense_tail_bytes(2, 1, 7) == 8
    # 1 bit, fan_in 31: 4 B per row and its group of 32 reads 4 B too: no copy
    assert scratch.dense_tail_bytes(5, 31, 1) == 0
    # 4 bits, 3x3 on 3 channels -> 5 channels: requantization 5 * 20 = 100 B; K = 27 -> 32
    # levels (groups of 8), two columns 2 * 64 B; a kernel row of 9 is not whole groups ->
    # gather 32 B; a row is 14 B and reads 16 B: last row copied, 16 B -> 100 + 128 + 32 + 16
    # for the general path (the least it takes) ...
    assert scratch.conv2d_dense_buffer_size(3, 3, 3, 5, 4, least=True) == 276
    # ... and the DSP path's, which unpacks the levels to int8 once: K = 27 -> 28 levels
    # (groups of 4), at most 64: six columns 6 * 56 B, six gather areas of 28 B, the rows
    # unpacked 5 * 28 B -> 100 + 336 + 168 + 140
    assert scratch.conv2d_dense_buffer_size(3, 3, 3, 5, 4) == 744
    # 8 bits, 1x1 on 16 channels -> 2: 40 B of requantization, six columns of 16 levels
    # (the DSP path packs six pixels a pass: 6 * 32 B), nothing else
    assert scratch.conv2d_dense_buffer_size(1, 1, 16, 2, 8) == 232
    # ... with a post-op (the fused add) two columns, + 4 B of sums
    assert scratch.conv2d_dense_add_buffer_size(1, 1, 16, 2, 8) == 108
    # 8 bits, 1x1 on 128 channels: six columns at stride 1, two at stride 2 (more than 64
    # levels): 40 + 6 * 256, 40 + 2 * 256
    assert scratch.conv2d_dense_buffer_size(1, 1, 128, 2, 8) == 1576
    assert scratch.conv2d_dense_buffer_size(1, 1, 128, 2, 8, strides=(2, 2)) == 552
    # 8 bits, 3x3 on 16 channels -> 4: K = 144 levels, more than 64: two columns,
    # 80 + 2 * 288
    assert scratch.conv2d_dense_buffer_size(3, 3, 16, 4, 8) == 656
    # ... at 4 bits, the general path two columns: 40 + 2 * 32; the DSP path unpacks the
    # levels (2 rows of 16 B) and packs six 8-bit columns: 40 + 6 * 32 + 32
    assert scratch.conv2d_dense_buffer_size(1, 1, 16, 2, 4, least=True) == 104
    assert scratch.conv2d_dense_buffer_size(1, 1, 16, 2, 4) == 264
    # 8 bits, 1x1 on 3 channels -> 2: 40 B; six columns of 4 levels, 48 B; the one run of
    # 3 is gathered and zero-padded to 4 B, six patches 24 B; rows of 3 B are not whole
    # groups: the matrix with its rows padded to 4 B (2 * 4 B; it holds the tail copy off
    # the DSP path): 40 + 48 + 24 + 8
    assert scratch.conv2d_dense_buffer_size(1, 1, 3, 2, 8) == 120


def _call(lib, name, ctx, dims, lay, params, x, out):
    q, _keep = quant_struct(params)
    w = weights_struct(lay)
    fn = getattr(lib, name)
    fn.restype = C.c_int
    return fn(ctx, C.byref(dims), C.byref(q), C.byref(w), C.c_void_p(x.ctypes.data),
              C.c_void_p(out.ctypes.data))


@pytest.mark.parametrize("name", ["tc_fc_dense_s8", "tc_conv2d_dense_s8"])
def test_too_little_or_no_scratch_is_an_error(engine, name):
    rng = np.random.default_rng(3)
    if name == "tc_fc_dense_s8":
        dims, levels, x = FcDims(10, 3), rng.integers(-7, 8, (3, 10)), rng.integers(-9, 9, 10)
    else:
        dims, levels = ConvDims(5, 5, 3, 3, 3, 1, 1, 3, 3, 3), rng.integers(-7, 8, (3, 27))
        x = rng.integers(-9, 9, 75)
    x, out = x.astype(np.int8), np.zeros(27, np.int8)
    lay, params = layouts.encode_as("dense", levels, 4), make_params(rng, levels)
    need = _size(engine, name, dims, 4)
    buf = np.zeros(need + 8, np.uint8)
    base = buf.ctypes.data + (-buf.ctypes.data) % 4
    ok = Ctx(base, need)
    assert _call(engine, name, C.byref(ok), dims, lay, params, x, out) == 0
    if name == "tc_conv2d_dense_s8":  # less than the buffer size takes the general path;
        least = engine.tc_conv2d_dense_s8_min_buffer_size  # less than its size is an error
        least.restype = C.c_int32
        need = least(C.byref(dims), 4)
        assert _call(engine, name, C.byref(Ctx(base, need)), dims, lay, params, x, out) == 0
    assert _call(engine, name, C.byref(Ctx(base, need - 1)), dims, lay, params, x, out) == -1
    assert _call(engine, name, None, dims, lay, params, x, out) == -1
    assert _call(engine, name, C.byref(Ctx(None, need)), dims, lay, params, x, out) == -1
    assert _call(engine, name, C.byref(Ctx(base + 2, need)), dims, lay, params, x, out) == -1
