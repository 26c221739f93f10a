"""The compress stage's entry: a model -> a `Plan` -> quantized graph + layouts.

    result = compress("model.keras", CompressOptions(sparsity=0.9, bits=4), data)

1. The options, the spec file and the defaults give the starting plan
   (`options.resolve_plan`).
2. With `epochs`, the Keras model is pruned to the plan's sparsity and
   fine-tuned (`finetune`); otherwise pruning is one shot, inside `apply`.
3. With `max_accuracy_drop`, the search proposes per-layer bits and sparsity;
   with quantizer rd and no lambda, the lambda sweep picks one. Both score
   their plans through one `Evaluator`.
4. `plan.apply` carries the final plan out: prune, quantize, lay out.

The result carries everything the renderer needs (`qgraph`, `layouts`), the
plan, and the per-layer table of the compress report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from tinycompress.compress.evaluate import Evaluator, float_accuracy
from tinycompress.compress.finetune import prune_keras, save_keras
from tinycompress.compress.fisher import graph_fisher_matrices
from tinycompress.compress.lambda_sweep import sweep_lambda
from tinycompress.compress.options import CompressOptions, check_options, resolve_plan
from tinycompress.compress.outputs import check_output_dir
from tinycompress.compress.plan import Plan, positions, prune_to
from tinycompress.compress.search import SearchResult, search
from tinycompress.compress.weights import col_map, layer_weight_bytes
from tinycompress.data import Dataset
from tinycompress.errors import DataError, OutputPathError
from tinycompress.frontend import from_keras, load_with_model
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.layouts import KIND_OF_OP, Layout, encode_all, estimated_instructions
from tinycompress.layouts.energy import estimate_layout

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
CALIBRATION_SAMPLES = 256
SYNTHETIC_SEED = 0
DEFAULT_LAMBDA_DROP_PTS = 1.0  # the automatic lambda sweep's accuracy budget


@dataclass
class LayerResult:
    name: str
    op: str
    bits: int
    sparsity: float
    layout: str
    weight_bytes: int
    ops: dict = field(default_factory=dict)  # per inference: loads, adds, multiplies, writes
    energy_pj: float = 0.0                   # estimate from `ops` (tinycompress.layouts.energy)
    instructions_est: float = 0.0            # the cost model's instructions per inference
    fastest: dict = field(default_factory=dict)  # the fastest layout: layout, weight_bytes, instructions_est

    def as_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "bits": self.bits,
                "sparsity": round(self.sparsity, 6), "layout": self.layout,
                "weight_bytes": self.weight_bytes, "ops": self.ops,
                "energy_pj": round(self.energy_pj, 1),
                "instructions_est": round(self.instructions_est), "fastest": self.fastest}


@dataclass
class Compressed:
    graph: Graph                    # the float graph after pruning
    qgraph: QGraph
    layouts: dict[str, Layout]      # weight layer name -> chosen layout
    layers: list[LayerResult]
    float_weight_bytes: int
    accuracy: dict | None = None    # {"float": .., "quantized": ..} with labelled data
    calibration: str = ""           # what the activation ranges were calibrated on
    search: SearchResult | None = None  # with --max-accuracy-drop
    lam: float | None = None        # the rate-distortion lambda used (rd quantizer)
    plan: Plan | None = None        # the plan that was applied

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    def report(self) -> dict:
        """The compress-report.json document."""
        return {"model": self.graph.name, "layers": [r.as_dict() for r in self.layers],
                "weight_bytes": self.weight_bytes,
                "float_weight_bytes": self.float_weight_bytes,
                "accuracy": self.accuracy, "calibration": self.calibration,
                "lambda": self.lam,
                "search": None if self.search is None else self.search.table()}


def check_data(graph: Graph, data: Dataset | None, what: str) -> None:
    """DataError unless `data.x` is (N, *model input shape)."""
    if data is None:
        return
    shape = tuple(graph.inputs[0].output_shape)
    if tuple(data.x.shape[1:]) != shape:
        raise DataError(f"{what}: x has shape {tuple(data.x.shape)}, the model takes "
                        f"(N, {', '.join(map(str, shape))})")


def float_weight_bytes(graph: Graph) -> int:
    """float32 bytes of every weight and bias of the (folded) graph's weight layers."""
    return 4 * sum(n.params for n in graph.nodes if n.op in WEIGHT_OPS)


