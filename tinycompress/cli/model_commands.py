"""Commands on models: inspect, compress, sweep, report."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tinycompress.cli.core import app, console, print_json, print_table, progress_bar
from tinycompress.cli.options import (
    BitsOpt, BuildDirArg, DataOpt, EpochsOpt, EvalDataOpt, NoSearchOpt, InputRangeOpt, JobsOpt, JsonOpt,
    LambdaOpt, LayoutOpt, MaxDropOpt, MaxFidelityOpt, ModelArg, OptimizeOpt, OutputOpt,
    PerTensorOpt, QuantizerOpt, SaveModelOpt, ScopeOpt, SparsityOpt, SpecOpt, ValDataOpt,
    check_output, compress_options, load_datasets,
)
from tinycompress.compress.core import compress, write_report
from tinycompress.compress.fidelity import LOSS_NAMES
from tinycompress.compress.sweep import SweepOptions, parse_values, sweep
from tinycompress.frontend.summary import format_shape, inspect_model
from tinycompress.report import page as report_page


@app.command("inspect")
def inspect_cmd(model: ModelArg, json_out: JsonOpt = False) -> None:
    """Show each layer of MODEL: op, input/output shape, parameters, MACs."""
    summary = inspect_model(model)
    if json_out:
        print_json(summary.to_dict())
    else:
        print_table(_summary_table(summary))


def _summary_table(summary) -> Table:
    table = Table(title=summary.name, show_footer=True, footer_style="bold")
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("input")
    table.add_column("output")
    table.add_column("params", justify="right", footer=f"{summary.params:,}")
    table.add_column("MACs", justify="right", footer=f"{summary.macs:,}")
    for row in summary.layers:
        op = row.op if row.activation == "linear" else f"{row.op} + {row.activation}"
        table.add_row(row.name, op, format_shape(row.input_shape),
                      format_shape(row.output_shape), f"{row.params:,}", f"{row.macs:,}")
    return table


@app.command("compress")
def compress_cmd(
    model: ModelArg,
    output: OutputOpt = None,
    bits: BitsOpt = None,
    sparsity: SparsityOpt = None,
    layout: LayoutOpt = None,
    optimize: OptimizeOpt = None,
    quantizer: QuantizerOpt = None,
    lam: LambdaOpt = None,
    per_tensor: PerTensorOpt = False,
    spec: SpecOpt = None,
    data: DataOpt = None,
    val_data: ValDataOpt = None,
    eval_data: EvalDataOpt = None,
    epochs: EpochsOpt = None,
    no_search: NoSearchOpt = False,
    max_drop: MaxDropOpt = None,
    max_fidelity: MaxFidelityOpt = None,
    save_model: SaveModelOpt = None,
    scope: ScopeOpt = "global",
    input_range: InputRangeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Prune, quantize and lay out MODEL; print per-layer sizes (and accuracy, fidelity with data)."""
    options = compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor,
                               spec, epochs, max_drop, save_model, scope, max_fidelity, input_range,
                               no_search)
    check_output(output)
    train, test, val = load_datasets(data, eval_data, val_data)
    with progress_bar() as tick:
        result = compress(model, options, train, test, progress=tick, val_data=val, compare=True)
    if output is not None:
        write_report(result, output)
    print_warnings(result.report())
    if json_out:
        print_json(result.report())
        return
    for line in mode_lines(result.report()):
        typer.echo(line)
    if result.search is not None:
        print_table(search_table(result.search.as_dict()))
    print_table(_compress_table(result))
    for line in figure_lines(result.report()):
        typer.echo(line)  # unwrapped: one figure per line, whatever the terminal width


