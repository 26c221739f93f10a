"""Activation memory of a quantized graph: execution order, lifetimes, in-place ops, timeline.

    order = schedule(qgraph, scratch)          # node order with the smallest peak
    lives = tensor_lives(reordered(qgraph, order))
    plan = plan_arena(lives, scratch_lives)   # codegen.arena
    rows = timeline(qgraph, lives, scratch_lives, plan)
    rows = timeline(qgraph, lives, scratch_lives, plan)

Execution order: independent branches (the two sides of a residual block,
the inputs of a concatenation) can run in any order that respects the data
dependences; `schedule` finds the order whose largest live total (tensors
plus the step's kernel scratch) is smallest, by dynamic programming over the
sets of nodes already run (exact: the peak after a set of nodes depends only
on the set). Graphs whose number of such sets exceeds a budget keep their
given order.

In place: an operator whose kernel reads each element before it writes the
same index (elementwise add: tc_add_s8 stores a word after reading its four
elements; the LUT activation, requantize and per-channel affine read in[i]
then write out[i]) writes over an input whose last reader it is, when that
input has at least the output's bytes. A reshape always shares its input's
bytes. A convolution with its residual add fused in (`FUSED`, codegen.fuse) writes
over its second input, the add's skip tensor. `inplace_inputs` says which input
each such node overwrites.
"""
from __future__ import annotations

import dataclasses
import math

from tinycompress.codegen.arena import ALIGN, ArenaPlan, Piece, TensorLife, group_aliases
from tinycompress.ir.qgraph import QGraph, QNode

INPLACE_OPS = ("add", "lut", "requantize", "affine")
NO_KERNEL_OPS = ("input", "reshape")
FUSED = "fused_add"  # attrs key of a conv2d with its add fused in (codegen.fuse)
STATE_BUDGET = 20_000  # node sets the scheduler may visit before it keeps the given order


