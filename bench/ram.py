"""The RAM section (issue 13): arena + stack per model against TFLite Micro's arena.

    .venv/bin/python bench/ram.py [--work DIR] [--out DIR]    # writes ram.json and ram.md

Every model is built int8-dense (8-bit weights, no pruning, dense layout, the
configuration TFLite Micro runs) for `mps2_an386` and run in QEMU on two
inputs (bit-exact against the integer reference, with the planned overlaps
and in-place operators). From build-report.json: the arena (one static array
of the planned size), the stack reserve (measured: GCC's frames over the
call graph, plus the margin), static data, and where the arena peaks.

`before`: the arena the planner gave before this issue's changes, recomputed
from the built graph: the graph's order, no operator writing over its input
(reshapes only), greedy placement.

TFLite Micro: the `tflite-micro` host interpreter's recorded arena for the
int8 `.tflite` TensorFlow's converter makes of the same model, calibrated on
the same inputs (`baselines.tflm_arena_bytes`). It is measured on a 64-bit
host: pointers and the interpreter's bookkeeping are larger there than on a
Cortex-M, so it is an upper bound of what the same model needs on the board;
its activations part is the same size.

`--patch auto` (PATCH_MODELS): the same build with `build --patch auto`: a
chain of early layers run in row bands (codegen.patch); its arena, ratio to
TFLite Micro's and the extra instructions per inference (patched against
unpatched firmware, both measured in QEMU), or why nothing was patched.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the repo importable (bench, tinycompress)
    sys.path.insert(0, str(REPO))

from bench.firmware import SPEED_BOARD, build_and_sim  # noqa: E402
from tinycompress.codegen import memory  # noqa: E402
from tinycompress.codegen.arena import TensorLife, plan_arena  # noqa: E402
from tinycompress.data import save_npz  # noqa: E402
from tinycompress.target.state import load_state  # noqa: E402

INT8_DENSE = {"bits": 8, "sparsity": 0.0, "layout": "dense"}
SIM_INPUTS = 2
# issue 13's targets: arena / TFLite Micro's arena
TARGETS = {"mlperf_ic": 0.6, "mobilenet_v1_025": 0.6, "ds_cnn": 0.6}
PATCH_MODELS = ("mobilenet_v1_025", "ds_cnn")
PATCH_TARGETS = {"mobilenet_v1_025": 0.35}  # issue 13, item 3: with --patch auto


def ram_models(work: Path) -> list[dict]:
    """name, model path, calibration inputs of the five RAM models."""
    from bench.baselines import bench_models
    from bench.speed import SEED, built_models

    out = [{"name": e["name"], "path": Path(e["path"]), "calib": e["calib"][:64]}
           for e in bench_models() if Path(e["path"]).is_file()]
    rng = np.random.default_rng(SEED)
    shapes = {"mobilenet_v1_025": ((96, 96, 3), 0.0, 1.0), "ds_cnn": ((49, 10, 1), -1.0, 1.0)}
    for name, path in built_models(work / "built").items():
        shape, low, high = shapes[name]
        out.append({"name": name, "path": path,
                    "calib": rng.uniform(low, high, (32, *shape)).astype(np.float32)})
    return out


def arena_before(build_dir: Path, mem: dict) -> int:
    """The arena of the pre-issue planner for the built graph (module doc); the kernels'
    scratch sizes are read from the build's timeline."""
    q = load_state(build_dir).qgraph
    step = {n.name: i for i, n in enumerate(q.nodes)}
    # a fused conv+add layer's scratch counts as its conv's (the graph here is not fused)
    parts = {l["name"]: l["parts"][0] for l in load_state(build_dir).layers if "parts" in l}
    scratch = []
    for row in mem["timeline"]:
        for b in row["live"]:
            if b["tensor"].endswith(" scratch"):
                name = b["tensor"][:-len(" scratch")]
                name = parts.get(name, name)
                scratch.append(TensorLife(name, b["bytes"], step[name], step[name]))
    return plan_arena(memory.tensor_lives(q, inplace=False), scratch, budget=0).size


def ram_record(entry: dict, work: Path) -> dict:
    """One model's RAM row (see module doc)."""
    from bench.baselines import tflite_int8, tflm_arena_bytes

    work.mkdir(parents=True, exist_ok=True)
    calib = save_npz(work / "calib.npz", entry["calib"])
    cell = build_and_sim(entry["path"], SPEED_BOARD, work / "build", INT8_DENSE, calib, calib,
                         SIM_INPUTS)
    report = json.loads((work / "build" / "build-report.json").read_text(encoding="utf-8"))
    mem = report["memory"]
    tflm = tflm_arena_bytes(tflite_int8(entry["path"], entry["calib"]))
    ram = mem["arena_bytes"] + mem["stack_bytes"]
    target = TARGETS.get(entry["name"])
    peak = next(row for row in mem["timeline"] if row["layer"] == mem["peak_layer"])
    return {
        "arena_bytes": mem["arena_bytes"], "arena_bytes_before": arena_before(work / "build", mem),
        "lower_bound_bytes": mem["lower_bound_bytes"], "optimal": mem["optimal"],
        "stack_bytes": mem["stack_bytes"], "stack_measured_bytes": mem["stack"]["measured_bytes"],
        "static_bytes": mem["static_bytes"], "ram_bytes": report["ram_bytes"],
        "arena_plus_stack_bytes": ram, "peak_layer": mem["peak_layer"], "peak_op": mem["peak_op"],
        "in_place": len(mem["in_place"]), "overlapping": len(mem["overlapping"]),
        "tflm_arena_bytes": tflm, "arena_ratio": mem["arena_bytes"] / tflm,
        "ram_ratio": ram / tflm, "target_ratio": target,
        "meets_target": None if target is None else mem["arena_bytes"] / tflm <= target,
        "bit_exact": cell["bit_exact"], "board": SPEED_BOARD,
        "peak_live": [{"tensor": b["tensor"], "bytes": b["bytes"]} for b in peak["live"]],
    }


