"""Flash stage: write a build's hardware firmware to its board, verify it, reset it. Offline.

    flash("build/")            # -> FlashResult(tool="openocd", command=[...], message="...")

Tools, first found wins (or the one asked for with `tool=`):

1. Debian's `openocd` (package openocd) with the board data's interface and
   target configs (`openocd_interface`, `openocd_target`):
   `program firmware.elf verify reset exit`.
2. `st-flash` (Debian stlink-tools): the ELF's binary image written at the
   board's flash origin (st-flash verifies what it wrote), then `--reset`.
3. PlatformIO's `upload` target, only when its upload tool is already in the
   offline core (tool-openocd): PlatformIO never downloads it here.

Each failure is one line (ToolError / BoardError): no probe attached, a tool
missing (with its apt package), the probe seeing another chip than the board
data names, an unsupported target config, a QEMU-only board.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tinycompress import paths
from tinycompress.errors import DOCTOR_HINT, BoardError, SimulationError, ToolError
from tinycompress.target.boards import Board, load_board
from tinycompress.target.children import run
from tinycompress.target.pio import run_pio
from tinycompress.target.state import load_state

HW_ELF = "firmware.elf"
TOOLS = ("openocd", "st-flash", "pio")
APT = {"openocd": "openocd", "st-flash": "stlink-tools", "arm-none-eabi-objcopy": "binutils-arm-none-eabi"}
OPENOCD_SCRIPTS = Path("/usr/share/openocd/scripts")
TIMEOUT_S = 120.0
LOG = logging.getLogger(__name__)

# What each tool prints when no probe answers, or when the probe sees another chip.
NO_PROBE = re.compile(r"open failed|No ST-?Link|Couldn't find any ST-Link|Found 0 stlink|"
                      r"unable to find a matching|no device found|LIBUSB_ERROR_NO_DEVICE", re.I)
WRONG_TARGET = re.compile(r"UNEXPECTED idcode|unknown chip ?id|Device ID: 0x[0-9a-f]+.*unknown|"
                          r"Unknown flash|target voltage may be too low|init mode failed", re.I)


@dataclass
class FlashResult:
    """Which tool wrote the firmware, the command it ran and its last line."""

    tool: str
    command: list[str]
    message: str
    output: str = field(default="", repr=False)


def hw_elf(build_dir: Path, board: Board) -> Path:
    """The build's hardware ELF; BoardError for QEMU-only boards, SimulationError when missing."""
    if board.is_qemu:
        raise BoardError(f"{board.name} is a QEMU machine: nothing to flash "
                         f"(use `tinycompress sim {build_dir}`)")
    elf = Path(build_dir) / HW_ELF
    if not elf.is_file():
        raise SimulationError(f"{elf} not found: rebuild with `tinycompress build ... -o {build_dir}`")
    return elf


def openocd_command(board: Board, elf: Path, scripts: Path = OPENOCD_SCRIPTS) -> list[str]:
    """openocd's command line; BoardError when the board names no target or an unknown config."""
    if not board.openocd_target:
        raise BoardError(f"{board.path}: no openocd_target in the board data: unsupported target for openocd")
    cfgs = [board.openocd_interface, f"target/{board.openocd_target}.cfg"]
    missing = [c for c in cfgs if not (scripts / c).is_file()]
    if missing:
        raise BoardError(f"unsupported target: openocd has no {missing[0]} (in {scripts}); "
                         f"fix openocd_interface/openocd_target in {board.path}")
    # Paths in openocd's Tcl commands: braces keep spaces; the ELF carries its load addresses.
    return ["openocd", "-f", cfgs[0], "-f", cfgs[1], "-c", f"program {{{elf.resolve()}}} verify reset exit"]


def stflash_command(board: Board, image: Path) -> list[str]:
    """st-flash's command line: write the binary at the flash origin, then reset."""
    return ["st-flash", "--reset", "write", str(image), f"0x{board.flash.origin:08x}"]


def _binary(elf: Path) -> Path:
    """firmware.bin beside the ELF (st-flash writes raw images)."""
    image = elf.with_suffix(".bin")
    objcopy = shutil.which("arm-none-eabi-objcopy")
    if objcopy is None:
        raise ToolError("arm-none-eabi-objcopy not found: "
                        f"apt-get install {APT['arm-none-eabi-objcopy']} {DOCTOR_HINT}")
    subprocess.run([objcopy, "-O", "binary", str(elf), str(image)], check=True, capture_output=True)
    return image


def _pio_upload_tool() -> Path | None:
    """PlatformIO's openocd package in the offline core, if someone installed it there."""
    tool = paths.core_dir() / "packages" / "tool-openocd"
    return tool if tool.is_dir() else None


def choose_tool(wanted: str | None = None) -> str:
    """The first flash tool present (or `wanted`, which must be present); ToolError naming the packages."""
    if wanted is not None and wanted not in TOOLS:
        raise ToolError(f"unknown flash tool {wanted!r}; one of {', '.join(TOOLS)}")
    for tool in ([wanted] if wanted else TOOLS):
        if tool == "pio" and _pio_upload_tool() is not None:
            return tool
        if tool != "pio" and shutil.which(tool):
            return tool
    if wanted == "pio":
        raise ToolError("PlatformIO's upload tool (tool-openocd) is not in the offline core: "
                        "use openocd (apt-get install openocd)")
    if wanted:
        raise ToolError(f"{wanted} not found: apt-get install {APT[wanted]} {DOCTOR_HINT}")
    raise ToolError(f"no flash tool found: apt-get install openocd (or stlink-tools for st-flash) {DOCTOR_HINT}")


def diagnose(tool: str, output: str, board: Board) -> str:
    """One line saying why `tool` failed, from its output."""
    if NO_PROBE.search(output):
        return (f"no ST-LINK probe attached ({tool}): connect {board.description} by USB "
                f"(and check its ST-LINK jumpers)")
    if WRONG_TARGET.search(output):
        return (f"wrong or unsupported target ({tool}): the probe does not see the "
                f"{board.openocd_target or board.name} that {board.path.name if board.path else board.name} names")
    errors = [ln.strip() for ln in output.splitlines() if re.search(r"\berror\b", ln, re.I)]
    return f"{tool} failed: {(errors or output.strip().splitlines() or ['no output'])[-1]}"


def flash(build_dir: str | Path, tool: str | None = None, timeout_s: float = TIMEOUT_S) -> FlashResult:
    """Write, verify and reset the build's hw firmware (module docstring); ToolError on failure."""
    build_dir = Path(build_dir)
    board = load_board(load_state(build_dir).board)
    elf = hw_elf(build_dir, board)
    chosen = choose_tool(tool)
    if chosen == "openocd":
        cmd = openocd_command(board, elf)
    elif chosen == "st-flash":
        cmd = stflash_command(board, _binary(elf))
    else:
        result = run_pio(build_dir, env="hw", target="upload")
        return FlashResult("pio", ["pio", "run", "-e", "hw", "-t", "upload"],
                           result.output.strip().splitlines()[-1], result.output)
    LOG.info("flash command: %s", " ".join(cmd))
    try:
        done = run(cmd, cwd=build_dir, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{chosen} did not finish in {timeout_s:g} s (probe hung?)") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ToolError(diagnose(chosen, output, board))
    last = [ln for ln in output.strip().splitlines() if ln.strip()]
    return FlashResult(chosen, cmd, last[-1] if last else "flashed", output)
