"""The one evaluator every selection scores plans with, on validation data only.

    ev = Evaluator(graph, calib_x, val, fisher, reference=loaded, metric="accuracy")
    ev.loss(plan)         # points of the metric lost against the model as given
    ev.score(plan)        # Score(accuracy of the integer model on val, exact weight bytes)

The `--max-accuracy-drop` / `--max-fidelity-loss` search, the lambda sweep,
the grid sweep (through `compress`) and the bench all go through it, so a
plan's loss and bytes mean the same thing wherever they are reported.

A plan's loss is in percentage points of one metric, always against
`reference`, the original float model before pruning or fine-tuning, on the
same validation inputs: with metric "accuracy" the drop of the integer
model's top-1 accuracy below the reference's; with "fidelity" the top-1
disagreement with the reference (classifiers) or the relative RMS error of
the outputs (anything else), in % (`fidelity`).

Applied plans and their outputs on the validation inputs are memoised by
plan, so a plan met twice is carried out and run once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress import layouts
from tinycompress.compress.fidelity import FLAGS, METRICS, Fidelity, fidelity, is_classifier
from tinycompress.compress.plan import (Applied, LayerPlan, Plan, apply, border, cost_kind,
                                        geometry, positions)
from tinycompress.compress.prune import magnitude_masks
from tinycompress.compress.qparams import quantize_weights, weight_matrix
from tinycompress.compress.rd import rd_quantize
from tinycompress.compress.weights import col_map_for, constants_nbytes, layer_weight_bytes
from tinycompress.compress.lower import lower_graph
from tinycompress.compress.quantize import quantize
from tinycompress.data import Dataset
from tinycompress.errors import DataError
from tinycompress.frontend import as_given
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import predict


@dataclass(frozen=True)
class Score:
    """accuracy: top-1 of the integer model on the validation data, 0..1 (None: no labels)."""

    accuracy: float | None
    weight_bytes: int


def plan_key(plan: Plan) -> tuple:
    return plan.optimize, plan.scope, tuple(plan.layers.items())


def applied_bytes(applied: Applied) -> dict[str, tuple[str, int]]:
    """{weight layer: (layout name, exact bytes the firmware carries)}."""
    return {qn.name: (applied.layouts[qn.name].name, layer_weight_bytes(qn, applied.layouts[qn.name]))
            for qn in applied.qgraph.weight_nodes}


def float_outputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The float reference's first output of `graph` on `x`, one row per sample; for an
    int8 .tflite with its own weights, the integer model the file describes (so losses
    are measured against the .tflite as given)."""
    given = as_given(graph)
    if given is not None:
        qgraph = quantize(given, np.asarray(x[:1], np.float32))  # every scale is the file's
        return np.asarray(predict(qgraph, x)).reshape(len(x), -1)
    out = run_float(graph, np.asarray(x, np.float32))
    out = np.asarray(out[0] if isinstance(out, list) else out)
    return out.reshape(len(x), -1)


def int_outputs(applied: Applied, x: np.ndarray) -> np.ndarray:
    """The integer model's dequantized first output on `x`, one row per sample."""
    return np.asarray(predict(applied.qgraph, x)).reshape(len(x), -1)