def aligned(n: int) -> int:
    """`n` rounded up to the arena's alignment."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _size(node: QNode) -> int:
    return int(math.prod(node.output_shape))


def tensor_roots(qgraph: QGraph) -> dict[str, str]:
    """Tensor -> the tensor whose bytes it is (a reshape is its input's bytes)."""
    root: dict[str, str] = {}
    for n in qgraph.nodes:
        root[n.name] = root[n.inputs[0]] if n.op == "reshape" else n.name
    return root


def last_readers(qgraph: QGraph, root: dict[str, str]) -> dict[str, int]:
    """Root tensor -> index of the last node that reads it (directly or through a reshape)."""
    last: dict[str, int] = {}
    for i, n in enumerate(qgraph.nodes):
        if n.op != "reshape":
            for src in n.inputs:
                last[root[src]] = i
    return last


def inplace_inputs(qgraph: QGraph) -> dict[str, str]:
    """{node: the input tensor it writes over}, for nodes in the given order (see module doc).

    The model output is never overwritten (the caller reads it after the run)
    and an input is taken only when this node is its last reader.
    """
    root = tensor_roots(qgraph)
    last = last_readers(qgraph, root)
    out_root = root[qgraph.outputs[0]]
    taken: dict[str, str] = {}
    for i, n in enumerate(qgraph.nodes):
        if FUSED in n.attrs:  # always over the skip tensor (fuse checked it may)
            taken[n.name] = n.inputs[1]
            continue
        if n.op not in INPLACE_OPS:
            continue
        for src in n.inputs:
            r = root[src]
            if (r != out_root and last.get(r) == i and r not in taken.values()
                    and _size(qgraph.node(r)) >= _size(n)):
                taken[n.name] = src
                break
    return taken


def tensor_lives(qgraph: QGraph, inplace: bool = True,
                 shifted: dict[str, int] | None = None) -> list[TensorLife]:
    """Lifetime of every tensor in node steps (the model output stays live to the end);
    reshapes and, with `inplace`, the in-place operators alias the tensor they overwrite;
    `shifted` {node: bytes}: the convolutions that write over their input from that many
    bytes below it (`overlap_shift`)."""
    last = {n.name: i for i, n in enumerate(qgraph.nodes)}
    for i, node in enumerate(qgraph.nodes):
        for src in node.inputs:
            last[src] = max(last[src], i)
    over = inplace_inputs(qgraph) if inplace else {}
    end = len(qgraph.nodes)
    lives = []
    for i, node in enumerate(qgraph.nodes):
        alias = node.inputs[0] if node.op == "reshape" else over.get(node.name)
        shift = (shifted or {}).get(node.name, 0)
        if node.name in (shifted or {}):
            alias = node.inputs[0]
        until = end if node.name == qgraph.outputs[0] else last[node.name]
        lives.append(TensorLife(node.name, _size(node), i, until, alias, shift))
    return lives


# ---------------------------------------------------------------- scheduling

class _Scheduler:
    """Exact minimum-peak topological order by dynamic programming over executed sets."""

    def __init__(self, qgraph: QGraph, scratch: dict[str, int]):
        self.root = tensor_roots(qgraph)
        self.out_root = self.root[qgraph.outputs[0]]
        self.real = [n for n in qgraph.nodes if n.op not in NO_KERNEL_OPS]
        bit = {n.name: 1 << j for j, n in enumerate(self.real)}
        self.size = {n.name: _size(n) for n in qgraph.nodes if self.root[n.name] == n.name}
        self.made = {r: bit.get(r, 0) for r in self.size}  # 0: the input, there from the start
        self.readers = {r: 0 for r in self.size}  # root -> mask of the real nodes reading it
        self.needs = []  # per real node: mask of the real nodes it waits for
        for n in self.real:
            rs = {self.root[s] for s in n.inputs}
            for r in rs:
                self.readers[r] |= bit[n.name]
            self.needs.append(sum(bit[r] for r in rs if r in bit))
        # the roots each node may write over; a fused conv+add over its skip tensor, which
        # it must then read last: every other reader of it runs first
        self.over = [[self.root[n.inputs[1]]] if FUSED in n.attrs else
                     sorted({self.root[s] for s in n.inputs}) if n.op in INPLACE_OPS else []
                     for n in self.real]
        for j, n in enumerate(self.real):
            if FUSED in n.attrs:
                self.needs[j] |= self.readers[self.over[j][0]] & ~bit[n.name]
        self.scratch = [scratch.get(n.name, 0) for n in self.real]
        self.memo: dict[int, tuple[int, int]] = {}
        self.visits = 0

    def live(self, done: int) -> int:
        """Bytes of the roots produced by `done` (and the input) that are still needed."""
        total = 0
        for r, size in self.size.items():
            made = self.made[r]
            if (made == 0 or done & made) and (r == self.out_root or self.readers[r] & ~done):
                total += size
        return total

    def step_bytes(self, done: int, j: int) -> int:
        """Live bytes while real node j runs after `done`."""
        extra = _size(self.real[j])
        for r in self.over[j]:
            if r != self.out_root and self.readers[r] & ~done == 1 << j and self.size[r] >= extra:
                extra = 0
                break
        return self.live(done) + extra + self.scratch[j]

    def best(self, done: int) -> tuple[int, int]:
        """(smallest peak of the rest, the real node to run next) after `done`."""
        if done in self.memo:
            return self.memo[done]
        self.visits += 1
        if self.visits > STATE_BUDGET:
            raise OverflowError("too many states")
        result = (0, -1)
        for j in range(len(self.real)):
            if done >> j & 1 or self.needs[j] & ~done:
                continue
            peak = max(self.step_bytes(done, j), self.best(done | 1 << j)[0])
            if result[1] < 0 or peak < result[0]:
                result = (peak, j)
        self.memo[done] = result
        return result


def schedule(qgraph: QGraph, scratch: dict[str, int] | None = None) -> list[str]:
    """Node names in the order with the smallest peak of live bytes (ties: the given order);
    the given order when the graph has too many partial orders to search."""
    sched = _Scheduler(qgraph, scratch or {})
    order, done = [], 0
    try:
        for _ in sched.real:
            j = sched.best(done)[1]
            order.append(sched.real[j].name)
            done |= 1 << j
    except (OverflowError, RecursionError):
        return [n.name for n in qgraph.nodes]
    return _with_reshapes(qgraph, order)


def _with_reshapes(qgraph: QGraph, order: list[str]) -> list[str]:
    """`order` with the input first and each reshape right after the tensor it relabels."""
    after: dict[str, list[str]] = {}
    for n in qgraph.nodes:
        if n.op == "reshape":
            after.setdefault(n.inputs[0], []).append(n.name)
    out: list[str] = []

    def put(name: str) -> None:
        out.append(name)
        for r in after.get(name, ()):
            put(r)

    for name in [qgraph.input_name, *order]:
        put(name)
    return out


def reordered(qgraph: QGraph, order: list[str]) -> QGraph:
    """`qgraph` with its nodes in `order` (a topological order of the same nodes)."""
    by_name = {n.name: n for n in qgraph.nodes}
    return dataclasses.replace(qgraph, nodes=[by_name[name] for name in order])


# ---------------------------------------------------------------- timeline

def timeline(qgraph: QGraph, lives: list[TensorLife], scratch: list[TensorLife],
             plan: ArenaPlan) -> list[dict]:
    """Per executed operator: its name and op, the live buffers (the latest tensor in it,
    the bytes its live tensors cover, offset; a kernel's scratch as '<layer> scratch')
    and their total bytes."""
    buffers = group_aliases(lives)
    rows = []
    for i, node in enumerate(qgraph.nodes):
        if node.op in NO_KERNEL_OPS:
            continue
        live = []
        for b in buffers:
            now = [p for p in b.pieces if p.first <= i <= p.last]
            if now:
                lo = min(plan.offsets[p.name] for p in now)
                hi = max(plan.offsets[p.name] + p.size for p in now)
                covered = _covered_bytes(plan, now)
                live.append({"tensor": max(now, key=lambda p: p.first).name, "bytes": covered,
                             "offset": lo, "end": hi})
        live += [{"tensor": f"{s.name} scratch", "bytes": s.size, "offset": plan.scratch[s.name],
                  "end": plan.scratch[s.name] + s.size} for s in scratch if s.first == i]
        rows.append({"layer": node.name, "op": node.op, "live": live,
                     "bytes": sum(b["bytes"] for b in live)})
    return rows


def _covered_bytes(plan: ArenaPlan, pieces: list[Piece]) -> int:
    total, end = 0, -1
    for start, stop in sorted((plan.offsets[p.name], plan.offsets[p.name] + p.size) for p in pieces):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def peak(rows: list[dict]) -> dict:
    """The timeline row with the most live bytes (the first of equals)."""
    return max(rows, key=lambda r: r["bytes"]) if rows else {"layer": None, "op": None, "bytes": 0}
