"""`tinycompress doctor`: what a build, a simulation and a flash need, checked one by one.

    checks = run_checks()          # [Check(name="arm-none-eabi-gcc", ok=True, detail="12.2.1 ...", ...), ...]
    missing_for_build(checks)      # the failed checks a `build` cannot do without

Every check is one line: ok with what was found, or the problem and the
command that fixes it. Nothing is installed or created here (the PlatformIO
core is inspected with `pio.core_problem`, made by `tinycompress setup`).
The extras and their packages come from the installed package's metadata
(pyproject.toml), so the list never goes stale.
"""
from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tinycompress import __version__, paths
from tinycompress.errors import ToolError
from tinycompress.target.boards import list_boards
from tinycompress.target.flash import APT as FLASH_APT, TOOLS as FLASH_TOOL_NAMES
from tinycompress.target.pio import DEBIAN_BIN, TOOLCHAIN_PREFIX, core_problem
from tinycompress.target.qemu import QEMU

DIST = "tinycompress"
MIN_PYTHON = (3, 11)
APT = "apt-get install --no-install-recommends"
FLASH_TOOLS = {tool: FLASH_APT[tool] for tool in FLASH_TOOL_NAMES if tool in FLASH_APT}  # -> Debian package
DEV_EXTRAS = ("test",)  # extras for working on tinycompress itself, not for using it
TF_TIMEOUT_S = 600.0
# Imports TensorFlow and Keras in a fresh interpreter: versions and the cold import time.
_TF_PROBE = ("import os, time; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; t = time.perf_counter(); "
             "import tensorflow, keras; print(tensorflow.__version__, keras.__version__, time.perf_counter() - t)")