def top1(outputs: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of output rows against integer labels (or one-hot rows)."""
    y = np.asarray(y)
    y = np.argmax(y, axis=1) if y.ndim == 2 else y
    if len(y) != len(outputs):
        raise DataError(f"{len(outputs)} samples but {len(y)} labels")
    return float(np.mean(np.argmax(outputs, axis=1) == y))


def float_accuracy(graph: Graph, data: Dataset) -> float:
    """Top-1 accuracy of the float reference of `graph` on labelled `data`."""
    return top1(float_outputs(graph, data.x), data.y)


def check_validation(metric: str, data: Dataset | None) -> None:
    """DataError unless `data` can measure `metric` ("accuracy" needs labels)."""
    flag = FLAGS[metric]
    if data is None:
        raise DataError(f"{flag} is measured on validation data: give --data (20 % of it is "
                        f"held out) or --val-data; --eval-data is never used to choose settings")
    if metric == "accuracy" and data.y is None:
        raise DataError(f"{flag} needs labels 'y' in the validation data (--data or "
                        f"--val-data); without labels use --max-fidelity-loss")


class Evaluator:
    """Plans on one float graph, scored on one validation dataset (None: bytes only).

    `reference` is the model as given (default: `graph`), the yardstick of
    every loss; `metric` ("accuracy" or "fidelity") is what `loss` measures;
    `classifier` whether fidelity compares top-1 classes (default: a softmax
    output, or labelled validation data; `fidelity.is_classifier`).
    """

    def __init__(self, graph: Graph, calib_x: np.ndarray, data: Dataset | None = None,
                 fisher: dict[str, np.ndarray] | None = None, reference: Graph | None = None,
                 metric: str = "accuracy", classifier: bool | None = None):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.graph, self.calib_x, self.data, self.fisher = graph, calib_x, data, fisher
        self.reference = graph if reference is None else reference
        self.metric, self._classifier = metric, classifier
        self.names = [n.name for n in graph.nodes if n.op in WEIGHT_OPS]
        self._applied: dict[tuple, Applied] = {}
        self._outputs: dict[tuple, np.ndarray] = {}
        self._reference_outputs: np.ndarray | None = None
        self._layer: dict[tuple, tuple[str, int]] = {}
        self._col_maps: dict[str, np.ndarray | None] | None = None

    @property
    def labelled(self) -> bool:
        return self.data is not None and self.data.y is not None

    @property
    def classifier(self) -> bool:
        """Whether fidelity compares top-1 classes (else the outputs' RMS error)."""
        if self._classifier is None:
            return is_classifier(self.reference, self.labelled)
        return self._classifier

    def apply(self, plan: Plan) -> Applied:
        key = plan_key(plan)
        if key not in self._applied:
            self._applied[key] = apply(plan, self.graph, self.calib_x, self.fisher)
        return self._applied[key]

    def outputs(self, plan: Plan) -> np.ndarray:
        """The plan's integer model's outputs on the validation inputs (the firmware's arithmetic)."""
        if self.data is None:
            raise DataError("scoring a plan needs validation data")
        key = plan_key(plan)
        if key not in self._outputs:
            self._outputs[key] = int_outputs(self.apply(plan), self.data.x)
        return self._outputs[key]

    def reference_outputs(self) -> np.ndarray:
        """The reference float model's outputs on the validation inputs."""
        if self.data is None:
            raise DataError("scoring a plan needs validation data")
        if self._reference_outputs is None:
            self._reference_outputs = float_outputs(self.reference, self.data.x)
        return self._reference_outputs

    def accuracy(self, plan: Plan) -> float:
        """Top-1 of the plan's integer model on the validation data."""
        if not self.labelled:
            raise DataError("scoring a plan's accuracy needs labelled validation data")
        return top1(self.outputs(plan), self.data.y)

    @property
    def reference_accuracy(self) -> float:
        """Top-1 of the reference float model on the validation data."""
        if not self.labelled:
            raise DataError("the reference accuracy needs labelled validation data")
        return top1(self.reference_outputs(), self.data.y)

    def fidelity(self, plan: Plan) -> Fidelity:
        """The plan's integer outputs against the reference's, on the validation inputs."""
        return fidelity(self.reference_outputs(), self.outputs(plan), self.classifier)

    def loss(self, plan: Plan) -> float:
        """Points of `metric` the plan loses against the reference on the validation data."""
        if self.metric == "accuracy":
            return 100.0 * (self.reference_accuracy - self.accuracy(plan))
        return self.fidelity(plan).loss_pts

    def check_metric(self) -> None:
        """DataError unless the validation data can measure `metric`."""
        check_validation(self.metric, self.data)

    def weight_bytes(self, plan: Plan) -> int:
        return sum(nbytes for _, nbytes in applied_bytes(self.apply(plan)).values())

    def score(self, plan: Plan) -> Score:
        return Score(self.accuracy(plan) if self.labelled else None, self.weight_bytes(plan))

    def is_scored(self, plan: Plan) -> bool:
        return plan_key(plan) in self._outputs

    @property
    def evaluations(self) -> int:
        """How many distinct plans were run on the validation data."""
        return len(self._outputs)

    def layer_bytes(self, name: str, layer: LayerPlan, optimize: str) -> tuple[str, int]:
        """(layout, bytes) of one layer alone at `layer`, for ranking moves cheaply.

        Counts the bias as int32 (`constants_nbytes`): its narrowing to int16
        depends on the whole graph's quantization, so the bytes a selection
        reports come from `weight_bytes`, not from here.
        """
        key = (name, layer, optimize)
        if key not in self._layer:
            node = self.graph.node(name)
            k = node.weights["kernel"]
            k = np.where(magnitude_masks({name: k}, {name: layer.sparsity})[name], k, 0.0)
            matrix = weight_matrix(node.op, k)
            if layer.quantizer == "rd" and layer.lam is not None and self.fisher and name in self.fisher:
                levels = rd_quantize(matrix, self.fisher[name], layer.bits, layer.lam, layer.per_channel)[0]
            else:
                levels = quantize_weights(matrix, layer.bits, layer.per_channel)[0]
            allowed = None if layer.layout == "auto" else (layer.layout,)
            chosen = layouts.choose(levels, layer.bits, optimize, col_map=self.col_maps[name],
                                    allowed=allowed, kind=cost_kind(node),
                                    positions=positions(node), border=border(node),
                                    geometry=geometry(node, optimize == "size"))
            self._layer[key] = (chosen.name, chosen.nbytes + constants_nbytes(levels.shape[0], layer.per_channel))
        return self._layer[key]

    @property
    def col_maps(self) -> dict[str, np.ndarray | None]:
        """Input offset of every weight column, per layer (as the firmware reads them)."""
        if self._col_maps is None:
            lowered = lower_graph(self.graph)
            self._col_maps = {n.name: col_map_for(n.op, n.weights["kernel"].shape[:2], n.input_shapes[0])
                              for n in lowered.nodes if n.op in WEIGHT_OPS}
        return self._col_maps
