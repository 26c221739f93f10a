"""results.md: the results document as readable tables. Every number comes from the document."""
from __future__ import annotations

from bench.firmware import LAYOUTS, SIZE_BOARD, SPEED_BOARD


def _n(value, fmt: str = ",.0f", none: str = "–") -> str:
    return none if value is None else format(value, fmt)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _x(value) -> str:
    return "–" if value is None else f"{value:.2f}x"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def header(doc: dict) -> list[str]:
    g = doc["generated"]
    m, v = g["machine"], g["versions"]
    versions = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return ["# tinycompress bench", "",
            f"Generated {g['date']} by `{g['command']}`"
            + (" (**quick mode**: reduced grid and sparsities)" if g.get("quick") else "") + ".",
            f"Run time: {_n(g.get('run_seconds'), ',.0f')} s. Machine: {m['cpu']}, {m['cores']} cores, {m['os']}.",
            f"Versions: {versions}.", "",
            "Regenerate with `make bench` (or `.venv/bin/python bench/run.py --help`). "
            "Sizes are exact bytes; instruction counts are exact executed instructions "
            f"under QEMU `-icount` (Cortex-M4). Configurations are built for `{SIZE_BOARD}` "
            f"(NUCLEO-F401RE) and simulated on its QEMU machine; the instruction matrix is built for "
            f"`{SPEED_BOARD}` (Cortex-M4F, 4 MiB code memory so every layout fits).", "",
            "**Dense baseline.** The dense 8-bit kernel (`tc_fc_dense_s8`) is the fair baseline, not "
            "a strawman: with `__ARM_FEATURE_DSP` (Cortex-M4) it sign-extends weight pairs with "
            "SXTB16 and multiplies with SMLAD (two MACs per instruction, two rows at a time, "
            "unrolled by 4), compiled with GCC -O2 -mcpu=cortex-m4.", ""]


def _config_rows(model: dict) -> list[list[str]]:
    rows = []
    fw = model.get("float_weight_bytes")
    for c in model["configs"]:
        if "error" in c:
            rows.append([c["name"], f"failed: {c['error'][:120]}"] + [""] * 10)
            continue
        rows.append([c["name"], _options(c), _n(c["weight_bytes"]),
                     _x(fw / c["weight_bytes"]) if fw else "–",
                     _n(c["flash_bytes"]), _n(c["ram_bytes"]), _pct(c.get("accuracy")),
                     _n(c["entropy_bound_bytes"]), _x(c.get("weight_over_bound")),
                     _x(c.get("layout_over_bound")), _n(c.get("instructions_per_inference")),
                     "yes" if c.get("bit_exact") else "NO"])
    return rows


def _options(cfg: dict) -> str:
    opts = cfg.get("options") or {}
    text = ", ".join(f"{k}={round(v, 6) if isinstance(v, float) else v}" for k, v in opts.items())
    model_file = cfg.get("model_file") or ""
    tuned = f" (fine-tuned model `{model_file}`)" if "finetuned" in model_file else ""
    return (text or "(none)") + tuned


def model_section(name: str, model: dict) -> list[str]:
    """Everything about one model."""
    if "skipped" in model:
        return [f"## {name}", "", f"Skipped: {model['skipped']}", ""]
    out = [f"## {name}", "", f"Model file: `{model.get('model_file')}`.", ""]
    out += table(["float32 weights", "TFLite int8 file", "TFLM arena (recorded)", "TFLM smallest arena"],
                 [[f"{_n(model['float_weight_bytes'])} B", f"{_n(model['tflite_int8_bytes'])} B",
                   f"{_n(model['tflm_arena_bytes'])} B", f"{_n(model.get('tflm_smallest_arena_bytes'))} B"]])
    out += ["### Configurations", "",
            "Weight bytes: every const array the firmware carries for weight layers (levels, indices, "
            "pointers, int32 bias, requant multipliers and shifts). Entropy bound: zero-order entropy "
            "of each tensor's levels (zeros included) x weight count, summed; 'x bound' is our weight "
            "bytes over it, 'layout x bound' counts the layout arrays only (no bias/scales).", ""]
    out += table(["config", "options", "weight B", "x smaller than float", "flash B", "RAM B",
                  "accuracy", "entropy bound B", "x bound", "layout x bound", "instr./inference",
                  "bit-exact"], _config_rows(model))
    out += timing_section(model) + accuracy_section(model) + layers_section(model)
    out += instructions_section(model)
    out += energy_section(model) + search_section(model)
    return out