def search_table(found: dict) -> Table:
    """What the per-layer search chose, and the sensitivities that explain it (report['search'])."""
    loss = LOSS_NAMES.get(found["metric"], found["metric"])
    pts = "n/a" if found["loss_pts"] is None else f"{found['loss_pts']:.2f}"
    table = Table(title=f"search on the validation data: {loss} {pts} pt against the float "
                        f"model as given (budget {found['max_loss_pts']:.2f} pt), "
                        f"{found['start_bytes']:,} B -> {found['weight_bytes']:,} B")
    for col in ("layer", "bits", "sparsity", "layout", "bytes", "loss by bits (pt)",
                "loss by sparsity (pt)", "stopped by"):
        table.add_column(col)
    for r in found["layers"]:
        table.add_row(r["name"], str(r["bits"]), f"{r['sparsity']:.0%}", r["layout"],
                      f"{r['bytes']:,}", r["loss_by_bits"], r["loss_by_sparsity"], r["stopped_by"])
    return table


def mode_lines(report: dict) -> list[str]:
    """How the settings came about: the default compression's pruning steps, or why int8."""
    mode, lines = report.get("mode"), []
    if mode == "int8":
        lines.append("plain int8 weights: no data to measure a loss on (the default compression "
                     "needs --data)")
    prune = report.get("pruning")
    if prune:
        lines.append(f"pruning with fine-tuning (<= {prune['epochs_per_step']} epochs a step), "
                     f"kept while the float model's validation accuracy is within "
                     f"{prune['max_drop_pts']:.2f} pt of {prune['reference_accuracy']:.2%}:")
        for st in prune["steps"]:
            lines.append(f"  {st['sparsity']:.0%}: {st['val_accuracy']:.2%} "
                         f"({-st['drop_pts']:+.2f} pt) {'kept' if st['kept'] else 'over, stop'}")
    return lines


def print_warnings(report: dict) -> None:
    """Each warning of a compress or build report as one `warning:` line on stderr."""
    for line in report.get("warnings") or ():
        typer.echo(f"warning: {line}", err=True)


def split_name(report: dict, split: str) -> str:
    """'eval (--eval-data (450 samples))' / 'validation (20 % of --data held out ...)'."""
    data = report.get("data") or {}
    source = data.get("eval") if split == "eval" else data.get("validation")
    name = "eval" if split == "eval" else "validation"
    return f"{name} ({source})" if source else name


def accuracy_line(acc: dict, where: str) -> str:
    """`accuracy on W: float A, [pruned float P,] quantized Q (+d pt)`: Q against the model as given."""
    pruned = f"pruned float {acc['pruned_float']:.2%}, " if "pruned_float" in acc else ""
    return (f"accuracy on {where}: float {acc['float']:.2%}, {pruned}quantized "
            f"{acc['quantized']:.2%} ({(acc['quantized'] - acc['float']) * 100:+.2f} pt)")


def fidelity_line(fid: dict, where: str) -> str:
    """`fidelity to the float model on W: top-1 agreement A, relative RMS error R, SNR S dB`."""
    parts = []
    if fid.get("top1_agreement") is not None:
        parts.append(f"top-1 agreement {fid['top1_agreement']:.2%}")
    if fid.get("rel_rms_error") is not None:
        parts.append(f"relative RMS error {fid['rel_rms_error']:.2%}")
    parts.append("SNR " + ("infinite (identical outputs)" if fid.get("snr_db") is None
                           else f"{fid['snr_db']:.1f} dB"))
    return f"fidelity to the float model on {where}: {', '.join(parts)}"


def figure_lines(report: dict) -> list[str]:
    """The accuracy (reported split, then validation) and fidelity lines, each naming its split."""
    lines, acc, val = [], report.get("accuracy"), report.get("validation") or {}
    if acc:
        lines.append(accuracy_line(acc, split_name(report, acc["split"])))
    if acc and acc["split"] == "eval" and val.get("accuracy"):
        lines.append(accuracy_line(val["accuracy"], split_name(report, "val")))
    fid = report.get("fidelity")
    if fid:
        lines.append(fidelity_line(fid, split_name(report, fid["split"])))
    lines += [tflite_line(row, report) for row in (report.get("trust") or {}).get("rows", [])
              if row["model"] == "TFLite int8"]
    return lines


