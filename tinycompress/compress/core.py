"""The compression stage: Keras model -> pruned, quantized, laid-out model.

    result = compress(model_path, CompressOptions(cli={"sparsity": 0.9, "bits": 4}), data)

Chains load -> prune (one shot, or fine-tuned on labelled data) -> quantize
(uniform or rate-distortion) -> one weight layout per layer. Options come from
the command line, the spec file and defaults, merged in `spec.resolve_options`.
The result carries everything the renderer needs (`qgraph`, `layouts`) and the
per-layer table of the compress report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from tinycompress import layouts as layouts_mod
from tinycompress.data import Dataset
from tinycompress.errors import DataError, SpecError
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.layouts import Layout
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.compress.weights import col_map, layer_weight_bytes

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
CALIBRATION_SAMPLES = 256
SYNTHETIC_SEED = 0
DEFAULT_LAMBDA_DROP_PTS = 1.0  # the automatic lambda sweep's accuracy budget


@dataclass
class CompressOptions:
    """What to do; `cli` uses the spec file's key names (None = not given)."""

    cli: dict = field(default_factory=dict)
    spec_path: str | Path | None = None
    scope: str = "global"          # how a single sparsity is spread: global | layer
    epochs: int = 0                # fine-tuning epochs (needs labelled data)
    max_accuracy_drop: float | None = None  # percentage points: search bits/sparsity per layer
    save_model: str | Path | None = None    # write the fine-tuned Keras model here (.keras)
    cwd: str | Path = "."          # where ./tinycompress.toml is looked for


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

    def as_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "bits": self.bits,
                "sparsity": round(self.sparsity, 6), "layout": self.layout,
                "weight_bytes": self.weight_bytes, "ops": self.ops,
                "energy_pj": round(self.energy_pj, 1)}


@dataclass
class Compressed:
    graph: Graph                    # the float graph after pruning
    qgraph: QGraph
    layouts: dict[str, Layout]      # weight layer name -> chosen layout
    layers: list[LayerResult]
    float_weight_bytes: int
    accuracy: dict | None = None    # {"float": .., "quantized": ..} with labelled data
    calibration: str = ""           # what the activation ranges were calibrated on
    search: object | None = None    # search.SearchResult with --max-accuracy-drop
    lam: float | None = None        # the rate-distortion lambda used (rd quantizer)

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


def choose_layouts(qgraph: QGraph, forced: dict[str, str], optimize: str) -> dict[str, Layout]:
    """One layout per weight layer: forced (`dense`, `csr`, ...) or chosen by `optimize`."""
    chosen = {}
    for node in qgraph.weight_nodes:
        name = forced.get(node.source or node.name, "auto")
        allowed = None if name == "auto" else (name,)
        chosen[node.name] = layouts_mod.choose(node.levels, node.bits, optimize,
                                               col_map=col_map(node), allowed=allowed)
    return chosen


def positions(node: QNode) -> int:
    """Matrix-vector products per inference: 1 for dense, output pixels for convolutions."""
    return 1 if node.op == "dense" else int(np.prod(node.output_shape[:-1]))


def layer_results(qgraph: QGraph, chosen: dict[str, Layout]) -> list[LayerResult]:
    """Per weight layer: bits, sparsity, layout, exact bytes, op counts and energy estimate."""
    from tinycompress.layouts.energy import estimate_layout

    rows = []
    for n in qgraph.weight_nodes:
        layout, reps = chosen[n.name], positions(n)
        ops = {k: v * reps for k, v in layout.ops().as_dict().items()}
        rows.append(LayerResult(n.name, n.op, int(n.bits), n.sparsity, layout.name,
                                layer_weight_bytes(n, layout), ops,
                                estimate_layout(layout, positions=reps).pj_total))
    return rows


def calibration_data(graph: Graph, data: Dataset | None) -> tuple[np.ndarray, str]:
    """Calibration inputs: the user's data, else synthetic uniform [0, 1) (said in the report)."""
    if data is not None:
        return data.x[:CALIBRATION_SAMPLES], f"{min(len(data.x), CALIBRATION_SAMPLES)} samples of the given data"
    shape = graph.inputs[0].output_shape
    rng = np.random.default_rng(SYNTHETIC_SEED)
    x = rng.random((CALIBRATION_SAMPLES, *shape), dtype=np.float32)
    return x, f"{CALIBRATION_SAMPLES} synthetic uniform [0, 1) samples (no data given)"


