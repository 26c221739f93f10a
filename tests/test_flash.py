"""`tinycompress flash`: the real openocd and st-flash, run with no probe attached.

These tests prove the command lines and the one-line errors, not a flash on
hardware: no probe is attached to the machines that run them.
"""
from __future__ import annotations

import dataclasses
import shutil

import pytest
from typer.testing import CliRunner

from tests.board_builds import board_builds  # noqa: F401  (session fixture)
from tinycompress import cli
from tinycompress.errors import BoardError, ToolError
from tinycompress.target import flash as flash_mod
from tinycompress.target.boards import load_board
from tinycompress.target.flash import choose_tool, diagnose, flash, openocd_command

pytestmark = pytest.mark.target
runner = CliRunner()


def _cli(*args):
    return runner.invoke(cli.app, ["flash", *map(str, args)])


@pytest.mark.parametrize("tool", ["openocd", "st-flash"])
def test_real_tool_without_probe_says_so(board_builds, tool, caplog):
    out = board_builds["nucleo"]
    with caplog.at_level("INFO", logger="tinycompress.target.flash"), pytest.raises(ToolError) as err:
        flash(out, tool=tool)
    ran = [r.getMessage() for r in caplog.records if r.getMessage().startswith("flash command: ")]
    print(ran[0], "->", err.value)  # the command line the real tool was given, in the test log
    assert ran and ran[0].split()[2] == tool
    assert str(err.value).startswith(f"no ST-LINK probe attached ({tool})")
    result = _cli(out, "--tool", tool)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: no ST-LINK probe attached")


def test_openocd_command_from_board_data(board_builds):
    board = load_board("nucleo_l4r5zi")
    elf = board_builds["nucleo"] / "firmware.elf"
    cmd = openocd_command(board, elf)
    print("openocd command line:", " ".join(cmd))
    assert cmd[:5] == ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32l4x.cfg"]
    assert cmd[-1] == f"program {{{elf.resolve()}}} verify reset exit"


def test_unsupported_target_is_one_line():
    board = dataclasses.replace(load_board("nucleo"), openocd_target="stm32zz9x")
    with pytest.raises(BoardError, match=r"unsupported target: openocd has no target/stm32zz9x.cfg"):
        openocd_command(board, flash_mod.Path("x.elf"))


def test_wrong_target_output_is_named():
    # openocd's line when the probe reads another chip's debug port id than the config expects
    line = diagnose("openocd", "Warn : UNEXPECTED idcode: 0x2ba01477\nError: expected 1 of 1: 0x6ba02477",
                    load_board("nucleo"))
    assert line.startswith("wrong or unsupported target (openocd)") and "stm32f4x" in line


def test_qemu_board_has_nothing_to_flash(board_builds):
    result = _cli(board_builds["mps2_an386"])
    assert result.exit_code == 2
    assert "is a QEMU machine: nothing to flash" in result.stderr and result.stderr.count("\n") == 1


def test_missing_tools_name_their_apt_package(board_builds, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no openocd, no st-flash
    with pytest.raises(ToolError, match="openocd not found: apt-get install openocd"):
        choose_tool("openocd")
    with pytest.raises(ToolError, match="st-flash not found: apt-get install stlink-tools"):
        choose_tool("st-flash")
    result = _cli(board_builds["nucleo"])
    assert result.exit_code == 2
    assert result.stderr == ("error: no flash tool found: apt-get install openocd (or stlink-tools for st-flash) "
                             "(`tinycompress doctor` checks the rest)\n")


def test_tools_are_installed():
    # CI installs them (scripts/ensure-debs.sh): a missing tool is a setup defect, not a skip
    assert shutil.which("openocd") and shutil.which("st-flash")