def tflite_line(row: dict, report: dict) -> str:
    """`TFLite int8 on W: accuracy A, top-1 agreement B, relative RMS error R (.tflite N B)`."""
    split = "eval" if "eval" in row["splits"] else "val"
    f, parts = row["splits"][split], []
    if f.get("accuracy") is not None:
        parts.append(f"accuracy {f['accuracy']:.2%}")
    if f.get("top1_agreement") is not None:
        parts.append(f"top-1 agreement {f['top1_agreement']:.2%}")
    if f.get("rel_rms_error") is not None:
        parts.append(f"relative RMS error {f['rel_rms_error']:.2%}")
    return (f"TFLite int8 on {split_name(report, split)}: {', '.join(parts)} "
            f"(.tflite file {row['weight_bytes']:,} B)")


def fastest_cell(layer: dict) -> str:
    """'same' when the chosen layout is the fastest, else its layout, bytes and instructions."""
    f = layer.get("fastest") or {}
    if not f or f.get("layout") == layer["layout"]:
        return "same"
    return f"{f['layout']}, {f['weight_bytes']:,} B, {f['instructions_est']:,}"


def _compress_table(result) -> Table:
    title = (f"{result.graph.name}: {result.weight_bytes:,} B of weights "
             f"(float32: {result.float_weight_bytes:,} B, "
             f"x{result.float_weight_bytes / max(result.weight_bytes, 1):.1f} smaller)")
    return layers_table(title, [r.as_dict() for r in result.layers])


def layers_table(title: str, layers: list[dict]) -> Table:
    """Per weight layer: bits, sparsity, layout, bytes and estimated instructions, and the
    fastest layout's bytes and instructions beside them (compress and build print it)."""
    table = Table(title=title, show_footer=True, footer_style="bold")
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("bits", justify="right")
    table.add_column("sparsity", justify="right")
    table.add_column("layout")
    table.add_column("bytes", justify="right", footer=f"{sum(l['weight_bytes'] for l in layers):,}")
    table.add_column("instr. (est.)", justify="right",
                     footer=f"{sum(l.get('instructions_est', 0) for l in layers):,.0f}")
    table.add_column("fastest: layout, bytes, instr.")
    for l in layers:
        table.add_row(l["name"], l["op"], str(l["bits"]), f"{l['sparsity']:.1%}", l["layout"],
                      f"{l['weight_bytes']:,}", f"{l.get('instructions_est', 0):,.0f}", fastest_cell(l))
    return table


