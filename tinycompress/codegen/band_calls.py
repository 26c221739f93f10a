"""The C calls of `tc_model_run`, a chain run in bands (codegen.patch) unrolled band by band.

    calls = run_calls(steps, plan, ctx, scratch)   # templates/tc_model.c.j2 lays them out

Every layer outside the chain is one call of its Step. The chain becomes, for
each band, one call per layer with the band's geometry struct (tc_conv_dims
or tc_pool_geom; bands of equal geometry share one) and its pointers: the
first layer reads the chain's input from the band's first row, inner layers
read and write their band buffers, the last writes the band's rows of the
chain's output. A layer's ticks add up over its bands; the hook sees the
chain's output once, after the last band.
"""
from __future__ import annotations

from tinycompress.codegen.ops import Context, Step, shape_struct
from tinycompress.codegen.patch import PatchPlan, row_bytes


def _call(name: str, layer: int, kernel: str, args: list[str], assign: str = "=",
          hook: tuple[str, int] | None = None, comment: str | None = None) -> dict:
    return {"name": name, "layer": layer, "kernel": kernel, "args": args, "assign": assign,
            "hook": hook, "comment": comment or name}


def run_calls(steps: list[Step], plan: PatchPlan | None, ctx: Context,
              scratch: dict[str, int]) -> list[dict]:
    """The kernel calls of `tc_model_run` in order (templates/tc_model.c.j2): one per
    step, the chain's replaced by its band loop unrolled (layer by layer in each band,
    each call with its band's geometry struct; a layer's ticks add up over its bands,
    the hook sees the chain's output once, after the last band). Adds the band structs
    to the steps and drops the chains' whole-layer geometry structs. `scratch`: the
    planned scratch bytes per layer."""
    index = {s.name: i for i, s in enumerate(steps)}
    calls = []
    for i, s in enumerate(steps):
        if plan is None or s.name not in plan.nodes:
            calls.append(_call(s.name, i, s.kernel, s.args, hook=(s.output, s.output_size)))
        elif s.name == plan.nodes[0]:
            calls += _band_calls([steps[index[n]] for n in plan.nodes], plan, index, ctx, scratch)
    return calls


def _band_calls(chain_steps: list[Step], plan: PatchPlan, index: dict[str, int], ctx: Context,
                scratch: dict[str, int]) -> list[dict]:
    whole = {}
    for s in chain_steps:
        whole[s.name] = next(st for st in s.structs if st.ctype in ("tc_conv_dims", "tc_pool_geom"))
        s.structs.remove(whole[s.name])
        for st in s.structs:
            if st.ctype == "tc_context":  # the planned bytes: the largest any band needs
                st.items = [[(f, str(scratch[s.name]) if f == "size" else v) for f, v in st.items[0]]]
    made: dict[tuple, str] = {}
    calls, n = [], len(plan.bands)
    for k, runs in enumerate(plan.bands):
        for j, (s, run) in enumerate(zip(chain_steps, runs, strict=True)):
            struct = shape_struct(run.node, ctx, s.name, f"band{k}")
            key = (s.name, str(struct.items))
            if key not in made:
                s.structs.append(struct)
                made[key] = struct.ident
            node = run.node
            src = node.inputs[0] if j == 0 else chain_steps[j - 1].name
            in_at = ctx.offsets[src] + (run.in_row * row_bytes(node.input_shapes[0]) if j == 0 else 0)
            out_at = ctx.offsets[s.name] + (run.out_row * row_bytes(node.output_shape)
                                            if j == len(runs) - 1 else 0)
            args = list(s.args)
            args[args.index(f"&{whole[s.name].ident}")] = f"&{made[key]}"
            args[args.index(ctx.ptr(node.inputs[0]))] = ctx.at(in_at)
            args[-1] = ctx.at(out_at)
            last = k == n - 1 and j == len(runs) - 1
            rows = f"rows {run.out_row}..{run.out_row + int(node.output_shape[0]) - 1}"
            calls.append(_call(s.name, index[s.name], s.kernel, args, "=" if k == 0 else "+=",
                               (s.output, s.output_size) if last else None,
                               f"{s.name}, band {k + 1} of {n}: {rows}"))
    return calls
