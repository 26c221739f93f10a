"""Worst-case integer ranges of every op: the build's proof that no kernel overflows.

From an op's prepared Params (and a weight op's levels), with every int8
input anywhere in [-128, 127], each value the C kernel keeps in a fixed-width
register gets a bound, compared with that register's range. `check_node`
raises IntegerOverflowError naming the layer and the bound; quantize calls it
on every node it makes, so compress, build, sweep and search all refuse a
model whose firmware could wrap. (The reference raises on the values it meets
as well, so a hand-made QGraph that skips this proof still cannot pass as
bit-exact.)

Notation: rq(a, m, s) = (a m + 2^(30-s)) >> (31-s) (requant.py), monotone in a
for m > 0; z_in, z_out zero points; "within int32" is [-2^31, 2^31 - 1].

- weight ops, per row r (tc_fc_*, tc_conv2d_*, tc_dwconv2d_*, every layout), with
  P_r / N_r the sums of the row's positive levels / of its negative levels' magnitudes:
    sum of products  t in [t_lo, t_hi] = [-(128 P_r + 127 N_r), 127 P_r + 128 N_r]
    accumulator      bias_f[r] + t, and t alone, within int32.
  Every partial sum a layout forms is bias_f (or 0) plus the products w_c x_c
  of some subset of the row's columns, in any order: dense pairs and SMLAD, a
  packed row's run sums, CSR's four-product steps, a CER/CSER group (value x
  the group's input sum), the omega[0] term omega[0] x (patch sum - stored
  sum), PCSR. Each product's range holds 0, so every such sum lies in one of
  the two intervals, and the ends are reached (all x at -128 or 127).
  Raw input sums (CER/CSER group and patch sums): [-128 fan_in, 127 fan_in].
  Requantization: m in [2^30, 2^31), shift in [-31, 30]; the 64-bit product
  |acc| m < 2^62 always fits; rq(bias_f[r] + t_lo/hi, m_r, s_r) + z_out within int32.
- rescale (requantize, max pools, concat inputs): v = x - z_in in
  [-128 - z_in, 127 - z_in]; rq(v) + z_out within int32.
- avg pool, n = 1 .. pool_h pool_w valid taps; global avg pool, n = H W
  (the kernel also requires H W < 2^23): the sum of raw inputs, n z_in and
  acc = sum - n z_in all within n (128 + |z_in|); out = sgn(acc)
  rq(|acc|, m[n], s[n]) + z_out within int32, |acc| <= n max(|-128 - z_in|, |127 - z_in|).
- add: left shift in [0, 22]; v_k = (x_k - z_k) 2^ls within int32;
  a_k = rq(v_k) in [rq(lo_k), rq(hi_k)]; every partial sum of the a_k within
  [sum min(rq(lo_k), 0), sum max(rq(hi_k), 0)], within int32; rq(total) + z_out
  within int32.
- softmax (uint32 in the kernel), row length n <= 2047, E = exp table:
  0 <= E <= 2^31 - 1, E[0] >= 1 (the row maximum's term: the sum is never 0),
  n max E and 256 max E + n max E / 2 <= 2^32 - 1.
- affine (int64 in the kernel): (128 + |z_in|) max|m_c| + max|offset_c| <= 2^63 - 1,
  0 <= 31 - shift_c <= 63.
- lut, pad, reshape: no arithmetic.
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

import numpy as np

from tinycompress.errors import IntegerOverflowError
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.reference import tflite_math
from tinycompress.reference.int_prepare import SOFTMAX_MAX_ROW
from tinycompress.reference.requant import INT32_MAX, INT32_MIN, MAX_SHIFT, MIN_SHIFT

X_MIN, X_MAX = -128, 127  # int8 inputs
UINT32_MAX = (1 << 32) - 1
INT64_MAX = (1 << 63) - 1
ADD_MAX_LEFT_SHIFT = 22  # tc_add_s8 rejects more
GLOBAL_POOL_MAX_POSITIONS = (1 << 23) - 1  # tc_global_avgpool2d_s8 rejects more
INT32 = (INT32_MIN, INT32_MAX, "int32's")


class Bound(NamedTuple):
    """The range [lo, hi] an intermediate can take, and the range it must stay in.

    (A NamedTuple: dataclasses under reference/ are build-state Params, see target/state.py.)
    """

    what: str
    lo: int
    hi: int
    limit_lo: int
    limit_hi: int
    limit_name: str = "int32's"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.limit_lo <= self.lo and self.hi <= self.limit_hi

    def message(self) -> str:
        high = self.hi > self.limit_hi
        value, side, limit = ((self.hi, "over", self.limit_hi) if high
                              else (self.lo, "under", self.limit_lo))
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.what} can reach {value:,}{detail}, {side} {self.limit_name} {limit:,}"


def _int32(what: str, lo: int, hi: int, detail: str = "") -> Bound:
    return Bound(what, int(lo), int(hi), *INT32, detail=detail)


def rq(a, m, shift):
    """requant.requantize in exact integers (Python ints or object arrays)."""
    total = 31 - shift
    return (a * m + (1 << (total - 1))) >> total


def _requant_params(m, shift, what: str) -> list[Bound]:
    """m in [2^30, 2^31) and shift in [-31, 30]: what every requantization needs (and rq's
    shifts need to be defined at all, so callers bound rq only when these hold)."""
    m, shift = np.asarray(m, np.int64).ravel(), np.asarray(shift, np.int64).ravel()
    return [Bound(f"{what} multiplier", int(m.min()), int(m.max()), 1 << 30, INT32_MAX,
                  "the kernels' limit"),
            Bound(f"{what} shift", int(shift.min()), int(shift.max()), MIN_SHIFT, MAX_SHIFT,
                  "the kernels' limit")]


def _rescaled(what: str, lo: int, hi: int, m: int, shift: int, z_out: int) -> Iterator[Bound]:
    """Bounds of clamp-free rq(v) + z_out for v in [lo, hi]."""
    params = _requant_params(m, shift, what)
    yield from params
    if all(b.ok for b in params):
        m, shift = int(m), int(shift)
        yield _int32(f"{what} requantized", rq(lo, m, shift) + z_out, rq(hi, m, shift) + z_out,
                     f"[{lo:,}, {hi:,}] x {m} / 2^{31 - shift}")


def level_sums(levels) -> tuple[np.ndarray, np.ndarray]:
    """Per row (int64): P, the sum of the positive levels, and N, of the negative levels' magnitudes."""
    w = np.asarray(levels, dtype=np.int64)
    return np.where(w > 0, w, 0).sum(axis=1), np.where(w < 0, -w, 0).sum(axis=1)


