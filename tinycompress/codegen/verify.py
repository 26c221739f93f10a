"""Checks of an arena plan against the numpy reference (the executable spec).

`check_plan`: no two buffers live at the same step share a byte (unless one
is an alias of the other on purpose). `run_in_arena`: the integer reference
executed in one byte array at the planned offsets, scratch overwritten with
junk at every step, and for each convolution that overlaps its input, the
kernel's read/write order replayed (`check_access_order`); its outputs must
equal `run_int`'s.
"""
from __future__ import annotations

import math

import numpy as np

from tinycompress.codegen.arena import ALIGN, ArenaPlan, TensorLife, group_aliases
from tinycompress.codegen.fuse import run_fused
from tinycompress.codegen.memory import FUSED
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.codegen.patch import run_bands
from tinycompress.reference.int_ref import run_node

OVERLAP_ORDER = {"conv2d": "pixel", "depthwise_conv2d": "channel"}  # overlap.overlap_kind per op


def check_plan(lives: list[TensorLife], scratch: list[TensorLife], plan: ArenaPlan) -> None:
    """ValueError unless every tensor and scratch buffer is aligned, inside the arena, and
    disjoint from every other one live at one of its steps (tensors sharing bytes on
    purpose, an alias and its source, excepted)."""
    spans = [(f"tensor {p.name}", b.name, plan.offsets[p.name], p)
             for b in group_aliases(lives) for p in b.pieces]
    spans += [(f"scratch of {t.name}", None, plan.scratch[t.name], t) for t in scratch]
    for k, (what, group, off, t) in enumerate(spans):
        if off % ALIGN or off < 0 or off + t.size > plan.size:
            raise ValueError(f"{what} at {off} (+{t.size} B) is misaligned or outside the "
                             f"{plan.size} B arena")
        for other, group2, o2, t2 in spans[k + 1:]:
            if group is not None and group == group2:
                continue
            live_together = t.first <= t2.last and t2.first <= t.last
            if live_together and off < o2 + t2.size and o2 < off + t.size:
                raise ValueError(f"{what} [{off}, {off + t.size}) overlaps {other} "
                                 f"[{o2}, {o2 + t2.size}) while both are live")


def run_in_arena(qgraph: QGraph, lives: list[TensorLife], scratch: list[TensorLife],
                 plan: ArenaPlan, x_int8, poison: int = 0x5A, bands=None) -> dict[str, np.ndarray]:
    """The integer reference run 'in the arena': one byte array (filled with `poison`),
    every tensor at its planned offset, the nodes in order, each step's scratch bytes
    overwritten with `poison` first (a kernel may leave anything there). Returns
    {node: its output read back from the arena right after its step}, which must equal
    `run_int`'s when the plan is sound. The plan is checked first (`check_plan`).
    `bands` (codegen.patch.PatchPlan): its chain runs band by band (`patch.run_bands`),
    so only the chain's last layer has a whole output to return."""
    check_plan(lives, scratch, plan)
    arena = np.full(max(plan.size, 1), poison, np.uint8).view(np.int8)
    borrowed = {t.name: t.size for t in scratch}
    overlapping = {t.name for t in lives if t.alias_of is not None}

    def at(name: str, n: int) -> np.ndarray:
        return arena[plan.offsets[name]:plan.offsets[name] + n]

    def junk_scratch(name: str) -> None:
        if name in borrowed:
            start = plan.scratch[name]
            arena[start:start + borrowed[name]] = np.uint8(poison).view(np.int8)

    x = np.asarray(x_int8, np.int8).ravel()
    at(qgraph.input_name, x.size)[:] = x
    out: dict[str, np.ndarray] = {qgraph.input_name: x.copy()}
    for node in qgraph.nodes:
        if node.op == "input":
            continue
        size = int(math.prod(node.output_shape))
        if bands is not None and node.name in bands.nodes:
            if node.name == bands.nodes[0]:
                run_bands(bands, arena, plan.offsets, node.inputs[0], run_node, junk_scratch,
                          lambda n, i, o: check_access_order(n, OVERLAP_ORDER[n.op], i, o, plan.size))
            if node.name == bands.nodes[-1]:
                out[node.name] = at(node.name, size).copy()
            continue
        if node.op != "reshape":
            ins = [at(s, int(math.prod(shape))).copy()[np.newaxis]
                   for s, shape in zip(node.inputs, node.input_shapes, strict=True)]
            junk_scratch(node.name)
            fused = FUSED in node.attrs  # writes over its skip input (read first) elementwise
            if node.name in overlapping and node.op in OVERLAP_ORDER and not fused:
                check_access_order(node, OVERLAP_ORDER[node.op], plan.offsets[node.inputs[0]],
                                   plan.offsets[node.name], plan.size)
            at(node.name, size)[:] = (run_fused if fused else run_node)(node, ins).ravel()
        out[node.name] = at(node.name, size).copy()
    return out


def check_access_order(node: QNode, kind: str, in_off: int, out_off: int, arena_bytes: int) -> None:
    """ValueError when the kernel, in the order `kind` describes (`overlap_kind`), would
    read an input byte after writing an output byte over it: the reads and writes are
    replayed on a map of the arena's written bytes, a window read against the bytes
    written so far and those its own output is about to take."""
    in_h, in_w, c_in = node.input_shapes[0]
    out_h, out_w, c_out = node.output_shape
    (top, _), (left, _) = node.attrs.get("pads", ((0, 0), (0, 0)))
    sh, sw = node.strides
    written = np.zeros(arena_bytes, bool)
    inp = written[in_off:in_off + in_h * in_w * c_in].reshape(in_h, in_w, c_in)
    out = written[out_off:out_off + out_h * out_w * c_out].reshape(out_h, out_w, c_out)
    groups = [(c, min(c + 4, c_out)) for c in range(0, c_out, 4)] if kind == "channel" else [(0, c_out)]
    for c0, c1 in groups:
        reads = (c0, c1) if kind == "channel" else (0, c_in)
        for oy in range(out_h):
            y0 = oy * sh - top
            for ox in range(out_w):
                x0 = ox * sw - left
                out[oy, ox, c0:c1] = True  # about to be written: must not be in the window
                window = inp[max(y0, 0):y0 + node.kh, max(x0, 0):x0 + node.kw, reads[0]:reads[1]]
                if window.any():
                    raise ValueError(f"layer {node.name}: output ({oy}, {ox}) channels "
                                     f"{c0}..{c1 - 1} overwrite input it still reads")
