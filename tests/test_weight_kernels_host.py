"""Host tier: the weight-op C kernels in every layout against the numpy spec.

tc_{fc,conv2d,dwconv2d}_{dense,csr,cer,cser,pcsr}_s8 (firmware/runtime/src) are
compiled with the host cc and strict flags (tests/cbuild.py), fed the arrays
of tinycompress.layouts through ctypes, and compared exactly with
tinycompress.reference.weight_ops on hypothesis-generated matrices.
"""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cbuild import RUNTIME, build_shared
from tinycompress import layouts
from tinycompress.reference import weight_ops as wo

pytestmark = pytest.mark.host
LAYOUTS = layouts.LAYOUT_NAMES
SOURCES = [RUNTIME / "src" / f"tc_{op}_{lay}_s8.c"
           for op in ("fc", "conv2d", "dwconv2d") for lay in LAYOUTS] + [
    RUNTIME / "src" / "tc_conv_sparse_s8.c"]
SETTINGS = settings(max_examples=40, deadline=None)
INDEX_TYPE = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 2, np.dtype(np.uint32): 4}
VP, I = C.c_void_p, C.c_int32


def _struct(name, fields):
    return type(name, (C.Structure,), {"_fields_": fields})


Quant = _struct("Quant", [("bias_f", VP), ("m", VP), ("shift", VP), ("per_channel", I),
                          ("z_out", I), ("act_min", I), ("act_max", I), ("bias16", VP)])
Dense = _struct("Dense", [("weights", VP), ("bits", I)])
Csr = _struct("Csr", [("values", VP), ("col_idx", VP), ("col_idx_type", C.c_int),
                      ("row_ptr", VP), ("row_ptr_type", C.c_int)])
_CER = [("omega", VP), ("col_idx", VP), ("col_idx_type", C.c_int), ("omega_ptr", VP),
        ("omega_ptr_type", C.c_int), ("row_ptr", VP), ("row_ptr_type", C.c_int)]
Cer = _struct("Cer", _CER)
Cser = _struct("Cser", _CER + [("omega_idx", VP)])
Pcsr = _struct("Pcsr", [("stream", VP), ("n_entries", I), ("span", I), ("rice_bits", I),
                        ("value_bits", I)])
Ctx = _struct("Ctx", [("buf", VP), ("size", I)])
FcDims = _struct("FcDims", [("fan_in", I), ("units", I)])
ConvDims = _struct("ConvDims", [(f, I) for f in (
    "in_h", "in_w", "in_c", "kernel_h", "kernel_w", "stride_h", "stride_w",
    "out_h", "out_w", "out_c", "pad_top", "pad_left", "pad_value")])


@pytest.fixture(scope="module")
def lib():
    return build_shared(SOURCES)


def _ptr(a: np.ndarray):
    """Data pointer, or NULL for an empty array (as the renderer passes it)."""
    return None if a.size == 0 else a.ctypes.data


def weights_struct(lay: layouts.Layout):
    """The C weights struct of a Layout (arrays kept alive by the Layout)."""
    a = lay.arrays
    if lay.name == "dense":
        return Dense(_ptr(a["weights"]), lay.bits)
    if lay.name == "pcsr":
        return Pcsr(_ptr(a["stream"]), lay.n_entries, lay.span, lay.rice_bits, lay.value_bits)
    fields = {k: _ptr(v) for k, v in a.items()}
    fields.update({f"{k}_type": INDEX_TYPE[v.dtype] for k, v in a.items()
                   if k in ("col_idx", "omega_ptr", "row_ptr")})
    return {"csr": Csr, "cer": Cer, "cser": Cser}[lay.name](**fields)


def quant_struct(p: wo.WeightOpParams, per_channel: bool = True, bias16: bool = False):
    """The C tc_quant_params of `p`; per_channel=False passes only entry 0 of m/shift;
    bias16=True passes the bias as int16 (bias_f NULL), as the renderer does when it fits."""
    n = len(p.m) if per_channel else 1
    bias = np.ascontiguousarray(p.bias_f, dtype=np.int16 if bias16 else np.int32)
    keep = [bias, np.ascontiguousarray(p.m[:n], dtype=np.int32),
            np.ascontiguousarray(p.shift[:n], dtype=np.int8)]
    ptrs = [k.ctypes.data for k in keep]
    wide, narrow = (None, ptrs[0]) if bias16 else (ptrs[0], None)
    return Quant(wide, ptrs[1], ptrs[2], int(per_channel), p.z_out, p.act_min, p.act_max,
                 narrow), keep


