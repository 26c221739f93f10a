"""Flash stage: upload a build's hw firmware to its board through PlatformIO (ST-LINK).

    flash("build/")   # -> PlatformIO's last line, e.g. "... Verified OK"

The board comes from the build's saved state (`target.state`); QEMU-only
boards have nothing to flash.
"""
from __future__ import annotations

from pathlib import Path

from tinycompress.errors import BoardError, ToolError
from tinycompress.target.boards import load_board
from tinycompress.target.pio import run_pio
from tinycompress.target.state import load_state


def flash(build_dir: str | Path) -> str:
    """Upload the build's hw firmware through PlatformIO (ST-LINK); returns PlatformIO's last line.

    BoardError for QEMU-only boards; ToolError (one line) naming the missing
    upload tool and its Debian package, or saying that no probe is attached;
    BuildStateError when DIR is not a usable build directory.
    """
    build_dir = Path(build_dir)
    board = load_board(load_state(build_dir).board)
    if board.is_qemu:
        raise BoardError(f"{board.name} is a QEMU machine: nothing to flash (use `tinycompress sim {build_dir}`)")
    try:
        result = run_pio(build_dir, env="hw", target="upload")
    except ToolError as exc:
        # The dev-platform's upload step (firmware/platform/builder) and PlatformIO
        # itself say what went wrong in one "Error: ..." line.
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("Error: ")]
        raise ToolError(lines[-1].removeprefix("Error: ") if lines else str(exc).splitlines()[0]) from exc
    return result.output.strip().splitlines()[-1] if result.output.strip() else "uploaded"
