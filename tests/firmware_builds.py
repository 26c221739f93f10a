"""Session-wide builds of the digits example, shared by test_build.py and test_sim.py.

One real `pipeline.build` (PlatformIO offline, both envs for real boards) per
board per test session; the tests only read the resulting directories.
"""
from __future__ import annotations

import pytest

from tinycompress.compress import CompressOptions
from tinycompress.data import DIGITS_MODEL
from tinycompress.pipeline import build

BOARDS = ("nucleo", "mps2_an386")
DIGITS_TRAIN = DIGITS_MODEL.parent / "train.npz"
DIGITS_TEST = DIGITS_MODEL.parent / "test.npz"


@pytest.fixture(scope="session")
def digits_builds(tmp_path_factory, offline_core):
    """board alias -> BuildResult of the digits example, plain int8 (--no-search), calibrated
    on the example's train.npz and measured on its test.npz, both passed explicitly."""
    root = tmp_path_factory.mktemp("digits_builds")
    return {name: build(DIGITS_MODEL, name, root / name, data=DIGITS_TRAIN, eval_data=DIGITS_TEST,
                        options=CompressOptions(no_search=True))
            for name in BOARDS}