def assert_same(what: str, got: np.ndarray, expected: np.ndarray):
    """Exact equality; on failure name the case, the first index, expected and got."""
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    bad = np.argwhere(got != expected)
    if bad.size:
        i = tuple(int(v) for v in bad[0])
        raise AssertionError(f"{what}: {len(bad)} mismatches; first at index {i}: "
                             f"expected {int(expected[i])}, got {int(got[i])}")


# Kernels that borrow scratch memory (a tc_context before their other arguments), and
# their *_buffer_size function (the sparse conv kernels share one per kind, without bits;
# the dense depthwise one takes no bits either).
SIZE_WITH_BITS = {"tc_fc_dense_s8_buffer_size", "tc_conv2d_dense_s8_buffer_size"}
SCRATCH_KERNELS = {"tc_fc_dense_s8": "tc_fc_dense_s8_buffer_size",
                   "tc_conv2d_dense_s8": "tc_conv2d_dense_s8_buffer_size",
                   "tc_dwconv2d_dense_s8": "tc_dwconv2d_dense_s8_buffer_size",
                   **{f"tc_conv2d_{lay}_s8": "tc_conv2d_sparse_s8_buffer_size"
                      for lay in LAYOUTS if lay != "dense"},
                   **{f"tc_dwconv2d_{lay}_s8": "tc_dwconv2d_sparse_s8_buffer_size"
                      for lay in LAYOUTS if lay != "dense"}}


def scratch_args(lib, fn_name: str, dims, bits: int, lean: bool = False) -> tuple[list, object]:
    """([&tc_context] or [], what keeps it alive) for kernel `fn_name`: exactly the bytes
    its own *_buffer_size asks for (`lean`, a sparse or dense conv kernel: the least it runs
    with, tc_conv_sparse_min_buffer_bytes / tc_conv2d_dense_s8_min_buffer_size), filled with junk (a kernel must not read scratch it
    did not write first; under ASan a read past the end is caught)."""
    if fn_name not in SCRATCH_KERNELS:
        return [], None
    size_fn = getattr(lib, SCRATCH_KERNELS[fn_name])
    size_fn.restype = C.c_int32
    size = size_fn(C.byref(dims), bits) if size_fn.__name__ in SIZE_WITH_BITS else size_fn(
        C.byref(dims))
    if lean and "sparse" in size_fn.__name__:
        least = lib.tc_conv_sparse_min_buffer_bytes
        least.restype = C.c_int32
        size = least(C.byref(dims), int(fn_name.startswith("tc_dwconv2d")))
    elif lean and fn_name == "tc_conv2d_dense_s8":
        least = lib.tc_conv2d_dense_s8_min_buffer_size
        least.restype = C.c_int32
        size = least(C.byref(dims), bits)
    assert size > 0, f"{fn_name}_buffer_size returned {size}"
    buf = np.full(size, 0xA5, np.uint8)
    ctx = Ctx(buf.ctypes.data, size)
    return [C.byref(ctx)], (ctx, buf)


def call(lib, fn_name: str, dims, lay, params, x: np.ndarray, out_shape,
         per_channel: bool = True, bias16: bool = False, lean: bool = False) -> np.ndarray:
    w = weights_struct(lay)
    q, _keep = quant_struct(params, per_channel, bias16)
    x = np.ascontiguousarray(x, dtype=np.int8)
    out = np.full(out_shape, 77, dtype=np.int8)
    fn = getattr(lib, fn_name)
    fn.restype = C.c_int
    ctx, _scratch = scratch_args(lib, fn_name, dims, getattr(lay, "bits", 8), lean)
    status = fn(*ctx, C.byref(dims), C.byref(q), C.byref(w), C.c_void_p(x.ctypes.data),
                C.c_void_p(out.ctypes.data))
    assert status == 0, f"{fn_name} returned {status}"
    return out


