"""Commands on the machine itself: setup (the offline PlatformIO core) and doctor (what is missing)."""
from __future__ import annotations

import typer

from tinycompress.cli.core import app, print_json
from tinycompress.cli.options import JsonOpt
from tinycompress.target.doctor import missing_for_build, run_checks
from tinycompress.target.pio import ensure_offline_core

EXIT_NOT_READY = 1


@app.command("setup")
def setup_cmd() -> None:
    """Prepare the offline PlatformIO core (SCons from PyPI, Debian's arm-none-eabi-gcc) in the user
    cache directory, or in $TINYCOMPRESS_PIO_CORE; a second run changes nothing."""
    typer.echo(f"offline PlatformIO core ready: {ensure_offline_core()}")  # unwrapped: a path


@app.command("doctor")
def doctor_cmd(json_out: JsonOpt = False) -> None:
    """Check what build, sim and flash need: one line each, ok or the fix. Exit 1 when build cannot work."""
    checks = run_checks()
    missing = missing_for_build(checks)
    if json_out:
        print_json({"ready_for_build": not missing, "checks": [c.to_dict() for c in checks]})
    else:
        for check in checks:
            typer.echo(check.line())
        typer.echo("ready to build" if not missing else
                   f"not ready to build: {', '.join(c.name for c in missing)}")
    if missing:
        raise typer.Exit(EXIT_NOT_READY)
