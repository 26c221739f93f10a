"""Compress stage: float `Graph` (+ data) -> a `Plan` -> quantized graph + layouts.

    result = compress("model.keras", CompressOptions(bits=4, sparsity=0.9), data)
    result.plan, result.qgraph, result.layouts, result.report()

Everything that decides settings produces a `Plan` (per weight layer: bits,
sparsity, scale granularity, quantizer + lambda, layout): the options and the
spec file (`options`), the `--max-accuracy-drop` / `--max-fidelity-loss`
search (`search`), the lambda sweep (`lambda_sweep`) and the grid sweep
(`sweep`). `plan.apply` carries one out (prune -> quantize -> lay out).

Data has three roles that never mix (`roles`): `data` calibrates and
fine-tunes; validation data (`val_data`, else 20 % held out of `data`) is
what `evaluate.Evaluator` scores every selection on, as a loss in points
(accuracy drop, or `fidelity` loss) against the model as given; `eval_data`
gives the reported figures only (`figures`, `results`).
"""
from tinycompress.compress.core import Compressed, compress
from tinycompress.compress.options import CompressOptions, resolve_plan
from tinycompress.compress.plan import LayerPlan, Plan, apply

__all__ = ["compress", "CompressOptions", "Compressed", "Plan", "LayerPlan", "apply", "resolve_plan"]