# ---- generated cases -------------------------------------------------------------

KINDS = ("random", "sparse", "zero", "one_value", "mode_not_zero")


def make_levels(rng, kind: str, rows: int, cols: int, bits: int) -> np.ndarray:
    """A level matrix of one of KINDS, within the symmetric range of `bits`."""
    hi = (1 << (bits - 1)) - 1
    if kind == "zero":
        return np.zeros((rows, cols), np.int64)
    if kind == "one_value":
        return np.full((rows, cols), rng.integers(-hi, hi + 1), np.int64)
    m = rng.integers(-hi, hi + 1, (rows, cols))
    if kind == "random":
        return m
    keep = rng.random((rows, cols)) < rng.choice([0.05, 0.2, 0.5])
    fill = 0 if kind == "sparse" else rng.choice([v for v in range(-hi, hi + 1) if v != 0])
    return np.where(keep, m, fill)  # mode_not_zero: most entries are `fill` != 0


def make_params(rng, levels: np.ndarray, clamp: str = "none") -> wo.WeightOpParams:
    """Random per-channel requantization scaled to the rows, so outputs mostly land
    inside int8 instead of saturating (a saturated output would hide a wrong sum).

    A row's sum over random int8 x has spread ~ 74 * ||W[r]||; the shift maps that
    to ~ +-64, jittered by one bit either way.
    """
    rows = levels.shape[0]
    spread = 74.0 * np.sqrt((levels.astype(np.float64) ** 2).sum(axis=1)) + 1.0
    shift = 6 - np.ceil(np.log2(spread)).astype(np.int64) + rng.integers(-1, 2, rows)
    act_min, act_max = {"none": (-128, 127), "relu": (int(rng.integers(-128, 128)), 127),
                        "narrow": (-30, 40)}[clamp]
    return wo.WeightOpParams(
        bias_f=rng.integers(-spread.astype(np.int64), spread.astype(np.int64) + 1).astype(np.int32),
        m=rng.integers(1 << 30, (1 << 31) - 1, rows).astype(np.int32),
        shift=np.clip(shift, -31, 30).astype(np.int32),
        z_out=int(rng.integers(-128, 128)), act_min=act_min, act_max=act_max)


def draw_levels(draw, rows: int, cols: int, bits: int) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return make_levels(rng, draw(st.sampled_from(KINDS)), rows, cols, bits)


def draw_params(draw, levels: np.ndarray) -> wo.WeightOpParams:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return make_params(rng, levels, draw(st.sampled_from(["none", "none", "relu", "narrow"])))


@st.composite
def fc_cases(draw):
    bits = draw(st.integers(2, 8))
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 40))
    levels = draw_levels(draw, rows, cols, bits)
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(-128, 128, cols)
    return bits, levels, x.astype(np.int8), draw_params(draw, levels)


def check_fc(lib, bits, levels, x, params, tag=""):
    expected = wo.fc_s8(x, levels, params)
    rows, cols = levels.shape
    for name in LAYOUTS:
        lay = layouts.encode_as(name, levels, bits)
        got = call(lib, f"tc_fc_{name}_s8", FcDims(cols, rows), lay, params, x, (rows,))
        assert_same(f"fc {name} {bits}-bit {rows}x{cols}{tag}", got, expected)


@SETTINGS
@given(fc_cases())
def test_fc_all_layouts_match_reference(lib, case):
    check_fc(lib, *case)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("kind", KINDS)
def test_fc_every_bit_width_and_kind(lib, bits, kind):
    # a fixed sweep next to hypothesis, so every (layout, bits, kind) is always run
    for seed, (rows, cols) in enumerate(((1, 1), (1, 17), (6, 1), (7, 29), (16, 64))):
        rng = np.random.default_rng(1000 * bits + seed)
        levels = make_levels(rng, kind, rows, cols, bits)
        x = rng.integers(-128, 128, cols).astype(np.int8)
        check_fc(lib, bits, levels, x, make_params(rng, levels), f" {kind} seed {seed}")


