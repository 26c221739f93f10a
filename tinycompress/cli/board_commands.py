"""Commands on a real board: flash (write, verify, reset) and power (energy per inference)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from tinycompress.cli.core import app, console
from tinycompress.cli.options import BuildDirArg
from tinycompress.target.flash import TOOLS, flash

FlashToolOpt = Annotated[Optional[str], typer.Option(
    "--tool", help=f"Flash tool: {', '.join(TOOLS)} (default: the first one installed).",
    show_default=False)]


@app.command("flash")
def flash_cmd(build_dir: BuildDirArg, tool: FlashToolOpt = None) -> None:
    """Write a build's firmware to its board over ST-LINK (openocd, st-flash), verify it and reset it."""
    result = flash(build_dir, tool=tool)
    console(stderr=True).print(f"{result.tool}: {' '.join(result.command)}")
    console().print(f"flashed {build_dir} with {result.tool}: {result.message}")