def compress(model_path: str | Path, options: CompressOptions, data: Dataset | None = None,
             eval_data: Dataset | None = None, progress: Progress | None = None) -> Compressed:
    """Load, prune, quantize and lay out a model (see the module docstring).

    `data` calibrates activation ranges and, when labelled and `options.epochs`
    > 0, fine-tunes the pruned model; accuracy is measured on `eval_data`
    (default: `data`) when it has labels.
    """
    from tinycompress.frontend.keras import load_with_model
    from tinycompress.compress.spec import resolve_options

    graph, model = load_with_model(model_path)
    for what, ds in (("--data", data), ("--eval-data", eval_data)):
        check_data(graph, ds, what)
    defaults, specs = resolve_options(options.cli, options.spec_path, graph, options.cwd)
    loaded = graph
    graph, tuned = _prune(model, graph, specs, options, data, progress)
    calib, calib_text = calibration_data(graph, data)
    labelled = _labelled(eval_data, data)
    fisher = None
    if defaults.quantizer == "rd":
        fisher = _fisher(model, loaded, graph, tuned, calib, data)
    search = None
    if options.max_accuracy_drop is not None:
        graph, specs, search = _search(graph, calib, labelled, specs, defaults, fisher,
                                       options.max_accuracy_drop, progress)
    qgraph, lam = _quantize(graph, calib, specs, defaults, fisher, labelled, options, progress)
    chosen = choose_layouts(qgraph, {n: s.layout for n, s in specs.items()}, defaults.optimize)
    result = Compressed(graph, qgraph, chosen, layer_results(qgraph, chosen),
                        float_weight_bytes(graph), calibration=calib_text, search=search, lam=lam)
    if labelled is not None:
        result.accuracy = accuracy(loaded, graph, qgraph, labelled)
    return result


def _labelled(*candidates: Dataset | None) -> Dataset | None:
    """The first dataset with labels (accuracy, the search and the lambda sweep use it)."""
    return next((d for d in candidates if d is not None and d.y is not None), None)


def _prune(model, graph: Graph, specs, options: CompressOptions, data, progress):
    """(pruned graph, fine-tuned Keras model or None when pruned one-shot or not at all)."""
    from tinycompress.compress.prune import prune

    targets = {name: s.sparsity for name, s in specs.items() if s.sparsity > 0}
    if not targets:
        return graph, None
    values = set(targets.values())
    uniform = len(values) == 1 and len(targets) == len(specs) and options.scope == "global"
    sparsity = values.pop() if uniform else targets
    if options.epochs > 0:
        if data is None or data.y is None:
            raise DataError("--epochs fine-tunes on labelled data: give --data with x and y")
        return _finetune(model, sparsity, options, data, progress)
    pruned, _ = prune(graph, sparsity, scope="global" if uniform else "layer")
    return pruned, None


def _finetune(model, sparsity, options: CompressOptions, data: Dataset, progress):
    """Prune a clone of the Keras `model` and fine-tune it (the model itself is untouched)."""
    from tinycompress.frontend.keras import from_keras
    from tinycompress.compress.prune import prune_keras

    tick = None if progress is None else (lambda done, total: progress("fine-tuning", done, total))
    tuned = prune_keras(model, sparsity, data.x, data.y, epochs=options.epochs, progress=tick,
                        scope=None if isinstance(sparsity, dict) else options.scope)
    if options.save_model is not None:
        save_keras(tuned, options.save_model)
    return from_keras(tuned), tuned


