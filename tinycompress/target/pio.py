"""PlatformIO without its download servers.

`ensure_offline_core(core_dir)` makes an offline PlatformIO core that needs
no registry (by default in the user cache directory, `paths.core_dir()`): `packages/tool-scons` built from the venv's PyPI SCons
(PlatformIO accepts it because its `.piopm` says owner "platformio" and its
version satisfies `platformio.dependencies`), and a toolchain package wrapping
Debian's /usr/bin/arm-none-eabi-* as bin/ symlinks, which projects use through
`platform_packages = toolchain-gccarmnoneeabi@symlink://...`.

`write_platform_files(project_dir, board)` copies the dev-platform and the
startup library into a project and writes its board JSON, linker scripts and
tc_board.h; `platformio_ini(board)` renders the matching platformio.ini.
`run_pio(...)` and `run_pio_envs(...)` build it (PlatformIO and what it runs
in process groups of their own, ended on Ctrl-C: `target.children`; a path
PlatformIO would misread is built in a safe copy: `pio_safe`). Run
`tinycompress setup` (or `python -m tinycompress.target.pio setup [CORE_DIR]`)
to make the core; `core_problem` says what a core lacks without changing it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from tinycompress import paths
from tinycompress.target.boardfiles import board_header, linker_script, pio_board_json
from tinycompress.target.boards import UART_BAUD, Board
from tinycompress.target.children import run_all
from tinycompress.target.power_data import hw_header
from tinycompress.errors import DOCTOR_HINT, ToolError

TOOLCHAIN_NAME = "toolchain-gccarmnoneeabi"
TOOLCHAIN_PREFIX = "arm-none-eabi-"
DEBIAN_BIN = Path("/usr/bin")
INSTALL_HINT = f"reinstall tinycompress, which depends on it {DOCTOR_HINT}"
APT_HINT = f"apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi {DOCTOR_HINT}"
SETUP_HINT = "run `tinycompress setup`"
ENVS = {"sim": "QEMU simulation (TC_SIM=1)", "hw": "hardware, offline", "ststm32": "hardware, official ststm32 (online)"}


def pio_environ(core_dir: Path | None = None) -> dict[str, str]:
    """os.environ plus the settings every PlatformIO call here needs (no telemetry, no upgrade check)."""
    env = dict(os.environ)
    env.update({
        "PLATFORMIO_CORE_DIR": str(core_dir or paths.core_dir()),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no",
        "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
        "PLATFORMIO_NO_ANSI": "true",
    })
    return env


def _scons_requirement() -> str:
    try:
        from platformio.dependencies import get_core_dependencies
    except ImportError as exc:
        raise ToolError(f"PlatformIO is not installed: {INSTALL_HINT}") from exc
    return get_core_dependencies()["tool-scons"]


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _make_tool_scons(packages_dir: Path) -> Path:
    """packages/tool-scons: a launcher for the venv's SCons, registered as PlatformIO's own package."""
    try:
        import SCons
    except ImportError as exc:
        raise ToolError(f"SCons is not installed in this Python: {INSTALL_HINT}") from exc
    version = _scons_requirement().lstrip("~^=<> ")  # the lowest version the requirement accepts
    pkg = packages_dir / "tool-scons"
    pkg.mkdir(parents=True, exist_ok=True)
    # PlatformIO runs `python scons.py ...` with its own interpreter: the venv's, which has SCons.
    (pkg / "scons.py").write_text(
        '"""Launch the SCons installed from PyPI (tinycompress offline core)."""\n'
        "import sys\n\nfrom SCons.Script.Main import main\n\nsys.exit(main())\n", encoding="utf-8")
    _write_json(pkg / "package.json", {
        "name": "tool-scons", "version": version, "system": "*",
        "description": f"SCons {SCons.__version__} from PyPI, wrapped by tinycompress",
    })
    _write_json(pkg / ".piopm", {
        "type": "tool", "name": "tool-scons", "version": version,
        "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None},
    })
    return pkg


def _gcc_version() -> str:
    gcc = DEBIAN_BIN / f"{TOOLCHAIN_PREFIX}gcc"
    if not gcc.exists():
        raise ToolError(f"{gcc} not found: {APT_HINT}")
    out = subprocess.run([str(gcc), "-dumpfullversion"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _make_toolchain(core_dir: Path) -> Path:
    """toolchains/toolchain-gccarmnoneeabi: bin/ symlinks to Debian's arm-none-eabi-* tools."""
    major, minor, patch = (int(x) for x in (_gcc_version().split(".") + ["0", "0"])[:3])
    pkg = core_dir / "toolchains" / TOOLCHAIN_NAME
    bin_dir = pkg / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in sorted(DEBIAN_BIN.glob(f"{TOOLCHAIN_PREFIX}*")):
        link = bin_dir / tool.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(tool)
    _write_json(pkg / "package.json", {
        "name": TOOLCHAIN_NAME, "version": f"1.{major}{minor:02d}{patch:02d}.0", "system": "*",
        "description": f"Debian arm-none-eabi-gcc {major}.{minor}.{patch} (symlinks, tinycompress)",
    })
    return pkg