def timing_section(model: dict) -> list[str]:
    t = model.get("cli_timing")
    if not t:
        return []
    if "error" in t:
        return ["### Command timing", "", f"Failed: {t['error']}", ""]
    tune = (model.get("search") or {}).get("finetune_seconds", {})
    best = ((model.get("search") or {}).get("best") or {}).get("options", {})
    tune_s = tune.get(str(best.get("sparsity")))
    note = "" if tune_s is None else (
        f" The build reads the already fine-tuned model: fine-tuning it (once, in the search) took "
        f"{tune_s:.1f} s, not included.")
    return ["### Command timing (<= 1 pt setting, fresh processes, same run)", "",
            f"`{t['command_build']}`: {t['build_seconds']:.1f} s wall; "
            f"`{t['command_sim']}`: {t['sim100_seconds']:.1f} s wall "
            f"({t['sim_n_inputs']} inputs, bit-exact: {'yes' if t['sim_bit_exact'] else 'NO'}).{note}", ""]


def accuracy_section(model: dict) -> list[str]:
    acc = model.get("accuracy", {})
    if model.get("labelled"):
        rows = [["float (Keras)", _pct(acc.get("float"))], ["TFLite int8", _pct(acc.get("tflite_int8"))]]
        rows += [[f"ours: {k} (firmware in QEMU)", _pct(v)] for k, v in acc.get("ours", {}).items()]
        return ["### Accuracy (test split)", ""] + table(["model", "top-1"], rows)
    rows = [["TFLite int8", _pct(model.get("top1_agreement")), _n(model.get("relative_rms_error"), ".4f")]]
    rows += [[f"ours: {c['name']} (integer reference = firmware)", _pct(c.get("fidelity", {}).get("top1_agreement")),
              _n(c.get("fidelity", {}).get("relative_rms_error"), ".4f")]
             for c in model["configs"] if "error" not in c]
    inputs = model.get("inputs") or "synthetic inputs"
    return ([f"### Agreement with the float model (no labels offline; inputs: {inputs})", ""]
            + table(["model", "top-1 agreement", "relative RMS error of outputs"], rows))


def layers_section(model: dict) -> list[str]:
    out = ["### Per layer", ""]
    for c in model["configs"]:
        if "error" in c:
            continue
        instr = {l["name"]: l["instructions"] for l in c.get("instruction_layers", [])}
        rows = [[r["name"], r["op"], r["bits"], f"{100 * r['sparsity']:.1f} %", r["layout"],
                 _n(r["weight_bytes"]), _n(r["layout_bytes"]), _n(r["entropy_bound_bytes"]),
                 _x(r["weight_over_bound"]), _x(r["layout_over_bound"]), _n(instr.get(r["name"]))]
                for r in c["layers"]]
        other = sum(v for k, v in instr.items() if k not in {r["name"] for r in c["layers"]})
        rows.append(["(other ops)", "", "", "", "", "", "", "", "", "", _n(other)])
        out += [f"**{c['name']}**", ""] + table(
            ["layer", "op", "bits", "zeros", "layout", "weight B", "layout B", "bound B", "x bound",
             "layout x bound", "instructions"], rows)
    return out


