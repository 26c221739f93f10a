"""What one quantized node becomes in C: const arrays, param structs and one kernel call.

`emit(node, ctx)` returns a `Step` of plain text pieces (identifiers, array
literals, designated-initializer fields, call arguments) that the model
template only lays out. The kernel of an op is named like its runtime source
file (`tc_fc_cer_s8` lives in `tc_fc_cer_s8.c`), so the step also says which
runtime file the project needs. Every constant here comes from the node's
precomputed `params` (weight_ops / int_prepare) or its layout; no
quantization arithmetic is redone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinycompress.codegen import cgen
from tinycompress.errors import UnsupportedLayerError
from tinycompress.layouts import Layout
from tinycompress.ir.qgraph import QNode
from tinycompress.reference import int_prepare
from tinycompress.compress.weights import layer_arrays, ordered
from tinycompress.codegen.scratch import scratch_bytes

INDEX_ENUM = {1: "TC_INDEX_U8", 2: "TC_INDEX_U16", 4: "TC_INDEX_U32"}
# tc_*_weights fields per layout, in struct order; "<array>_type" is that array's index enum.
LAYOUT_FIELDS = {
    "dense": ("weights", "bits"),
    "csr": ("values", "col_idx", "col_idx_type", "row_ptr", "row_ptr_type"),
    "cer": ("omega", "col_idx", "col_idx_type", "omega_ptr", "omega_ptr_type", "row_ptr",
            "row_ptr_type"),
    "cser": ("omega", "col_idx", "col_idx_type", "omega_ptr", "omega_ptr_type", "row_ptr",
             "row_ptr_type", "omega_idx"),
    "pcsr": ("stream", "n_entries", "span", "rice_bits", "value_bits"),
}
# fields that are Layout attributes (plain ints), not arrays
LAYOUT_SCALARS = ("bits", "n_entries", "span", "rice_bits", "value_bits")
WEIGHT_KERNEL = {"dense": "fc", "conv2d": "conv2d", "depthwise_conv2d": "dwconv2d"}
# Compile-time variant masks of the row engines (tc_layouts_internal.h): the macro
# per layout, and which index arrays pick the variant (bit = sum of slot * weight).
VARIANT_MACRO = {"dense": "TC_DENSE_BITS", "csr": "TC_CSR_VARIANTS", "cer": "TC_CER_VARIANTS",
                 "cser": "TC_CSER_VARIANTS"}
VARIANT_ARRAYS = {"csr": (("col_idx", 1),), "cer": (("col_idx", 3), ("omega_ptr", 1)),
                  "cser": (("col_idx", 3), ("omega_ptr", 1))}
INDEX_SLOT = {1: 0, 2: 1, 4: 2}  # uint8/16/32 -> tc_index_slot
RESCALE_FIELDS = ("in_zp", "multiplier", "shift", "out_zp", "act_min", "act_max")


@dataclass
class CArray:
    """A `static const` array: C type, identifier, literal body, element count."""

    ctype: str
    ident: str
    body: str
    length: int


@dataclass
class CStruct:
    """A `static const` struct (or array of structs when `items` has several entries)."""

    ctype: str
    ident: str
    items: list[list[tuple[str, str]]]  # per element: (field, value); field "" = plain value
    is_array: bool = False

    @property
    def decl(self) -> str:
        """The declaration before ` = `."""
        return f"static const {self.ctype} {self.ident}" + (f"[{len(self.items)}]" if self.is_array else "")


@dataclass
class Step:
    """One executed layer: its constants and its kernel call."""

    name: str
    op: str
    layout: str | None
    kernel: str
    args: list[str]
    output: str  # pointer expression of the output tensor
    output_size: int
    arrays: list[CArray] = field(default_factory=list)
    structs: list[CStruct] = field(default_factory=list)
    weight_bytes: int = 0
    extra_sources: tuple[str, ...] = ()  # runtime files the kernel needs besides its own
    variant: tuple[str, int] | None = None  # (mask macro, bit) of the row-engine loop it runs
    scratch_bytes: int = 0  # bytes of arena its kernel borrows during this step (tc_context)
    least_scratch: bool = False  # less than the kernel's full scratch: its slower path
    parts: tuple[str, ...] = ()  # a fused step: the graph nodes it runs (fuse.emit_fused_add)

    @property
    def sources(self) -> tuple[str, ...]:
        """Runtime source files this step links: its kernel's file plus any it depends on."""
        return (f"{self.kernel}.c", *self.extra_sources)