def toolchain_dir(core_dir: Path | None = None) -> Path:
    """Where ensure_offline_core puts the toolchain package (for platform_packages)."""
    return (core_dir or paths.core_dir()) / "toolchains" / TOOLCHAIN_NAME


def _core_wanted() -> dict:
    """What a core made now would record in its stamp (a change in any of these remakes it)."""
    try:
        import SCons
    except ImportError as exc:
        raise ToolError(f"SCons is not installed in this Python: {INSTALL_HINT}") from exc
    return {"scons": SCons.__version__, "requirement": _scons_requirement(), "gcc": _gcc_version(), "format": 1}


def core_problem(core_dir: Path | None = None) -> str | None:
    """What keeps `core_dir` from being a ready offline core (None when ready); changes nothing.

    ToolError when the tools a core is made from (PlatformIO, SCons, arm-none-eabi-gcc) are missing.
    """
    core_dir = Path(core_dir or paths.core_dir()).resolve()
    stamp = core_dir / ".tinycompress-core.json"
    if not stamp.exists():
        return f"no offline PlatformIO core in {core_dir}"
    try:
        made = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        made = None
    if made != _core_wanted():
        return f"the PlatformIO core in {core_dir} was made for other tool versions"
    missing = [p for p in (core_dir / "packages" / "tool-scons" / ".piopm", toolchain_dir(core_dir) / "package.json")
               if not p.exists()]
    return f"{missing[0]} is missing" if missing else None


def ensure_offline_core(core_dir: Path | None = None) -> Path:
    """Create (or refresh) the offline PlatformIO core in `core_dir`; idempotent. Returns core_dir."""
    core_dir = Path(core_dir or paths.core_dir()).resolve()
    if core_problem(core_dir) is None:
        return core_dir
    wanted = _core_wanted()
    try:
        core_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolError(f"cannot create the PlatformIO core in {core_dir}: {exc.strerror} "
                        f"(set ${paths.PIO_CORE_ENV} to a writable directory)") from exc
    stamp = core_dir / ".tinycompress-core.json"
    _make_tool_scons(core_dir / "packages")
    _make_toolchain(core_dir)
    _write_json(stamp, wanted)
    return core_dir


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy `src` into `dst` without caches; new directories and files get the
    user's umask (copytree would copy the checkout's modes instead)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.name in ("__pycache__", ".pio") or path.suffix == ".pyc":
            continue
        if path.is_dir():
            _copy_tree(path, dst / path.name)
        else:
            shutil.copyfile(path, dst / path.name)


