"""The compress stage's entry: a model -> a `Plan` -> quantized graph + layouts.

    result = compress("model.keras", CompressOptions(sparsity=0.9, bits=4), data,
                      eval_data, val_data=val)

1. The data in its three roles (`roles.assign_roles`): `data` calibrates and
   fine-tunes; validation data (`val_data`, else 20 % held out of `data`)
   scores every selection; `eval_data` gives the reported figures only.
2. The options, the spec file and the defaults give the starting plan
   (`options.resolve_plan`).
3. With no bits and no sparsity given, the default compression
   (`compress.auto`): with labels, iterative pruning with fine-tuning, then
   the per-layer search within 1 pt of accuracy; without labels, the search
   within a fidelity budget relative to plain int8; without data, int8.
4. Otherwise the settings as given: with `epochs`, the Keras model is pruned
   to the plan's sparsity and fine-tuned (`finetune`), else pruning is one
   shot, inside `apply`. With a budget (`max_accuracy_drop` or
   `max_fidelity_loss`), the search proposes per-layer bits and sparsity;
   with quantizer rd and no lambda, the lambda sweep picks one. Both score
   their plans through one `Evaluator` on the validation data, against the
   model as given (before pruning).
5. `plan.apply` carries the final plan out: prune, quantize, lay out; the
   result is measured on the validation and eval splits (`figures`), and
   with `compare` beside the float model and TFLite int8 (`trust`).

The result carries everything the renderer needs (`qgraph`, `layouts`), the
plan, and the compress report (`results.Compressed`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Union

from tinycompress.compress.auto import (
    DEFAULT_ACCURACY_PTS, SEARCH_CANDIDATES, STEP_EPOCHS, default_mode, int8_relative_budget, prune_iteratively,
)
from tinycompress.compress.evaluate import Evaluator, check_validation
from tinycompress.compress.fidelity import Budget, is_classifier
from tinycompress.compress.figures import measure
from tinycompress.compress.finetune import prune_keras, save_keras
from tinycompress.compress.fisher import graph_fisher_matrices
from tinycompress.compress.lambda_sweep import sweep_lambda
from tinycompress.compress.options import CompressOptions, check_options, resolve_plan
from tinycompress.compress.plan import Plan, prune_to
from tinycompress.compress.results import (  # noqa: F401  (re-exported: the stage's result types)
    Compressed, LayerResult, float_weight_bytes, layer_results, write_report,
)
from tinycompress.compress.roles import (  # noqa: F401  (calibration_data: re-exported)
    DataRoles, assign_roles, calibration_data, synthetic_warning,
)
from tinycompress.compress.search import SearchResult, search
from tinycompress.compress.trust import compare as compare_models
from tinycompress.data import Dataset
from tinycompress.errors import DataError, SpecError
from tinycompress.frontend import from_keras, load_with_model, recalibrated
from tinycompress.ir.graph import Graph

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
DEFAULT_LAMBDA_BUDGET = Budget("accuracy", 1.0)  # the automatic lambda sweep's, with labels


def check_data(graph: Graph, data: Dataset | None, what: str) -> None:
    """DataError unless `data.x` is (N, *model input shape)."""
    if data is None:
        return
    shape = tuple(graph.inputs[0].output_shape)
    if tuple(data.x.shape[1:]) != shape:
        raise DataError(f"{what}: x has shape {tuple(data.x.shape)}, the model takes "
                        f"(N, {', '.join(map(str, shape))})")


Model = Union[str, Path, Graph, Any]  # a model file, a loaded Graph, or a Keras model


def load_model(model: Model) -> tuple[Graph, Any]:
    """(graph, Keras model or None) from a path, a Graph or a Keras model."""
    if isinstance(model, Graph):
        return model, None
    if isinstance(model, (str, Path)):
        return load_with_model(model)
    return from_keras(model), model


def compress(model: Model, options: CompressOptions | None = None, data: Dataset | None = None,
             eval_data: Dataset | None = None, progress: Progress | None = None, *,
             val_data: Dataset | None = None, compare: bool = False) -> Compressed:
    """Prune, quantize and lay out a model (see the module docstring).

    `model` is a model file, a loaded `Graph` (no fine-tuning or rd then: they
    need the Keras model) or a Keras model. `data` calibrates activation
    ranges and, when labelled and `options.epochs` > 0, fine-tunes the pruned
    model; `val_data` (default: 20 % held out of `data`) scores every
    selection; `eval_data` only gives the reported accuracy and fidelity.
    `compare`: also measure the float model and TFLite int8 beside ours on
    each split (`trust.compare`; the report's side-by-side table).
    """
    options = options or CompressOptions()
    spec = check_options(options)  # every mistake the model is not needed for, before loading it
    graph, keras_model = load_model(model)
    for what, ds in (("--data", data), ("--val-data", val_data), ("--eval-data", eval_data)):
        check_data(graph, ds, what)
    roles = assign_roles(data, val_data, eval_data)
    if roles.train is not None:  # --data recalibrates what an int8 .tflite gave
        graph = recalibrated(graph)
    if options.input_range is not None and roles.train is not None:
        raise SpecError("--input-range sets the synthetic calibration inputs used without --data; "
                        "with --data the activation ranges come from the data")
    plan = resolve_plan(options, graph)
    mode = default_mode(options.no_search, spec, roles, keras_model is not None)
    if mode in ("prune+search", "search"):
        ev, plan, found, schedule = _default_compression(mode, keras_model, graph, plan, options,
                                                         roles, progress)
        swept = False
    else:
        ev, plan, found, swept = _as_given(keras_model, graph, plan, options, roles, progress)
        schedule = None
    applied, calib_text = ev.apply(plan), calibration_data(graph, roles.train, options.input_range)[1]
    result = Compressed(applied.graph, applied.qgraph, applied.layouts,
                        layer_results(applied.qgraph, applied.layouts, plan.optimize == "size"),
                        float_weight_bytes(applied.graph),
                        calibration=calib_text, search=found, lam=plan.lam if plan.uses_rd else None,
                        plan=plan, data=roles.describe(), mode=mode,
                        pruning=None if schedule is None else schedule.as_dict())
    if roles.train is None:
        result.warnings.append(synthetic_warning(options.input_range))
    _measure(result, graph, ev, plan, roles, selected=found is not None or swept)
    if compare:
        if progress is not None:
            progress("comparing with float and TFLite int8", 0, 1)
        result.trust = compare_models(graph, keras_model, applied, roles, ev.calib_x,
                                     result.weight_bytes, ev.classifier)
    return result


def _as_given(keras_model, graph: Graph, plan: Plan, options: CompressOptions, roles: DataRoles,
              progress) -> tuple[Evaluator, Plan, SearchResult | None, bool]:
    """The settings as given (or plain int8): fine-tune and search only when asked to."""
    budget = _selection_budget(options, plan, roles.val)
    base, tuned = _finetune(keras_model, graph, plan, options, roles.train, progress)
    calib, _ = calibration_data(base, roles.train, options.input_range)
    fisher = _fisher(keras_model, graph, base, tuned, calib, roles.train) if plan.uses_rd else None
    ev = Evaluator(prune_to(plan, base), calib, roles.val, fisher, reference=graph,
                   metric=budget.metric if budget else _default_metric(roles.val),
                   classifier=is_classifier(graph, _labelled(roles)))
    found = None
    if options.budget is not None:
        found = _search(plan, ev, options.budget, progress)
        plan = replace(found.plan, scope="layer")
    swept = plan.uses_rd and plan.lam is None
    if swept:
        plan = _sweep_lambda(plan, ev, budget, progress)
    return ev, plan, found, swept


def _default_compression(mode: str, keras_model, graph: Graph, plan: Plan, options: CompressOptions,
                         roles: DataRoles, progress):
    """(evaluator, plan, search result, pruning schedule or None) of the default compression
    (`compress.auto`): the pruning schedule with labels and a Keras model, then the search,
    falling back to less pruned steps while the search cannot start within the budget."""
    classifier = is_classifier(graph, _labelled(roles))
    labelled = roles.val.y is not None
    budget = options.budget or (Budget("accuracy", DEFAULT_ACCURACY_PTS) if labelled else None)
    if budget is not None:
        check_validation(budget.metric, roles.val)
    calib, _ = calibration_data(graph, roles.train, options.input_range)
    metric = budget.metric if budget else "fidelity"
    schedule, candidates, tried = None, [(graph, keras_model, None)], 0
    if mode == "prune+search" and metric == "accuracy" and options.epochs != 0:
        epochs = STEP_EPOCHS if options.epochs is None else options.epochs
        schedule = prune_iteratively(keras_model, graph, roles, budget, epochs, plan.scope, progress)
        if options.save_model is not None and schedule.kept:
            save_keras(schedule.kept[0][2], options.save_model)
        candidates = [(g, keras_model, tuned) for _, g, tuned in schedule.kept] + candidates
    best = None
    for base, model, tuned in candidates:
        fisher = _fisher(model, graph, base, tuned, calib, roles.train) if plan.uses_rd else None
        ev = Evaluator(base, calib, roles.val, fisher, reference=graph, metric=metric,
                       classifier=classifier)
        if budget is None:  # unlabelled: relative to the plain int8 build on the same inputs
            budget = int8_relative_budget(ev.loss(plan), classifier)
        found = _search(plan, ev, budget, progress)
        if best is None or (found.feasible and (not best[1].feasible
                                                or found.weight_bytes < best[1].weight_bytes)):
            best = (ev, found)
        tried += found.feasible
        if tried >= SEARCH_CANDIDATES:
            break
    ev, found = best
    chosen = replace(found.plan, scope="layer")
    if chosen.uses_rd and chosen.lam is None:
        chosen = _sweep_lambda(chosen, ev, budget, progress)
    return ev, chosen, found, schedule


def _labelled(roles: DataRoles) -> bool:
    return any(d is not None and d.y is not None for d in (roles.train, roles.val, roles.eval))


def _default_metric(val: Dataset | None) -> str:
    return "accuracy" if val is not None and val.y is not None else "fidelity"


def _selection_budget(options: CompressOptions, plan: Plan, val: Dataset | None) -> Budget | None:
    """The budget the search and the lambda sweep keep, checked against the validation data
    before any work (DataError when it cannot be measured); None when nothing is selected."""
    budget = options.budget
    if budget is None and plan.uses_rd and plan.lam is None:
        budget = options.lambda_budget
    if budget is None and plan.uses_rd and plan.lam is None:
        if val is None or val.y is None:
            raise DataError("--quantizer rd without --lambda sweeps lambda on labelled validation "
                            "data: give labelled --data (20 % is held out) or --val-data, "
                            "--max-fidelity-loss P, or a --lambda value")
        budget = DEFAULT_LAMBDA_BUDGET
    if budget is not None:
        check_validation(budget.metric, val)
    return budget


def _measure(result: Compressed, loaded: Graph, ev: Evaluator, plan: Plan, roles: DataRoles,
             selected: bool) -> None:
    """Accuracy and fidelity of the applied plan on the validation and eval splits."""
    applied, val_acc, val_fid = ev.apply(plan), None, None
    if roles.val is not None:
        val_acc, val_fid = measure(loaded, applied, roles.val, ev.classifier,
                                   ev.outputs(plan), ev.reference_outputs())
        drop = None if val_acc is None else round(100.0 * (val_acc["float"] - val_acc["quantized"]), 6)
        fid = val_fid.loss_pts
        result.validation = {"split": "val", "source": roles.val_source, "samples": len(roles.val),
                             "accuracy": val_acc, "fidelity": val_fid.as_dict("val"),
                             "loss_pts": {"accuracy": drop,
                                          "fidelity": round(fid, 6) if math.isfinite(fid) else None}}
    eval_acc = None
    if roles.eval is not None:
        eval_acc, eval_fid = measure(loaded, applied, roles.eval, ev.classifier)
        result.fidelity = eval_fid.as_dict("eval")
    elif val_fid is not None:
        result.fidelity = val_fid.as_dict("val")
    if eval_acc is not None:
        result.accuracy = {"split": "eval", **eval_acc}
    elif val_acc is not None:
        result.accuracy = {"split": "val", **val_acc}
        if selected:
            result.warnings.append("the accuracy is measured on the validation data that chose "
                                   "the settings, so it is optimistic; pass --eval-data FILE.npz "
                                   "for an independent figure")


def _finetune(keras_model, graph: Graph, plan: Plan, options: CompressOptions, data, progress):
    """(graph to apply the plan to, fine-tuned Keras model or None).

    With `options.epochs` a clone of the Keras model is pruned to the plan's
    sparsity and fine-tuned on `data` (the training part: validation held
    out; the model itself is untouched); the plan then finds its zeros
    already in place.
    """
    targets = {n: lp.sparsity for n, lp in plan.layers.items() if lp.sparsity > 0}
    if not options.epochs or not targets:
        return graph, None
    if keras_model is None:
        raise DataError("--epochs fine-tunes a Keras model (.keras, .h5 or a SavedModel written by "
                        "Keras); this model is not one, so its pruning is one-shot: drop --epochs")
    if data is None or data.y is None:
        raise DataError("--epochs fine-tunes on labelled data: give --data with x and y")
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
        raise DataError("--quantizer rd weighs weights by the Fisher information of a Keras "
                        "model (.keras, .h5 or a SavedModel written by Keras); this model is not "
                        "one: use --quantizer uniform")
    y = None if data is None or data.y is None else data.y[:len(calib)]
    if tuned is not None:
        return graph_fisher_matrices(base, tuned, calib, y)
    return graph_fisher_matrices(loaded, keras_model, calib, y)


def _search(plan: Plan, ev: Evaluator, budget: Budget, progress) -> SearchResult:
    """Bits and sparsity per layer within the budget (rd without a lambda searches uniform)."""
    searched = plan.with_layers(quantizer={n: "uniform" for n, lp in plan.layers.items()
                                           if lp.quantizer == "rd" and lp.lam is None})
    tick = None if progress is None else (lambda done, total: progress("searching", done, total))
    found = search(searched, ev, budget.points, progress=tick)
    found.plan = plan.with_layers(bits=found.plan.values("bits"), sparsity=found.plan.values("sparsity"))
    return found


def _sweep_lambda(plan: Plan, ev: Evaluator, budget: Budget, progress) -> Plan:
    """The plan with the rd lambda that saves the most bytes within the budget."""
    tick = None if progress is None else (lambda done, total: progress("lambda sweep", done, total))
    chosen, _ = sweep_lambda(plan, ev, budget.points, progress=tick)
    return chosen
