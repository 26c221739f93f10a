"""Host tier: the C non-weight kernels (firmware/runtime/src) against the numpy
spec (tinycompress.reference.int_eval), exactly, on hypothesis-generated cases.

Each kernel is compiled with the host cc and strict flags (tests/cbuild.py) and
called through ctypes with the very Params the numpy prepare_* produced.
"""
from __future__ import annotations

import ctypes as C
import math
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cbuild import RUNTIME, build_shared
from tinycompress.reference import int_eval, int_prepare

KERNELS = ["pad", "requantize_tensor", "maxpool2d", "avgpool2d", "global_avgpool2d",
           "global_maxpool2d", "add", "concat", "lut", "softmax", "affine"]
SOURCES = [RUNTIME / "src" / f"tc_{k}_s8.c" for k in KERNELS]
SETTINGS = settings(max_examples=60, deadline=None)
scales = st.floats(1e-3, 2.0, allow_nan=False, allow_infinity=False)
zps = st.sampled_from([-128, 127, 0]) | st.integers(-128, 127)
I32P, I64P = C.POINTER(C.c_int32), C.POINTER(C.c_int64)


def _struct(name, fields):
    return type(name, (C.Structure,), {"_fields_": fields})


Rescale = _struct("Rescale", [(f, C.c_int32) for f in
                              ("in_zp", "multiplier", "shift", "out_zp", "act_min", "act_max")])
PadP = _struct("PadP", [(f, C.c_int32) for f in
                        ("in_h", "in_w", "channels", "top", "bottom", "left", "right", "value")])
Geom = _struct("Geom", [(f, C.c_int32) for f in
                        ("in_h", "in_w", "channels", "pool_h", "pool_w", "stride_h",
                         "stride_w", "pad_top", "pad_left", "out_h", "out_w")])
AvgP = _struct("AvgP", [("in_zp", C.c_int32), ("multiplier", I32P), ("shift", I32P),
                        ("out_zp", C.c_int32), ("act_min", C.c_int32), ("act_max", C.c_int32)])
AddP = _struct("AddP", [("n_inputs", C.c_int32), ("in_zp", I32P), ("in_multiplier", I32P),
                        ("in_shift", I32P)] + [(f, C.c_int32) for f in (
                            "left_shift", "out_multiplier", "out_shift", "out_zp", "act_min",
                            "act_max")])
ConcatP = _struct("ConcatP", [("n_inputs", C.c_int32), ("outer", C.c_int32),
                              ("inner_sizes", I32P), ("inputs", C.POINTER(Rescale))])
AffineP = _struct("AffineP", [("channels", C.c_int32), ("in_zp", C.c_int32),
                              ("multiplier", I32P), ("shift", I32P), ("offset", I64P),
                              ("out_zp", C.c_int32), ("act_min", C.c_int32),
                              ("act_max", C.c_int32)])


@pytest.fixture(scope="module")
def lib():
    return build_shared(SOURCES)


def p8(a):
    return a.ctypes.data_as(C.POINTER(C.c_int8))


def p32(a):
    return a.ctypes.data_as(I32P)


def i32(values):
    return np.ascontiguousarray(values, dtype=np.int32)


def rescale(r: int_prepare.RescaleParams) -> Rescale:
    return Rescale(r.z_in, r.m, r.shift, r.z_out, r.act_min, r.act_max)


def run(fn, out_shape, *args):
    """Call a kernel writing into a fresh int8 array; fail on a non-OK status."""
    out = np.full(out_shape, 99, dtype=np.int8)
    status = fn(*args, p8(out))
    assert status == 0, f"{fn.__name__} returned status {status}"
    return out


def assert_exact(op, expected, got):
    """C must equal numpy bit for bit; name the op and the first differing index."""
    expected, got = np.asarray(expected), np.asarray(got).reshape(np.shape(expected))
    bad = np.argwhere(expected != got)
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise AssertionError(f"{op}: index {idx}: expected {expected[idx]} got {got[idx]} "
                             f"({len(bad)} of {expected.size} differ)")


def int8_arrays(draw, shape):
    return np.array(draw(st.lists(st.integers(-128, 127), min_size=math.prod(shape),
                                  max_size=math.prod(shape))), dtype=np.int8).reshape(shape)


# ------------------------------------------------------------ cross-compile

