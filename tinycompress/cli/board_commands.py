"""Commands on a real board: flash (write, verify, reset) and power (energy per inference)."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from tinycompress.cli.core import app, console, print_json, progress_bar
from tinycompress.cli.options import BuildDirArg, JsonOpt, number
from tinycompress.target.flash import TOOLS, flash
from tinycompress.target.power import measure

FlashToolOpt = Annotated[Optional[str], typer.Option(
    "--tool", help=f"Flash tool: {', '.join(TOOLS)} (default: the first one installed).",
    show_default=False)]


@app.command("flash")
def flash_cmd(build_dir: BuildDirArg, tool: FlashToolOpt = None) -> None:
    """Write a build's firmware to its board over ST-LINK (openocd, st-flash), verify it and reset it."""
    result = flash(build_dir, tool=tool)
    console(stderr=True).print(f"{result.tool}: {' '.join(result.command)}")
    console().print(f"flashed {build_dir} with {result.tool}: {result.message}")


class Meter(str, Enum):
    """The power meters `power` drives."""

    lpm01a = "lpm01a"
    ppk2 = "ppk2"
    joulescope = "joulescope"


MeterOpt = Annotated[Meter, typer.Option("--meter", "-m", help="Power meter: lpm01a, ppk2 or joulescope.")]
PortOpt = Annotated[Optional[str], typer.Option(
    "--port", help="The meter's serial port (default: the first LPM01A or PPK2 found by USB id; "
                   "Joulescope: its serial number).", show_default=False)]
UartOpt = Annotated[Optional[str], typer.Option(
    "--uart", help="The board's ST-LINK virtual COM port, where the firmware prints its cycle counts "
                   "(default: the first ST-LINK found).", show_default=False)]
RepeatsOpt = Annotated[int, typer.Option(
    "-n", "--n", parser=number(int, "-n", minimum=1), help="Repetitions to measure (idle + inference windows).")]
SubtractIdleOpt = Annotated[bool, typer.Option(
    "--subtract-idle", help="Subtract the idle window's power x the inference window's time.")]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", parser=number(float, "--timeout", minimum=0.1),
    help="Seconds to wait for the board's lines and the meter's trigger.")]


@app.command("power")
def power_cmd(build_dir: BuildDirArg, meter: MeterOpt, port: PortOpt = None, uart: UartOpt = None,
              n: RepeatsOpt = 3, subtract_idle: SubtractIdleOpt = False, timeout: TimeoutOpt = 10.0,
              json_out: JsonOpt = False) -> None:
    """Measure energy per inference of a flashed --mode energy build with a power meter (DIR/power-report.json)."""
    with progress_bar() as tick:
        report = measure(build_dir, meter.value, port=port, uart=uart, n=n, subtract_idle=subtract_idle,
                         timeout_s=timeout, progress=tick)
    if json_out:
        print_json(report)
        return
    lo, hi = report["uj_per_inference_spread"]
    console().print(
        f"{report['board']}, {report['meter']} at {report['vdd_v']:g} V (measured, {len(report['repeats'])} "
        f"repetitions): {report['uj_per_inference']:,.1f} uJ per inference ({lo:,.1f}..{hi:,.1f}), "
        f"mean {report['mean_power_mw']:.2f} mW (idle {report['idle_power_mw']:.2f} mW), "
        f"latency {report['latency_ms']:.3f} ms{', idle subtracted' if report['idle_subtracted'] else ''}")
    est = report.get("estimate")
    if est:
        console().print(f"estimate (board terms, not measured): {est['uj_per_inference']:,.1f} uJ per inference "
                        f"= {est['instructions']:,.0f} instructions x {est['cpi']:g} CPI / "
                        f"{est['clock_hz'] / 1e6:g} MHz x {est['run_power_mw']:.1f} mW")