def write_platform_files(project_dir: Path, board: Board, stack_size: int | None = None) -> dict[str, Path]:
    """Copy the dev-platform (platform/) and startup library (lib/tc_platform/) into a project,
    and write boards/<id>.json, the hardware and simulation linker scripts and tc_board.h."""
    project_dir = Path(project_dir)
    extra = {} if stack_size is None else {"stack_size": stack_size}
    _copy_tree(paths.PLATFORM_DIR, project_dir / "platform")
    lib = project_dir / "lib" / "tc_platform"
    _copy_tree(paths.STARTUP_DIR, lib)
    _write_json(lib / "library.json", {"name": "tc_platform", "version": "0.1.0",
                                       "build": {"libArchive": False}})  # keep the vector table linked
    (lib / "include" / "tc_board.h").write_text(board_header(board), encoding="utf-8")
    (lib / "include" / "tc_board_hw.h").write_text(hw_header(board, UART_BAUD), encoding="utf-8")
    (project_dir / "boards").mkdir(exist_ok=True)
    _write_json(project_dir / "boards" / f"{board.local_id}.json", pio_board_json(board))
    written = {"platform": project_dir / "platform", "lib": lib,
               "board_json": project_dir / "boards" / f"{board.local_id}.json"}
    for kind, sim in (("ld", False), ("ld_sim", True)):
        if sim or not board.is_qemu:
            path = project_dir / f"{board.local_id}{'_sim' if sim else ''}.ld"
            path.write_text(linker_script(board, sim=sim, **extra), encoding="utf-8")
            written[kind] = path
    return written


def _env_section(name: str, board: Board, sim: bool, core_dir: Path, comment: str) -> str:
    return (
        f"; {comment}\n[env:{name}]\nplatform = ./platform\nboard = {board.local_id}\n"
        f"board_build.ldscript = {board.local_id}{'_sim' if sim else ''}.ld\n"
        f"platform_packages = {TOOLCHAIN_NAME}@symlink://{toolchain_dir(core_dir)}\n"
        f"build_flags = -DTC_SIM={1 if sim else 0} ${{tinycompress.build_flags}}\n"
    )


def platformio_ini(board: Board, core_dir: Path | None = None, build_flags: str = "") -> str:
    """platformio.ini for a project prepared by write_platform_files: envs sim, hw and ststm32."""
    core_dir = Path(core_dir or paths.core_dir()).resolve()
    parts = [
        f"; Generated by tinycompress for board {board.name}; do not edit.\n"
        "; sim: QEMU build (TC_SIM=1); hw: the same firmware for the board (UART, DWT).\n"
        f"[platformio]\ndefault_envs = sim\nboards_dir = boards\n\n[tinycompress]\nbuild_flags = {build_flags}\n",
        _env_section("sim", board, True, core_dir, f"QEMU {board.qemu_machine}, offline"),
    ]
    if not board.is_qemu:
        parts.append(_env_section("hw", board, False, core_dir, f"{board.description}, offline"))
        parts.append(
            "; For users online: PlatformIO's official ST platform and toolchain, no framework.\n"
            f"[env:ststm32]\nplatform = ststm32\nboard = {board.pio_board}\n"
            f"board_build.ldscript = {board.local_id}.ld\nupload_protocol = stlink\n"
            "build_flags = -DTC_SIM=0 -O2 -nostartfiles --specs=nano.specs ${tinycompress.build_flags}\n"
        )
    return "\n".join(parts)


@dataclass(frozen=True)
class PioResult:
    """A finished `pio run`: its output, the ELF it made (if any) and the wall time."""

    returncode: int
    output: str
    elf: Path | None
    seconds: float


def _pio_command() -> list[str]:
    try:
        import platformio  # noqa: F401  (only to check it is installed)
    except ImportError as exc:
        raise ToolError(f"PlatformIO is not installed: {INSTALL_HINT}") from exc
    return [sys.executable, "-m", "platformio"]


