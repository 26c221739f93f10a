"""Shared fixtures: the offline PlatformIO core and throwaway firmware projects.

Target tests build real firmware with PlatformIO (offline) and run it in QEMU;
a missing tool fails the test (never skips it).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinycompress.target.boards import load_board
from tinycompress.target.pio import ensure_offline_core, platformio_ini, write_platform_files

# Tests use the checkout's PlatformIO core, as the Makefile does (an installed
# tinycompress keeps it in the user cache directory: tinycompress.paths).
os.environ.setdefault("TINYCOMPRESS_PIO_CORE", str(Path(__file__).resolve().parents[1] / ".platformio"))


@pytest.fixture(scope="session")
def offline_core() -> Path:
    """The repository's offline PlatformIO core (created on first use, idempotent)."""
    return ensure_offline_core()


@pytest.fixture
def firmware_project(offline_core):
    """Factory: make_project(dir, board_name, {relpath: text}) -> project dir with platformio.ini."""

    def make_project(project_dir: Path, board_name: str, sources: dict[str, str]) -> Path:
        board = load_board(board_name)
        project_dir.mkdir(parents=True, exist_ok=True)
        write_platform_files(project_dir, board)
        (project_dir / "platformio.ini").write_text(platformio_ini(board, offline_core), encoding="utf-8")
        for rel, text in sources.items():
            path = project_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return project_dir

    return make_project


@pytest.fixture(scope="session")
def digits_graph():
    """The bundled digits example, loaded once per test session."""
    from tinycompress.data import DIGITS_MODEL
    from tinycompress.frontend.keras import load

    return load(DIGITS_MODEL)


@pytest.fixture(scope="session")
def split():
    """The digits train/test split (tinycompress.data.load_digits_split)."""
    from tinycompress.data import load_digits_split

    return load_digits_split()
