"""The automatic rate-distortion lambda: plans at a few lambdas, scored by the Evaluator.

Lambda is tried at `factor * lambda_scale`, the natural unit in which one
quantization step of error costs about one bit; the plan with the fewest
weight bytes whose loss on the validation data (`Evaluator.loss`: accuracy
drop below, or fidelity loss against, the original float model) stays within
a budget wins. Lambda 0 is uniform rounding, so the sweep never does worse
than not using rd.
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


def sweep_lambda(plan: Plan, ev: Evaluator, max_loss_pts: float, factors=SWEEP_FACTORS,
                 progress: Callable[[int, int], None] | None = None):
    """(plan with the chosen lambda, curve [(lam, loss in pts, weight bytes)]).

    The chosen plan has the fewest weight bytes among those whose loss on the
    evaluator's validation data is <= max_loss_pts; lambda 0 (uniform
    rounding) when no lambda keeps within it.
    """
    ev.check_metric()
    uniform = with_lambda(plan, 0.0)
    unit = lambda_scale(ev.apply(uniform).qgraph, ev.fisher or {})
    best = (uniform, ev.weight_bytes(uniform))
    curve = [(0.0, ev.loss(uniform), best[1])]
    for i, factor in enumerate(factors):
        lam = factor * unit
        cand = with_lambda(plan, lam)
        loss, nbytes = ev.loss(cand), ev.weight_bytes(cand)
        curve.append((lam, loss, nbytes))
        if loss <= max_loss_pts + 1e-9 and nbytes < best[1]:
            best = (cand, nbytes)
        if progress is not None:
            progress(i + 1, len(factors))
    return best[0], curve