def _error_excerpt(output: str, limit: int = 20) -> str:
    """The compiler/linker error lines of a failed build (or its tail when none match)."""
    pattern = re.compile(r"error|undefined reference|overflow|not found|cannot|\*\*\*", re.I)
    lines = [ln for ln in output.splitlines() if pattern.search(ln)]
    return "\n".join((lines or output.splitlines())[-limit:])


# PlatformIO's SCons scripts pass $PROJECT_DIR and $BUILD_DIR through
# env.subst(), which expands `$` and turns any run of white space into one
# space: in "a  b" PlatformIO finds no board and creates "a b/.pio/...".
_PIO_UNSAFE = re.compile(r"\$|\s\s|[^\S ]")


def pio_safe(path: Path) -> bool:
    """Whether PlatformIO reads `path` (absolute) as it is: single spaces, quotes and non-ASCII are fine."""
    return _PIO_UNSAFE.search(str(Path(path).absolute())) is None


@contextlib.contextmanager
def _pio_workdir(project_dir: Path) -> Iterator[Path]:
    """`project_dir` itself, or a copy in a safe temporary directory whose .pio comes back at the end."""
    if pio_safe(project_dir):
        yield project_dir
        return
    with tempfile.TemporaryDirectory(prefix="tinycompress-pio-") as tmp:
        work = Path(tmp) / "project"
        if not pio_safe(work):
            raise ToolError(f"PlatformIO cannot build in {project_dir} nor in {work} "
                            "(no '$', tabs, newlines or two spaces in a row): set TMPDIR or choose another path")
        shutil.copytree(project_dir, work, symlinks=True)
        yield work
        if (work / ".pio").is_dir():
            shutil.copytree(work / ".pio", project_dir / ".pio", symlinks=True, dirs_exist_ok=True)


def _run_command(project_dir: Path, env: str | None, target: str | None) -> list[str]:
    return (_pio_command() + ["run", "-d", str(project_dir)]
            + (["-e", env] if env else []) + (["-t", target] if target else []))


def run_pio_envs(project_dir: Path, envs: Sequence[str | None], target: str | None = None,
                 timeout: float = 600, core_dir: Path | None = None) -> dict[str | None, PioResult]:
    """`pio run -e ENV` for every env at once (each builds in its own .pio/build/<env>).

    ToolError for a missing pio, a timeout or the first env (in `envs` order) that failed.
    Ctrl-C ends every PlatformIO, SCons and compiler process before it propagates
    (`children.run_all`).
    """
    project_dir = Path(project_dir).absolute()
    core = ensure_offline_core(core_dir)
    with _pio_workdir(project_dir) as work:
        cmds = [_run_command(work, env, target) for env in envs]
        try:
            done = run_all(cmds, cwd=work, env=pio_environ(core), timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"pio run timed out after {timeout:.0f} s in {project_dir} "
                            "(a package PlatformIO tried to download?)") from exc
    results = {}
    for env, finished in zip(envs, done):
        output = finished.stdout + finished.stderr
        if finished.returncode != 0:
            raise ToolError(f"pio run failed in {project_dir} (env {env or 'default'}):\n{_error_excerpt(output)}")
        elf = project_dir / ".pio" / "build" / (env or "sim") / "firmware.elf"
        results[env] = PioResult(finished.returncode, output, elf if elf.exists() else None, finished.seconds)
    return results


def run_pio(project_dir: Path, env: str | None = None, target: str | None = None,
            timeout: float = 600, core_dir: Path | None = None) -> PioResult:
    """`pio run` in `project_dir` with the offline core; ToolError on a missing pio or a failed build."""
    return run_pio_envs(project_dir, [env], target, timeout, core_dir)[env]


def main(argv: list[str] | None = None) -> int:
    """`python -m tinycompress.target.pio setup [CORE_DIR]`: make the offline PlatformIO core."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "setup":
        print("usage: python -m tinycompress.target.pio setup [CORE_DIR]", file=sys.stderr)
        return 2
    try:
        core = ensure_offline_core(Path(args[1]) if len(args) > 1 else None)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"offline PlatformIO core ready: {core}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