def test_kernels_cross_compile_for_cortex_m4(tmp_path):
    gcc = shutil.which("arm-none-eabi-gcc")
    assert gcc, "arm-none-eabi-gcc missing: apt-get install gcc-arm-none-eabi"
    for src in SOURCES:
        cmd = [gcc, "-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c99", "-Wall", "-Wextra",
               "-Werror", f"-I{RUNTIME / 'include'}", "-c", str(src), "-o",
               str(tmp_path / (src.stem + ".o"))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"


# ------------------------------------------------------------ per op

@SETTINGS
@given(st.data())
def test_pad(lib, data):
    x = int8_arrays(data.draw, tuple(data.draw(st.integers(1, 5)) for _ in range(3)))
    pads = tuple((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in range(2))
    p = int_prepare.prepare_pad(pads, data.draw(zps))
    want = int_eval.pad_s8(x, p)
    cp = PadP(*x.shape, p.top, p.bottom, p.left, p.right, p.value)
    assert_exact("pad", want, run(lib.tc_pad_s8, want.shape, p8(x), C.byref(cp)))


@st.composite
def pool_cases(draw):
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if padding == "valid":
        ph, pw = min(ph, h), min(pw, w)
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s_in = draw(scales)
    s_out = draw(st.sampled_from([s_in, s_in * draw(st.floats(0.25, 4.0))]))
    z_in = draw(zps)
    z_out = draw(st.sampled_from([z_in, draw(zps)]))
    act_min = draw(st.sampled_from([-128, z_out]))
    return (int8_arrays(draw, (h, w, c)), (ph, pw), strides, padding, s_in, z_in, s_out,
            z_out, act_min)


def geom(g: int_prepare.PoolGeometry, channels: int) -> Geom:
    return Geom(g.in_h, g.in_w, channels, g.pool_h, g.pool_w, g.stride_h, g.stride_w,
                g.pad_top, g.pad_left, g.out_h, g.out_w)


@SETTINGS
@given(pool_cases())
def test_max_and_avg_pool(lib, case):
    x, pool, strides, padding, *q, act_min = case
    pm = int_prepare.prepare_max_pool2d(x.shape, pool, strides, padding, *q, act_min=act_min)
    want = int_eval.max_pool2d_s8(x, pm)
    got = run(lib.tc_maxpool2d_s8, want.shape, p8(x), C.byref(geom(pm.geom, x.shape[2])),
              C.byref(rescale(pm.rescale)))
    assert_exact("max_pool2d", want, got)
    pa = int_prepare.prepare_avg_pool2d(x.shape, pool, strides, padding, *q, act_min=act_min)
    want = int_eval.avg_pool2d_s8(x, pa)
    m, s = i32(pa.m), i32(pa.shift)
    cp = AvgP(pa.z_in, p32(m), p32(s), pa.z_out, pa.act_min, pa.act_max)
    got = run(lib.tc_avgpool2d_s8, want.shape, p8(x), C.byref(geom(pa.geom, x.shape[2])),
              C.byref(cp))
    assert_exact("avg_pool2d", want, got)


@SETTINGS
@given(st.data())
def test_global_pools(lib, data):
    x = int8_arrays(data.draw, (data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)),
                                data.draw(st.integers(1, 5))))
    s_in, z_in, z_out = data.draw(scales), data.draw(zps), data.draw(zps)
    s_out = data.draw(st.sampled_from([s_in, data.draw(scales)]))
    h, w, c = x.shape
    pa = int_prepare.prepare_global_avg_pool2d(x.shape, s_in, z_in, s_out, z_out)
    cp = Rescale(pa.z_in, pa.m, pa.shift, pa.z_out, pa.act_min, pa.act_max)
    got = run(lib.tc_global_avgpool2d_s8, (c,), p8(x), h * w, c, C.byref(cp))
    assert_exact("global_avg_pool2d", int_eval.global_avg_pool2d_s8(x, pa), got)
    pm = int_prepare.prepare_global_max_pool2d(s_in, z_in, s_out, z_out)
    got = run(lib.tc_global_maxpool2d_s8, (c,), p8(x), h * w, c, C.byref(rescale(pm)))
    assert_exact("global_max_pool2d", int_eval.global_max_pool2d_s8(x, pm), got)


@SETTINGS
@given(st.data())
def test_add(lib, data):
    n = data.draw(st.integers(2, int_prepare.ADD_MAX_INPUTS))
    size = data.draw(st.integers(1, 40))
    xs = [int8_arrays(data.draw, (size,)) for _ in range(n)]
    s_out, z_out = data.draw(scales), data.draw(zps)
    p = int_prepare.prepare_add([data.draw(scales) for _ in range(n)],
                                [data.draw(zps) for _ in range(n)],
                                s_out, z_out, act_min=data.draw(st.sampled_from([-128, z_out])))
    zin, mi, si = i32(p.z_in), i32(p.m_in), i32(p.shift_in)
    cp = AddP(n, p32(zin), p32(mi), p32(si), p.left_shift, p.m_out, p.shift_out, p.z_out,
              p.act_min, p.act_max)
    ptrs = (C.POINTER(C.c_int8) * n)(*[p8(x) for x in xs])
    got = run(lib.tc_add_s8, (size,), ptrs, size, C.byref(cp))
    assert_exact("add", int_eval.add_s8(xs, p), got)