def layer_results(qgraph: QGraph, chosen: dict[str, Layout]) -> list[LayerResult]:
    """Per weight layer: bits, sparsity, layout, exact bytes, op counts, energy estimate,
    estimated instructions, and the fastest layout's bytes and instructions beside them."""
    rows = []
    for n in qgraph.weight_nodes:
        layout, reps = chosen[n.name], positions(n)
        ops = {k: v * reps for k, v in layout.ops().as_dict().items()}
        cost = _cost(n, reps)
        fastest = min(encode_all(n.levels, int(n.bits), col_map(n)).values(), key=cost)
        rows.append(LayerResult(n.name, n.op, int(n.bits), n.sparsity, layout.name,
                                layer_weight_bytes(n, layout), ops,
                                estimate_layout(layout, positions=reps).pj_total, cost(layout),
                                {"layout": fastest.name, "weight_bytes": layer_weight_bytes(n, fastest),
                                 "instructions_est": round(cost(fastest))}))
    return rows


def _cost(node: QNode, reps: int) -> Callable[[Layout], float]:
    """The cost model's instructions per inference of `node` in a layout."""
    kind, cmap = KIND_OF_OP[node.op], col_map(node)
    return lambda layout: estimated_instructions(layout, kind, reps, cmap)


def calibration_data(graph: Graph, data: Dataset | None) -> tuple[np.ndarray, str]:
    """Calibration inputs: the user's data, else synthetic uniform [0, 1) (said in the report)."""
    if data is not None:
        return data.x[:CALIBRATION_SAMPLES], f"{min(len(data.x), CALIBRATION_SAMPLES)} samples of the given data"
    shape = graph.inputs[0].output_shape
    rng = np.random.default_rng(SYNTHETIC_SEED)
    x = rng.random((CALIBRATION_SAMPLES, *shape), dtype=np.float32)
    return x, f"{CALIBRATION_SAMPLES} synthetic uniform [0, 1) samples (no data given)"


Model = Union[str, Path, Graph, Any]  # a model file, a loaded Graph, or a Keras model


def load_model(model: Model) -> tuple[Graph, Any]:
    """(graph, Keras model or None) from a path, a Graph or a Keras model."""
    if isinstance(model, Graph):
        return model, None
    if isinstance(model, (str, Path)):
        return load_with_model(model)
    return from_keras(model), model


def compress(model: Model, options: CompressOptions | None = None, data: Dataset | None = None,
             eval_data: Dataset | None = None, progress: Progress | None = None) -> Compressed:
    """Prune, quantize and lay out a model (see the module docstring).

    `model` is a model file, a loaded `Graph` (no fine-tuning or rd then: they
    need the Keras model) or a Keras model. `data` calibrates activation
    ranges and, when labelled and `options.epochs` > 0, fine-tunes the pruned
    model; accuracy is measured on `eval_data` (default: `data`) when it has
    labels.
    """
    options = options or CompressOptions()
    check_options(options)  # every mistake the model is not needed for, before loading it
    graph, keras_model = load_model(model)
    for what, ds in (("--data", data), ("--eval-data", eval_data)):
        check_data(graph, ds, what)
    plan = resolve_plan(options, graph)
    base, tuned = _finetune(keras_model, graph, plan, options, data, progress)
    calib, calib_text = calibration_data(base, data)
    labelled = _labelled(eval_data, data)
    fisher = _fisher(keras_model, graph, base, tuned, calib, data) if plan.uses_rd else None
    ev = Evaluator(prune_to(plan, base), calib, labelled, fisher)
    found = None
    if options.max_accuracy_drop is not None:
        found = _search(plan, ev, options.max_accuracy_drop, progress)
        plan = replace(found.plan, scope="layer")
    if plan.uses_rd and plan.lam is None:
        plan = _sweep_lambda(plan, ev, options, progress)
    applied = ev.apply(plan)
    result = Compressed(applied.graph, applied.qgraph, applied.layouts,
                        layer_results(applied.qgraph, applied.layouts), float_weight_bytes(applied.graph),
                        calibration=calib_text, search=found, lam=plan.lam if plan.uses_rd else None,
                        plan=plan)
    if labelled is not None:
        result.accuracy = accuracy(graph, applied.graph, ev, plan)
    return result


def _labelled(*candidates: Dataset | None) -> Dataset | None:
    """The first dataset with labels (accuracy, the search and the lambda sweep use it)."""
    return next((d for d in candidates if d is not None and d.y is not None), None)