@pytest.mark.parametrize("bits", [1, 3, 5, 6, 7])
def test_fc_odd_bit_widths(lib, bits):
    # 1-bit two's complement holds {-1, 0}; the others their symmetric range
    rng = np.random.default_rng(bits)
    lo, hi = (-1, 0) if bits == 1 else (-(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1)
    for rows, cols in ((1, 1), (3, 7), (5, 33)):
        levels = rng.integers(lo, hi + 1, (rows, cols))
        x = rng.integers(-128, 128, cols).astype(np.int8)
        params = wo.WeightOpParams(rng.integers(-999, 999, rows).astype(np.int32),
                                   np.full(rows, 1 << 30, np.int32), np.full(rows, -3, np.int32),
                                   5, -128, 127)
        check_fc(lib, bits, levels, x, params, f" (seed {bits})")


@pytest.mark.slow
@pytest.mark.parametrize("cols", [257, 300, 65_537, 70_000])
def test_fc_wide_rows_need_wide_indices(lib, cols):
    # > 256 columns: uint16 col_idx; > 65,536: uint32 col_idx (and omega_ptr for dense rows)
    rng = np.random.default_rng(cols)
    levels = np.where(rng.random((3, cols)) < 0.5, rng.integers(-7, 8, (3, cols)), 0)
    levels[:, -1] = 3  # the last column is stored, so the widest index is used
    x = rng.integers(-128, 128, cols).astype(np.int8)
    params = wo.WeightOpParams(np.array([0, -5000, 777], np.int32),
                               np.full(3, 1 << 30, np.int32), np.full(3, -12, np.int32),
                               -3, -128, 127)
    expect_col = np.uint16 if cols <= 65_536 else np.uint32
    assert layouts.encode_as("csr", levels, 4).arrays["col_idx"].dtype == expect_col
    check_fc(lib, 4, levels, x, params)


def conv_offsets(kh, kw, cin, w_in, depthwise=False) -> np.ndarray:
    """col_map: input offset of each column from the patch origin."""
    ky, kx, ci = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(1 if depthwise else cin),
                             indexing="ij")
    return ((ky * w_in + kx) * cin + ci).ravel()


@st.composite
def conv_cases(draw, depthwise: bool):
    bits = draw(st.integers(2, 8))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(kh, 7)), draw(st.integers(kw, 7))
    cin = draw(st.integers(1, 4))
    cout = cin if depthwise else draw(st.integers(1, 5))
    cols = kh * kw * (1 if depthwise else cin)
    levels = draw_levels(draw, cout, cols, bits)
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(-128, 128, (h, w, cin))
    pad = draw(st.sampled_from(["valid", "same"]))
    z_in = draw(st.integers(-128, 127))
    return (bits, (kh, kw), (sh, sw), x.astype(np.int8), levels, draw_params(draw, levels),
            pad, z_in)


def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TF 'same': out = ceil(size / stride), the odd pixel of padding after."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def check_conv(lib, depthwise, bits, k, s, x, levels, params, padding="valid", z_in=0,
               lean=False):
    """Every layout against the reference; 'same' pads inside the kernel with z_in, the
    reference on an explicitly padded copy; `lean`: the sparse kernels with the least
    scratch they take (rectangle by rectangle)."""
    op = "dwconv2d" if depthwise else "conv2d"
    ref = wo.dwconv2d_s8 if depthwise else wo.conv2d_s8
    h, w, cin = x.shape
    pads = ((0, 0), (0, 0))
    if padding == "same":
        pads = (same_pads(h, k[0], s[0]), same_pads(w, k[1], s[1]))
    xp = np.pad(x, (*pads, (0, 0)), constant_values=z_in)
    expected = ref(xp, levels, k[0], k[1], s, params)
    oh, ow, cout = expected.shape
    dims = ConvDims(h, w, cin, k[0], k[1], s[0], s[1], oh, ow, cout, pads[0][0], pads[1][0],
                    z_in)
    col_map = conv_offsets(k[0], k[1], cin, w, depthwise)
    for name in LAYOUTS:
        lay = layouts.encode_as(name, levels, bits, col_map=None if name == "dense" else col_map)
        got = call(lib, f"tc_{op}_{name}_s8", dims, lay, params, x, expected.shape, lean=lean)
        assert_same(f"{op} {name} {bits}-bit x{x.shape} k{k} s{s} {padding} pads {pads} "
                    f"cout {cout} lean {lean}", got, expected)


