"""Render stage: quantized graph + chosen layouts -> the firmware's C sources.

    rendered = render(qgraph, layouts, board.name, sample_input=x_int8)
    rendered.files            # {"tc_model.h": ..., "tc_model.c": ..., "main.c": ...}
    rendered.kernel_sources   # runtime files the model calls, e.g. ["tc_fc_cer_s8.c", ...]
    rendered.build_flags()    # ["-DTC_CER_VARIANTS=0x1", ...]: only the loops the model runs

Python computes everything: the execution order (`memory.schedule`), the
residual adds fused into the convolution before them (`fuse.fuse_adds`), the
arena plan (`arena.plan_arena`: activations, with the in-place operators and
the convolutions that overlap their input (`memory`, `overlap`), and each
kernel's scratch buffer, `scratch.scratch_bytes`; checked by
`verify.check_plan`), every array literal and struct field (`render_ops`);
the jinja2 templates in `templates/` only lay it out. `Rendered.memory` is
the plan's summary and per-operator timeline (build-report.json "memory"). Output is a pure function of the inputs (no dates, no
paths), so the same model and options give byte-identical sources.

Generated interface (tc_model.h): `tc_model_input()` points into the arena,
`tc_model_run(ticks, hook)` runs every layer in order and stores each layer's
timer reading (instructions under QEMU, cycles on hardware) in `ticks`,
`tc_model_output()` points at the output tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import jinja2
import numpy as np

from tinycompress.codegen import cgen
from tinycompress.errors import UnsupportedLayerError
from tinycompress.layouts import Layout
from tinycompress.paths import TEMPLATES_DIR
from tinycompress.codegen import fuse, memory, overlap, patch, verify
from tinycompress.codegen.band_calls import run_calls
from tinycompress.codegen.arena import ArenaPlan, TensorLife, plan_arena
from tinycompress.ir.qgraph import QGraph
from tinycompress.codegen.ops import Context, Step, emit
from tinycompress.codegen.scratch import conv_padded, lean_scratch_bytes, scratch_bytes, six_pixels

MODEL_FILES = ("tc_model.h", "tc_model.c", "main.c")
NO_KERNEL_OPS = ("input", "reshape")


@dataclass
class Rendered:
    """The generated sources and the facts the project, report and simulator need."""

    files: dict[str, str]
    kernel_sources: list[str]
    steps: list[Step] = field(repr=False)
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    defines: dict[str, int] = field(default_factory=dict)
    memory: dict = field(default_factory=dict)  # memory_summary: the arena's timeline and peak
    patch: dict = field(default_factory=dict)  # --patch: mode, the chain run in bands, why

    def build_flags(self) -> list[str]:
        """Compiler flags that compile only the row-engine variants the model uses."""
        return [f"-D{name}=0x{mask:x}" for name, mask in sorted(self.defines.items())]

    def layers(self) -> list[dict]:
        """Per executed layer: name, op, layout (None for non-weight ops), weight bytes; a
        fused layer also its `parts`, the graph nodes it runs (conv, add); a kernel the
        arena gave less than its full scratch `least_scratch` (its slower path: a dense
        conv's general path, a padded sparse conv's RECT sweep; the cost model's
        `Geometry.least`)."""
        return [{"name": s.name, "op": s.op, "layout": s.layout, "weight_bytes": s.weight_bytes,
                 **({"parts": list(s.parts)} if s.parts else {}),
                 **({"least_scratch": True} if s.least_scratch else {})} for s in self.steps]


def _size(shape) -> int:
    return int(math.prod(shape))


def tensor_lives(qgraph: QGraph) -> list[TensorLife]:
    """Lifetime of every tensor in node steps (`memory.tensor_lives`: the model output
    stays live to the end, reshapes and in-place operators share their input's bytes)."""
    return memory.tensor_lives(qgraph)


def scratch_lives(qgraph: QGraph, layouts: dict[str, Layout]) -> list[TensorLife]:
    """Each kernel's scratch buffer, named after its layer, live only at the layer's step."""
    lives = []
    for i, node in enumerate(qgraph.nodes):
        size = scratch_bytes(node, layouts.get(node.name)) if node.is_weight_op else 0
        if size > 0:
            lives.append(TensorLife(node.name, size, i, i))
    return lives


def arena_lives(qgraph: QGraph, layouts: dict[str, Layout] | None = None
                ) -> tuple[list[TensorLife], list[TensorLife]]:
    """(tensor lives, scratch lives) of `qgraph` in its given order, with the in-place
    operators and the convolutions worth overlapping with their input
    (`overlap.choose_overlaps`)."""
    scratch = scratch_lives(qgraph, layouts or {})
    shifted = overlap.choose_overlaps(qgraph, layouts or {}, scratch)
    return memory.tensor_lives(qgraph, shifted=shifted), scratch


SCRATCH_POLICIES = ("fast", "peak", "least")


def lean_scratch(qgraph: QGraph, layouts: dict[str, Layout], lives: list[TensorLife],
                 scratch: list[TensorLife], policy: str) -> list[TensorLife]:
    """`scratch` with kernels that can run with less (`scratch.lean_scratch_bytes`) cut to
    that (padded sparse convolutions then sweep a conv2d channel in bands of padded rows
    in its list's spare room, else rectangle by rectangle, so not one that writes over its
    input; dense convolutions take their general path: two pixels a pass,
    the tail copy). policy 'least': every one; 'peak': one at a time, each cut kept only
    when the planned arena gets smaller; 'fast': none."""
    if policy not in SCRATCH_POLICIES:
        raise ValueError(f"scratch policy must be one of {SCRATCH_POLICIES}, got {policy!r}")
    if policy == "fast":
        return scratch
    aliased = {t.name for t in lives if t.alias_of is not None}
    nodes = {n.name: n for n in qgraph.nodes}
    best, changed = plan_arena(lives, scratch).size, True
    while changed:  # again after a cut: the peak may have moved to a layer passed over
        changed = False
        for i, life in enumerate(scratch):
            node = nodes.get(life.name)
            if node is None:
                continue  # (a dense conv keeps its raster order on its general path; RECT not)
            size = lean_scratch_bytes(node, layouts.get(node.name),
                                      sparse=node.name not in aliased)
            if size >= life.size:
                continue
            trial = scratch[:i] + [replace(life, size=size)] + scratch[i + 1:]
            total = plan_arena(lives, trial).size
            if policy == "least" or total < best:
                scratch, best, changed = trial, total, True
    return scratch


def sparse_modes(qgraph: QGraph, layouts: dict[str, Layout], steps: list[Step]) -> dict[str, int]:
    """{"TC_SPARSE_MODES": mask} when the sparse conv engine runs (tc_conv_sparse_s8.c):
    bit 0 when a padded layer has the scratch of the padded copy or tap lists, bit 1
    when one has less (it sweeps rectangle by rectangle), so only those are compiled."""
    nodes = {n.name: n for n in qgraph.nodes}
    mask, sparse = 0, False
    for s in steps:
        node = nodes.get(s.name)
        if node is None or s.op not in ("conv2d", "depthwise_conv2d") or s.layout in (None, "dense"):
            continue
        sparse = True
        if conv_padded(node):
            mask |= 1 if s.scratch_bytes >= scratch_bytes(node, layouts.get(s.name)) else 2
    return {"TC_SPARSE_MODES": mask} if sparse else {}


def plan(qgraph: QGraph, layouts: dict[str, Layout] | None = None) -> ArenaPlan:
    """The static arena of `qgraph` in its given node order: offsets per tensor and per
    scratch buffer of the kernels `layouts` choose, and the total bytes."""
    return plan_arena(*arena_lives(qgraph, layouts))


def scheduled(qgraph: QGraph, layouts: dict[str, Layout] | None = None) -> QGraph:
    """`qgraph` with its nodes in the order of smallest peak memory (`memory.schedule`)."""
    scratch = {t.name: t.size for t in scratch_lives(qgraph, layouts or {})}
    return memory.reordered(qgraph, memory.schedule(qgraph, scratch))


def lowered(qgraph: QGraph, layouts: dict[str, Layout]) -> tuple[QGraph, dict[str, Layout]]:
    """The graph `render` plans and emits, with its layouts: `scheduled`, then the residual
    adds fused into the convolution before them (`fuse.fuse_adds`)."""
    return fuse.fuse_adds(scheduled(qgraph, layouts), layouts)


def memory_summary(qgraph: QGraph, layouts: dict[str, Layout], arena: ArenaPlan,
                   lives: list[TensorLife] | None = None, scratch: list[TensorLife] | None = None,
                   bands: patch.PatchPlan | None = None) -> dict:
    """The arena's figures and its per-operator timeline (build-report.json "memory");
    `lives`, `scratch`: the planned lifetimes (default `arena_lives`), `bands`: the chain
    run in bands, whose inner tensors the timeline names '<layer> band'."""
    if lives is None or scratch is None:
        lives, scratch = arena_lives(qgraph, layouts)
    verify.check_plan(lives, scratch, arena)
    rows = memory.timeline(qgraph, lives, scratch, arena)
    inner = set(bands.nodes[:-1]) if bands else set()
    for row in rows:
        for b in row["live"]:
            if b["tensor"] in inner:
                b["tensor"] += " band"
    top = memory.peak(rows)
    return {"arena_bytes": arena.size, "lower_bound_bytes": arena.lower_bound,
            "optimal": arena.optimal, "planner": arena.method,
            "peak_layer": top["layer"], "peak_op": top["op"], "peak_bytes": top["bytes"],
            "order": [n.name for n in qgraph.nodes if n.op not in NO_KERNEL_OPS],
            "in_place": memory.inplace_inputs(qgraph),
            "overlapping": {t.name: t.shift for t in lives if t.shift}, "timeline": rows}


def _context(arena: ArenaPlan, sizes: dict[str, int] | None = None) -> Context:
    ctx = Context(arena.offsets, scratch=arena.scratch, scratch_sizes=sizes)
    ctx.taken.update({"tc_arena", "tc_model_run", "tc_model_input", "tc_model_output",
                      "tc_model_layer_names", "tc_model_sample_input"})
    return ctx


def build_steps(qgraph: QGraph, layouts: dict[str, Layout], arena: ArenaPlan,
                ctx: Context | None = None) -> list[Step]:
    """One Step per executed node, in graph order (`ctx`: the identifiers taken so far)."""
    if len(qgraph.outputs) != 1:
        raise UnsupportedLayerError(f"firmware supports models with one output, "
                                    f"{qgraph.name} has {len(qgraph.outputs)}")
    ctx = ctx or _context(arena)
    missing = [n.name for n in qgraph.weight_nodes if n.name not in layouts]
    if missing:
        raise ValueError(f"no layout for weight layer(s) {', '.join(missing)}")
    steps = []
    for n in qgraph.nodes:
        if n.op not in NO_KERNEL_OPS:
            steps.append(emit(n, ctx, layouts.get(n.name)))
            if fuse.fused_add(n) is not None:
                fuse.emit_fused_add(steps[-1], n, ctx)
    return steps


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def _c_string(text: str) -> str:
    """A C string literal body: printable ASCII, quotes and backslashes escaped."""
    safe = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return safe.replace("\\", "\\\\").replace('"', '\\"')


def render(qgraph: QGraph, layouts: dict[str, Layout], board: str,
           sample_input: np.ndarray | None = None, patch_mode: str = "off",
           scratch_policy: str = "fast") -> Rendered:
    """C sources of `qgraph` with one layout per weight layer, for the board named `board`.

    sample_input: int8 input compiled into the hardware build (default zeros
    at the input zero point). patch_mode: 'off', or 'auto' (a chain of spatial
    layers run in row bands when that makes the arena smaller: `codegen.patch`).
    scratch_policy: which kernels that can run with less scratch, at some speed, get less
    (`lean_scratch`: 'fast' none, 'peak' where the arena gets smaller, 'least'
    every one).
    """
    patch.check_mode(patch_mode)
    qgraph, layouts = lowered(qgraph, layouts)
    lives, scratch = arena_lives(qgraph, layouts)
    scratch = lean_scratch(qgraph, layouts, lives, scratch, scratch_policy)
    bands, why = None, "off"
    if patch_mode == "auto":  # (a layer in bands gets the scratch of its band calls)
        bands, why, lives, scratch = patch.apply(qgraph, layouts, lives, scratch)
    arena = plan_arena(lives, scratch)
    names = _context(arena, {t.name: t.size for t in scratch})
    steps = build_steps(qgraph, layouts, arena, names)
    calls = run_calls(steps, bands, names, {t.name: t.size for t in scratch})
    in_bytes = _size(qgraph.input_shape)
    out_node = qgraph.node(qgraph.outputs[0])
    if sample_input is None:
        sample_input = np.full(in_bytes, qgraph.input_zero_point, np.int8)
    sample = np.asarray(sample_input, np.int8).ravel()
    if sample.size != in_bytes:
        raise ValueError(f"sample input has {sample.size} values, the model takes {in_bytes}")
    ctx = {
        "banner": f"Generated by tinycompress for model {_c_string(qgraph.name)} on board "
                  f"{board}; do not edit.",
        "model_name": _c_string(qgraph.name), "board": board, "steps": steps, "calls": calls,
        "n_layers": len(steps), "arena_bytes": max(arena.size, 4),
        "input_bytes": in_bytes, "output_bytes": _size(out_node.output_shape),
        "input_ptr": Context(arena.offsets).ptr(qgraph.input_name),
        "output_ptr": Context(arena.offsets).ptr(out_node.name),
        "input_shape": " x ".join(map(str, qgraph.input_shape)),
        "output_shape": " x ".join(map(str, out_node.output_shape)),
        "input_scale": repr(float(qgraph.input_scale)), "input_zero_point": qgraph.input_zero_point,
        "output_scale": repr(float(out_node.scale)), "output_zero_point": out_node.zero_point,
        "layer_names": [_c_string(s.name) for s in steps],
        "sample_input": cgen.literal(sample),
        "weight_bytes": sum(s.weight_bytes for s in steps),
    }
    env = _env()
    files = {name: env.get_template(f"{name}.j2").render(**ctx) for name in MODEL_FILES}
    kernels = sorted({src for s in steps for src in s.sources})
    defines = variant_masks(steps) | sparse_modes(qgraph, layouts, steps)
    if any(s.parts for s in steps):  # the dense conv's post-op variant (tc_conv_dense_internal.h)
        defines["TC_CONV_DENSE_POST"] = 1
    planned = {t.name: t.size for t in scratch}
    if not any(six_pixels(n, layouts.get(n.name))
               and planned.get(n.name, 0) >= scratch_bytes(n, layouts.get(n.name))
               for n in qgraph.nodes):
        defines["TC_CONV_DENSE_SIX"] = 0  # the dense conv's six-pixel path: no layer takes it
    if qgraph.arithmetic == "tflite":  # TFLite's rounding in the kernels (tc_requant.h)
        defines["TC_ARITHMETIC_TFLITE"] = 1
    summary = {"mode": patch_mode, "applied": bands is not None, "reason": why,
               **(bands.as_dict() if bands else {})}
    return Rendered(files, kernels, steps, ctx["arena_bytes"], in_bytes, ctx["output_bytes"],
                    defines, memory_summary(qgraph, layouts, arena, lives, scratch, bands), summary)


def variant_masks(steps: list[Step]) -> dict[str, int]:
    """{mask macro: OR of the bits every layer needs}, e.g. {"TC_CER_VARIANTS": 0x3}.

    Passed to the compiler (Rendered.build_flags) so the kernels link only the
    index-type / bit-width loops the model runs; a layout no layer uses gets
    no macro (its kernel file is not in the project).
    """
    masks: dict[str, int] = {}
    for s in steps:
        if s.variant is not None:
            name, bit = s.variant
            masks[name] = masks.get(name, 0) | (1 << bit)
    return masks
