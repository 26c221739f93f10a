"""The `tinycompress` command line: parse options, call one library function, show the result.

The only module that imports typer. How to add a command:

    @app.command("report")
    def report_cmd(build_dir: BuildDirArg, output: OutputOpt = None, json_out: JsonOpt = False):
        \"\"\"One line of help: what the command does.\"\"\"
        from tinycompress.report import write_report   # lazy: keeps --help fast
        result = write_report(build_dir, output)
        print_json(result.to_dict()) if json_out else console().print(...)

- Reuse the Annotated option types below (one definition of each flag, its help
  and env var); options that fall back to `tinycompress.toml` default to None so
  `spec.resolve_options` can tell "not given" from a value.
- Do not catch errors in a command: raise the `tinycompress.errors` class from
  the library. `_Group.invoke` turns every `TinyCompressError` into one
  `error: ...` line on stderr and exit code 2; Ctrl-C into one line and 130.
  `--debug` / TINYCOMPRESS_DEBUG=1 re-raises with the full traceback instead.
- Machine output (`--json`) goes to stdout through `print_json` and nothing
  else does; progress and notes go to stderr (`console(stderr=True)`).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from tinycompress import __version__
from tinycompress.errors import SpecError, TinyCompressError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "TINYCOMPRESS_DEBUG"

# ---- shared arguments and options (one definition per flag) -----------------

ModelArg = Annotated[Path, typer.Argument(
    help="Keras model: .keras, .h5 or a SavedModel directory.", show_default=False)]
BuildDirArg = Annotated[Path, typer.Argument(
    help="Build directory made by `tinycompress build`.", show_default=False)]
BoardOpt = Annotated[Optional[str], typer.Option(
    "--board", "-b", help="Target board (see `tinycompress boards`).",
    envvar="TINYCOMPRESS_BOARD", show_default=False)]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output directory.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option(
    "--force", "-f", help="Overwrite the output directory if it exists.")]
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help=".npz with `x` (N, *input shape) and optional labels `y`.",
    show_default=False)]
SpecOpt = Annotated[Optional[Path], typer.Option(
    "--spec", help="Per-layer spec file (default: ./tinycompress.toml if present).",
    show_default=False)]
BitsOpt = Annotated[Optional[int], typer.Option(
    "--bits", help="Weight bit width for every layer, 2..8.", show_default=False)]
SparsityOpt = Annotated[Optional[float], typer.Option(
    "--sparsity", help="Fraction of weights pruned in every layer, [0, 1).",
    show_default=False)]
LayoutOpt = Annotated[Optional[str], typer.Option(
    "--layout", help="Weight layout: auto, dense, csr, cer, cser or pcsr.", show_default=False)]
OptimizeOpt = Annotated[Optional[str], typer.Option(
    "--optimize", help="What layout 'auto' minimises: size or speed.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print machine-readable JSON on stdout instead of a table.")]


# ---- error handling: the one place ------------------------------------------

class _Group(TyperGroup):
    """Runs every subcommand; user errors become one line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TinyCompressError as exc:
            if _debug(ctx):
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from exc
        except KeyboardInterrupt as exc:
            if _debug(ctx):
                raise
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from exc


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """The exception's message on a single line (its type name if it has none)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# ---- output helpers ----------------------------------------------------------

def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), created per call so tests capture it."""
    return Console(stderr=stderr)


def print_table(table: Table) -> None:
    """Print a table; when piped, widen the console so no column gets cut."""
    out = console()
    if not out.is_terminal:
        unbounded = out.options.update(max_width=1000)  # measure beyond the default 80 columns
        out.width = max(out.width, out.measure(table, options=unbounded).maximum)
    out.print(table)


def print_json(obj: Any) -> None:
    """The only way a command writes JSON: exactly one document on stdout."""
    typer.echo(json.dumps(obj, indent=2))


# ---- the app -------------------------------------------------------------------

