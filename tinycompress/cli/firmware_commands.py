"""Commands on firmware: build, sim, boards (flash: `board_commands`; setup, doctor: `setup_commands`)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tinycompress.cli.core import app, console, print_json, print_table, progress_bar
from tinycompress.cli.model_commands import (
    figure_lines, layers_table, mode_lines, print_warnings, search_table,
)
from tinycompress.cli.options import (
    BitsOpt, BoardOpt, BuildDirArg, DataOpt, EpochsOpt, EvalDataOpt, NoSearchOpt, ForceOpt, InputRangeOpt,
    JsonOpt, LambdaOpt, LayoutOpt, MaxDropOpt, MaxFidelityOpt, ModelArg, OptimizeOpt, OutputOpt,
    PerTensorOpt, QuantizerOpt, ScopeOpt, SimCountOpt, SimDataOpt, SparsityOpt, SpecOpt,
    ValDataOpt, check_output, compress_options,
)
from tinycompress.paths import BOARDS_DIR
from tinycompress.cli.options import FirmwareMode, FirmwareModeOpt, PatchOpt
from tinycompress.pipeline import build, patch_line
from tinycompress.target.boards import list_boards
from tinycompress.target.sim import simulate


@app.command("build")
def build_cmd(
    model: ModelArg,
    board: BoardOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
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
    scope: ScopeOpt = "global",
    input_range: InputRangeOpt = None,
    firmware_mode: FirmwareModeOpt = FirmwareMode.normal,
    patch: PatchOpt = "off",
) -> None:
    """Compress MODEL and compile its firmware for a board (PlatformIO project, ELF, build-report.json)."""
    options = compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor,
                               spec, epochs, max_drop, scope=scope, max_fidelity=max_fidelity,
                               input_range=input_range, no_search=no_search)
    output = output or Path("build")
    check_output(output)
    with progress_bar() as tick:
        result = build(model, board or "nucleo", output, force, options, data, eval_data, tick,
                       val_data=val_data, firmware_mode=firmware_mode.value, patch=patch)
    r = result.report
    print_warnings(r)
    console().print(f"built {r['model']} for {r['board']} in {result.out_dir} ({result.seconds:.1f} s): "
                    f"weights {r['weight_bytes']:,} B, flash {r['flash_bytes']:,} / {r['board_flash']:,} B, "
                    f"RAM {r['ram_bytes']:,} / {r['board_ram']:,} B")
    for line in mode_lines(r):
        typer.echo(line)
    if patch_line(r):
        typer.echo(patch_line(r))
    if r.get("search"):
        print_table(search_table(r["search"]))
    print_table(layers_table(f"{r['model']} on {r['board']}: {r['weight_bytes']:,} B of weights",
                             r["layers"]))
    for line in figure_lines(r):
        typer.echo(line)  # unwrapped: one figure per line, whatever the terminal width


@app.command("sim")
def sim_cmd(build_dir: BuildDirArg, data: SimDataOpt = None, n: SimCountOpt = None, json_out: JsonOpt = False) -> None:
    """Run a build in QEMU, compare every output bit-exact with the integer reference."""
    report = simulate(build_dir, data=data, n=n)
    for line in report.warnings:  # inputs far outside the calibrated range (stderr, one line)
        typer.echo(f"warning: {line}", err=True)
    if json_out:
        print_json(report.to_dict())
        return
    table = Table(title=f"{report.board} on QEMU {report.qemu_machine}")
    table.add_column("layer")
    table.add_column("layout")
    table.add_column("instructions", justify="right")
    for layer in report.layers:
        table.add_row(layer["name"], layer["layout"] or "-", f"{layer['instructions']:,.0f}")
    print_table(table)
    exact = "bit-exact" if report.bit_exact else f"NOT bit-exact ({report.extra['n_mismatches']} mismatching inputs)"
    acc = "" if report.accuracy is None else f", accuracy {100 * report.accuracy:.2f} %"
    console().print(f"{report.n_inputs} inputs: {exact}{acc}, "
                    f"{report.instructions_per_inference:,.0f} instructions per inference")
    for m in report.mismatches[:5]:
        console().print(f"input {m['input']}, output {m['index']}: expected {m['expected']}, got {m['got']}")
    if report.first_divergent_layer:
        console().print(f"first diverging layer: {report.first_divergent_layer}")
    if not report.bit_exact:
        raise typer.Exit(1)


@app.command("boards")
def boards_cmd(json_out: JsonOpt = False) -> None:
    """List the boards and QEMU machines tinycompress can build for (bundled, and from --boards-dir)."""
    boards = list_boards()
    rows = [{"name": b.name, "aliases": list(b.aliases), "cpu": b.cpu, "fpu": b.fpu,
             "flash": b.flash.size, "ram": b.ram.size, "clock_hz": b.clock_hz,
             "qemu_machine": b.qemu_machine, "real": not b.is_qemu,
             "source": "bundled" if b.path.parent == BOARDS_DIR else str(b.path.parent)} for b in boards]
    if json_out:
        print_json(rows)
        return
    table = Table(title="boards")
    for col in ("name", "aliases", "cpu", "fpu", "flash", "RAM", "MHz", "QEMU machine", "source"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], ", ".join(r["aliases"]), r["cpu"], r["fpu"], f"{r['flash'] // 1024} KiB",
                      f"{r['ram'] // 1024} KiB", f"{r['clock_hz'] / 1e6:g}", r["qemu_machine"], r["source"])
    print_table(table)