@SETTINGS
@given(conv_cases(depthwise=False))
def test_conv2d_all_layouts_match_reference(lib, case):
    check_conv(lib, False, *case)


@SETTINGS
@given(conv_cases(depthwise=True))
def test_dwconv2d_all_layouts_match_reference(lib, case):
    check_conv(lib, True, *case)


def test_conv_from_prepared_params(lib):
    # the full path: float scales and bias -> prepare_weight_op -> every layout
    rng = np.random.default_rng(7)
    levels = np.where(rng.random((6, 3 * 3 * 2)) < 0.3, rng.integers(-7, 8, (6, 18)), 0)
    params = wo.prepare_weight_op(levels, rng.uniform(0.01, 0.1, 6), rng.normal(size=6),
                                  s_in=0.05, z_in=-7, s_out=0.2, z_out=3, act_min=3, act_max=127)
    x = rng.integers(-128, 128, (9, 8, 2)).astype(np.int8)
    check_conv(lib, False, 4, (3, 3), (2, 1), x, levels, params)


@pytest.mark.parametrize("name", LAYOUTS)
def test_per_tensor_quant_uses_entry_zero_for_every_row(lib, name):
    # One weight scale for the tensor -> every row has the same (m, shift), so the
    # firmware stores one entry (per_channel = 0) and must give the same bytes.
    rng = np.random.default_rng(11)
    levels = np.where(rng.random((9, 40)) < 0.3, rng.integers(-7, 8, (9, 40)), 0)
    params = wo.prepare_weight_op(levels, 0.03, rng.normal(size=9), s_in=0.05, z_in=5,
                                  s_out=0.1, z_out=-4)
    assert len(set(params.m.tolist())) == 1 and len(set(params.shift.tolist())) == 1
    x = rng.integers(-128, 128, 40).astype(np.int8)
    got = call(lib, f"tc_fc_{name}_s8", FcDims(40, 9), layouts.encode_as(name, levels, 4),
               params, x, (9,), per_channel=False)
    assert_same(f"fc {name} per-tensor", got, wo.fc_s8(x, levels, params))


@pytest.mark.parametrize("name", LAYOUTS)
def test_int16_bias_gives_the_same_bytes(lib, name):
    # The renderer stores bias_f as int16 when it fits (tinycompress.compress.weights.narrow_bias);
    # the kernels then read bias16 and must produce exactly what the int32 bias gives.
    rng = np.random.default_rng(12)
    levels = np.where(rng.random((7, 50)) < 0.4, rng.integers(-7, 8, (7, 50)), 0)
    params = wo.prepare_weight_op(levels, rng.uniform(0.01, 0.05, 7), rng.normal(size=7),
                                  s_in=0.05, z_in=3, s_out=0.1, z_out=-2)
    assert np.all(np.abs(params.bias_f) < 2**15)
    x = rng.integers(-128, 128, 50).astype(np.int8)
    lay = layouts.encode_as(name, levels, 4)
    got = call(lib, f"tc_fc_{name}_s8", FcDims(50, 7), lay, params, x, (7,), bias16=True)
    assert_same(f"fc {name} int16 bias", got, wo.fc_s8(x, levels, params))


