"""Where things are: the data that ships with tinycompress, and the user's state.

The data directories (`templates/`, `firmware/`, `boards/` at the repository's
top level) are the packages `tinycompress._data.*` (see setup.py); they are
found with importlib.resources, the same way from a checkout (editable
install) and from a wheel, and are never written to.

State lives in the user's directories, never in the install: the offline
PlatformIO core is in the platform's user cache directory (platformdirs),
unless `$TINYCOMPRESS_PIO_CORE` names another one (the Makefile points it at
the checkout's `.platformio/` for development).
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

DATA_PACKAGE = "tinycompress._data"
APP_NAME = "tinycompress"
PIO_CORE_ENV = "TINYCOMPRESS_PIO_CORE"


def data_dir(name: str) -> Path:
    """The installed data directory `name` (templates, firmware or boards) as a real path."""
    found = resources.files(f"{DATA_PACKAGE}.{name}")
    if not isinstance(found, Path):  # a zip import: PlatformIO and jinja need real directories
        raise RuntimeError(f"{DATA_PACKAGE}.{name} is not a directory on disk ({found!r}): "
                           "install tinycompress from its wheel with pip, not as a zip")
    return found


TEMPLATES_DIR = data_dir("templates")
BOARDS_DIR = data_dir("boards")
FIRMWARE_DIR = data_dir("firmware")
PLATFORM_DIR = FIRMWARE_DIR / "platform"
STARTUP_DIR = FIRMWARE_DIR / "startup"
RUNTIME_DIR = FIRMWARE_DIR / "runtime"


def default_core_dir() -> Path:
    """The offline PlatformIO core's home when `$TINYCOMPRESS_PIO_CORE` is not set."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "platformio"


def core_dir() -> Path:
    """The offline PlatformIO core: `$TINYCOMPRESS_PIO_CORE`, else the user cache directory."""
    override = os.environ.get(PIO_CORE_ENV)
    return Path(override).resolve() if override else default_core_dir()
