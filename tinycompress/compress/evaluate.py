"""The one evaluator every selection scores plans with.

    ev = Evaluator(graph, calib_x, val, fisher)
    ev.score(plan)        # Score(accuracy of the integer model on val, exact weight bytes)

The `--max-accuracy-drop` search, the lambda sweep, the grid sweep (through
`compress`) and the bench all go through it, so a plan's accuracy and bytes
mean the same thing wherever they are reported. Applied plans and scores are
memoised by plan, so a plan met twice is carried out once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinycompress import layouts
from tinycompress.compress.plan import Applied, LayerPlan, Plan, apply, positions
from tinycompress.compress.prune import magnitude_masks
from tinycompress.compress.qparams import quantize_weights, weight_matrix
from tinycompress.compress.rd import rd_quantize
from tinycompress.compress.weights import col_map_for, constants_nbytes, layer_weight_bytes
from tinycompress.compress.lower import lower_graph
from tinycompress.data import Dataset
from tinycompress.errors import DataError
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.reference.float_ref import run_float
from tinycompress.reference.int_ref import evaluate as int_accuracy


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


def float_accuracy(graph: Graph, data: Dataset) -> float:
    """Top-1 accuracy of the float reference of `graph` on labelled `data`."""
    y = np.asarray(data.y)
    y = np.argmax(y, axis=1) if y.ndim == 2 else y
    pred = np.asarray(run_float(graph, np.asarray(data.x, np.float32)))
    return float(np.mean(np.argmax(pred.reshape(len(y), -1), axis=1) == y))


class Evaluator:
    """Plans on one float graph, scored on one labelled dataset (None: bytes only)."""

    def __init__(self, graph: Graph, calib_x: np.ndarray, data: Dataset | None = None,
                 fisher: dict[str, np.ndarray] | None = None):
        self.graph, self.calib_x, self.data, self.fisher = graph, calib_x, data, fisher
        self.names = [n.name for n in graph.nodes if n.op in WEIGHT_OPS]
        self._applied: dict[tuple, Applied] = {}
        self._accuracy: dict[tuple, float] = {}
        self._layer: dict[tuple, tuple[str, int]] = {}
        self._col_maps: dict[str, np.ndarray | None] | None = None

    def apply(self, plan: Plan) -> Applied:
        key = plan_key(plan)
        if key not in self._applied:
            self._applied[key] = apply(plan, self.graph, self.calib_x, self.fisher)
        return self._applied[key]

    def accuracy(self, plan: Plan) -> float:
        """Top-1 of the plan's integer model on the validation data (the firmware's arithmetic)."""
        if self.data is None or self.data.y is None:
            raise DataError("scoring a plan needs labelled validation data")
        key = plan_key(plan)
        if key not in self._accuracy:
            self._accuracy[key] = float(int_accuracy(self.apply(plan).qgraph, self.data.x, self.data.y))
        return self._accuracy[key]

    def weight_bytes(self, plan: Plan) -> int:
        return sum(nbytes for _, nbytes in applied_bytes(self.apply(plan)).values())

    def score(self, plan: Plan) -> Score:
        labelled = self.data is not None and self.data.y is not None
        return Score(self.accuracy(plan) if labelled else None, self.weight_bytes(plan))

    def is_scored(self, plan: Plan) -> bool:
        return plan_key(plan) in self._accuracy

    @property
    def evaluations(self) -> int:
        """How many distinct plans were scored for accuracy."""
        return len(self._accuracy)

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
                                    allowed=allowed, kind=layouts.KIND_OF_OP[node.op],
                                    positions=positions(node))
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
