"""The configurations the bench compares, and the digits "smallest within 1 pt" search.

- `int8-dense`: 8-bit weights, no pruning, every layer forced to the dense
  layout: what a plain int8 deployment stores.
- `default`: the tool's defaults (no options at all): with data, the default
  compression (`tinycompress.compress.auto`).
- `default-size` (digits): the same with `--optimize size`, layouts chosen for
  bytes alone instead of within 1.10x of the fastest layout's instructions.
- `smallest-within-1pt` (digits only, labelled data): the setting with the
  fewest weight bytes whose VALIDATION accuracy is within 1 pt of the float
  model's (on the same validation split: the seeded, stratified 20 % that
  compress() holds out of train.npz), from a small grid: global sparsity x
  bits x per-channel on/off x quantizer (uniform rounding, or
  rate-distortion at a few lambdas). Its test accuracy is only reported,
  never used to choose.

The grid fine-tunes once per sparsity (pruning and fine-tuning do not depend
on the bit width or quantizer) and saves the fine-tuned model as a `.keras`
file; every point is then `compress()` of that file with one-shot pruning at
the same sparsity (which keeps exactly the fine-tuned zeros). RD points reuse
one Fisher diagonal per fine-tuned model, computed exactly as `compress()`
computes it, and the winner is re-run through `compress()` with its lambda so
the reported numbers come from the tool itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tinycompress.data import Dataset

INT8_DENSE = {"bits": 8, "sparsity": 0.0, "layout": "dense"}
DEFAULT: dict = {}
DEFAULT_SIZE = {"optimize": "size"}  # the default compression, layouts chosen for bytes alone
SMALLEST_NAME = "smallest-within-1pt"
SMALLEST_DEFAULT_NAME = "smallest-within-1pt-at-default"  # the same setting, layouts by the default
BUDGET_PTS = 1.0


@dataclass(frozen=True)
class Grid:
    """The search space; `quick` shrinks it for iterating on the bench itself."""

    sparsities: tuple[float, ...] = (0.8, 0.85, 0.9, 0.95, 0.97)
    bits: tuple[int, ...] = (2, 3, 4, 5)
    per_channel: tuple[bool, ...] = (True, False)
    rd_factors: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03)  # x rd.lambda_scale
    epochs: int = 20

    @classmethod
    def quick(cls) -> Grid:
        return cls(sparsities=(0.9, 0.95), bits=(3, 4), per_channel=(False,),
                   rd_factors=(0.01, 0.03), epochs=6)

    def size(self) -> int:
        """Number of grid points (fine-tunings not counted)."""
        return (len(self.sparsities) * len(self.bits) * len(self.per_channel)
                * (1 + len(self.rd_factors)))


@dataclass
class Point:
    """One evaluated setting: compress options, the model file, bytes, validation accuracy
    (what the selection reads) and test accuracy (reported only)."""

    model: Path
    options: dict
    weight_bytes: int
    accuracy: float          # validation split
    test_accuracy: float | None = None

    def as_dict(self) -> dict:
        return {"options": self.options, "weight_bytes": self.weight_bytes,
                "accuracy": self.accuracy, "accuracy_split": "val",
                "test_accuracy": self.test_accuracy}


@dataclass
class SearchResult:
    best: Point | None
    float_accuracy: float                 # the float model on test.npz (reported)
    points: list[Point] = field(default_factory=list)
    val_float_accuracy: float | None = None  # the float model on the validation split (the budget's base)
    finetune_seconds: dict[float, float] = field(default_factory=dict)  # sparsity -> wall s


Tick = Callable[[str], None]


def finetuned_model(model_path: Path, sparsity: float, train: Dataset, epochs: int,
                    work: Path) -> Path:
    """Prune `model_path` to `sparsity`, fine-tune on the training part of `train` (the
    validation split compress() holds out stays out), save (cached) and return the path."""
    path = work / f"finetuned_s{round(sparsity * 100):02d}_e{epochs}_val-held-out.keras"
    if path.is_file():
        return path
    from tinycompress.compress.finetune import prune_keras
    from tinycompress.compress.roles import assign_roles
    from tinycompress.frontend.legacy import load_keras_model

    part = assign_roles(train).train
    tuned = prune_keras(load_keras_model(Path(model_path)), sparsity, part.x, part.y,
                        epochs=epochs, scope="global")
    work.mkdir(parents=True, exist_ok=True)
    tuned.save(path)
    return path


def within_budget(accuracy: float, float_accuracy: float, budget_pts: float = BUDGET_PTS) -> bool:
    """accuracy (0..1) at most `budget_pts` percentage points below float (rounding-safe)."""
    return 100.0 * accuracy >= 100.0 * float_accuracy - budget_pts - 1e-9


def smallest(points: list[Point], float_accuracy: float) -> Point | None:
    """Fewest weight bytes within the budget; ties: higher accuracy, then grid order."""
    ok = [p for p in points if within_budget(p.accuracy, float_accuracy)]
    return min(ok, key=lambda p: (p.weight_bytes, -p.accuracy)) if ok else None


def _fisher(model: Path, compressed, train: Dataset):
    """Fisher matrices exactly as compress() computes them for `quantizer = "rd"`: on the
    training part of train.npz (the validation split held out)."""
    from tinycompress.compress.fisher import graph_fisher_matrices
    from tinycompress.compress.roles import assign_roles, calibration_data
    from tinycompress.frontend.legacy import load_keras_model

    part = assign_roles(train).train
    calib, _ = calibration_data(compressed.graph, part)
    return graph_fisher_matrices(compressed.graph, load_keras_model(model), calib,
                                 part.y[:len(calib)])


def _rd_points(model: Path, options: dict, compressed, fisher, factors, train: Dataset,
               test: Dataset) -> list[Point]:
    """RD variants of one uniform point: lambda = factor x the model's lambda unit.

    Scored by the tool's own Evaluator on the compressed point's plan with the
    rd quantizer at each lambda, with compress()'s calibration (the training
    part) on the validation split; the test accuracy is computed for the
    report only.
    """
    from tinycompress.compress.evaluate import Evaluator
    from tinycompress.compress.rd import lambda_scale
    from tinycompress.compress.roles import assign_roles, calibration_data

    roles = assign_roles(train, None, test)
    calib = calibration_data(compressed.graph, roles.train)[0]
    on_val = Evaluator(compressed.graph, calib, roles.val, fisher)
    on_test = Evaluator(compressed.graph, calib, test, fisher)
    unit = lambda_scale(compressed.qgraph, fisher)
    points = []
    for factor in factors:
        lam = float(factor * unit)
        plan = compressed.plan.with_all(quantizer="rd", lam=lam)
        score = on_val.score(plan)
        points.append(Point(model, {**options, "quantizer": "rd", "lambda": lam},
                            int(score.weight_bytes), float(score.accuracy),
                            float(on_test.score(plan).accuracy)))
    return points


def _point(model: Path, options: dict, c) -> Point:
    """A compress() result as a point: validation accuracy to choose by, test to report."""
    return Point(model, options, c.weight_bytes, c.validation["accuracy"]["quantized"],
                 c.accuracy["quantized"])


def search(model_path: Path, train: Dataset, test: Dataset, float_accuracy: float,
           grid: Grid, work: Path, tick: Tick) -> SearchResult:
    """Evaluate the grid (see module docstring) and pick the smallest point within 1 pt."""
    from tinycompress.compress.core import CompressOptions, compress

    from tinycompress.compress.evaluate import float_accuracy as float_top1
    from tinycompress.compress.roles import assign_roles
    from tinycompress.frontend import load

    result = SearchResult(None, float_accuracy)
    # the budget's base: the model as given (not a fine-tuned copy) on the validation split
    result.val_float_accuracy = float_top1(load(model_path), assign_roles(train).val)
    for sparsity in grid.sparsities:
        tick(f"fine-tune at sparsity {sparsity:.2f} ({grid.epochs} epochs)")
        start = time.monotonic()
        model = finetuned_model(model_path, sparsity, train, grid.epochs, work)
        result.finetune_seconds[sparsity] = round(time.monotonic() - start, 1)
        fisher = None
        for bits in grid.bits:
            for per_channel in grid.per_channel:
                # a size-first search: every layer in its smallest layout
                options = {"bits": bits, "sparsity": sparsity, "per_channel": per_channel,
                           "optimize": "size"}
                tick(f"grid s={sparsity:.2f} b={bits} per_channel={per_channel}")
                c = compress(model, CompressOptions.from_settings(options), train, test)
                result.points.append(_point(model, {**options, "quantizer": "uniform"}, c))
                if grid.rd_factors:
                    fisher = fisher if fisher is not None else _fisher(model, c, train)
                    result.points.extend(_rd_points(model, options, c, fisher, grid.rd_factors, train, test))
    result.best = confirm(result, train, test)
    return result


def confirm(result: SearchResult, train: Dataset, test: Dataset) -> Point | None:
    """The smallest point re-run through compress() itself; the next one if it no longer fits."""
    from tinycompress.compress.core import CompressOptions, compress

    remaining = list(result.points)
    while True:
        best = smallest(remaining, result.val_float_accuracy)
        if best is None:
            return None
        c = compress(best.model, CompressOptions.from_settings(best.options), train, test)
        confirmed = _point(best.model, best.options, c)
        if within_budget(confirmed.accuracy, result.val_float_accuracy):
            return confirmed
        remaining.remove(best)
