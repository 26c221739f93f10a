"""Project stage: rendered sources + board -> a self-contained PlatformIO project.

    with staged(out_dir, force) as tmp:     # a temp dir next to out_dir
        write_project(tmp, board, rendered)
        ...                                  # compile, write reports
    # only now does out_dir exist (renamed from tmp); any error removes tmp

Layout of a project (everything it needs; only the offline toolchain and
PlatformIO core live outside):

    platformio.ini          envs sim (QEMU), hw (real boards, offline), ststm32 (online)
    boards/tc_<board>.json  board manifest;  tc_<board>[_sim].ld  linker scripts
    platform/               the dev-platform (firmware/platform)
    lib/tc_platform/        startup, UART/semihosting, timer, tc_board.h
    src/                    tc_model.h, tc_model.c, main.c (generated)
    src/tc_runtime/         runtime headers and only the kernels the model calls
"""
from __future__ import annotations

import contextlib
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from tinycompress import paths
from tinycompress.target.boards import Board
from tinycompress.compress.outputs import check_output_dir as check_writable_dir
from tinycompress.errors import OutputExistsError
from tinycompress.target.children import interrupts_deferred
from tinycompress.target.boardfiles import linker_script
from tinycompress.target.pio import platformio_ini, write_platform_files
from tinycompress.target.stack import STACK_FLAGS, StackReport, measure
from tinycompress.codegen.render import Rendered

RUNTIME_SUBDIR = Path("src") / "tc_runtime"
# Stack reserve of the first link. The build then measures the deepest call chain
# (`target.stack`: GCC's -fstack-usage frames over its call graph) and relinks with
# that figure plus stack.STACK_MARGIN (`fit_stack`); check_fit uses this one before
# anything is compiled.
STACK_SIZE = 1024


def check_output_dir(out_dir: Path, force: bool) -> None:
    """OutputExistsError when `out_dir` exists and `force` is not set; OutputPathError
    when it could not be written (a file in the way, a read-only parent)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise OutputExistsError(f"{out_dir} already exists (use --force to overwrite it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} exists and is not a directory")
    check_writable_dir(out_dir, "--output")


@contextlib.contextmanager
def staged(out_dir: Path, force: bool = False) -> Iterator[Path]:
    """A temporary directory next to `out_dir` that replaces it only if the block succeeds.

    On any exception, Ctrl-C included, the directory is removed; the tools that
    wrote into it have been ended by then (`target.children`). Creating,
    renaming and removing it are not cut short by a Ctrl-C, which waits until they are done.
    """
    out_dir = Path(out_dir).absolute()
    check_output_dir(out_dir, force)
    made = [p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with interrupts_deferred():
            tmp = _new_staging_dir(out_dir)
        yield tmp
        with interrupts_deferred():
            _replace(tmp, out_dir)
    except BaseException:
        with interrupts_deferred():
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for parent in made:  # the directories made for it, innermost first, if still empty
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise


def _new_staging_dir(out_dir: Path) -> Path:
    """An empty `.<name>.<random>.tmp` beside `out_dir`, made with the user's umask (mkdtemp's is 0700)."""
    for _ in range(100):
        tmp = out_dir.with_name(f".{out_dir.name}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free staging directory name beside {out_dir}")


def _replace(tmp: Path, out_dir: Path) -> None:
    """Rename `tmp` to `out_dir`, moving an existing `out_dir` aside first (force)."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def runtime_files(kernel_sources: list[str]) -> list[Path]:
    """All runtime headers plus the named kernel sources (FileNotFoundError if one is missing)."""
    headers = sorted((paths.RUNTIME_DIR / "include").glob("*.h"))
    sources = [paths.RUNTIME_DIR / "src" / name for name in kernel_sources]
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"runtime kernel source missing: {src}")
    return headers + sources


def write_sources(project_dir: Path, rendered: Rendered) -> None:
    """src/: the generated files and the runtime the model uses."""
    src = Path(project_dir) / "src"
    runtime = Path(project_dir) / RUNTIME_SUBDIR
    runtime.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.files.items():
        (src / name).write_text(text, encoding="utf-8")
    for path in runtime_files(rendered.kernel_sources):
        shutil.copyfile(path, runtime / path.name)


def write_project(project_dir: Path, board: Board, rendered: Rendered,
                  core_dir: Path | None = None, stack_size: int = STACK_SIZE,
                  extra_flags: tuple[str, ...] = ()) -> Path:
    """Write a complete PlatformIO project into the (new or empty) `project_dir`
    (`extra_flags`: compiler flags of both builds, e.g. energy mode's)."""
    project_dir = Path(project_dir)
    project_dir.mkdir(parents=True, exist_ok=True)
    write_platform_files(project_dir, board, stack_size=stack_size)
    flags = " ".join([f"-I{RUNTIME_SUBDIR.as_posix()}", *rendered.build_flags(), *STACK_FLAGS,
                      *extra_flags])
    ini = platformio_ini(board, core_dir, build_flags=flags)
    (project_dir / "platformio.ini").write_text(ini, encoding="utf-8")
    write_sources(project_dir, rendered)
    return project_dir


def fit_stack(project_dir: Path, board: Board, envs: tuple[str, ...]) -> tuple[StackReport, bool]:
    """Measure the built firmware's stack and write its reserve into the linker scripts:
    the QEMU script ('sim' env) the sim build's, the board's script ('hw', and the online
    'ststm32' env that shares it) the hardware build's, each its own firmware's deepest
    chain (the sim build's file reading and per-layer dump hook are not on the board);
    a script whose env was not built gets the deepest of those that were. (The report
    of the board's build, else the deepest; whether a reserve changed: the caller
    relinks, the ELFs of `envs` are removed so that PlatformIO does)."""
    project_dir = Path(project_dir)
    reports = {env: measure([project_dir / ".pio" / "build" / env]) for env in envs}
    deepest = max(reports.values(), key=lambda r: r.bytes)
    changed = False
    for sim in (False, True):
        path = project_dir / f"{board.local_id}{'_sim' if sim else ''}.ld"
        if path.is_file():
            reserve = reports.get("sim" if sim else "hw", deepest).reserve
            text = linker_script(board, sim=sim, stack_size=reserve)
            changed |= path.read_text(encoding="utf-8") != text
            path.write_text(text, encoding="utf-8")
    if changed:
        for env in envs:
            (project_dir / ".pio" / "build" / env / "firmware.elf").unlink(missing_ok=True)
    return reports.get("hw", deepest), changed
