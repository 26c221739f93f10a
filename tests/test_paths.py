"""Target tier: paths with spaces, both quotes and non-ASCII letters, end to end.

An output path with a space used to be split in the linker's `-Map,` argument:
the build failed with `ld: cannot find ...` and the map file was written to
the part of the path before the space, overwriting whatever was there. Here
the model, the data, the spec and the output all live under such paths
(tests/odd_build.py); the real command line builds (under umask 022),
simulates and tries to flash, and nothing outside the output directory may
change.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tinycompress.target.boards import load_board
from tinycompress.target.pio import pio_safe, platformio_ini, run_pio, write_platform_files
from tinycompress.target.project import staged

pytestmark = pytest.mark.target
pytest_plugins = ["tests.odd_build"]  # the session fixture odd_build, shared with test_interrupt.py
UPLOAD_TOOLS = ("st-flash", "st-info", "openocd")


def test_build_and_sim_in_odd_paths(odd_build):
    build, sim, out = odd_build.build, odd_build.sim, odd_build.out
    assert build.returncode == 0, build.stderr
    said = " ".join(build.stdout.split())  # rich wraps long lines, at spaces
    assert f"in {out} (" in said and "accuracy on eval" in said
    assert (out / "firmware.elf").is_file() and (out / "firmware_sim.elf").is_file()
    assert sim.returncode == 0, sim.stderr
    assert "20 inputs: bit-exact" in sim.stdout


def test_nothing_outside_the_output_changed(odd_build):
    assert odd_build.outside() == odd_build.before
    assert [s.read_text() for s in odd_build.sentinels] == ["untouched\n"] * 2
    # The linker's map file is inside the build, where the dev-platform puts it.
    assert (odd_build.out / ".pio" / "build" / "hw" / "firmware.map").is_file()


def test_build_directories_follow_the_umask(odd_build):
    out = odd_build.out
    modes = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in [out, *out.rglob("*")] if p.is_dir()}
    assert modes and set(modes.values()) == {"0o755"}, modes


def test_any_umask_is_followed(tmp_path):
    """Not only 022: the staging directory (mkdtemp made it 0700) and the copied dev-platform
    (copytree kept the checkout's modes) are created as the umask says."""
    previous = os.umask(0o027)
    try:
        with staged(tmp_path / "out") as tmp:
            write_platform_files(tmp, load_board("nucleo"))
    finally:
        os.umask(previous)
    out = tmp_path / "out"
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in [out, *out.rglob("*")] if p.is_dir()} == {"0o750"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in out.rglob("*") if p.is_file()} == {"0o640"}


def _path_without(tools: tuple[str, ...], farm: Path) -> str:
    """A PATH with every program of the current one but `tools` (symlinks in `farm`)."""
    farm.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for program in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            link = farm / program.name
            if program.name not in tools and not link.exists() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return str(farm)


def test_flash_names_the_missing_upload_tool(odd_build, tmp_path):
    """Without st-flash and openocd the probe is not the problem: say which tool to install."""
    result = odd_build.cli("flash", str(odd_build.out),
                           env={**os.environ, "PATH": _path_without(UPLOAD_TOOLS, tmp_path / "bin")})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "probe" not in line, line
    assert "st-flash (apt-get install stlink-tools)" in line and "openocd (apt-get install openocd)" in line


def test_platformio_quirks_are_built_around(offline_core, tmp_path):
    """PlatformIO reads `$` and runs of spaces in the project's path through SCons' subst():
    in place, "x  y" would be looked for (and written to) as "x y". Such a project is built
    in a safe copy; its .pio comes back, and nothing appears beside it."""
    board = load_board("mps2_an386")
    project = tmp_path / "x  y $HOME" / "p"
    project.mkdir(parents=True)
    write_platform_files(project, board)
    (project / "platformio.ini").write_text(platformio_ini(board, offline_core), encoding="utf-8")
    (project / "src").mkdir()
    (project / "src" / "main.c").write_text("int main(void) { return 0; }\n", encoding="utf-8")
    assert not pio_safe(project) and pio_safe(tmp_path / "a b 'c\" ü")
    result = run_pio(project, env="sim", core_dir=offline_core)
    assert result.elf == project / ".pio" / "build" / "sim" / "firmware.elf" and result.elf.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x  y $HOME"]