app = typer.Typer(
    cls=_Group,
    name="tinycompress",
    help="Compress Keras models into Cortex-M firmware and check it bit-exact in QEMU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # bugs get a plain traceback; user errors never do
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinycompress {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", envvar=DEBUG_ENV, help="Show full tracebacks for errors.")] = False,
) -> None:
    """Compress Keras models into Cortex-M firmware and check it bit-exact in QEMU."""


@app.command("inspect")
def inspect_cmd(model: ModelArg, json_out: JsonOpt = False) -> None:
    """Show each layer of MODEL: op, input/output shape, parameters, MACs."""
    from tinycompress.inspect import inspect_model

    summary = inspect_model(model)
    if json_out:
        print_json(summary.to_dict())
    else:
        print_table(_summary_table(summary))


def _summary_table(summary) -> Table:
    from tinycompress.inspect import format_shape

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


EvalDataOpt = Annotated[Optional[Path], typer.Option(
    "--eval-data", help=".npz with labelled data for accuracy (default: --data).",
    show_default=False)]
EpochsOpt = Annotated[int, typer.Option(
    "--epochs", min=0, help="Fine-tune the pruned model for N epochs on labelled --data.")]
QuantizerOpt = Annotated[Optional[str], typer.Option(
    "--quantizer", help="Weight quantizer: uniform or rd (rate-distortion).", show_default=False)]
LambdaOpt = Annotated[Optional[float], typer.Option(
    "--lambda", help="Rate-distortion trade-off for --quantizer rd.", show_default=False)]
MaxDropOpt = Annotated[Optional[float], typer.Option(
    "--max-accuracy-drop", min=0.0,
    help="Search bits and sparsity per layer for the fewest weight bytes within P "
         "percentage points of float accuracy (needs labelled data).", show_default=False)]
ScopeOpt = Annotated[str, typer.Option(
    "--scope", help="How --sparsity is spread: global (one magnitude threshold for all "
                    "layers) or layer (every layer pruned to the same fraction).")]
SaveModelOpt = Annotated[Optional[Path], typer.Option(
    "--save-model", help="Save the pruned, fine-tuned Keras model (.keras) for later builds.",
    show_default=False)]
PerTensorOpt = Annotated[bool, typer.Option(
    "--per-tensor", help="One weight scale per tensor instead of per output channel.")]


def compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor, spec,
                     epochs, max_drop=None, save_model=None, scope="global"):
    """CompressOptions from the shared command-line flags (None = not given)."""
    from tinycompress.compress import CompressOptions

    cli = {"bits": bits, "sparsity": sparsity, "layout": layout, "optimize": optimize,
           "quantizer": quantizer, "lambda": lam, "per_channel": False if per_tensor else None}
    if scope not in ("global", "layer"):
        raise SpecError(f"--scope must be global or layer, got {scope!r}")
    return CompressOptions(cli=cli, spec_path=spec, epochs=epochs, max_accuracy_drop=max_drop,
                           save_model=save_model, scope=scope)


def load_datasets(data: Path | None, eval_data: Path | None):
    """(data, eval_data) read from .npz files (shapes are checked against the model later)."""
    from tinycompress.data import load_npz

    return (None if data is None else load_npz(data),
            None if eval_data is None else load_npz(eval_data))


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
    eval_data: EvalDataOpt = None,
    epochs: EpochsOpt = 0,
    max_drop: MaxDropOpt = None,
    save_model: SaveModelOpt = None,
    scope: ScopeOpt = "global",
    json_out: JsonOpt = False,
) -> None:
    """Prune, quantize and lay out MODEL; print per-layer sizes (and accuracy with labels)."""
    from tinycompress.compress import compress, write_report

    options = compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor,
                               spec, epochs, max_drop, save_model, scope)
    train, test = load_datasets(data, eval_data)
    with progress_bar() as tick:
        result = compress(model, options, train, test, progress=tick)
    if output is not None:
        write_report(result, output)
    if json_out:
        print_json(result.report())
        return
    if result.search is not None:
        print_table(_search_table(result.search))
    print_table(_compress_table(result))