@SETTINGS
@given(st.data())
def test_concat(lib, data):
    n, axis = data.draw(st.integers(1, 4)), data.draw(st.integers(0, 2))
    base = [data.draw(st.integers(1, 4)) for _ in range(3)]
    s_out, z_out = data.draw(scales), data.draw(zps)
    xs, s, z = [], [], []
    for _ in range(n):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 4))
        xs.append(int8_arrays(data.draw, tuple(shape)))
        same = data.draw(st.booleans())  # same scale: the C copy path
        s.append(s_out if same else data.draw(scales))
        z.append(z_out if same else data.draw(zps))
    p = int_prepare.prepare_concat(s, z, s_out, z_out, axis=axis)
    want = int_eval.concat_s8(xs, p)
    outer, inner = int_prepare.concat_sizes([x.shape for x in xs], axis - 3)  # negative axis too
    assert inner == tuple(math.prod(x.shape[axis:]) for x in xs)
    inner = i32(inner)
    rs = (Rescale * n)(*[rescale(r) for r in p.inputs])
    cp = ConcatP(n, outer, p32(inner), rs)
    ptrs = (C.POINTER(C.c_int8) * n)(*[p8(x) for x in xs])
    assert_exact("concat", want, run(lib.tc_concat_s8, want.shape, ptrs, C.byref(cp)))


@SETTINGS
@given(st.sampled_from(sorted(int_prepare.ACTIVATION_FNS)), scales, zps, scales, zps,
       st.floats(0.0, 0.5))
def test_lut(lib, name, s_in, z_in, s_out, z_out, alpha):
    x = np.arange(-128, 128, dtype=np.int8)
    p = int_prepare.prepare_activation(name, s_in, z_in, s_out, z_out, alpha)
    table = np.ascontiguousarray(p.table)
    got = run(lib.tc_lut_s8, x.shape, p8(x), x.size, p8(table))
    assert_exact(f"lut[{name}]", int_eval.lut_s8(x, p), got)


@SETTINGS
@given(st.data())
def test_softmax(lib, data):
    rows = data.draw(st.integers(1, 3))
    n = data.draw(st.sampled_from([1, 2, 10, int_prepare.SOFTMAX_MAX_ROW]) | st.integers(1, 300))
    x = int8_arrays(data.draw, (rows, n)) if n < 400 else np.random.default_rng(
        data.draw(st.integers(0, 99))).integers(-128, 128, (rows, n)).astype(np.int8)
    if data.draw(st.booleans()):
        x[0] = data.draw(st.integers(-128, 127))  # an all-equal row
    p = int_prepare.prepare_softmax(data.draw(st.floats(1e-3, 2.0)), data.draw(zps))
    table = i32(p.exp_table)
    got = run(lib.tc_softmax_s8, x.shape, p8(x), rows, n, p32(table))
    assert_exact("softmax", int_eval.softmax_s8(x, p), got)


@SETTINGS
@given(st.data())
def test_affine_and_requantize(lib, data):
    c = data.draw(st.integers(1, 6))
    x = int8_arrays(data.draw, (data.draw(st.integers(1, 5)), c))
    s_in, z_in, s_out, z_out = data.draw(scales), data.draw(zps), data.draw(scales), data.draw(zps)
    big = st.sampled_from([0.0, 1e-12, -1e-9, 3e3]) | st.floats(-4.0, 4.0)
    a = np.array([data.draw(big) for _ in range(c)]) * (s_out / s_in)
    b = np.array([data.draw(st.floats(-1e9, 1e9) | st.floats(-3, 3)) for _ in range(c)])
    p = int_prepare.prepare_affine(a, b, s_in, z_in, s_out, z_out)
    m, s, off = i32(p.m), i32(p.shift), np.ascontiguousarray(p.offset, dtype=np.int64)
    cp = AffineP(c, p.z_in, p32(m), p32(s), off.ctypes.data_as(I64P), p.z_out, p.act_min,
                 p.act_max)
    got = run(lib.tc_affine_s8, x.shape, p8(x), x.shape[0], C.byref(cp))
    assert_exact("affine", int_eval.affine_s8(x, p), got)
    r = int_prepare.prepare_requantize(s_in, z_in, s_out, z_out)
    got = run(lib.tc_requantize_tensor_s8, x.shape, p8(x), x.size, C.byref(rescale(r)))
    assert_exact("requantize", int_eval.requantize_s8(x, r), got)


def test_softmax_ties_and_equal_rows(lib):
    # All-equal rows: 256/n rounded half up; n = 512 is an exact tie (0.5 -> 1).
    p = int_prepare.prepare_softmax(0.1, 0)
    table = i32(p.exp_table)
    for n in (1, 2, 3, 512, int_prepare.SOFTMAX_MAX_ROW):
        x = np.full((2, n), -128 if n % 2 else 127, dtype=np.int8)
        got = run(lib.tc_softmax_s8, x.shape, p8(x), 2, n, p32(table))
        assert_exact(f"softmax[n={n}]", int_eval.softmax_s8(x, p), got)


def test_bad_arguments_return_error(lib):
    x = np.zeros(4, dtype=np.int8)
    table = np.zeros(256, dtype=np.int32)
    out = np.zeros(4, dtype=np.int8)
    assert lib.tc_softmax_s8(p8(x), 1, int_prepare.SOFTMAX_MAX_ROW + 1, p32(table), p8(out)) == -1
    assert lib.tc_lut_s8(p8(x), 4, None, p8(out)) == -1
