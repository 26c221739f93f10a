"""Where things are: the repository's data directories and the offline PlatformIO core."""
from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
BOARDS_DIR = REPO_DIR / "boards"
FIRMWARE_DIR = REPO_DIR / "firmware"
PLATFORM_DIR = FIRMWARE_DIR / "platform"
STARTUP_DIR = FIRMWARE_DIR / "startup"
RUNTIME_DIR = FIRMWARE_DIR / "runtime"
TEMPLATES_DIR = REPO_DIR / "templates"


def core_dir() -> Path:
    """The project-local PlatformIO core (`$TINYCOMPRESS_PIO_CORE` or `<repo>/.platformio`)."""
    override = os.environ.get("TINYCOMPRESS_PIO_CORE")
    return Path(override).resolve() if override else REPO_DIR / ".platformio"
