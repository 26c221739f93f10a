"""Patch-based execution (`--patch auto`): a chain of spatial layers run in row bands.

A CNN's activation peak usually sits in its early high-resolution layers,
where one layer's whole input and whole output are live together. When a
chain of layers (conv2d, depthwise, max/avg pool; each intermediate tensor
read only by the next layer) runs band by band instead, the chain's input
and output stay whole but every tensor inside it shrinks to the rows one
band needs: band k computes rows [a_k, a_(k+1)) of the chain's last output,
and walking back through each layer's kernel, stride and padding gives the
rows every earlier layer must compute for it (`band_runs`). Neighbouring
bands overlap by the receptive field; those rows are computed again (the
extra MACs, reported). Every band call is the layer's own kernel with the
band's geometry: the input pointer at the first row read, in_h = the rows
read, pad_top = the real padding only where the band starts above row 0,
out_h = the band's rows; the padding after the input stays implied by
out_h (tc_conv_dims), real only in the bottom band.

In the arena: the chain's input lives until the last band's first layer, its
output from the first band on; each inner tensor becomes a buffer of its
largest band (`patched_lives`). The output may start `shift` bytes below the
input (one buffer): band k's output rows must end before the first input row
band k + 1 reads (`output_shift`). An inner layer whose kernel writes over its
input in a known order (`overlap.overlap_kind`) may write its band over the
band it reads, from the largest `overlap.overlap_shift` of its bands below it.
`codegen.band_calls` turns the plan into C calls; `verify.run_in_arena` runs
it band by band in numpy (`run_bands`), replaying those orders.

`apply` tries every chain through the layer where the unpatched arena peaks
(at most MAX_LENGTH layers) with 2..MAX_BANDS bands, output apart from or over
the input, inner bands apart from or over the band they read; keeps those whose
extra work (recomputed MACs, plus the weight decoding a sparse kernel repeats
in every extra call) is at most MAX_EXTRA of the chain's MACs; ranks them by
greedy arena; plans the SHORTLIST best in full, the other layers' overlaps
chosen again, and takes the smallest arena (ties: less extra work); none when
it is not smaller than the arena without patches.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np

from tinycompress.codegen.arena import ArenaPlan, TensorLife, plan_arena
from tinycompress.codegen.memory import (aligned, last_readers, peak, tensor_lives, tensor_roots,
                                         timeline)
from tinycompress.codegen.overlap import choose_overlaps, overlap_kind, overlap_shift
from tinycompress.codegen.scratch import lean_scratch_bytes, scratch_bytes
from tinycompress.ir.qgraph import QGraph, QNode

PATCH_OPS = ("conv2d", "depthwise_conv2d", "max_pool2d", "avg_pool2d")
POOL_OPS = ("max_pool2d", "avg_pool2d")
MODES = ("off", "auto")
MAX_EXTRA = 0.15  # extra work (recomputed MACs, decoding) at most this fraction of the chain's MACs
# A sparse kernel decodes every weight level of the layer in each call (codegen.scratch):
# about this many MACs' worth each. Measured: a 3x3 conv2d 24->16, csr, 6 bits, 60 %
# sparse, cost 94 k instructions more per extra band call, 45 k MACs at its 2.1
# instructions per MAC, for 3,456 levels: 13.
DECODE_MACS_PER_LEVEL = 13
MAX_BANDS = 16
MAX_LENGTH = 6  # layers in a chain
SHORTLIST = 4  # best candidates by greedy arena planned in full (overlaps chosen again)


@dataclass(frozen=True)
class BandRun:
    """One layer's call in one band: the layer with the band's geometry, the first row
    of its (whole) input it reads and the first row of its (whole) output it writes."""

    node: QNode
    in_row: int
    out_row: int


@dataclass
class PatchPlan:
    """A chain of layers run in bands (module doc)."""

    nodes: tuple[str, ...]
    bands: list[list[BandRun]]  # per band, per layer of the chain
    shift: int | None  # the output starts this many bytes below the input; None: apart
    macs: int  # the chain's MACs without patches
    extra_macs: int  # MACs of the rows computed more than once
    extra_work: int  # extra_macs plus the sparse kernels' weight decoding in the extra calls
    inner: dict[str, int] = dataclasses.field(default_factory=dict)  # inner layer -> bytes its
    # band starts below its input band's, writing over it (overlap.overlap_shift of its bands)
    arena_bytes: int = 0  # the arena with this plan (greedy in `candidates`, then planned)
    base_bytes: int = 0  # the arena without patches

    def band_rows(self, name: str) -> int:
        """Most output rows one band of layer `name` computes (its buffer's rows)."""
        k = self.nodes.index(name)
        return max(runs[k].node.output_shape[0] for runs in self.bands)

    def as_dict(self) -> dict:
        return {"layers": list(self.nodes), "bands": len(self.bands),
                "band_rows": {n: self.band_rows(n) for n in self.nodes},
                "output_over_input": self.shift is not None, "band_over_band": sorted(self.inner),
                "macs": self.macs, "extra_macs": self.extra_macs,
                "extra_macs_fraction": round(self.extra_macs / max(self.macs, 1), 4),
                "extra_work": self.extra_work,
                "arena_bytes": self.arena_bytes, "arena_bytes_unpatched": self.base_bytes}


def row_bytes(shape) -> int:
    """Bytes of one row of an (H, W, C) tensor."""
    return int(math.prod(shape[1:]))


def _axis(node: QNode) -> tuple[int, int, int]:
    """(kernel rows, row stride, padding rows above the input) of a spatial layer."""
    if node.op in POOL_OPS:
        g = node.params.geom
        return g.pool_h, g.stride_h, g.pad_top
    (top, _), _ = node.attrs.get("pads", ((0, 0), (0, 0)))
    return node.kh, node.strides[0], top


def _row_macs(node: QNode) -> int:
    """MACs (a pool: taps) of one output row."""
    k, _, _ = _axis(node)
    kw = node.params.geom.pool_w if node.op in POOL_OPS else node.kw
    per_tap = int(node.input_shapes[0][-1]) if node.op == "conv2d" else 1
    return int(node.output_shape[1]) * int(node.output_shape[2]) * k * kw * per_tap


def band_node(node: QNode, a: int, b: int, lo: int, hi: int) -> QNode:
    """`node` computing output rows [a, b) from input rows [lo, hi): the padding above is
    what row a's window reaches above row 0, the padding below what row b-1's reaches
    past the input's last row (only in the bottom band)."""
    k, s, pad = _axis(node)
    top, in_h = lo - (a * s - pad), hi - lo
    bottom = max(0, (b - a - 1) * s + k - top - in_h)
    shapes = [(in_h, *node.input_shapes[0][1:])]
    out = (b - a, *node.output_shape[1:])
    if node.op in POOL_OPS:
        geom = dataclasses.replace(node.params.geom, in_h=in_h, pad_top=top, out_h=b - a)
        return dataclasses.replace(node, input_shapes=shapes, output_shape=out,
                                   params=dataclasses.replace(node.params, geom=geom))
    (_, _), cols = node.attrs.get("pads", ((0, 0), (0, 0)))
    attrs = {**node.attrs, "pads": ((top, bottom), cols), "pad_value": node.attrs.get("pad_value", 0)}
    return dataclasses.replace(node, input_shapes=shapes, output_shape=out, attrs=attrs)


def _kernel_accepts(node: QNode) -> bool:
    """The band's rows pass the kernel's argument checks (tc_conv_axis_ok for the
    convolutions: kernel <= in_h, pad_top < kernel, the implied padding below in
    (-stride, kernel)); a pool takes any window inside or across its input."""
    k, s, top = _axis(node)
    in_h, out_h = int(node.input_shapes[0][0]), int(node.output_shape[0])
    if in_h < 1 or out_h < 1:
        return False
    if node.op in POOL_OPS:
        return True
    after = (out_h - 1) * s + k - top - in_h
    return k <= in_h and 0 <= top < k and -s < after < k


def band_runs(chain: list[QNode], n: int) -> list[list[BandRun]] | None:
    """Per band, per layer: the layer's run (module doc); None when some band's geometry
    is one the kernels reject, or there are more bands than output rows."""
    rows = int(chain[-1].output_shape[0])
    if n > rows:
        return None
    bands = []
    for k in range(n):
        a, b = k * rows // n, (k + 1) * rows // n
        runs = []
        for node in reversed(chain):
            kr, s, pad = _axis(node)
            lo, hi = max(a * s - pad, 0), min((b - 1) * s - pad + kr, int(node.input_shapes[0][0]))
            run = BandRun(band_node(node, a, b, lo, hi), lo, a)
            if not _kernel_accepts(run.node):
                return None
            runs.append(run)
            a, b = lo, hi
        bands.append(runs[::-1])
    return bands


def output_shift(chain: list[QNode], bands: list[list[BandRun]]) -> int:
    """Fewest bytes (aligned) the chain's output must start below its input so that band
    k's output rows end before the first input row band k + 1 reads."""
    x_row, y_row = row_bytes(chain[0].input_shapes[0]), row_bytes(chain[-1].output_shape)
    need = 0
    for k in range(len(bands) - 1):
        last = bands[k][-1]
        end = (last.out_row + int(last.node.output_shape[0])) * y_row
        need = max(need, end - bands[k + 1][0].in_row * x_row)
    return aligned(need)


def plan_chain(chain: list[QNode], n: int, over_input: bool, layouts: dict,
               inner: bool = True) -> PatchPlan | None:
    """`chain` in `n` bands, its output over its input or apart; with `inner`, each inner
    layer whose kernel allows it (`overlap.overlap_kind`) writes its band over its input
    band. None when the kernels reject some band (`band_runs`)."""
    bands = band_runs(chain, n)
    if bands is None:
        return None
    macs = sum(_row_macs(node) * int(node.output_shape[0]) for node in chain)
    computed = sum(_row_macs(run.node) * int(run.node.output_shape[0]) for runs in bands for run in runs)
    decode = sum(DECODE_MACS_PER_LEVEL * node.weight_count for node in chain
                 if getattr(layouts.get(node.name), "name", "dense") != "dense")
    shift = output_shift(chain, bands) if over_input else None
    overlaps = {}
    for j in range(1, len(chain) - 1) if inner else ():
        kind = overlap_kind(chain[j], layouts.get(chain[j].name))
        if kind:
            overlaps[chain[j].name] = max(overlap_shift(runs[j].node, kind) for runs in bands)
    return PatchPlan(tuple(node.name for node in chain), bands, shift, macs, computed - macs,
                     computed - macs + (n - 1) * decode, overlaps)


def patched_lives(qgraph: QGraph, lives: list[TensorLife], plan: PatchPlan) -> list[TensorLife]:
    """`lives` with the chain run in bands: inner tensors the size of their largest band,
    the input live to the last layer's step, the output from the first layer's (over
    the input from `plan.shift` bytes below it, when given; an inner band over the band
    it reads from `plan.inner` bytes below it)."""
    step = {n.name: i for i, n in enumerate(qgraph.nodes)}
    first, last = step[plan.nodes[0]], step[plan.nodes[-1]]
    x = qgraph.node(plan.nodes[0]).inputs[0]
    out = []
    for t in lives:
        if t.name in plan.nodes[:-1]:
            node = qgraph.node(t.name)
            alias = (node.inputs[0], plan.inner[t.name]) if t.name in plan.inner else (None, 0)
            t = dataclasses.replace(t, size=plan.band_rows(t.name) * row_bytes(node.output_shape),
                                    alias_of=alias[0], shift=alias[1])
        elif t.name == x:
            t = dataclasses.replace(t, last=max(t.last, last))
        elif t.name == plan.nodes[-1]:
            alias = (x, plan.shift) if plan.shift is not None else (None, 0)
            t = dataclasses.replace(t, first=first, alias_of=alias[0], shift=alias[1])
        out.append(t)
    return out


def patched_scratch(qgraph: QGraph, scratch: list[TensorLife], plan: PatchPlan,
                    layouts: dict) -> list[TensorLife]:
    """`scratch` with each chain layer's buffer the largest any of its band calls needs (a
    dense conv the render's scratch policy cut to its general path stays on it in bands:
    `scratch.lean_scratch_bytes`; a sparse one keeps raster order, its full scratch)."""
    planned = {t.name: t.size for t in scratch}
    size = {}
    for runs in plan.bands:
        for run in runs:
            node, layout = run.node, layouts.get(run.node.name)
            need = 0
            if node.is_weight_op:
                whole = qgraph.node(node.name)
                cut = planned.get(node.name, 0) < scratch_bytes(whole, layout)
                need = (lean_scratch_bytes(node, layout, sparse=False) if cut
                        else scratch_bytes(node, layout))
            size[run.node.name] = max(size.get(run.node.name, 0), need)
    return [dataclasses.replace(t, size=size[t.name]) if t.name in size else t for t in scratch]


def chains(qgraph: QGraph, through: str) -> list[list[QNode]]:
    """Chains of 2..MAX_LENGTH consecutive spatial layers containing layer `through`, each
    inner tensor read only by the next layer (neither a reshape's source nor the output)."""
    nodes = qgraph.nodes
    readers: dict[str, int] = {}
    for n in nodes:
        for src in n.inputs:
            readers[src] = readers.get(src, 0) + 1
    idx = next(i for i, n in enumerate(nodes) if n.name == through)

    def links(i: int) -> bool:  # nodes[i] feeds nodes[i + 1] only
        a, b = nodes[i], nodes[i + 1]
        return b.inputs == [a.name] and readers.get(a.name) == 1 and a.name not in qgraph.outputs

    ok = [n.op in PATCH_OPS and len(n.inputs) == 1 for n in nodes]
    if not ok[idx]:
        return []
    lo = idx
    while lo > 0 and ok[lo - 1] and links(lo - 1) and idx - lo + 1 < MAX_LENGTH:
        lo -= 1
    hi = idx
    while hi + 1 < len(nodes) and ok[hi + 1] and links(hi) and hi + 2 - idx <= MAX_LENGTH:
        hi += 1
    return [list(nodes[i:j + 1]) for i in range(lo, idx + 1) for j in range(max(idx, i + 1), hi + 1)
            if j - i + 1 <= MAX_LENGTH]


def can_overwrite_input(qgraph: QGraph, chain: list[QNode]) -> bool:
    """The chain's first layer is its input's last reader and the input is no alias."""
    x = chain[0].inputs[0]
    root = tensor_roots(qgraph)
    last = last_readers(qgraph, root)
    step = {n.name: i for i, n in enumerate(qgraph.nodes)}
    return root[x] == x and last.get(x) == step[chain[0].name] and x not in qgraph.outputs


def candidates(qgraph: QGraph, lives: list[TensorLife], scratch: list[TensorLife],
               layouts: dict, peak_layer: str) -> list[PatchPlan]:
    """Every plan of a chain through `peak_layer` within MAX_EXTRA extra work, best first
    by (greedy arena with the given overlaps, extra work, bands, layers)."""
    found = []
    for chain in chains(qgraph, peak_layer):
        names = {n.name for n in chain}
        base = [dataclasses.replace(t, alias_of=None, shift=0) if t.name in names and t.alias_of else t
                for t in lives]
        for n in range(2, MAX_BANDS + 1):
            for over, inner in itertools.product(
                    (False, True) if can_overwrite_input(qgraph, chain) else (False,), (False, True)):
                plan = plan_chain(chain, n, over, layouts, inner)
                if plan is None or plan.extra_work > MAX_EXTRA * plan.macs:
                    continue
                plan.arena_bytes = plan_arena(patched_lives(qgraph, base, plan),
                                              patched_scratch(qgraph, scratch, plan, layouts),
                                              budget=0).size
                found.append(((plan.arena_bytes, plan.extra_work, n, len(chain), len(found)), plan))
    return [plan for _, plan in sorted(found, key=lambda f: f[0])]


def finished(qgraph: QGraph, layouts: dict, scratch: list[TensorLife], plan: PatchPlan
             ) -> tuple[list[TensorLife], list[TensorLife], ArenaPlan]:
    """(tensor lives, scratch lives, arena) of `plan` with the other layers' overlaps
    chosen again around the chain (`overlap.choose_overlaps`)."""
    new_scratch = patched_scratch(qgraph, scratch, plan, layouts)
    adjust = lambda lv: patched_lives(qgraph, lv, plan)  # noqa: E731 - passed twice
    shifted = choose_overlaps(qgraph, layouts, new_scratch, frozenset(plan.nodes), adjust)
    new_lives = adjust(tensor_lives(qgraph, shifted=shifted))
    return new_lives, new_scratch, plan_arena(new_lives, new_scratch)


def check_mode(mode: str) -> str:
    """`mode` when it is one of MODES, else ValueError naming them."""
    if mode not in MODES:
        raise ValueError(f"--patch {mode!r}: expected one of {', '.join(MODES)}")
    return mode


def run_bands(plan: PatchPlan, arena: np.ndarray, offsets: dict[str, int], x_name: str,
              run_node, poison_scratch, check_order) -> None:
    """The chain's band loop in numpy on the arena bytes (verify.run_in_arena's hook):
    each band call reads its rows at the planned offsets and writes its band buffer or
    the output's rows; `check_order(band layer, in offset, out offset)` for each band
    written over its input band."""
    for runs in plan.bands:
        src = x_name
        for k, run in enumerate(runs):
            node = run.node
            in_bytes = int(math.prod(node.input_shapes[0]))
            start = offsets[src] + (run.in_row * row_bytes(node.input_shapes[0]) if k == 0 else 0)
            x = arena[start:start + in_bytes].copy()[np.newaxis]
            poison_scratch(node.name)
            if node.name in plan.inner:
                check_order(node, offsets[src], offsets[node.name])
            y = run_node(node, [x]).ravel()
            at = offsets[node.name] + (run.out_row * row_bytes(node.output_shape)
                                       if k == len(runs) - 1 else 0)
            arena[at:at + y.size] = y
            src = node.name


# ---------------------------------------------------------------- the render stage's hook

def apply(qgraph: QGraph, layouts: dict, lives: list[TensorLife], scratch: list[TensorLife]
          ) -> tuple[PatchPlan | None, str, list[TensorLife], list[TensorLife]]:
    """(plan or None, why, tensor lives, scratch lives) for `--patch auto`: of the
    SHORTLIST best `candidates`, planned in full with the overlaps chosen again
    (`finished`), the smallest arena (ties: less extra work), when it is smaller than
    the unpatched one; else the given lives and why not."""
    base = plan_arena(lives, scratch)
    top = peak(timeline(qgraph, lives, scratch, base))
    found = candidates(qgraph, lives, scratch, layouts, top["layer"])
    if not found:
        return None, (f"no chain of spatial layers through {top['layer']} runs in bands "
                      f"within {MAX_EXTRA:.0%} extra work"), lives, scratch
    best = None
    for plan in found[:SHORTLIST]:
        done = finished(qgraph, layouts, scratch, plan)
        if best is None or (done[2].size, plan.extra_work) < (best[1][2].size, best[0].extra_work):
            best = plan, done
    plan, (new_lives, new_scratch, arena) = best
    if arena.size >= base.size:
        return None, (f"no band split lowers the arena ({base.size:,} B; best {arena.size:,} B)"
                      ), lives, scratch
    plan.arena_bytes, plan.base_bytes = arena.size, base.size
    return plan, (f"{', '.join(plan.nodes)} in {len(plan.bands)} bands: +{plan.extra_macs:,} "
                  f"MACs ({plan.extra_macs / max(plan.macs, 1):.1%})"), new_lives, new_scratch