def test_bad_arguments_are_rejected(lib):
    levels = np.ones((2, 4), np.int64)
    params = wo.WeightOpParams(np.zeros(2, np.int32), np.full(2, 1 << 30, np.int32),
                               np.zeros(2, np.int32), 0, -128, 127)
    q, _keep = quant_struct(params)
    x, out = np.zeros(16, np.int8), np.zeros(16, np.int8)
    for name in LAYOUTS:
        w = weights_struct(layouts.encode_as(name, levels, 4))
        fc = getattr(lib, f"tc_fc_{name}_s8")
        ctx, _scratch = scratch_args(lib, fc.__name__, FcDims(4, 2), 4)
        assert fc(*ctx, C.byref(FcDims(0, 2)), C.byref(q), C.byref(w), x.ctypes.data,
                  out.ctypes.data) == -1
        assert fc(*ctx, C.byref(FcDims(4, 2)), C.byref(q), None, x.ctypes.data,
                  out.ctypes.data) == -1
        conv = getattr(lib, f"tc_conv2d_{name}_s8")
        wrong_out_h = ConvDims(4, 4, 1, 2, 2, 1, 1, 2, 3, 2)  # out_h must be 3
        right = ConvDims(4, 4, 1, 2, 2, 1, 1, 3, 3, 2)  # scratch for the right dims
        ctx, _scratch = scratch_args(lib, conv.__name__, right, 4)
        assert conv(*ctx, C.byref(wrong_out_h), C.byref(q), C.byref(w), x.ctypes.data,
                    out.ctypes.data) == -1


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "dwconv2d"])
def test_conv_every_bit_width(lib, bits, depthwise):
    # fixed sweep: odd sizes, strides 1 and 2, every kind of matrix
    geometries = [((7, 5, 3), (3, 3), (1, 1)), ((9, 6, 2), (3, 2), (2, 2)),
                  ((5, 5, 4), (1, 1), (2, 1)), ((6, 7, 1), (2, 3), (1, 2))]
    for seed, ((h, w, cin), k, s) in enumerate(geometries):
        rng = np.random.default_rng(100 * bits + seed)
        cout = cin if depthwise else 1 + seed
        cols = k[0] * k[1] * (1 if depthwise else cin)
        levels = make_levels(rng, KINDS[seed % len(KINDS)], cout, cols, bits)
        x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
        check_conv(lib, depthwise, bits, k, s, x, levels, make_params(rng, levels))


