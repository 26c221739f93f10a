"""Session-wide builds for the on-the-board tests (flash, energy mode, power).

The digits example as plain 8-bit dense layers, so these tests depend on the
target stage and the firmware, not on which layouts the compressor picks.
"""
from __future__ import annotations

import pytest

from tinycompress.compress.options import CompressOptions
from tinycompress.data import DIGITS_MODEL
from tinycompress.pipeline import build

DIGITS_TRAIN = DIGITS_MODEL.parent / "train.npz"
DENSE8 = CompressOptions(bits=8, sparsity=0.0, layout="dense")


@pytest.fixture(scope="session")
def board_builds(tmp_path_factory, offline_core):
    """name -> build dir of the digits model, 8-bit dense: the F401 NUCLEO and a QEMU-only board."""
    root = tmp_path_factory.mktemp("board_builds")
    return {name: build(DIGITS_MODEL, name, root / name, options=DENSE8, data=DIGITS_TRAIN).out_dir
            for name in ("nucleo", "mps2_an386")}