class Context:
    """Identifiers taken so far, each tensor's and layer scratch's arena offset (`scratch`:
    layer -> offset) and each scratch's planned size (`scratch_sizes`, else the kernel's)."""

    def __init__(self, offsets: dict[str, int], arena: str = "tc_arena.bytes",
                 scratch: dict[str, int] | None = None, scratch_sizes: dict[str, int] | None = None):
        self.offsets, self.arena = offsets, arena
        self.scratch, self.scratch_sizes = scratch or {}, scratch_sizes or {}
        self.taken: set[str] = set()

    def at(self, off: int) -> str:  # the pointer expression of arena byte `off`
        return self.arena if off == 0 else f"{self.arena} + {off}"

    def ptr(self, tensor: str) -> str:
        return self.at(self.offsets[tensor])

    def scratch_ptr(self, layer: str) -> str:
        return self.at(self.scratch[layer])

    def ident(self, *parts: str) -> str:
        return cgen.identifier("_".join(parts), self.taken)


def _ctype(dtype) -> str:
    return "int64_t" if np.dtype(dtype) == np.int64 else cgen.ctype(dtype)


def _array(ctx: Context, base: str, name: str, values, dtype=None) -> tuple[CArray | None, str]:
    """A const array and the expression that points at it (NULL when empty: C99 has no [0])."""
    values = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    if values.size == 0:
        return None, "NULL"
    ident = ctx.ident(base, name)
    return CArray(_ctype(values.dtype), ident, cgen.literal(values), int(values.size)), ident


def struct(ctx: Context, ctype: str, base: str, name: str, fields: dict) -> CStruct:
    """A `static const` struct named `<base>_<name>` with these fields."""
    return CStruct(ctype, ctx.ident(base, name), [[(k, str(v)) for k, v in fields.items()]])


def _size(shape) -> int:
    return int(math.prod(shape))


def _step(ctx: Context, node: QNode, kernel: str, args: list[str], layout: str | None = None) -> Step:
    return Step(node.name, node.op, layout, kernel, args, ctx.ptr(node.name),
                _size(node.output_shape), [], [])


def _finish(step: Step, structs: list[CStruct], arrays=()) -> Step:
    """`step` with the output pointer as its last argument, and its constants."""
    step.args.append(step.output)
    step.structs, step.arrays = structs, [a for a in arrays if a]
    return step


# ---------------------------------------------------------------- weight ops

def _weights_struct(ctx: Context, base: str, layout: Layout, pointers: dict[str, str],
                    arrays: dict[str, np.ndarray]) -> CStruct:
    fields = {}
    for f in LAYOUT_FIELDS[layout.name]:
        if f in LAYOUT_SCALARS:
            fields[f] = int(getattr(layout, f))
        elif f.endswith("_type"):
            fields[f] = INDEX_ENUM[np.asarray(arrays[f[:-5]]).itemsize]
        else:
            fields[f] = pointers[f]
    return struct(ctx, f"tc_{layout.name}_weights", base, layout.name, fields)


