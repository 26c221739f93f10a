"""Residual adds fused into the output stage of the convolution before them.

    qgraph, layouts = fuse_adds(qgraph, layouts)   # after memory.schedule, before planning

A dense conv2d whose only reader is a two-input add, the add's other input
(the skip tensor) of the same shape and read last by that add, becomes one
node `<conv>+<add>`: tc_conv2d_dense_add_s8 computes the convolution two output
pixels at a time into its scratch, adds them to the skip tensor's same
elements with tc_add_s8's arithmetic and stores the sums over them
(memory.inplace_inputs: the node writes over the skip tensor, never over the
convolution's input). The convolution's output tensor and the add's separate
output disappear from the arena. Sparse layouts stay unfused (their kernels
sweep one output channel at a time, not pixels).

The fused node is a conv2d carrying `attrs[memory.FUSED]` (a `FusedAdd`: the
two original nodes, the skip tensor and which add input the convolution is);
its name is what the report, the timeline and the per-layer instruction
counts show, and its output tensor is the add's (every reader of the add is
renamed). The integer reference keeps running conv then add (`run_fused`).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from tinycompress.codegen.memory import FUSED, last_readers, tensor_roots
from tinycompress.codegen.ops import Context, Step, add_params, struct
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.reference.int_ref import run_node


@dataclasses.dataclass(frozen=True)
class FusedAdd:
    """What a fused conv2d+add node stands for."""

    conv: QNode
    add: QNode
    conv_slot: int  # which input of the add the convolution is (the node's inputs[1] is the skip)


def fused_add(node: QNode) -> FusedAdd | None:
    """The FusedAdd of a fused node, else None."""
    return node.attrs.get(FUSED)


def _readers(qgraph: QGraph) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, n in enumerate(qgraph.nodes):
        for src in n.inputs:
            out.setdefault(src, []).append(i)
    return out


def _partner(qgraph: QGraph, i: int, layouts: dict, readers: dict, root: dict,
             last: dict) -> tuple[int, int] | None:
    """(index of the add, the conv's slot in it) when node i fuses with its reader."""
    conv = qgraph.nodes[i]
    lay = layouts.get(conv.name)
    if conv.op != "conv2d" or getattr(lay, "name", None) != "dense" or FUSED in conv.attrs:
        return None
    if conv.name in qgraph.outputs or len(readers.get(conv.name, ())) != 1:
        return None
    j = readers[conv.name][0]
    add = qgraph.nodes[j]
    if add.op != "add" or len(add.inputs) != 2 or add.inputs[0] == add.inputs[1]:
        return None
    slot = add.inputs.index(conv.name)
    skip = add.inputs[1 - slot]
    shape = tuple(add.output_shape)
    if (root[skip] != skip or skip in qgraph.outputs or last.get(skip) != j
            or root[conv.inputs[0]] == skip or tuple(conv.output_shape) != shape
            or any(tuple(s) != shape for s in add.input_shapes)
            or math.prod(qgraph.node(skip).output_shape) != math.prod(shape)):
        return None
    return j, slot


def _fused_node(conv: QNode, add: QNode, slot: int) -> QNode:
    skip = add.inputs[1 - slot]
    return dataclasses.replace(
        conv, name=f"{conv.name}+{add.name}", inputs=[conv.inputs[0], skip],
        input_shapes=[conv.input_shapes[0], add.input_shapes[1 - slot]],
        output_shape=add.output_shape, scale=add.scale, zero_point=add.zero_point,
        attrs={**conv.attrs, FUSED: FusedAdd(conv, add, slot)})


def fuse_adds(qgraph: QGraph, layouts: dict) -> tuple[QGraph, dict]:
    """(`qgraph` with every fusible conv2d + add pair as one node, `layouts` with the fused
    nodes' entries) in the given order (module doc). The fused node takes the conv's step
    when the skip tensor is made before it and nothing in between reads it ('early'), else
    the add's. When both inputs of an add could fuse (two convolutions), the early one does."""
    root = tensor_roots(qgraph)
    last = last_readers(qgraph, root)
    readers = _readers(qgraph)
    step = {n.name: i for i, n in enumerate(qgraph.nodes)}
    chosen: dict[int, tuple[bool, int, int]] = {}  # add -> (early, conv, slot)
    for i in range(len(qgraph.nodes)):
        found = _partner(qgraph, i, layouts, readers, root, last)
        if found is None:
            continue
        j, slot = found
        skip = qgraph.nodes[j].inputs[1 - slot]
        early = step[skip] < i and all(not i < r < j for r in readers.get(skip, ()))
        if j not in chosen or (early and not chosen[j][0]):
            chosen[j] = (early, i, slot)
    if not chosen:
        return qgraph, layouts
    nodes: list[QNode | None] = list(qgraph.nodes)
    renamed: dict[str, str] = {}
    layouts = dict(layouts)
    for j, (early, i, slot) in sorted(chosen.items()):
        conv, add = qgraph.nodes[i], qgraph.nodes[j]
        fused = _fused_node(conv, add, slot)
        nodes[i if early else j], nodes[j if early else i] = fused, None
        renamed[add.name] = fused.name
        layouts[fused.name] = layouts[conv.name]
    out = [dataclasses.replace(n, inputs=[renamed.get(s, s) for s in n.inputs])
           for n in nodes if n is not None]
    return dataclasses.replace(qgraph, nodes=out,
                               outputs=[renamed.get(o, o) for o in qgraph.outputs]), layouts


def run_fused(node: QNode, inputs: list[np.ndarray]) -> np.ndarray:
    """The reference of a fused node on batched inputs [conv input, skip]: conv, then add."""
    f = fused_add(node)
    conv = run_node(f.conv, [inputs[0]])
    pair = [conv, inputs[1]] if f.conv_slot == 0 else [inputs[1], conv]
    return run_node(f.add, pair)


def emit_fused_add(step: Step, node: QNode, ctx: Context) -> None:
    """Turn the conv2d Step of a fused node (ops.emit) into its tc_conv2d_dense_add_s8 call:
    the add's constants, and a tc_conv_add (the skip tensor, node.inputs[1], where the
    node's own output lives) in place of the output argument."""
    f = fused_add(node)
    base = ctx.ident(node.name, "fused")
    arrays, params = add_params(f.add, ctx, base)
    add = struct(ctx, "tc_conv_add", base, "add", {
        "skip": ctx.ptr(node.inputs[1]), "conv_slot": f.conv_slot, "params": f"&{params.ident}"})
    step.kernel = "tc_conv2d_dense_add_s8"
    step.extra_sources = ("tc_conv2d_dense_s8.c", *step.extra_sources, "tc_add_s8.c")
    step.arrays += [a for a in arrays if a is not None]
    step.structs += [params, add]
    step.args[-1] = f"&{add.ident}"
    step.parts = (f.conv.name, f.add.name)