def progress_bar():
    """A context manager yielding a `progress(stage, done, total)` callback (rich, on stderr)."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    @contextmanager
    def bar():
        err = console(stderr=True)  # no bar when stderr is not a terminal (pipes, CI, tests)
        prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if not tasks:
                prog.start()  # lazily: commands that report no progress print nothing
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=total)
            prog.update(tasks[stage], completed=done, total=total)
        try:
            yield tick
        finally:
            if tasks:
                prog.stop()
    return bar()


def _search_table(found) -> Table:
    """What the bit-width search chose per layer, and the sensitivities that explain it."""
    table = Table(title=f"search: {found.drop_pts:.2f} pt below float "
                        f"(budget {found.max_drop_pts:.2f} pt), "
                        f"{found.start_bytes:,} B -> {found.weight_bytes:,} B")
    for col in ("layer", "bits", "sparsity", "layout", "bytes", "drop by bits (pt)",
                "drop by sparsity (pt)", "stopped by"):
        table.add_column(col)
    for r in found.table():
        table.add_row(r["name"], str(r["bits"]), f"{r['sparsity']:.0%}", r["layout"],
                      f"{r['bytes']:,}", r["drop_by_bits"], r["drop_by_sparsity"], r["stopped_by"])
    return table


def accuracy_line(acc: dict) -> str:
    """`accuracy: float A, [pruned P,] quantized Q (+d pt)`: Q against the model as given."""
    pruned = f"pruned float {acc['pruned_float']:.2%}, " if "pruned_float" in acc else ""
    return (f"accuracy: float {acc['float']:.2%}, {pruned}quantized {acc['quantized']:.2%} "
            f"({(acc['quantized'] - acc['float']) * 100:+.2f} pt)")


def _compress_table(result) -> Table:
    table = Table(title=f"{result.graph.name}: {result.weight_bytes:,} B of weights "
                        f"(float32: {result.float_weight_bytes:,} B, "
                        f"x{result.float_weight_bytes / max(result.weight_bytes, 1):.1f} smaller)",
                  show_footer=True, footer_style="bold")
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("bits", justify="right")
    table.add_column("sparsity", justify="right")
    table.add_column("layout")
    table.add_column("bytes", justify="right", footer=f"{result.weight_bytes:,}")
    for r in result.layers:
        table.add_row(r.name, r.op, str(r.bits), f"{r.sparsity:.1%}", r.layout,
                      f"{r.weight_bytes:,}")
    if result.accuracy:
        acc = result.accuracy
        table.caption = accuracy_line(acc)
    return table


JobsOpt = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Worker processes (default: one per core).", show_default=False)]


@app.command("sweep")
def sweep_cmd(
    model: ModelArg,
    data: DataOpt = None,
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
    jobs: JobsOpt = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="List every point (front marked), not only the front.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Compress MODEL over sparsity x bits x quantizer; print the weight-bytes/accuracy front."""
    from tinycompress.sweep import SweepOptions, parse_values, sweep

    grid = {key: parse_values(text, key, flag) for key, text, flag in (
        ("sparsity", sparsities, "--sparsities"), ("bits", bits_list, "--bits-list"),
        ("quantizer", quantizers, "--quantizers")) if text is not None}
    options = SweepOptions(**{{"sparsity": "sparsities", "quantizer": "quantizers"}.get(k, k): v
                              for k, v in grid.items()}, epochs=epochs, jobs=jobs)
    train, test = load_datasets(data, eval_data)
    with progress_bar() as tick:
        result = sweep(model, train, test, output, options, progress=tick)
    if json_out:
        print_json(result.document)
    else:
        print_table(_sweep_table(result, show_all))


def _sweep_table(result, show_all: bool) -> Table:
    doc = result.document
    front = [p for p in doc["points"] if p["pareto"]]
    shown = sorted(doc["points"] if show_all else front,
                   key=lambda p: (p["weight_bytes"], -p["accuracy"], p["name"]))
    table = Table(title=f"{doc['model']}: Pareto front of weight bytes vs accuracy, "
                        f"{len(front)} of {len(doc['points'])} points")
    for name in ("front",) if show_all else ():
        table.add_column(name, justify="center", no_wrap=True)
    for name in ("bytes", "accuracy", "sparsity", "bits", "quantizer"):
        table.add_column(name, justify="left" if name == "quantizer" else "right", no_wrap=True)
    table.add_column("layers by layout", ratio=1)  # the one column that may wrap
    for p in shown:
        mark = ["*" if p["pareto"] else ""] if show_all else []
        table.add_row(*mark, f"{p['weight_bytes']:,}", f"{p['accuracy']:.2%}",
                      f"{p['sparsity']:.0%}", str(p["bits"]), p["quantizer"],
                      _layout_counts(p["layers"]),
                      style="bold" if show_all and p["pareto"] else None)
    table.caption = (f"float model: {doc['float_accuracy']:.2%}, "
                     f"{doc['float_weight_bytes']:,} B; {result.computed} points computed, "
                     f"{result.reused} reused; all points in {result.path}")
    return table


