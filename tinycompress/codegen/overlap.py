"""Convolutions that write over their own input from a few bytes below it.

A kernel that visits output pixels in raster order (tc_conv2d_dense_s8) has
read the windows of every earlier pixel before it writes a pixel; once those
input bytes will not be read again, the output may take them. With the output
starting `shift` bytes below the input, output pixel p ends at
out + (p + 1) * C_out, and the input still to be read starts at
in + first_read(p) * C_in, so the smallest safe shift is the largest
(p + 1) * C_out - first_read(p) * C_in. The pair of a 1x1 expansion (8 -> 16
channels) then needs the output's bytes plus 8 instead of both tensors; a 3x3
stride-1 convolution, its output plus W + 2 pixels. A depthwise kernel that
sweeps groups of channels (tc_dwconv2d_dense_s8) only ever overwrites the same
channel of an earlier pixel, in every layout. `codegen.verify.check_access_order` replays
these orders against the planned offsets.

The order is a property of the kernel: only the layouts named in
`overlap_kind` take part; a kernel whose loops change order must be taken out
there (tests/test_memory_host.py runs the generated C with the overlaps).
"""
from __future__ import annotations

import numpy as np

from tinycompress.codegen.arena import ALIGN, TensorLife, group_aliases, plan_arena, step_bytes
from tinycompress.codegen.memory import FUSED, last_readers, tensor_roots, aligned, tensor_lives, timeline
from tinycompress.ir.qgraph import QGraph, QNode

MAX_TRIALS = 48  # candidates tried per search: each trial is a greedy arena plan


def _first_read(node: QNode) -> np.ndarray:
    """Per output pixel (raster order): the lowest input pixel that pixel or a later one
    reads (a window's top-left pixel inside the input, minimum over the rest)."""
    in_h, in_w, _ = node.input_shapes[0]
    out_h, out_w, _ = node.output_shape
    (top, _), (left, _) = node.attrs.get("pads", ((0, 0), (0, 0)))
    sh, sw = node.strides
    y0 = np.clip(np.arange(out_h) * sh - top, 0, in_h - 1)
    x0 = np.clip(np.arange(out_w) * sw - left, 0, in_w - 1)
    first = (y0[:, None] * in_w + x0[None, :]).ravel()
    return np.minimum.accumulate(first[::-1])[::-1]


def overlap_kind(node: QNode, layout) -> str | None:
    """How the kernel of `node` in `layout` orders its reads and writes, when that lets
    its output overlap its input: 'pixel' (tc_conv2d_dense_s8: output pixels in raster
    order, each written after its window, and the next pixel's, were read), 'channel'
    (depthwise: tc_dwconv2d_dense_s8 sweeps groups of four channels, the sparse engine
    tc_conv_sparse_run one channel at a time, each in raster order); else None (the
    sparse conv2d sweeps every pixel once per output channel: all input stays needed)."""
    if layout is None or FUSED in node.attrs:  # a fused add writes over its skip tensor
        return None
    if node.op == "conv2d" and getattr(layout, "name", None) == "dense":
        return "pixel"
    if node.op == "depthwise_conv2d" and node.output_shape[-1] == node.input_shapes[0][-1]:
        return "channel"
    return None


def overlap_shift(node: QNode, kind: str) -> int:
    """Fewest bytes (4-aligned) the output must start below the input so that no output
    byte is written before the input bytes under it were read for the last time.

    pixel: output pixel p ends at (p + 1) * C_out; the input still to be read starts at
    first_read(p) * C_in. channel: output byte (p, c) lands on input byte (p - k, c) when
    the shift is k pixels, which channel c's later windows no longer read when
    p - k < first_read(p)."""
    first = _first_read(node)
    p = np.arange(first.size)
    c_in, c_out = int(node.input_shapes[0][-1]), int(node.output_shape[-1])
    if kind == "pixel":
        return aligned(max(0, int(np.max((p + 1) * c_out - first * c_in))))
    k = max(0, int(np.max(p + 1 - first)))
    while k * c_out % ALIGN:
        k += 1
    return k * c_out


def overlap_candidates(qgraph: QGraph, layouts: dict) -> dict[str, int]:
    """{node: shift} of the convolutions that could write over their input: the kernel
    allows it (`overlap_kind`) and the node is the input's last reader."""
    root = tensor_roots(qgraph)
    last = last_readers(qgraph, root)
    out: dict[str, int] = {}
    for i, n in enumerate(qgraph.nodes):
        kind = overlap_kind(n, layouts.get(n.name))
        src = n.inputs[0] if n.inputs else None
        if kind and root[src] == src and last.get(src) == i and src != qgraph.outputs[0]:
            out[n.name] = overlap_shift(n, kind)
    return out


def choose_overlaps(qgraph: QGraph, layouts: dict, scratch: list[TensorLife],
                    exclude: frozenset[str] = frozenset(), adjust=None) -> dict[str, int]:
    """{node: shift} of the overlapping convolutions worth having. Each link lowers the
    live bytes of its step, but a chain of them can drift bytes apart and fragment the
    arena, so two searches are compared by (greedy arena, live bytes per step, largest
    first): from no link, add each that helps, from the step with the most live bytes
    down; from every link, drop each that does not help, from the least loaded step up.
    Only the MAX_TRIALS most loaded candidates take part (each trial plans the arena).
    `exclude`: layers that may not take part; `adjust`: a change every trial's tensor
    lives go through (codegen.patch: a chain run in bands)."""
    cands = {k: v for k, v in overlap_candidates(qgraph, layouts).items() if k not in exclude}
    if not cands:
        return {}
    adjust = adjust or (lambda lives: lives)

    def lives_of(shifted: dict[str, int]) -> list[TensorLife]:
        return adjust(tensor_lives(qgraph, shifted=shifted))

    def cost(shifted: dict[str, int]) -> tuple:
        lives = lives_of(shifted)
        arena = plan_arena(lives, scratch, budget=0)
        profile = sorted(step_bytes(group_aliases(lives) + list(scratch)), reverse=True)
        return arena.size, profile

    base = plan_arena(lives_of({}), scratch, budget=0)
    load = {row["layer"]: row["bytes"] for row in timeline(qgraph, lives_of({}), scratch, base)}
    step = {n.name: i for i, n in enumerate(qgraph.nodes)}
    ranked = sorted(cands, key=lambda n: (-load[n], step[n]))[:MAX_TRIALS]
    cands = {name: cands[name] for name in ranked}
    added, best_added = {}, cost({})
    for name in ranked:  # from none, add the links that help
        trial = {**added, name: cands[name]}
        if (found := cost(trial)) < best_added:
            added, best_added = trial, found
    kept, best_kept = dict(cands), cost(cands)
    for name in reversed(ranked):  # from all, drop the links that do not help
        trial = {k: v for k, v in kept.items() if k != name}
        if (found := cost(trial)) <= best_kept:
            kept, best_kept = trial, found
    return added if best_added <= best_kept else kept
