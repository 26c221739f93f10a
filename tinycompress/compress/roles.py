"""The three roles of data, never mixed.

    roles = assign_roles(data, val_data, eval_data)
    roles.train   # calibrates activation ranges, fine-tunes, weighs rd (Fisher)
    roles.val     # scores every selection: the search, the lambda sweep, the grid sweep's front
    roles.eval    # the final reported figures only; no selection ever reads it

Validation data is `--val-data` when given, else a fixed, seeded 20 % held
out of `--data` (stratified by label; `data.split_validation`), which is then
also held out of calibration and fine-tuning. Without `--data` the activation
ranges come from synthetic uniform inputs (`calibration_data`), and the
result carries a warning that says so and how to pass data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress.data import VALIDATION_PERCENT, VALIDATION_SEED, Dataset, split_validation
from tinycompress.ir.graph import Graph

CALIBRATION_SAMPLES = 256
SYNTHETIC_SEED = 0
SYNTHETIC_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class DataRoles:
    """Each dataset in its one role, and where each came from (for the reports)."""

    train: Dataset | None
    val: Dataset | None
    eval: Dataset | None
    val_source: str = ""
    eval_source: str = ""
    held_out: bool = False  # val is a part of --data, kept out of `train`

    def describe(self) -> dict:
        """compress-report.json's `data`: where each role's samples came from."""
        held = " not held out" if self.held_out else ""
        train = None if self.train is None else f"{_n(self.train)} of --data{held}"
        return {"training": train, "validation": self.val_source or None,
                "eval": self.eval_source or None}


def assign_roles(data: Dataset | None, val_data: Dataset | None = None,
                 eval_data: Dataset | None = None) -> DataRoles:
    """Calibration/fine-tuning, validation and evaluation data from what the user gave."""
    eval_source = "" if eval_data is None else f"--eval-data ({_n(eval_data)})"
    if val_data is not None:
        return DataRoles(data, val_data, eval_data, f"--val-data ({_n(val_data)})", eval_source)
    if data is None:
        return DataRoles(None, None, eval_data, "", eval_source)
    train, val = split_validation(data)
    if val is None:
        return DataRoles(data, None, eval_data, "", eval_source)
    how = "stratified by label" if data.y is not None else "at random"
    source = (f"{VALIDATION_PERCENT} % of --data held out ({_n(val)} of {len(data):,}, "
              f"{how}, seed {VALIDATION_SEED})")
    return DataRoles(train, val, eval_data, source, eval_source, held_out=True)


def calibration_data(graph: Graph, data: Dataset | None,
                     input_range: tuple[float, float] | None = None) -> tuple[np.ndarray, str]:
    """Calibration inputs: the user's data, else synthetic uniform [lo, hi) (said in the report)."""
    if data is not None:
        return data.x[:CALIBRATION_SAMPLES], f"{min(len(data.x), CALIBRATION_SAMPLES)} samples of --data"
    lo, hi = input_range or SYNTHETIC_RANGE
    shape = graph.inputs[0].output_shape
    rng = np.random.default_rng(SYNTHETIC_SEED)
    x = rng.random((CALIBRATION_SAMPLES, *shape), dtype=np.float32)
    if input_range is not None:
        x = (lo + (hi - lo) * x.astype(np.float64)).astype(np.float32)
    return x, f"{CALIBRATION_SAMPLES} synthetic samples uniform in [{lo:g}, {hi:g}) (no --data given)"


def synthetic_warning(input_range: tuple[float, float] | None) -> str:
    """The one line that says the activation ranges were not calibrated on real inputs."""
    lo, hi = input_range or SYNTHETIC_RANGE
    hint = "" if input_range else "; without data, --input-range LO HI sets the synthetic range"
    return (f"no --data: activation ranges are calibrated on synthetic inputs uniform in "
            f"[{lo:g}, {hi:g}), not on real ones; pass representative inputs with "
            f"--data FILE.npz (x: N x input shape){hint}")


def _n(data: Dataset) -> str:
    return f"{len(data):,} samples"