def patch_record(entry: dict, work: Path, tflm: int) -> dict:
    """One model's `--patch auto` row (module doc)."""
    calib = save_npz(work / "calib.npz", entry["calib"])
    cell = build_and_sim(entry["path"], SPEED_BOARD, work / "build-patch", INT8_DENSE, calib, calib,
                         SIM_INPUTS, patch="auto")
    report = json.loads((work / "build-patch" / "build-report.json").read_text(encoding="utf-8"))
    p, target = report["patch"], PATCH_TARGETS.get(entry["name"])
    keep = ("applied", "reason", "layers", "bands", "extra_macs", "extra_macs_fraction",
            "extra_instructions", "extra_instructions_fraction", "instructions_unpatched")
    return {**{k: p.get(k) for k in keep}, "arena_bytes": report["arena_bytes"],
            "arena_ratio": report["arena_bytes"] / tflm, "target_ratio": target,
            "meets_target": None if target is None else report["arena_bytes"] / tflm <= target,
            "bit_exact": cell["bit_exact"]}


def run_ram(work: Path, tick=lambda what: None, only: tuple[str, ...] = ()) -> dict:
    """{model: RAM row} for every RAM model, or those named in `only` (one failed model
    does not stop the others)."""
    out = {}
    for entry in ram_models(work):
        if only and entry["name"] not in only:
            continue
        tick(f"ram: {entry['name']} int8-dense on {SPEED_BOARD}")
        try:
            out[entry["name"]] = ram_record(entry, work / entry["name"])
            if entry["name"] in PATCH_MODELS:
                tick(f"ram: {entry['name']} int8-dense --patch auto on {SPEED_BOARD}")
                out[entry["name"]]["patch"] = patch_record(entry, work / entry["name"],
                                                           out[entry["name"]]["tflm_arena_bytes"])
        except Exception as exc:  # noqa: BLE001 - one failed build must not stop the bench
            out[entry["name"]] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def markdown(rows: dict) -> str:
    """The RAM table as Markdown, with each target met or missed."""
    lines = ["## RAM: arena + stack vs TFLite Micro (int8 dense)", "",
             "TFLite Micro's arena is its host interpreter's (64-bit: an upper bound of the "
             "board's). Before: this tool's arena before issue 13 (graph order, no in-place).", "",
             "| model | arena before | arena | stack (measured + margin) | arena + stack | "
             "TFLM arena | arena / TFLM | target | peak at | bit-exact |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} |")
            continue
        target = "" if r["target_ratio"] is None else \
            f"<= {r['target_ratio']}: {'met' if r['meets_target'] else 'MISSED'}"
        lines.append(
            f"| {name} | {r['arena_bytes_before']:,} | {r['arena_bytes']:,} | "
            f"{r['stack_bytes']:,} ({r['stack_measured_bytes']:,}) | {r['arena_plus_stack_bytes']:,} | "
            f"{r['tflm_arena_bytes']:,} | {r['arena_ratio']:.2f}x | {target} | "
            f"{r['peak_layer']} ({r['peak_op']}) | {r['bit_exact']} |")
    lines += patch_markdown(rows)
    for name, r in rows.items():
        if r.get("meets_target") is False:
            live = ", ".join(f"{b['tensor']} {b['bytes']:,} B" for b in r.get("peak_live", []))
            lines += ["", f"{name} misses its target: at {r['peak_layer']} these are live together: "
                      f"{live} (an input and the output written over it count once). In a residual "
                      "block, only a convolution kernel that adds the skip tensor in its output "
                      "stage, writing over it, would take one of them out."]
    return "\n".join(lines) + "\n"


def patch_markdown(rows: dict) -> list[str]:
    """The `--patch auto` table: arena, ratio, extra instructions (module doc)."""
    patched = {name: r["patch"] for name, r in rows.items() if "patch" in r}
    if not patched:
        return []
    lines = ["", "### With `--patch auto` (early layers in row bands)", "",
             "| model | layers in bands | arena | arena / TFLM | target | extra MACs | "
             "extra instructions (QEMU) | bit-exact |", "|---|---|---:|---:|---|---:|---:|---|"]
    for name, p in patched.items():
        target = "" if p["target_ratio"] is None else \
            f"<= {p['target_ratio']}: {'met' if p['meets_target'] else 'MISSED'}"
        if not p["applied"]:
            lines.append(f"| {name} | none: {p['reason']} | {p['arena_bytes']:,} | "
                         f"{p['arena_ratio']:.3f}x | {target} | | | {p['bit_exact']} |")
            continue
        lines.append(
            f"| {name} | {', '.join(p['layers'])} in {p['bands']} bands | {p['arena_bytes']:,} | "
            f"{p['arena_ratio']:.3f}x | {target} | {p['extra_macs']:,} ({p['extra_macs_fraction']:.1%} "
            f"of the chain's) | {p['extra_instructions']:+,} ({p['extra_instructions_fraction']:+.2%}) | "
            f"{p['bit_exact']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "ram")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--only", action="append", default=[], metavar="MODEL",
                        help="rebuild only this model (repeatable); the other rows are kept "
                             "from OUT/ram.json")
    args = parser.parse_args(argv)
    rows = run_ram(args.work, lambda what: print(what, file=sys.stderr, flush=True), tuple(args.only))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only and (args.out / "ram.json").is_file():
        kept = json.loads((args.out / "ram.json").read_text(encoding="utf-8"))
        rows = dict(sorted({**kept, **rows}.items()))
    (args.out / "ram.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    (args.out / "ram.md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