@app.command("sweep")
def sweep_cmd(
    model: ModelArg,
    data: DataOpt = None,
    val_data: ValDataOpt = None,
    eval_data: EvalDataOpt = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Directory for sweep-points.jsonl and sweep.json; "
        "rerunning with the same one resumes.")] = Path("sweep"),
    sparsities: Annotated[Optional[str], typer.Option(
        "--sparsities", help="Comma-separated sparsities (default: 0,0.5,0.8,0.9,0.95).",
        show_default=False)] = None,
    bits_list: Annotated[Optional[str], typer.Option(
        "--bits-list", help="Comma-separated bit widths (default: 2,3,4,6,8).",
        show_default=False)] = None,
    quantizers: Annotated[Optional[str], typer.Option(
        "--quantizers", help="Comma-separated quantizers (default: uniform,rd).",
        show_default=False)] = None,
    epochs: EpochsOpt = 0,
    max_drop: MaxDropOpt = None,
    max_fidelity: MaxFidelityOpt = None,
    jobs: JobsOpt = None,
    backend: Annotated[str, typer.Option(
        "--backend", help="Where the points run: local (a process pool here) or ray (one Ray "
        "task per point; needs tinycompress[cluster]).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        "--address", help="A running Ray cluster (HOST:PORT of `ray start --head`); without "
        "it --backend ray starts one here.", show_default=False)] = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="List every point (front marked), not only the front.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Compress MODEL over sparsity x bits x quantizer; print the front of weight bytes vs
    loss (accuracy, or fidelity to the float model) on the validation data."""
    check_output(output)
    grid = {key: parse_values(text, key, flag) for key, text, flag in (
        ("sparsity", sparsities, "--sparsities"), ("bits", bits_list, "--bits-list"),
        ("quantizer", quantizers, "--quantizers")) if text is not None}
    options = SweepOptions(**{{"sparsity": "sparsities", "quantizer": "quantizers"}.get(k, k): v
                              for k, v in grid.items()}, epochs=epochs, jobs=jobs,
                           max_accuracy_drop=max_drop, max_fidelity_loss=max_fidelity,
                           backend=backend, address=address)
    options.budget  # noqa: B018  (a bad budget is one error line before any data is read)
    train, test, val = load_datasets(data, eval_data, val_data)
    with progress_bar() as tick:
        result = sweep(model, train, test, output, options, progress=tick, val_data=val)
    if json_out:
        print_json(result.document)
    else:
        print_table(_sweep_table(result, show_all))
    for failure in result.document["failed"]:  # the rest of the sweep stands; a rerun retries
        console(stderr=True).print(f"point {failure['name']} failed: {failure['error']}",
                                   markup=False, highlight=False, soft_wrap=True)
    if result.document["failed"]:
        raise typer.Exit(1)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _sweep_table(result, show_all: bool) -> Table:
    doc = result.document
    front = [p for p in doc["points"] if p["pareto"]]
    shown = sorted(doc["points"] if show_all else front,
                   key=lambda p: (p["weight_bytes"], _or_inf(p["loss_pts"]), p["name"]))
    what = "accuracy" if doc["metric"] == "accuracy" else "fidelity loss"
    table = Table(title=f"{doc['model']}: Pareto front of weight bytes vs {what} on the "
                        f"validation data, {len(front)} of {len(doc['points'])} points")
    columns = ["front"] if show_all else []
    columns += ["bytes", "val accuracy" if doc["metric"] == "accuracy" else "val loss (pt)"]
    columns += ["eval accuracy"] if doc.get("eval") else []
    for name in columns + ["sparsity", "bits", "quantizer"]:
        table.add_column(name, justify="left" if name == "quantizer" else "right", no_wrap=True)
    table.add_column("layers by layout", ratio=1)  # the one column that may wrap
    for p in shown:
        cells = ["*" if p["pareto"] else ""] if show_all else []
        cells += [f"{p['weight_bytes']:,}", _pct(p["accuracy"]) if doc["metric"] == "accuracy"
                  else _points(p["loss_pts"])]
        cells += [_pct((p["eval"] or {}).get("accuracy"))] if doc.get("eval") else []
        table.add_row(*cells, f"{p['sparsity']:.0%}", str(p["bits"]), p["quantizer"],
                      _layout_counts(p["layers"]),
                      style="bold" if show_all and p["pareto"] else None)
    evaluated = doc.get("eval") or {}
    eval_text = ("" if evaluated.get("float_accuracy") is None
                 else f", {evaluated['float_accuracy']:.2%} on eval")
    table.caption = (f"float model: {_pct(doc['float_accuracy'])} on validation{eval_text}, "
                     f"{doc['float_weight_bytes']:,} B; validation: {doc['validation']}; "
                     f"{result.computed} points computed, {result.reused} reused; "
                     f"all points in {result.path}")
    return table


def _layout_counts(layers: list[dict]) -> str:
    """'dense 2, csr 2, cer 1': how many layers got each layout (fits a narrow terminal)."""
    names = [layer["layout"] for layer in layers]
    return ", ".join(f"{n} {names.count(n)}" for n in ("dense", "csr", "cer", "cser", "pcsr")
                     if n in names)


@app.command("report")
def report_cmd(build_dir: BuildDirArg) -> None:
    """Write DIR/report.html: sizes, layouts, flash/RAM, instructions, energy, sweep front."""
    path = report_page.write_report(build_dir)
    console(stderr=True).print(f"wrote {path}")
