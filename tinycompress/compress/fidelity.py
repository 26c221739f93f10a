"""How far a compressed model's outputs are from the original float model's, and the budget.

    fidelity(ref, out, classifier=True)   # Fidelity(top1_agreement, rel_rms_error, snr_db)
    Budget("fidelity", 1.0).describe()    # 'fidelity loss <= 1.00 pt'

Both arrays are (N, ...) outputs of the same N inputs; `ref` comes from the
float reference of the model as given, `out` from the integer model. For
N samples and outputs flattened per sample:

- top-1 agreement: the share of samples whose argmax is the same (classifiers
  only: an argmax over an autoencoder's outputs means nothing);
- relative RMS error: sqrt(sum (out - ref)^2 / sum ref^2);
- SNR in dB: 10 log10(sum ref^2 / sum (out - ref)^2) = -20 log10(relative RMS error).

A selection's loss is in percentage points of one metric: the accuracy drop
below the original float model (labels), or the fidelity loss: top-1
disagreement with it in % for classifiers, the relative RMS error in % for
other outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinycompress.errors import SpecError
from tinycompress.ir.graph import Graph

METRICS = ("accuracy", "fidelity")
FLAGS = {"accuracy": "--max-accuracy-drop", "fidelity": "--max-fidelity-loss"}
LOSS_NAMES = {"accuracy": "accuracy drop", "fidelity": "fidelity loss"}


@dataclass(frozen=True)
class Budget:
    """At most `points` percentage points of `metric` loss ("accuracy" or "fidelity")."""

    metric: str
    points: float

    def __post_init__(self):
        if self.metric not in METRICS:
            raise SpecError(f"unknown budget metric {self.metric!r}; allowed: {', '.join(METRICS)}")
        p = self.points
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < math.inf:
            raise SpecError(f"{FLAGS[self.metric]} must be a finite number >= 0 "
                            f"(percentage points), got {p!r}")

    def describe(self) -> str:
        return f"{LOSS_NAMES[self.metric]} <= {self.points:.2f} pt"

    def holds(self, loss_pts: float) -> bool:
        return loss_pts <= self.points + 1e-9


@dataclass(frozen=True)
class Fidelity:
    """Agreement of two models' outputs on the same inputs (fractions, not percent)."""

    samples: int
    classifier: bool
    top1_agreement: float | None  # None for outputs that are not class scores
    rel_rms_error: float | None   # None when the reference outputs are all zero
    snr_db: float | None          # None when the outputs are identical (infinite SNR) or ref is zero

    @property
    def loss_pts(self) -> float:
        """Top-1 disagreement in % (classifiers), else the relative RMS error in %."""
        if self.classifier:
            return 100.0 * (1.0 - self.top1_agreement)
        return math.inf if self.rel_rms_error is None else 100.0 * self.rel_rms_error

    def as_dict(self, split: str) -> dict:
        r = lambda v: None if v is None else round(v, 6)  # noqa: E731
        return {"split": split, "samples": self.samples, "classifier": self.classifier,
                "top1_agreement": r(self.top1_agreement), "rel_rms_error": r(self.rel_rms_error),
                "snr_db": None if self.snr_db is None else round(self.snr_db, 2)}


def top1_agreement(ref: np.ndarray, out: np.ndarray) -> float:
    """Share of samples (rows) whose largest output is at the same index in both."""
    a, b = _rows(ref), _rows(out)
    return float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


def rel_rms_error(ref: np.ndarray, out: np.ndarray) -> float | None:
    """sqrt(sum (out - ref)^2 / sum ref^2) over every output of every sample (None: ref all 0)."""
    a, b = _rows(ref), _rows(out)
    power = float(np.sum(a * a))
    return None if power == 0.0 else math.sqrt(float(np.sum((b - a) ** 2)) / power)


def snr_db(ref: np.ndarray, out: np.ndarray) -> float | None:
    """10 log10(sum ref^2 / sum (out - ref)^2) (None: identical outputs, or ref all 0)."""
    a, b = _rows(ref), _rows(out)
    noise, power = float(np.sum((b - a) ** 2)), float(np.sum(a * a))
    return None if noise == 0.0 or power == 0.0 else 10.0 * math.log10(power / noise)


def fidelity(ref: np.ndarray, out: np.ndarray, classifier: bool) -> Fidelity:
    """Every metric of `out` against `ref` (top-1 agreement only for a classifier)."""
    return Fidelity(len(ref), classifier, top1_agreement(ref, out) if classifier else None,
                    rel_rms_error(ref, out), snr_db(ref, out))


def is_classifier(graph: Graph, labelled: bool) -> bool:
    """Whether the first output holds class scores: more than one value per sample, and a
    softmax at the end of the graph or labels given (accuracy is an argmax over it)."""
    node = graph.node(graph.outputs[0])
    if int(np.prod(node.output_shape)) < 2:
        return False
    return labelled or node.activation == "softmax"


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a.reshape(len(a), -1)