def accumulator_ranges(levels, bias_f) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row (int64): (lo, hi) of the accumulator over all int8 inputs, and (t_lo, t_hi) of
    a sum of products alone: t_lo = -(128 P + 127 N), t_hi = 127 P + 128 N (level_sums),
    and the accumulator is bias_f + [t_lo, t_hi]. Since every product's range holds 0, a
    partial sum over any subset of columns, with or without the bias, stays inside both."""
    pos, neg = level_sums(levels)
    t_lo, t_hi = X_MIN * pos - X_MAX * neg, X_MAX * pos - X_MIN * neg
    b = np.asarray(bias_f, dtype=np.int64)
    return b + t_lo, b + t_hi, t_lo, t_hi


def _accumulator_detail(r: int, bias: int, pos: int, neg: int, high: bool) -> str:
    terms = f"127 x {pos:,} + 128 x {neg:,}" if high else f"128 x {pos:,} - 127 x {neg:,}"
    lead = f"bias_f {bias:,} {'+' if high else '-'} " if bias else ("" if high else "-")
    return f"row {r}: {lead}{terms}, from the sums of positive levels and of negative level magnitudes"


def weight_op_bounds(levels, p) -> Iterator[Bound]:
    """Bounds of a weight op (WeightOpParams p, levels (rows, cols)); see the module docstring."""
    levels = np.asarray(levels, dtype=np.int64)
    rows, cols = levels.shape
    yield _int32("sum of raw inputs over a patch", X_MIN * cols, X_MAX * cols, f"{cols:,} inputs")
    pos, neg = level_sums(levels)
    lo, hi, t_lo, t_hi = accumulator_ranges(levels, p.bias_f)
    for reach, t, high in ((np.maximum(hi, t_hi), t_hi, True), (np.minimum(lo, t_lo), t_lo, False)):
        r = int(np.argmax(reach) if high else np.argmin(reach))
        value = int(reach[r])  # with bias_f[r] when it pushes further out, else without
        yield _int32("accumulator", value, value,
                     _accumulator_detail(r, value - int(t[r]), int(pos[r]), int(neg[r]), high))
    m = np.broadcast_to(np.asarray(p.m, np.int64), (rows,))
    shift = np.broadcast_to(np.asarray(p.shift, np.int64), (rows,))
    params = _requant_params(m, shift, "requantization")
    yield from params
    if not all(b.ok for b in params):
        return
    m_o, s_o = m.astype(object), shift.astype(object)  # exact: an unchecked |acc| m can pass 2^63
    for acc, high in ((hi, True), (lo, False)):
        out = rq(acc.astype(object), m_o, s_o) + p.z_out
        r = int(np.argmax(out) if high else np.argmin(out))
        yield _int32("requantized accumulator", out[r], out[r],
                     f"row {r}: {int(acc[r]):,} x {int(m[r])} / 2^{31 - int(shift[r])} + z_out {p.z_out}")


def rescale_bounds(p, what: str = "rescaled value") -> Iterator[Bound]:
    """RescaleParams: rq(x - z_in) + z_out."""
    yield from _rescaled(what, X_MIN - p.z_in, X_MAX - p.z_in, p.m, p.shift, p.z_out)


def _average_bounds(n: int, z_in: int, m: int, shift: int, z_out: int) -> Iterator[Bound]:
    reach = n * (128 + abs(z_in))
    yield _int32("pool sum", -reach, reach, f"{n:,} taps x (128 + |z_in| {abs(z_in)})")
    mag = n * max(abs(X_MIN - z_in), abs(X_MAX - z_in))
    params = _requant_params(m, shift, "pool average")
    yield from params
    if not all(b.ok for b in params):
        return
    out = rq(mag, int(m), int(shift))
    yield _int32("pool average", -out + z_out, out + z_out, f"|sum| {mag:,} x {int(m)} / 2^{31 - int(shift)}")


def avg_pool_bounds(p) -> Iterator[Bound]:
    """AvgPoolParams: every valid-tap count n of the table."""
    for n in range(1, p.geom.pool_h * p.geom.pool_w + 1):
        yield from _average_bounds(n, p.z_in, int(p.m[n]), int(p.shift[n]), p.z_out)


def global_avg_pool_bounds(p) -> Iterator[Bound]:
    """GlobalAvgPoolParams."""
    yield Bound("global pool positions", p.count, p.count, 1, GLOBAL_POOL_MAX_POSITIONS,
                "the kernels' limit")
    if getattr(p, "tflite", False):  # TFLite's MEAN: one requantization of the sum
        mag = p.count * max(abs(X_MIN - p.z_in), abs(X_MAX - p.z_in))
        yield _int32("pool sum", -mag, mag, f"{p.count:,} taps")
        out = int(tflite_math.requantize(np.array([-mag, mag]), p.m, p.shift).max())
        yield _int32("pool average", -out + p.z_out, out + p.z_out)
        return
    yield from _average_bounds(p.count, p.z_in, p.m, p.shift, p.z_out)


def add_bounds(p) -> Iterator[Bound]:
    """AddParams: shifted inputs, their rescaled sum, the output."""
    ls = p.left_shift
    yield Bound("add left shift", ls, ls, 0, ADD_MAX_LEFT_SHIFT, "the kernels' limit")
    total_lo = total_hi = 0
    for k, (z, m, s) in enumerate(zip(p.z_in, p.m_in, p.shift_in)):
        lo, hi = (X_MIN - z) << ls, (X_MAX - z) << ls
        yield _int32(f"add input {k} shifted", lo, hi)
        params = _requant_params(m, s, f"add input {k}")
        yield from params
        if not all(b.ok for b in params):
            return
        total_lo += min(rq(lo, m, s), 0)
        total_hi += max(rq(hi, m, s), 0)
    yield _int32("sum of rescaled add inputs", total_lo, total_hi, f"{len(p.z_in)} inputs")
    yield from _rescaled("add output", total_lo, total_hi, p.m_out, p.shift_out, p.z_out)


def softmax_bounds(p, row: int) -> Iterator[Bound]:
    """SoftmaxParams over rows of `row` values (uint32 sum and numerator in the kernel)."""
    if isinstance(p, tflite_math.TfliteSoftmaxParams):  # an int32 sum of Q12.19 exp values
        top = int(tflite_math.rdbp(np.asarray(p.exp_table, np.int64), 12).max())
        yield Bound("softmax row length", row, row, 1, SOFTMAX_MAX_ROW, "the kernels' limit")
        yield _int32("softmax sum of exps", 0, row * top, f"{row} x {top:,}")
        return
    e = np.asarray(p.exp_table, dtype=np.int64)
    yield Bound("softmax row length", row, row, 1, SOFTMAX_MAX_ROW, "the kernels' limit")
    yield _int32("softmax exp table", int(e.min()), int(e.max()))
    yield Bound("softmax exp table entry 0", int(e[0]), int(e[0]), 1, INT32_MAX, "the kernels' limit")
    total = row * int(e.max())
    yield Bound("softmax sum", 0, total, 0, UINT32_MAX, "uint32's", f"{row} x {int(e.max()):,}")
    yield Bound("softmax numerator", 0, 256 * int(e.max()) + total // 2, 0, UINT32_MAX, "uint32's")


def affine_bounds(p) -> Iterator[Bound]:
    """AffineParams: the int64 (x - z_in) m_c + offset_c and its shift."""
    m = np.abs(np.asarray(p.m, np.int64))
    off = np.abs(np.asarray(p.offset, np.int64))
    worst = (128 + abs(p.z_in)) * int(m.max()) + int(off.max())
    yield Bound("affine product plus offset", -worst, worst, -INT64_MAX, INT64_MAX, "int64's")
    t = 31 - np.asarray(p.shift, np.int64)
    yield Bound("affine shift 31 - shift", int(t.min()), int(t.max()), 0, 63, "the kernels' limit")


def _concat(node: QNode) -> Iterator[Bound]:
    for k, r in enumerate(node.params.inputs):
        yield from rescale_bounds(r, f"concat input {k}")


_OPS: dict[str, Callable[[QNode], Iterator[Bound]]] = {
    "dense": lambda n: weight_op_bounds(n.levels, n.params),
    "conv2d": lambda n: weight_op_bounds(n.levels, n.params),
    "depthwise_conv2d": lambda n: weight_op_bounds(n.levels, n.params),
    "requantize": lambda n: rescale_bounds(n.params),
    "max_pool2d": lambda n: rescale_bounds(n.params.rescale),
    "global_max_pool2d": lambda n: rescale_bounds(n.params),
    "avg_pool2d": lambda n: avg_pool_bounds(n.params),
    "global_avg_pool2d": lambda n: global_avg_pool_bounds(n.params),
    "add": lambda n: add_bounds(n.params),
    "concat": _concat,
    "softmax": lambda n: softmax_bounds(n.params, int(n.input_shapes[0][-1])),
    "affine": lambda n: affine_bounds(n.params),
}


def node_bounds(node: QNode) -> Iterator[Bound]:
    """Every bound of one node, in the order the kernel meets them (none for lut/pad/reshape)."""
    rule = _OPS.get(node.op)
    return iter(()) if rule is None else rule(node)


def check_node(node: QNode) -> None:
    """Raise IntegerOverflowError ("layer NAME: ...") at the node's first bound out of range."""
    for bound in node_bounds(node):
        if not bound.ok:
            hint = ("; fewer bits or more sparsity for this layer lower it"
                    if bound.what == "accumulator" else "")
            raise IntegerOverflowError(f"layer {node.name}: {bound.message()}{hint}")


def check_qgraph(qgraph: QGraph) -> None:
    """check_node on every node of a QGraph (quantize already does it node by node)."""
    for node in qgraph.nodes:
        check_node(node)