@dataclass(frozen=True)
class Check:
    """One thing the machine needs: found (ok) or not, what was seen, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_for: str = "build"  # build, sim, flash or optional

    def line(self) -> str:
        """`ok   name  detail`, or `fix  name  detail -> fix (needed for ...)`."""
        head = f"{'ok' if self.ok else 'fix':<4} {self.name:<20} {self.detail}"
        return head if self.ok else f"{head} -> {self.fix} (needed for {self.needed_for})"

    def to_dict(self) -> dict:
        return asdict(self)


def _run(cmd: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _requirements() -> list[tuple[str, str | None]]:
    """(distribution, extra or None) for every requirement of the installed tinycompress."""
    found = []
    for req in metadata.requires(DIST) or []:
        name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        found.append((name, extra.group(1) if extra else None))
    return found


def _versions(dists: list[str]) -> tuple[list[str], list[str]]:
    """(["numpy 2.1.3", ...], [missing distribution names])."""
    have, missing = [], []
    for dist in dists:
        try:
            have.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            missing.append(dist)
    return have, missing


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check("python", ok, f"{version} ({sys.executable})",
                 f"use Python {'.'.join(map(str, MIN_PYTHON))} or newer")


def check_install() -> Check:
    """tinycompress itself: its version, where it is, and its data directories."""
    empty = [name for name, d in (("templates", paths.TEMPLATES_DIR), ("firmware", paths.FIRMWARE_DIR),
                                  ("boards", paths.BOARDS_DIR)) if not any(d.iterdir())]
    detail = f"{__version__} in {Path(paths.__file__).parent}"
    return Check("tinycompress", not empty, detail + (f"; no data in {', '.join(empty)}" if empty else
                                                     "; templates, firmware and boards found"),
                 "reinstall tinycompress (pip install --force-reinstall tinycompress)")


def check_packages() -> Check:
    """The packages a plain `pip install tinycompress` brings."""
    try:
        base = [name for name, extra in _requirements() if extra is None]
    except metadata.PackageNotFoundError:
        return Check("packages", False, "tinycompress has no installed metadata",
                     "install it with pip (pip install -e . in a checkout)")
    have, missing = _versions(base)
    detail = ", ".join(have) + (f"; missing {', '.join(missing)}" if missing else "")
    return Check("packages", not missing, detail, f"pip install {' '.join(missing)}")


def check_tensorflow() -> Check:
    """TensorFlow and Keras importable (needed to read Keras models), and how long that takes."""
    try:
        done = _run([sys.executable, "-c", _TF_PROBE], timeout=TF_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Check("tensorflow", False, f"import took over {TF_TIMEOUT_S:.0f} s", "pip install 'tinycompress[tf]'")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["import failed"])[-1]
        return Check("tensorflow", False, f"cannot import TensorFlow/Keras ({last})", "pip install 'tinycompress[tf]'")
    tf_version, keras_version, seconds = done.stdout.split()[-3:]
    return Check("tensorflow", True, f"TensorFlow {tf_version}, Keras {keras_version} "
                                     f"(import {float(seconds):.1f} s)")


def check_gcc() -> Check:
    gcc = DEBIAN_BIN / f"{TOOLCHAIN_PREFIX}gcc"
    fix = f"{APT} gcc-arm-none-eabi libnewlib-arm-none-eabi"
    if not gcc.exists():
        return Check("arm-none-eabi-gcc", False, f"{gcc} not found", fix)
    version = _run([str(gcc), "-dumpfullversion"]).stdout.strip()
    return Check("arm-none-eabi-gcc", bool(version), f"{version or 'does not run'} ({gcc})", fix)


def check_newlib() -> Check:
    """newlib-nano (libc_nano.a, nano.specs) for every CPU/FPU the boards use."""
    gcc = DEBIAN_BIN / f"{TOOLCHAIN_PREFIX}gcc"
    fix = f"{APT} libnewlib-arm-none-eabi"
    if not gcc.exists():
        return Check("newlib", False, f"{gcc} not found", fix)
    variants = sorted({tuple(b.cpu_flags()) for b in list_boards()})
    missing = []
    for flags in variants:
        for name in ("libc_nano.a", "nano.specs"):
            found = _run([str(gcc), *flags, f"-print-file-name={name}"]).stdout.strip()
            if not Path(found).is_absolute() or not Path(found).exists():
                missing.append(f"{name} for {' '.join(flags)}")
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    detail = (f"missing {missing[0]}{more}" if missing else
              f"libc_nano.a and nano.specs for the {len(variants)} CPU/FPU variants of the boards")
    return Check("newlib", not missing, detail, fix)


def check_qemu() -> Check:
    exe = shutil.which(QEMU)
    fix = f"{APT} qemu-system-arm"
    if exe is None:
        return Check(QEMU, False, "not found", fix, "sim")
    first = (_run([exe, "--version"]).stdout.splitlines() or ["?"])[0]
    return Check(QEMU, True, f"{first.removeprefix('QEMU emulator ')} ({exe})", fix, "sim")


def check_qemu_machines() -> Check:
    """Every QEMU machine the boards simulate on is one this qemu-system-arm has."""
    wanted = sorted({b.qemu_machine for b in list_boards()})
    exe = shutil.which(QEMU)
    fix = f"{APT} qemu-system-arm (7.2 or newer)"
    if exe is None:
        return Check("qemu machines", False, f"{QEMU} not found", fix, "sim")
    listed = _run([exe, "-machine", "help"]).stdout.splitlines()[1:]
    have = {line.split()[0] for line in listed if line.strip()}
    missing = [m for m in wanted if m not in have]
    detail = ", ".join(wanted) if not missing else f"{QEMU} lacks {', '.join(missing)}"
    return Check("qemu machines", not missing, detail, fix, "sim")


def check_core() -> Check:
    """The offline PlatformIO core (made by `tinycompress setup`)."""
    core = paths.core_dir()
    try:
        problem = core_problem(core)
    except ToolError as exc:
        return Check("platformio core", False, str(exc), "fix the line above, then run `tinycompress setup`")
    where = f"${paths.PIO_CORE_ENV}" if os.environ.get(paths.PIO_CORE_ENV) else "user cache"
    return Check("platformio core", problem is None, problem or f"{core} ({where})", "run `tinycompress setup`")


def check_flash_tools() -> Check:
    found = {tool: shutil.which(tool) for tool in FLASH_TOOLS}
    have = [tool for tool, path in found.items() if path]
    detail = ", ".join(f"{tool} {'found' if found[tool] else 'missing'}" for tool in FLASH_TOOLS)
    fix = f"{APT} {' or '.join(FLASH_TOOLS.values())}"
    return Check("flash tools", bool(have), detail, fix, "flash")


def check_extras() -> list[Check]:
    """One line per optional extra (from the package metadata): its packages installed or not."""
    try:
        reqs = _requirements()
    except metadata.PackageNotFoundError:
        return []
    extras = sorted({extra for _, extra in reqs if extra and extra not in DEV_EXTRAS})
    checks = []
    for extra in extras:
        have, missing = _versions([name for name, e in reqs if e == extra])
        detail = ", ".join(have + [f"{name} missing" for name in missing])
        checks.append(Check(f"extra [{extra}]", not missing, detail,
                            f"pip install 'tinycompress[{extra}]'", "optional"))
    return checks


def run_checks() -> list[Check]:
    """Every check, in the order a build, a simulation and a flash need them."""
    return [check_python(), check_install(), check_packages(), check_tensorflow(), check_gcc(),
            check_newlib(), check_core(), check_qemu(), check_qemu_machines(), check_flash_tools(),
            *check_extras()]


def missing_for_build(checks: list[Check]) -> list[Check]:
    """The failed checks without which `tinycompress build` cannot work."""
    return [c for c in checks if not c.ok and c.needed_for == "build"]