def _layout_counts(layers: list[dict]) -> str:
    """'dense 2, csr 2, cer 1': how many layers got each layout (fits a narrow terminal)."""
    names = [layer["layout"] for layer in layers]
    return ", ".join(f"{n} {names.count(n)}" for n in ("dense", "csr", "cer", "cser", "pcsr")
                     if n in names)


@app.command("report")
def report_cmd(build_dir: BuildDirArg) -> None:
    """Write DIR/report.html: sizes, layouts, flash/RAM, instructions, energy, sweep front."""
    from tinycompress.report import write_report

    path = write_report(build_dir)
    console(stderr=True).print(f"wrote {path}")


SimCountOpt = Annotated[Optional[int], typer.Option(
    "-n", "--n", help="Number of inputs to simulate (default: all of the data, or 16 random).",
    show_default=False)]


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
    eval_data: EvalDataOpt = None,
    epochs: EpochsOpt = 0,
    max_drop: MaxDropOpt = None,
    scope: ScopeOpt = "global",
) -> None:
    """Compress MODEL and compile its firmware for a board (PlatformIO project, ELF, build-report.json)."""
    from tinycompress.pipeline import build

    options = compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor,
                               spec, epochs, max_drop, scope=scope)
    with progress_bar() as tick:
        result = build(model, board or "nucleo", output or Path("build"), force, options, data,
                       eval_data, tick)
    r = result.report
    console().print(f"built {r['model']} for {r['board']} in {result.out_dir} ({result.seconds:.1f} s): "
                    f"weights {r['weight_bytes']:,} B, flash {r['flash_bytes']:,} / {r['board_flash']:,} B, "
                    f"RAM {r['ram_bytes']:,} / {r['board_ram']:,} B")
    if r.get("accuracy"):
        acc = r["accuracy"]
        console().print(accuracy_line(acc))


@app.command("sim")
def sim_cmd(build_dir: BuildDirArg, data: DataOpt = None, n: SimCountOpt = None, json_out: JsonOpt = False) -> None:
    """Run a build in QEMU, compare every output bit-exact with the integer reference."""
    from tinycompress.sim import simulate

    report = simulate(build_dir, data=data, n=n)
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
    """List the boards and QEMU machines tinycompress can build for."""
    from tinycompress.boards import list_boards

    boards = list_boards()
    rows = [{"name": b.name, "aliases": list(b.aliases), "cpu": b.cpu, "fpu": b.fpu,
             "flash": b.flash.size, "ram": b.ram.size, "clock_hz": b.clock_hz,
             "qemu_machine": b.qemu_machine, "real": not b.is_qemu} for b in boards]
    if json_out:
        print_json(rows)
        return
    table = Table(title="boards")
    for col in ("name", "aliases", "cpu", "fpu", "flash", "RAM", "MHz", "QEMU machine"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], ", ".join(r["aliases"]), r["cpu"], r["fpu"], f"{r['flash'] // 1024} KiB",
                      f"{r['ram'] // 1024} KiB", f"{r['clock_hz'] / 1e6:g}", r["qemu_machine"])
    print_table(table)


@app.command("flash")
def flash_cmd(build_dir: BuildDirArg) -> None:
    """Upload a build to its board through PlatformIO (ST-LINK)."""
    from tinycompress.pipeline import flash

    console().print(flash(build_dir))


@app.command("setup")
def setup_cmd() -> None:
    """Prepare the offline PlatformIO core (SCons from PyPI, Debian's arm-none-eabi-gcc)."""
    from tinycompress.pio import ensure_offline_core

    console().print(f"offline PlatformIO core ready: {ensure_offline_core()}")


def main() -> None:
    """Console-script entry point (`tinycompress`, `python -m tinycompress`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banners off stderr
    sys.exit(app())
