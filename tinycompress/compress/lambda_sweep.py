"""The automatic rate-distortion lambda: plans at a few lambdas, scored by the Evaluator.

Lambda is tried at `factor * lambda_scale`, the natural unit in which one
quantization step of error costs about one bit; the plan with the fewest
weight bytes whose accuracy stays at or above a floor wins. Lambda 0 is
uniform rounding, so the sweep never does worse than not using rd.
"""
from __future__ import annotations

from typing import Callable

from tinycompress.compress.evaluate import Evaluator
from tinycompress.compress.plan import Plan
from tinycompress.compress.rd import lambda_scale

SWEEP_FACTORS = (0.03, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def with_lambda(plan: Plan, lam: float) -> Plan:
    """`plan` with every rd layer at `lam`."""
    return plan.with_layers(lam={n: lam for n, lp in plan.layers.items() if lp.quantizer == "rd"})


def sweep_lambda(plan: Plan, ev: Evaluator, min_accuracy: float, factors=SWEEP_FACTORS,
                 progress: Callable[[int, int], None] | None = None):
    """(plan with the chosen lambda, curve [(lam, accuracy, weight bytes)]).

    The chosen plan has the fewest weight bytes among those whose accuracy on
    the evaluator's validation data is >= min_accuracy; lambda 0 (uniform
    rounding) when no lambda keeps the accuracy.
    """
    uniform = with_lambda(plan, 0.0)
    unit = lambda_scale(ev.apply(uniform).qgraph, ev.fisher or {})
    best = (uniform, ev.weight_bytes(uniform))
    curve = [(0.0, ev.accuracy(uniform), best[1])]
    for i, factor in enumerate(factors):
        lam = factor * unit
        cand = with_lambda(plan, lam)
        acc, nbytes = ev.accuracy(cand), ev.weight_bytes(cand)
        curve.append((lam, acc, nbytes))
        if acc >= min_accuracy and nbytes < best[1]:
            best = (cand, nbytes)
        if progress is not None:
            progress(i + 1, len(factors))
    return best[0], curve
