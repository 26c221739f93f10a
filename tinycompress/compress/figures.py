"""The figures a compressed model is reported with, each labelled with its split.

    acc, fid = measure(loaded, applied, test, classifier)
    acc   # {"float": .., "quantized": .., "pruned_float"?: ..} (None without labels)
    fid   # Fidelity of the integer model against the float model as given

`float` is the model as given; `pruned_float` the pruned or fine-tuned float
model, when pruning changed a weight; `quantized` the plan's integer model
(the firmware's arithmetic). Validation figures reuse the outputs the
evaluator already computed for the chosen plan.
"""
from __future__ import annotations

import numpy as np

from tinycompress.compress.evaluate import float_outputs, int_outputs, top1
from tinycompress.compress.fidelity import Fidelity, fidelity
from tinycompress.compress.plan import Applied
from tinycompress.data import Dataset
from tinycompress.ir.graph import Graph


def weights_changed(a: Graph, b: Graph) -> bool:
    """Whether pruning or fine-tuning changed any weight (b is a pruned copy of a)."""
    if a is b:
        return False
    return any(not np.array_equal(x.weights[k], y.weights[k])
               for x, y in zip(a.nodes, b.nodes) for k in x.weights)


def measure(loaded: Graph, applied: Applied, data: Dataset, classifier: bool,
            outputs: np.ndarray | None = None, reference: np.ndarray | None = None
            ) -> tuple[dict | None, Fidelity]:
    """(accuracy figures or None without labels, fidelity) of `applied` on `data`.

    `outputs` / `reference`: the integer and float models' outputs on
    `data.x` when already computed.
    """
    ref = float_outputs(loaded, data.x) if reference is None else reference
    out = int_outputs(applied, data.x) if outputs is None else outputs
    acc = None
    if data.y is not None:
        acc = {"float": top1(ref, data.y), "quantized": top1(out, data.y)}
        if weights_changed(loaded, applied.graph):
            acc["pruned_float"] = top1(float_outputs(applied.graph, data.x), data.y)
    return acc, fidelity(ref, out, classifier)
