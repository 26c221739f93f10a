"""The `tinycompress` command line: parse options, call one library function, show the result.

The package `tinycompress.cli` is the only place that imports typer: `core`
(app, error handling, output helpers), `options` (one definition of every
flag), and the commands in `model_commands` and `firmware_commands`.

How to add a command (the library function imported at the top of the module;
TensorFlow and PlatformIO stay out of `--help` because the library imports
them inside its functions):

    @app.command("report")
    def report_cmd(build_dir: BuildDirArg, output: OutputOpt = None, json_out: JsonOpt = False):
        \"\"\"One line of help: what the command does.\"\"\"
        result = write_report(build_dir, output)
        print_json(result.to_dict()) if json_out else console().print(...)

- Reuse the Annotated option types of `options` (one definition of each flag, its help
  and env var); options that fall back to `tinycompress.toml` default to None so
  the compress stage can tell "not given" from a value.
- Do not catch errors in a command: raise the `tinycompress.errors` class from
  the library. `_Group.invoke` turns every `TinyCompressError`, and click's
  usage errors (unknown option, missing argument), into one `error: ...` line
  on stderr and exit code 2; Ctrl-C into one line and 130.
  `--debug` / TINYCOMPRESS_DEBUG=1 re-raises with the full traceback instead.
- Machine output (`--json`) goes to stdout through `print_json` and nothing
  else does; progress and notes go to stderr (`console(stderr=True)`).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from typer.core import TyperGroup

from tinycompress import __version__
from tinycompress.errors import TinyCompressError
from tinycompress.target.boards import BOARDS_ENV

EXIT_USER_ERROR = 2
# click's usage error, and the copy of click that newer typer versions carry inside
USAGE_ERRORS = tuple({click.UsageError,
                      getattr(getattr(getattr(typer, "_click", None), "exceptions", None),
                              "UsageError", click.UsageError)})
EXIT_INTERRUPTED = 130
DEBUG_ENV = "TINYCOMPRESS_DEBUG"


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
        except USAGE_ERRORS as exc:  # an unknown option, a missing argument, a bad choice
            if _debug(ctx):
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            typer.echo(f"error: {one_line(exc.format_message())} (see `{where} --help`)", err=True)
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
    boards_dir: Annotated[Optional[Path], typer.Option(
        "--boards-dir", show_default=False,
        help=f"A directory of your own board files, used with the bundled ones (also ${BOARDS_ENV}, "
             "several separated by ':'). Give it to build, sim and flash alike.")] = None,
) -> None:
    """Compress Keras models into Cortex-M firmware and check it bit-exact in QEMU."""
    if boards_dir is not None:  # every stage (and worker process) reads the boards from there
        os.environ[BOARDS_ENV] = os.pathsep.join(
            [str(boards_dir), *filter(None, os.environ.get(BOARDS_ENV, "").split(os.pathsep))])


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A context manager yielding a `progress(stage, done, total)` callback (rich, on stderr)."""
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


def main() -> None:
    """Console-script entry point (`tinycompress`, `python -m tinycompress`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banners off stderr
    sys.exit(app())