def instructions_section(model: dict) -> list[str]:
    instr = model.get("instructions") or {}
    if not instr:
        return []
    percents = sorted({int(p) for row in instr.values() for p in row})
    rows = [[layout] + [_n(instr.get(layout, {}).get(str(p))) for p in percents]
            for layout in LAYOUTS if layout in instr]
    out = ["### Instructions per inference, every layer forced to one layout", "",
           "8-bit weights, one-shot global magnitude pruning (no fine-tuning: counts do not depend on "
           "accuracy). '–' marks a build that failed (see results.json).", ""]
    out += table(["layout"] + [f"{p} %" for p in percents], rows)
    detail = model.get("instructions_detail", {})
    ratio = model.get("fc_ratio_90") or {}
    if ratio:
        rows = [[layout, _n(detail.get(layout, {}).get("90", {}).get("fc_instructions")), _x(ratio.get(layout))]
                for layout in LAYOUTS if layout in ratio]
        out += ["Fully-connected layers only, 90 % sparsity (vs dense int8 at the same sparsity):", ""]
        out += table(["layout", "FC instructions", "vs dense"], rows)
    small = model.get("fc_ratio_smallest")
    if small:
        rows = [[k, _n((small.get(k) or {}).get("fc_instructions")), _x((small.get(k) or {}).get("ratio"))]
                for k in ("cer", "cser")]
        out += ["The <= 1 pt setting's own levels (" + _options(small) + "), every layer forced to CER / "
                f"CSER, FC layers vs dense int8 at 90 % ({_n(small.get('dense_int8_fc_instructions'))} "
                "instructions):", ""]
        out += table(["layout", "FC instructions", "vs dense int8"], rows)
    return out


def energy_section(model: dict) -> list[str]:
    out = ["### Energy per inference — ESTIMATE", "",
           "Not a measurement: each layout's op counts (loads, adds, multiplies, writes) priced with "
           "Horowitz ISSCC 2014 45 nm figures (`tinycompress.layouts.energy`), for the weight layers of each "
           "configuration's quantized model; pJ per inference.", ""]
    for c in model["configs"]:
        e = c.get("energy_estimate")
        if not e:
            continue
        rows = [[layer] + [_n(v.get(l), ",.0f") for l in LAYOUTS] for layer, v in e["layers"].items()]
        rows.append(["**total**"] + [_n(e["total"].get(l), ",.0f") for l in LAYOUTS])
        out += [f"**{c['name']}** (estimate, pJ)", ""] + table(["layer"] + list(LAYOUTS), rows)
    return out


def search_section(model: dict) -> list[str]:
    s = model.get("search")
    if not s:
        return []
    front = _pareto(s["points"])
    rows = [[_n(p["weight_bytes"]), _pct(p["accuracy"]), _pct(p.get("test_accuracy")), _options(p)]
            for p in front]
    best = s.get("best")
    return ["### Search for the smallest setting within 1 pt", "",
            f"{len(s['points'])} grid points (sparsity {s['grid']['sparsities']}, bits {s['grid']['bits']}, "
            f"per-channel {s['grid']['per_channel']}, uniform and RD quantizer at lambda factors "
            f"{s['grid']['rd_factors']}; {s['grid']['epochs']} fine-tuning epochs on the training part of "
            f"train.npz). Every point is scored and chosen on the validation split (20 % of train.npz "
            f"held out, seeded, stratified; float {_pct(s.get('val_float_accuracy'))}); test.npz "
            f"accuracy is reported only. Float accuracy on test {_pct(s['float_accuracy'])}; "
            f"chosen: {'none within budget' if best is None else _options(best)}.", "",
            "Pareto front (weight bytes vs validation accuracy):", ""] + table(
                ["weight B", "validation", "test", "options"], rows)


def _pareto(points: list[dict]) -> list[dict]:
    ordered = sorted(points, key=lambda p: (p["weight_bytes"], -p["accuracy"]))
    front, best = [], -1.0
    for p in ordered:
        if p["accuracy"] > best:
            front.append(p)
            best = p["accuracy"]
    return front