def save_keras(model, path: str | Path) -> None:
    """Save a fine-tuned model as .keras (written to a temporary name, then renamed)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise SpecError(f"--save-model must name a .keras file, got {path}")
    # rebuilt from its config: uncompiled, so no optimizer state goes into the file
    plain = model.__class__.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    tmp = path.with_name(path.stem + ".tmp.keras")
    plain.save(tmp)
    tmp.replace(path)


def _fisher(model, loaded: Graph, graph: Graph, tuned, calib, data: Dataset | None) -> dict:
    """Fisher diagonal per weight layer (as matrices) for the rate-distortion quantizer.

    Taken from the Keras model whose kernels the graph holds: the fine-tuned
    one, else the model as loaded paired with the graph as loaded (before any
    one-shot pruning), so the BatchNorm fold factors are recovered exactly.
    """
    from tinycompress.compress.rd import graph_fisher_matrices

    y = None if data is None or data.y is None else data.y[:len(calib)]
    if tuned is not None:
        return graph_fisher_matrices(graph, tuned, calib, y)
    return graph_fisher_matrices(loaded, model, calib, y)


def _search(graph: Graph, calib, labelled, specs, defaults, fisher, drop: float, progress):
    """Bits and sparsity per layer within `drop` points; returns the pruned graph too."""
    from tinycompress.compress.prune import prune
    from tinycompress.compress.rd import rd_weight_quantizer
    from tinycompress.compress.search import search_bits

    if labelled is None:
        raise DataError("--max-accuracy-drop needs labelled data (--data or --eval-data with y)")
    quantizer = None if fisher is None or defaults.lam is None else rd_weight_quantizer(fisher, defaults.lam)
    tick = None if progress is None else (lambda done, total: progress("searching", done, total))
    found = search_bits(graph, None, calib, labelled.x, labelled.y, drop, progress=tick,
                        per_channel=defaults.per_channel, quantizer=quantizer,
                        optimize=defaults.optimize)
    specs = {name: replace(s, bits=found.bits[name]) for name, s in specs.items()}
    pruned, _ = prune(graph, dict(found.sparsity), scope="layer")
    return pruned, specs, found


def _quantize(graph: Graph, calib, specs, defaults, fisher, labelled, options, progress):
    """(QGraph, lambda): uniform, rate-distortion at a given lambda, or an automatic sweep."""
    from tinycompress.compress.quantize import quantize
    from tinycompress.compress.rd import rd_weight_quantizer, sweep_lambda
    from tinycompress.reference.float_ref import run_float

    bits = {name: s.bits for name, s in specs.items()}
    if fisher is None:
        return quantize(graph, calib, bits=bits, per_channel=defaults.per_channel), None
    if defaults.lam is not None:
        quantizer = rd_weight_quantizer(fisher, defaults.lam)
        return quantize(graph, calib, bits, defaults.per_channel, quantizer), defaults.lam
    if labelled is None:
        raise DataError("--quantizer rd without --lambda sweeps lambda on labelled data: "
                        "give --data or --eval-data with y, or a --lambda value")
    qgraph = quantize(graph, calib, bits=bits, per_channel=defaults.per_channel)
    pred = np.argmax(np.asarray(run_float(graph, labelled.x)), axis=-1)
    drop = DEFAULT_LAMBDA_DROP_PTS if options.max_accuracy_drop is None else options.max_accuracy_drop
    floor = float(np.mean(pred == labelled.y)) - drop / 100.0
    tick = None if progress is None else (lambda done, total: progress("lambda sweep", done, total))
    lam, qgraph, _ = sweep_lambda(qgraph, graph, fisher, labelled.x, labelled.y, floor, progress=tick)
    return qgraph, lam


def _weights_changed(a: Graph, b: Graph) -> bool:
    """Whether pruning or fine-tuning changed any weight (b is a pruned copy of a)."""
    if a is b:
        return False
    return any(not np.array_equal(x.weights[k], y.weights[k])
               for x, y in zip(a.nodes, b.nodes) for k in x.weights)


def accuracy(loaded: Graph, pruned: Graph, qgraph: QGraph, data: Dataset) -> dict:
    """Top-1 accuracy on `data` of the model as given (`float`), of the pruned or
    fine-tuned float model when pruning changed it (`pruned_float`), and of the
    integer model (`quantized`, the firmware's arithmetic)."""
    from tinycompress.reference.float_ref import run_float
    from tinycompress.reference.int_ref import evaluate

    def top1(graph: Graph) -> float:
        return float(np.mean(np.argmax(np.asarray(run_float(graph, data.x)), axis=-1) == data.y))

    result = {"float": top1(loaded), "quantized": float(evaluate(qgraph, data.x, data.y))}
    if _weights_changed(loaded, pruned):
        result["pruned_float"] = top1(pruned)
    return result


def write_report(result: Compressed, out_dir: str | Path) -> Path:
    """Write OUT/compress-report.json (creating OUT) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compress-report.json"
    path.write_text(json.dumps(result.report(), indent=2) + "\n")
    return path
