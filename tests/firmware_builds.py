"""Session-wide builds of the digits example, shared by test_build.py and test_sim.py.

One real `pipeline.build` (PlatformIO offline, both envs for real boards) per
board per test session; the tests only read the resulting directories.
"""
from __future__ import annotations

import pytest

from tinycompress.data import DIGITS_MODEL
from tinycompress.pipeline import build

BOARDS = ("nucleo", "mps2_an386")


@pytest.fixture(scope="session")
def digits_builds(tmp_path_factory, offline_core):
    """board alias -> BuildResult of the digits example (8-bit dense default)."""
    root = tmp_path_factory.mktemp("digits_builds")
    return {name: build(DIGITS_MODEL, name, root / name) for name in BOARDS}