def _finetune(keras_model, graph: Graph, plan: Plan, options: CompressOptions, data, progress):
    """(graph to apply the plan to, fine-tuned Keras model or None).

    With `options.epochs` a clone of the Keras model is pruned to the plan's
    sparsity and fine-tuned (the model itself is untouched); the plan then
    finds its zeros already in place.
    """
    targets = {n: lp.sparsity for n, lp in plan.layers.items() if lp.sparsity > 0}
    if options.epochs == 0 or not targets:
        return graph, None
    if data is None or data.y is None:
        raise DataError("--epochs fine-tunes on labelled data: give --data with x and y")
    if keras_model is None:
        raise DataError("--epochs fine-tunes the Keras model: give a model file or a Keras model, not a Graph")
    values = set(targets.values())
    uniform = len(values) == 1 and len(targets) == len(plan.layers) and plan.scope == "global"
    tick = None if progress is None else (lambda done, total: progress("fine-tuning", done, total))
    tuned = prune_keras(keras_model, values.pop() if uniform else targets, data.x, data.y,
                        epochs=options.epochs, progress=tick, scope=plan.scope if uniform else None)
    if options.save_model is not None:
        save_keras(tuned, options.save_model)
    return from_keras(tuned), tuned


def _fisher(keras_model, loaded: Graph, base: Graph, tuned, calib, data: Dataset | None) -> dict:
    """Fisher diagonal per weight layer (as matrices) for the rate-distortion quantizer.

    Taken from the Keras model whose kernels the graph holds: the fine-tuned
    one, else the model as loaded paired with the graph as loaded (before any
    one-shot pruning), so the BatchNorm fold factors are recovered exactly.
    """
    if keras_model is None:
        raise DataError("--quantizer rd weighs weights by the Fisher information of the Keras "
                        "model: give a model file or a Keras model, not a Graph")
    y = None if data is None or data.y is None else data.y[:len(calib)]
    if tuned is not None:
        return graph_fisher_matrices(base, tuned, calib, y)
    return graph_fisher_matrices(loaded, keras_model, calib, y)


def _search(plan: Plan, ev: Evaluator, drop: float, progress) -> SearchResult:
    """Bits and sparsity per layer within `drop` points (rd without a lambda searches uniform)."""
    if ev.data is None:
        raise DataError("--max-accuracy-drop needs labelled data (--data or --eval-data with y)")
    searched = plan.with_layers(quantizer={n: "uniform" for n, lp in plan.layers.items()
                                           if lp.quantizer == "rd" and lp.lam is None})
    tick = None if progress is None else (lambda done, total: progress("searching", done, total))
    found = search(searched, ev, drop, progress=tick)
    found.plan = plan.with_layers(bits=found.plan.values("bits"), sparsity=found.plan.values("sparsity"))
    return found


def _sweep_lambda(plan: Plan, ev: Evaluator, options: CompressOptions, progress) -> Plan:
    """The plan with the rd lambda that saves the most bytes within the accuracy budget."""
    if ev.data is None:
        raise DataError("--quantizer rd without --lambda sweeps lambda on labelled data: "
                        "give --data or --eval-data with y, or a --lambda value")
    drop = DEFAULT_LAMBDA_DROP_PTS if options.max_accuracy_drop is None else options.max_accuracy_drop
    floor = float_accuracy(ev.graph, ev.data) - drop / 100.0
    tick = None if progress is None else (lambda done, total: progress("lambda sweep", done, total))
    chosen, _ = sweep_lambda(plan, ev, floor, progress=tick)
    return chosen


def _weights_changed(a: Graph, b: Graph) -> bool:
    """Whether pruning or fine-tuning changed any weight (b is a pruned copy of a)."""
    if a is b:
        return False
    return any(not np.array_equal(x.weights[k], y.weights[k])
               for x, y in zip(a.nodes, b.nodes) for k in x.weights)


def accuracy(loaded: Graph, pruned: Graph, ev: Evaluator, plan: Plan) -> dict:
    """Top-1 accuracy on the evaluator's data of the model as given (`float`), of
    the pruned or fine-tuned float model when pruning changed it
    (`pruned_float`), and of the plan's integer model (`quantized`, the
    firmware's arithmetic)."""
    result = {"float": float_accuracy(loaded, ev.data), "quantized": ev.accuracy(plan)}
    if _weights_changed(loaded, pruned):
        result["pruned_float"] = float_accuracy(pruned, ev.data)
    return result


def write_report(result: Compressed, out_dir: str | Path) -> Path:
    """Write OUT/compress-report.json (creating OUT) and return its path.

    OutputPathError when OUT cannot be written; check it with
    `outputs.check_output_dir` before compressing to fail early.
    """
    out = Path(out_dir)
    check_output_dir(out)
    path = out / "compress-report.json"
    try:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.report(), indent=2) + "\n")
    except OSError as exc:
        raise OutputPathError(f"--output {out}: cannot write {path.name} "
                              f"({exc.strerror or exc})") from exc
    return path