def test_prepare_weight_op_and_fc_by_hand():
    # W = [[1, -2], [0, 3]], s_w = [0.5, 0.25], bias = [1.0, -0.3], s_in 0.1, z_in 4, s_out 0.2
    # bias_q = round(1.0 / 0.05) = 20, round(-0.3 / 0.025) = -12; rowsum = [-1, 3]
    # bias_f = 20 - 4 * -1 = 24, -12 - 4 * 3 = -24
    # multipliers 0.1*0.5/0.2 = 0.25 = 2^30 * 2^(-1-31) -> (2^30, -1); 0.125 -> (2^30, -2)
    levels = np.array([[1, -2], [0, 3]])
    p = wo.prepare_weight_op(levels, np.array([0.5, 0.25]), np.array([1.0, -0.3]),
                             0.1, 4, 0.2, -5, -128, 127)
    assert p.bias_f.tolist() == [24, -24] and p.bias_f.dtype == np.int32
    assert p.m.tolist() == [1 << 30, 1 << 30] and p.shift.tolist() == [-1, -2]
    # x = [10, -3]: acc0 = 24 + 10 + 6 = 40 -> 40 * 0.25 = 10 (+0.5, floor 10) - 5 = 5
    #               acc1 = -24 - 9 = -33 -> -4.125 (+0.5 = -3.625, floor -4) - 5 = -9
    assert wo.fc_s8(np.array([10, -3], np.int8), levels, p).tolist() == [5, -9]


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "dwconv2d"])
def test_sparse_buffer_sizes_equal_the_renderers_formula(lib, depthwise):
    from tinycompress.codegen.scratch import conv_sparse_buffer_size

    fn = getattr(lib, f"tc_{'dwconv2d' if depthwise else 'conv2d'}_sparse_s8_buffer_size")
    fn.restype = C.c_int32
    for kh, kw, cin in ((1, 1, 1), (3, 3, 1), (3, 3, 3), (5, 5, 6), (10, 4, 1), (1, 1, 33)):
        valid = ConvDims(12, 12, cin, kh, kw, 1, 1, 13 - kh, 13 - kw, cin)
        same = ConvDims(12, 12, cin, kh, kw, 1, 1, 12, 12, cin, (kh - 1) // 2, (kw - 1) // 2)
        span = (11 + kh, 11 + kw) if kh > 1 or kw > 1 else None
        for dims, sp in ((valid, None), (same, span)):
            assert fn(C.byref(dims)) == conv_sparse_buffer_size(kh, kw, cin, depthwise,
                                                                sp), (kh, kw, cin, sp)


def test_dense_depthwise_buffer_size_equals_the_renderers_formula(lib):
    # 3 x 3 at strides 1 and 2: a ring of bands, whole channels, transposed (taller than
    # wide), a ring of one output row (wide maps); other kernels and strides: four
    # channels' levels
    from tinycompress.codegen.scratch import dwconv_dense_buffer_size

    fn = lib.tc_dwconv2d_dense_s8_buffer_size
    fn.restype = C.c_int32
    seen = set()
    for (h, w), (kh, kw), (sh, sw), pad in (
            ((48, 48), (3, 3), (1, 1), 1), ((48, 48), (3, 3), (2, 2), 0), ((25, 5), (3, 3), (1, 1), 1),
            ((5, 25), (3, 3), (1, 1), 1), ((12, 12), (3, 3), (2, 2), 0), ((3, 3), (3, 3), (1, 1), 1),
            ((40, 3), (3, 3), (3, 1), 1), ((30, 8), (3, 3), (1, 2), 0), ((9, 9), (3, 3), (1, 3), 0),
            ((9, 9), (5, 5), (1, 1), 2), ((9, 9), (1, 1), (1, 1), 0), ((300, 4), (3, 3), (1, 1), 1),
            ((24, 24), (3, 3), (2, 2), 0), ((6, 6), (3, 3), (2, 2), 0), ((6, 6), (3, 3), (1, 1), 1),
            ((3, 3), (3, 3), (2, 2), 1), ((17, 17), (3, 3), (2, 2), 0), ((120, 120), (3, 3), (1, 1), 1),
            ((200, 200), (3, 3), (2, 2), 1), ((40, 9), (3, 3), (2, 2), 1), ((5, 5), (3, 3), (2, 2), 1)):
        oh, ow = (h + 2 * pad - kh) // sh + 1, (w + 2 * pad - kw) // sw + 1
        dims = ConvDims(h, w, 4, kh, kw, sh, sw, oh, ow, 4, pad, pad, 0)
        size = fn(C.byref(dims))
        assert size == dwconv_dense_buffer_size(kh, kw, sh, sw, oh, ow), (h, w, kh, kw, sh, sw)
        seen.add(size)
    assert 200 in seen and len(seen) >= 5


@pytest.mark.parametrize("lean", [False, True], ids=["scratch", "least-scratch"])
@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "dwconv2d"])
def test_same_padding_every_layout_odd_sizes(lib, depthwise, lean):
    # fixed sweep: 'same' at odd and even sizes, strides 1 and 2, pad values at both ends;
    # the last two large enough that the sparse engine sorts its lists by tap rather than
    # copy the padded input (tc_conv_sparse_s8.c), the others small enough for the copy;
    # with the least scratch (lean), every padded one rectangle by rectangle
    geometries = [((7, 5, 3), (3, 3), (1, 1)), ((9, 6, 2), (3, 3), (2, 2)),
                  ((5, 7, 4), (5, 5), (2, 1)), ((6, 7, 1), (2, 3), (1, 2)), ((3, 3, 5), (3, 3), (2, 2)),
                  ((20, 20, 2), (3, 3), (1, 1)), ((30, 19, 2), (3, 5), (2, 2))]
    for seed, ((h, w, cin), k, s) in enumerate(geometries):
        rng = np.random.default_rng(300 + seed)
        cout = cin if depthwise else 2 + seed
        cols = k[0] * k[1] * (1 if depthwise else cin)
        for z_in in (-128, 0, 127):
            levels = make_levels(rng, KINDS[seed % len(KINDS)], cout, cols, 6)
            x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
            check_conv(lib, depthwise, 6, k, s, x, levels, make_params(rng, levels), "same", z_in,
                       lean)