def variant_bit(layout: Layout, arrays: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """(mask macro, bit) of the row-engine loop this layer runs: dense by weight
    width (bit bits-1), sparse layouts by the element types of their index arrays;
    None for a layout with a single loop (pcsr)."""
    if layout.name not in VARIANT_MACRO:
        return None
    if layout.name == "dense":
        return VARIANT_MACRO["dense"], int(layout.bits) - 1
    bit = sum(INDEX_SLOT[np.asarray(arrays[name]).itemsize] * weight
              for name, weight in VARIANT_ARRAYS[layout.name])
    return VARIANT_MACRO[layout.name], bit


def _dims(node: QNode) -> tuple[str, dict]:
    if node.op == "dense":
        return "tc_fc_dims", {"fan_in": _size(node.input_shapes[0]), "units": node.output_shape[-1]}
    in_h, in_w, in_c = node.input_shapes[0]
    out_h, out_w, out_c = node.output_shape
    sh, sw = node.strides
    (top, _), (left, _) = node.attrs.get("pads", ((0, 0), (0, 0)))
    return "tc_conv_dims", {"in_h": in_h, "in_w": in_w, "in_c": in_c, "kernel_h": node.kh,
                            "kernel_w": node.kw, "stride_h": sh, "stride_w": sw,
                            "out_h": out_h, "out_w": out_w, "out_c": out_c,
                            "pad_top": top, "pad_left": left,
                            "pad_value": node.attrs.get("pad_value", 0)}


def emit_weight_op(node: QNode, ctx: Context, layout: Layout) -> Step:
    """dense / conv2d / depthwise: arrays in `weights.ordered` order, dims, quant, weights."""
    base = ctx.ident(node.name)
    arrays = layer_arrays(node, layout)
    step = _step(ctx, node, f"tc_{WEIGHT_KERNEL[node.op]}_{layout.name}_s8", [], layout.name)
    if node.op != "dense":  # convs run the FC file's dense engine or the sparse conv engine
        step.extra_sources = ((f"tc_fc_{layout.name}_s8.c",) if layout.name == "dense"
                              else ("tc_conv_sparse_s8.c",))
    pointers = {}
    for name, values in ordered(arrays):
        arr, pointers[name] = _array(ctx, base, name, values)
        if arr is not None:
            step.arrays.append(arr)
    step.weight_bytes = int(sum(np.asarray(a).nbytes for a in arrays.values()))
    step.variant = variant_bit(layout, arrays)
    p = node.params
    dims_type, dims = _dims(node)
    narrow = np.asarray(arrays["bias_f"]).dtype == np.int16  # weights.narrow_bias
    quant = {"bias_f": "NULL" if narrow else pointers["bias_f"], "m": pointers["m"],
             "shift": pointers["shift"], "per_channel": int(bool(node.per_channel)),
             "z_out": p.z_out, "act_min": p.act_min, "act_max": p.act_max,
             "bias16": pointers["bias_f"] if narrow else "NULL"}
    step.structs = [struct(ctx, dims_type, base, "dims", dims),
                    struct(ctx, "tc_quant_params", base, "quant", quant),
                    _weights_struct(ctx, base, layout, pointers, arrays)]
    step.args = [f"&{s.ident}" for s in step.structs] + [ctx.ptr(node.inputs[0]), step.output]
    full = scratch_bytes(node, layout)
    scratch = ctx.scratch_sizes.get(node.name) or full
    if scratch:  # the kernel borrows scratch from the arena: a tc_context first
        context = struct(ctx, "tc_context", base, "ctx",
                          {"buf": ctx.scratch_ptr(node.name), "size": scratch})
        step.structs.insert(0, context)
        step.args.insert(0, f"&{context.ident}")
        step.scratch_bytes, step.least_scratch = scratch, scratch < full  # less: a slower path
    return step


# ---------------------------------------------------------------- other ops

def _rescale_fields(r: int_prepare.RescaleParams) -> dict:
    return dict(zip(RESCALE_FIELDS, (r.z_in, r.m, r.shift, r.z_out, r.act_min, r.act_max)))


def _pool_geom(node: QNode, ctx: Context, base: str, name: str = "geom") -> CStruct:
    g = node.params.geom
    return struct(ctx, "tc_pool_geom", base, name, {
        "in_h": g.in_h, "in_w": g.in_w, "channels": node.input_shapes[0][-1], "pool_h": g.pool_h,
        "pool_w": g.pool_w, "stride_h": g.stride_h, "stride_w": g.stride_w,
        "pad_top": g.pad_top, "pad_left": g.pad_left, "out_h": g.out_h, "out_w": g.out_w})


def _pad(node: QNode, ctx: Context) -> Step:
    p, (h, w, c) = node.params, node.input_shapes[0]
    s = struct(ctx, "tc_pad_params", ctx.ident(node.name), "params",
                {"in_h": h, "in_w": w, "channels": c, "top": p.top, "bottom": p.bottom,
                 "left": p.left, "right": p.right, "value": p.value})
    step = _step(ctx, node, "tc_pad_s8", [ctx.ptr(node.inputs[0]), f"&{s.ident}"])
    return _finish(step, [s])


def _requantize(node: QNode, ctx: Context) -> Step:
    s = struct(ctx, "tc_rescale_params", ctx.ident(node.name), "params", _rescale_fields(node.params))
    step = _step(ctx, node, "tc_requantize_tensor_s8",
                 [ctx.ptr(node.inputs[0]), str(_size(node.input_shapes[0])), f"&{s.ident}"])
    return _finish(step, [s])


def _max_pool(node: QNode, ctx: Context) -> Step:
    base, p = ctx.ident(node.name), node.params
    geom = _pool_geom(node, ctx, base)
    rescale = struct(ctx, "tc_rescale_params", base, "rescale", _rescale_fields(p.rescale))
    step = _step(ctx, node, "tc_maxpool2d_s8",
                 [ctx.ptr(node.inputs[0]), f"&{geom.ident}", f"&{rescale.ident}"])
    return _finish(step, [geom, rescale])


def _avg_pool(node: QNode, ctx: Context) -> Step:
    base, p = ctx.ident(node.name), node.params
    m, m_ptr = _array(ctx, base, "multiplier", p.m, np.int32)
    sh, sh_ptr = _array(ctx, base, "shift", p.shift, np.int32)
    geom = _pool_geom(node, ctx, base)
    params = struct(ctx, "tc_avgpool_params", base, "params",
                     {"in_zp": p.z_in, "multiplier": m_ptr, "shift": sh_ptr, "out_zp": p.z_out,
                      "act_min": p.act_min, "act_max": p.act_max})
    step = _step(ctx, node, "tc_avgpool2d_s8",
                 [ctx.ptr(node.inputs[0]), f"&{geom.ident}", f"&{params.ident}"])
    return _finish(step, [geom, params], (m, sh))


def _global_pool(node: QNode, ctx: Context) -> Step:
    h, w, c = node.input_shapes[0]
    kernel = "tc_global_avgpool2d_s8" if node.op == "global_avg_pool2d" else "tc_global_maxpool2d_s8"
    s = struct(ctx, "tc_rescale_params", ctx.ident(node.name), "params", _rescale_fields(node.params))
    step = _step(ctx, node, kernel, [ctx.ptr(node.inputs[0]), str(h * w), str(c), f"&{s.ident}"])
    return _finish(step, [s])


def _inputs_struct(ctx: Context, node: QNode, base: str) -> CStruct:
    pointers = [[("", ctx.ptr(i))] for i in node.inputs]
    return CStruct("int8_t *const", ctx.ident(base, "inputs"), pointers, is_array=True)


def add_params(node: QNode, ctx: Context, base: str) -> tuple[list[CArray], CStruct]:
    """The per-input arrays and the tc_add_params of an add node."""
    p = node.params
    zp, zp_ptr = _array(ctx, base, "in_zp", p.z_in, np.int32)
    mul, mul_ptr = _array(ctx, base, "in_multiplier", p.m_in, np.int32)
    sh, sh_ptr = _array(ctx, base, "in_shift", p.shift_in, np.int32)
    params = struct(ctx, "tc_add_params", base, "params", {
        "n_inputs": len(node.inputs), "in_zp": zp_ptr, "in_multiplier": mul_ptr,
        "in_shift": sh_ptr, "left_shift": p.left_shift, "out_multiplier": p.m_out,
        "out_shift": p.shift_out, "out_zp": p.z_out, "act_min": p.act_min, "act_max": p.act_max})
    return [zp, mul, sh], params


def _add(node: QNode, ctx: Context) -> Step:
    arrays, params = add_params(node, ctx, base := ctx.ident(node.name))
    ins = _inputs_struct(ctx, node, base)
    step = _step(ctx, node, "tc_add_s8", [ins.ident, str(_size(node.output_shape)), f"&{params.ident}"])
    step.args.append(step.output)
    step.arrays, step.structs = arrays, [ins, params]
    return step


def _concat(node: QNode, ctx: Context) -> Step:
    base, p = ctx.ident(node.name), node.params
    outer, inner = int_prepare.concat_sizes(node.input_shapes, p.axis)
    sizes, sizes_ptr = _array(ctx, base, "inner_sizes", inner, np.int32)
    rescales = CStruct("tc_rescale_params", ctx.ident(base, "rescale"),
                       [[(k, str(v)) for k, v in _rescale_fields(r).items()] for r in p.inputs],
                       is_array=True)
    ins = _inputs_struct(ctx, node, base)
    params = struct(ctx, "tc_concat_params", base, "params", {
        "n_inputs": len(node.inputs), "outer": outer, "inner_sizes": sizes_ptr,
        "inputs": rescales.ident})
    step = _step(ctx, node, "tc_concat_s8", [ins.ident, f"&{params.ident}"])
    step.args.append(step.output)
    step.arrays, step.structs = [sizes], [rescales, ins, params]
    return step


def _lut(node: QNode, ctx: Context) -> Step:
    table, table_ptr = _array(ctx, ctx.ident(node.name), "table", node.params.table, np.int8)
    step = _step(ctx, node, "tc_lut_s8",
                 [ctx.ptr(node.inputs[0]), str(_size(node.input_shapes[0])), table_ptr])
    step.args.append(step.output)
    step.arrays = [table]
    return step


def _softmax(node: QNode, ctx: Context) -> Step:
    table, table_ptr = _array(ctx, ctx.ident(node.name), "exp_table", node.params.exp_table, np.int32)
    shape = node.input_shapes[0]
    row = int(shape[-1])
    step = _step(ctx, node, "tc_softmax_s8",
                 [ctx.ptr(node.inputs[0]), str(_size(shape) // row), str(row), table_ptr])
    step.args.append(step.output)
    step.arrays = [table]
    return step


def _affine(node: QNode, ctx: Context) -> Step:
    base, p = ctx.ident(node.name), node.params
    channels = int(node.input_shapes[0][-1])
    mul, mul_ptr = _array(ctx, base, "multiplier", p.m, np.int32)
    sh, sh_ptr = _array(ctx, base, "shift", p.shift, np.int32)
    off, off_ptr = _array(ctx, base, "offset", p.offset, np.int64)
    params = struct(ctx, "tc_affine_params", base, "params", {
        "channels": channels, "in_zp": p.z_in, "multiplier": mul_ptr, "shift": sh_ptr,
        "offset": off_ptr, "out_zp": p.z_out, "act_min": p.act_min, "act_max": p.act_max})
    step = _step(ctx, node, "tc_affine_s8",
                 [ctx.ptr(node.inputs[0]), str(_size(node.input_shapes[0]) // channels), f"&{params.ident}"])
    return _finish(step, [params], (off, mul, sh))


def shape_struct(node: QNode, ctx: Context, base: str, name: str) -> CStruct:
    """tc_conv_dims / tc_pool_geom of `node` (codegen.patch: one per band of a layer)."""
    if node.op in ("max_pool2d", "avg_pool2d"):
        return _pool_geom(node, ctx, base, name)
    kind, fields = _dims(node)
    return struct(ctx, kind, base, name, fields)


EMITTERS: dict[str, Callable[[QNode, Context], Step]] = {
    "zero_pad2d": _pad, "requantize": _requantize, "max_pool2d": _max_pool,
    "avg_pool2d": _avg_pool, "global_avg_pool2d": _global_pool, "global_max_pool2d": _global_pool,
    "add": _add, "concat": _concat, "lut": _lut, "softmax": _softmax, "affine": _affine,
}


def emit(node: QNode, ctx: Context, layout: Layout | None = None) -> Step:
    """The Step of one executed node (not input/reshape)."""
    if node.is_weight_op:
        if layout is None:
            raise ValueError(f"no layout given for weight layer {node.name!r}")
        return emit_weight_op(node, ctx, layout)
    try:
        return EMITTERS[node.op](node, ctx)
    except KeyError:
        raise UnsupportedLayerError(f"no C kernel for op {node.op!r} (layer {node.name})") from None
