"""Target tier: paths with spaces, both quotes and non-ASCII letters, end to end.

An output path with a space used to be split in the linker's `-Map,` argument:
the build failed with `ld: cannot find ...` and the map file was written to
the part of the path before the space, overwriting whatever was there. Here
the model, the data, the spec and the output all live under such paths
(tests/odd_build.py); the real command line builds (under umask 022),
simulates and tries to flash, and nothing outside the output directory may
change.

Also where things are (issue 16): the data directories found through
importlib.resources, the PlatformIO core in the user cache directory, and the
user's own board directories (--boards-dir, $TINYCOMPRESS_BOARDS).
"""
from __future__ import annotations

import ast
import json
import os
import re
import stat
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinycompress import cli, paths
from tinycompress.target.boards import BOARDS_ENV, list_boards, load_board, sim_machine
from tinycompress.target.pio import pio_safe, platformio_ini, run_pio, write_platform_files
from tinycompress.target.project import staged

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.odd_build"]  # the session fixture odd_build, shared with test_interrupt.py
UPLOAD_TOOLS = ("st-flash", "st-info", "openocd")


@pytest.mark.target
def test_build_and_sim_in_odd_paths(odd_build):
    build, sim, out = odd_build.build, odd_build.sim, odd_build.out
    assert build.returncode == 0, build.stderr
    said = " ".join(build.stdout.split())  # rich wraps long lines, at spaces
    assert f"in {out} (" in said and "accuracy on eval" in said
    assert (out / "firmware.elf").is_file() and (out / "firmware_sim.elf").is_file()
    assert sim.returncode == 0, sim.stderr
    assert "20 inputs: bit-exact" in sim.stdout


@pytest.mark.target
def test_nothing_outside_the_output_changed(odd_build):
    assert odd_build.outside() == odd_build.before
    assert [s.read_text() for s in odd_build.sentinels] == ["untouched\n"] * 2
    # The linker's map file is inside the build, where the dev-platform puts it.
    assert (odd_build.out / ".pio" / "build" / "hw" / "firmware.map").is_file()


@pytest.mark.target
def test_build_directories_follow_the_umask(odd_build):
    out = odd_build.out
    modes = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in [out, *out.rglob("*")] if p.is_dir()}
    assert modes and set(modes.values()) == {"0o755"}, modes


@pytest.mark.target
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


@pytest.mark.target
def test_flash_names_the_missing_upload_tool(odd_build, tmp_path):
    """Without st-flash and openocd the probe is not the problem: say which tool to install."""
    result = odd_build.cli("flash", str(odd_build.out),
                           env={**os.environ, "PATH": _path_without(UPLOAD_TOOLS, tmp_path / "bin")})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "probe" not in line, line
    assert line == ("error: no flash tool found: apt-get install openocd (or stlink-tools for st-flash) "
                    "(`tinycompress doctor` checks the rest)")


@pytest.mark.target
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


# ---- where things are (issue 16) ------------------------------------------------

DATA_DIRS = ("templates", "firmware", "boards")


def test_data_directories_are_found_through_the_package():
    """From a checkout (editable install) the packages tinycompress._data.* are the top-level directories."""
    for name, found in zip(DATA_DIRS, (paths.TEMPLATES_DIR, paths.FIRMWARE_DIR, paths.BOARDS_DIR)):
        assert found == Path(resources.files(f"tinycompress._data.{name}")) == REPO / name
    assert (paths.TEMPLATES_DIR / "tc_model.c.j2").is_file()
    assert (paths.PLATFORM_DIR / "platform.json").is_file() and (paths.RUNTIME_DIR / "src").is_dir()


def _setup_globs() -> dict[str, list[str]]:
    """setup.py's DATA_DIRS, read without running setup()."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "DATA_DIRS")
    return ast.literal_eval(node.value)


def test_the_wheel_globs_take_every_data_file():
    """A data file no package_data glob matches would be missing from the wheel."""
    globs = _setup_globs()
    assert set(globs) == set(DATA_DIRS)
    for name, patterns in globs.items():
        root = REPO / name
        files = {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                 and p != root / "__init__.py"}
        taken = {p for pattern in patterns for p in root.glob(pattern)}
        assert files and files <= taken, sorted(str(p.relative_to(REPO)) for p in files - taken)


def test_core_lives_in_the_user_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.PIO_CORE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.core_dir() == tmp_path / "cache" / "tinycompress" / "platformio"
    monkeypatch.setenv(paths.PIO_CORE_ENV, str(tmp_path / "mine"))
    assert paths.core_dir() == tmp_path / "mine"


def _user_board(folder: Path, name: str, aliases: str = "[]") -> Path:
    """A copy of the bundled NUCLEO-F401RE under another name (and aliases)."""
    text = (paths.BOARDS_DIR / "nucleo_f401re.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^name = .*$', f'name = "{name}"', text)
    text = re.sub(r'(?m)^aliases = .*$', f"aliases = {aliases}", text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _boards(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli.app, [*args, "boards", "--json"], env=env)


def test_boards_lists_the_users_boards_with_their_source(tmp_path, monkeypatch):
    monkeypatch.delenv(BOARDS_ENV, raising=False)
    mine = tmp_path / "my boards"
    _user_board(mine, "my_f401", '["mine"]')
    result = _boards("--boards-dir", str(mine))
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["my_f401"]["source"] == str(mine) and rows["my_f401"]["aliases"] == ["mine"]
    assert rows["nucleo_f401re"]["source"] == "bundled"
    assert len(rows) == len(list(paths.BOARDS_DIR.glob("*.toml"))) + 1
    # The environment variable does the same, and the stages find the board by name or alias.
    monkeypatch.setenv(BOARDS_ENV, str(mine))
    board = load_board("mine")
    assert board.path == mine / "my_f401.toml" and sim_machine(board).name == "netduinoplus2"
    assert [b.name for b in list_boards()] == sorted(rows)


@pytest.mark.parametrize("case, expected", [
    ("invalid", r"^error: .*bad_board\.toml: field 'cpu' = 'cortex-m99', expected one of"),
    ("clash", r"^error: .*nucleo_f401re\.toml: board name or alias 'nucleo_f401re' is already used by"),
    ("alias clash", r"^error: .*board name or alias 'nucleo' is already used by"),
    ("no directory", r"^error: \$TINYCOMPRESS_BOARDS \(or --boards-dir\): .*nowhere is not a directory$"),
])
def test_users_boards_are_validated_like_the_bundled_ones(tmp_path, monkeypatch, case, expected):
    monkeypatch.delenv(BOARDS_ENV, raising=False)
    mine = tmp_path / "boards"
    if case == "invalid":
        path = _user_board(mine, "bad_board")
        path.write_text(path.read_text(encoding="utf-8").replace('"cortex-m4"', '"cortex-m99"'), encoding="utf-8")
    elif case == "clash":
        _user_board(mine, "nucleo_f401re")
    elif case == "alias clash":
        _user_board(mine, "other_f401", '["nucleo"]')
    else:
        mine = tmp_path / "nowhere"
    result = _boards(env={BOARDS_ENV: str(mine)})
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and re.search(expected, result.stderr.strip()), result.stderr
