"""The default compression: what `compress` does when the user chose no bits and no sparsity.

    mode = default_mode(options, spec, roles, keras_model)   # "int8" / "prune+search" / "search"
    steps, tuned = prune_iteratively(keras_model, graph, roles, budget, epochs, scope)

- Without data there is nothing to measure a loss on: plain int8 (and a
  warning that the activation ranges come from synthetic inputs).
- With labelled data and a Keras model ("prune+search"): iterative pruning
  with fine-tuning, then the per-layer search. The sparsity steps up
  `PRUNE_STEPS`; each step prunes the previous step's fine-tuned model further
  and fine-tunes it for at most `epochs` epochs on the training part, stopping
  early on the validation loss. A step is kept while the float model's
  validation accuracy is within `PRUNE_SHARE` of the budget of the model as
  given; the first step beyond it ends the schedule. The rest of the budget
  is left to the search (bits, more sparsity per layer, layouts), which
  measures the integer model against the model as given. `--epochs 0` skips
  the schedule: one-shot pruning inside the search.
- With data and no labels, or labels and no Keras model ("search"): the
  per-layer search with one-shot pruning. Without labels the budget is
  relative to the plain int8 build (`int8_relative_budget`), so it can always
  be met.
- `--no-search`, or bits or sparsity given anywhere: the settings as given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tinycompress.compress.evaluate import float_accuracy
from tinycompress.compress.fidelity import Budget
from tinycompress.compress.finetune import prune_keras
from tinycompress.compress.roles import DataRoles
from tinycompress.compress.spec import Spec
from tinycompress.frontend import from_keras
from tinycompress.ir.graph import Graph

PRUNE_STEPS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)
STEP_MISSES = 2          # consecutive steps over the budget that end the schedule
PRUNE_SHARE = 1.0        # of the accuracy budget, for the float model after pruning
STEP_EPOCHS = 20         # at most, per pruning step (early stopping usually ends sooner)
STEP_PATIENCE = 3        # epochs without a better validation loss before a step stops
SEARCH_CANDIDATES = 3    # kept steps searched (most pruned first); the fewest bytes wins
DEFAULT_ACCURACY_PTS = 1.0
CLASSIFIER_MIN_PTS = 1.0  # unlabelled classifiers: top-1 disagreement budget floor, in %
CLASSIFIER_MARGIN_PTS = 0.5  # ... or int8's disagreement + this, whichever is larger
RMS_FACTOR = 1.25        # other models: relative RMS error <= this x int8's

Progress = Callable[[str, int, int], None]


def default_mode(no_search: bool, spec: Spec, roles: DataRoles, has_keras: bool) -> str:
    """'as given', 'int8' (no data), 'prune+search' or 'search' (see the module docstring)."""
    if no_search or spec.chooses("bits", "sparsity"):
        return "as given"
    if roles.train is None or roles.val is None:
        return "int8"
    labelled = roles.train.y is not None and roles.val is not None and roles.val.y is not None
    return "prune+search" if labelled and has_keras else "search"


def int8_relative_budget(int8_loss_pts: float, classifier: bool) -> Budget:
    """The unlabelled default budget from the plain int8 build's fidelity loss on validation:
    classifiers max(1 %, int8 + 0.5 %) top-1 disagreement; others 1.25x int8's relative RMS error."""
    if classifier:
        return Budget("fidelity", max(CLASSIFIER_MIN_PTS, int8_loss_pts + CLASSIFIER_MARGIN_PTS))
    return Budget("fidelity", RMS_FACTOR * int8_loss_pts)


@dataclass(frozen=True)
class PruneStep:
    """One step of the schedule, measured on the validation split (float model)."""

    sparsity: float
    val_accuracy: float
    drop_pts: float
    kept: bool

    def as_dict(self) -> dict:
        return {"sparsity": self.sparsity, "val_accuracy": round(self.val_accuracy, 6),
                "drop_pts": round(self.drop_pts, 4), "kept": self.kept}


@dataclass
class Schedule:
    """The steps tried and the kept models, last (most pruned) first."""

    steps: list[PruneStep]
    reference_accuracy: float
    max_drop_pts: float
    epochs: int
    kept: list[tuple[float, Graph, object]]  # (sparsity, graph, Keras model), most pruned first

    def as_dict(self) -> dict:
        return {"split": "val", "metric": "float accuracy", "epochs_per_step": self.epochs,
                "reference_accuracy": round(self.reference_accuracy, 6),
                "max_drop_pts": self.max_drop_pts, "steps": [s.as_dict() for s in self.steps]}


def prune_iteratively(keras_model, graph: Graph, roles: DataRoles, budget: Budget, epochs: int,
                      scope: str, progress: Progress | None = None) -> Schedule:
    """Step the sparsity up, fine-tuning each step; stop at the first step over the pruning share
    of the budget. The model as given is not modified."""
    reference = float_accuracy(graph, roles.val)
    limit = PRUNE_SHARE * budget.points
    steps: list[PruneStep] = []
    kept: list[tuple[float, Graph, object]] = []
    current, misses = keras_model, 0
    for k, s in enumerate(PRUNE_STEPS):
        what = f"pruning step {k + 1}/{len(PRUNE_STEPS)}: {s:.0%}"
        tick = None if progress is None else (lambda done, total, w=what: progress(w, done, total))
        tuned = prune_keras(current, s, roles.train.x, roles.train.y, epochs=epochs,
                            progress=tick, scope=scope, validation=(roles.val.x, roles.val.y),
                            patience=STEP_PATIENCE)
        pruned = from_keras(tuned)
        acc = float_accuracy(pruned, roles.val)
        drop = 100.0 * (reference - acc)
        ok = drop <= limit + 1e-9
        steps.append(PruneStep(s, acc, drop, ok))
        current = tuned  # an over-budget step still seeds the next (validation noise)
        misses = 0 if ok else misses + 1
        if ok:
            kept.insert(0, (s, pruned, tuned))
        elif misses >= STEP_MISSES:
            break
    return Schedule(steps, reference, limit, epochs, kept)