NOTES = [
    "How to read the targets:",
    "",
    "- KB is 1,000 B (the stricter reading). The <= 1 pt setting is the smallest point of the grid "
    "whose validation accuracy is within 1.0 pt of the float model's on the same split; its test "
    "accuracy, measured on the firmware in QEMU, is reported. It is searched with --optimize size; "
    "'smallest-within-1pt-at-default' is the same setting with the default layout choice.",
    "- The entropy bound counts weight levels only; our weight bytes also hold, per layer, the int32 "
    "bias (with the input zero point folded in) and the requantization multipliers and shifts. "
    "'layout x bound' in the tables shows the multiple for the level/index/pointer arrays alone.",
    "- The CER/CSER target has two readings, both shown: 8-bit levels pruned one-shot to 90 % (up to "
    "255 distinct values per row: CER's worst case) and the <= 1 pt setting's own levels; both against "
    "the dense int8 kernel (SMLAD).",
    "- The build time is the CLI in a fresh process: Python and TensorFlow import, model load, "
    "calibration, the Fisher diagonal when the setting uses the RD quantizer, accuracy on the "
    "evaluation data, rendering and the PlatformIO compile.",
    "",
]


def targets_section(doc: dict) -> list[str]:
    rows = [[f"#{c['issue']}", c["what"], c["target"], c["measured"], f"**{c['status']}**"]
            for c in doc.get("targets", [])]
    return ["## Targets", ""] + table(["issue", "what", "target", "measured", "status"], rows) + NOTES


def speed_section(speed: dict) -> list[str]:
    """Instructions per inference and per MAC, and the ratio to the anchor's cycles."""
    if not speed:
        return []
    out = ["## Speed on Cortex-M4 (QEMU mps2-an386, exact instruction counts)", "",
           "Instructions per inference against the best published MLPerf Tiny latency on a "
           "NUCLEO-L4R5ZI (Cortex-M4 at 120 MHz) in cycles. A Cortex-M4 needs at least one cycle per "
           "instruction, so a ratio above 1.00x is slower than the anchor for certain; below 1.00x is "
           "necessary, not sufficient (wait states and multi-cycle loads add cycles on a board). "
           "MobileNetV1 0.25 and DS-CNN are built here with random weights; inputs are synthetic "
           "where the model ships no data.", ""]
    rows = []
    for name, rec in speed.items():
        for config, c in rec["configs"].items():
            if "error" in c:
                rows.append([name, config, "–", _n(rec["macs"]), "–", "–", "–"])
                continue
            rows.append([name, config, _n(c["instructions_per_inference"], ",.0f"), _n(rec["macs"]),
                         _n(c["per_mac"], ".2f"), _n(rec["anchor_cycles"], ",.0f"),
                         "–" if c["ratio_to_anchor"] is None else f"{c['ratio_to_anchor']:.2f}x"])
    out += table(["model", "config", "instructions", "MACs", "per MAC", "anchor cycles", "vs anchor"], rows)
    for name, rec in speed.items():
        c = rec["configs"].get("int8-dense", {})
        if "layers" not in c:
            continue
        rows = [[l["name"], l["op"], l["layout"] or "", _n(l["instructions"], ",.0f"), _n(l["macs"]),
                 _n(l["per_mac"], ".2f")] for l in c["layers"]]
        out += [f"**{name}**, int8 dense, per layer:", ""]
        out += table(["layer", "op", "layout", "instructions", "MACs", "per MAC"], rows)
    return out


def render(doc: dict) -> str:
    """The whole results.md."""
    lines = header(doc) + targets_section(doc)
    for name, model in doc["models"].items():
        lines += model_section(name, model)
    lines += speed_section(doc.get("speed", {}))
    return "\n".join(lines).rstrip() + "\n"
