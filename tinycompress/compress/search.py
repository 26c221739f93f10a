"""The sensitivity-guided bits/sparsity search: it proposes plans, the Evaluator scores them.

`search(plan, ev, max_loss_pts)` chooses per weight layer a bit width (2..8)
and a magnitude-pruning sparsity that minimise total weight bytes while the
integer model's loss on the evaluator's validation data stays within
`max_loss_pts` percentage points: the accuracy drop below the original float
model (before pruning), or the fidelity loss against it (`Evaluator.loss`,
whichever metric the evaluator measures):

1. Sensitivity: a layer alone is moved down a ladder (fewer bits at its
   start sparsity; more sparsity at its start bits), all other layers at the
   start plan (8 bits, the graph's own sparsity); the loss of that step is
   measured, lazily, for the steps the descent considers.
2. Greedy descent: repeatedly take the move (one layer: next lower bit
   width, or next higher sparsity) with the most bytes saved per point of
   measured sensitivity; score the whole plan; keep it if the budget holds,
   else freeze that layer's ladder. Ties go to graph order, so the search is
   deterministic.

Moves are ranked with `Evaluator.layer_bytes` (one layer alone, bias counted
as int32); the bytes the search reports are exact, from the chosen plan's
quantized graph (`Evaluator.weight_bytes`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

from tinycompress.compress.evaluate import Evaluator, applied_bytes
from tinycompress.compress.fidelity import LOSS_NAMES
from tinycompress.compress.plan import Plan
from tinycompress.compress.prune import sparsity_report

BITS_LADDER = (8, 7, 6, 5, 4, 3, 2)
SPARSITY_LADDER = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95)
SENSITIVITY_FLOOR_PTS = 0.1  # keeps the greedy ratio finite for insensitive layers

Progress = Callable[[int, int], None]


# ------------------------------------------------------------------ result

@dataclass(frozen=True)
class LayerChoice:
    """What the search chose for one layer, and the measurements behind it."""

    name: str
    op: str
    bits: int
    sparsity: float
    layout: str
    nbytes: int
    bits_loss: dict[int, float]  # bits -> loss (pts) with only this layer changed
    sparsity_loss: dict[float, float]  # sparsity -> loss (pts), only this layer, 8 bits
    stopped_by: str  # why descent stopped: "budget" / "ladder end" per dimension


@dataclass
class SearchResult:
    """The chosen configuration, its loss and bytes, and the per-layer reasons.

    Every figure is on the validation data: `loss_pts` in points of `metric`
    ("accuracy": drop below `reference_accuracy`, the original float model's;
    "fidelity": loss against that model's outputs); `accuracy` is the chosen
    plan's (None without labels).
    """

    layers: list[LayerChoice]
    plan: Plan
    metric: str
    loss_pts: float
    max_loss_pts: float
    reference_accuracy: float | None
    accuracy: float | None
    weight_bytes: int
    start_bytes: int
    evaluations: int
    feasible: bool

    @property
    def bits(self) -> dict[str, int]:
        return {c.name: c.bits for c in self.layers}

    @property
    def sparsity(self) -> dict[str, float]:
        return {c.name: c.sparsity for c in self.layers}

    @property
    def loss_name(self) -> str:
        return LOSS_NAMES[self.metric]

    def table(self) -> list[dict]:
        """Rows for the CLI: choice per layer and the sensitivities (loss in pts) that explain it."""
        rows = []
        for c in self.layers:
            sens_b = ", ".join(f"{b}b:{d:+.1f}" for b, d in sorted(c.bits_loss.items(), reverse=True))
            sens_s = ", ".join(f"{s:.2f}:{d:+.1f}" for s, d in sorted(c.sparsity_loss.items()))
            rows.append({"name": c.name, "op": c.op, "bits": c.bits, "sparsity": round(c.sparsity, 4),
                         "layout": c.layout, "bytes": c.nbytes,
                         "loss_by_bits": sens_b, "loss_by_sparsity": sens_s, "stopped_by": c.stopped_by})
        return rows

    def as_dict(self) -> dict:
        """compress-report.json's `search`: what was measured where, and the rows."""
        r = lambda v: None if v is None else round(v, 6)  # noqa: E731
        return {"split": "val", "metric": self.metric, "max_loss_pts": self.max_loss_pts,
                "loss_pts": round(self.loss_pts, 4) if math.isfinite(self.loss_pts) else None,
                "reference_accuracy": r(self.reference_accuracy),
                "accuracy": r(self.accuracy), "feasible": self.feasible,
                "start_bytes": self.start_bytes, "weight_bytes": self.weight_bytes,
                "evaluations": self.evaluations, "layers": self.table()}


# ------------------------------------------------------------------ search

class _Ladders:
    """Per layer: bits ladder (descending) and sparsity ladder (from its own sparsity)."""

    def __init__(self, ev: Evaluator, base: Plan, bits_choices, sparsity_choices):
        report = sparsity_report(ev.graph)
        bits_l = tuple(sorted(set(bits_choices), reverse=True))
        self.base, self.names = base, ev.names
        self.steps = {}
        for n in ev.names:
            s0 = round(report.layer(n).sparsity, 4)
            self.steps[n] = (bits_l, (s0,) + tuple(s for s in sorted(set(sparsity_choices)) if s > s0 + 0.005))

    def plan(self, state: dict[str, tuple[int, int]]) -> Plan:
        """The plan at ladder positions {layer: (bits index, sparsity index)}."""
        return self.base.with_layers(
            bits={n: self.steps[n][0][i] for n, (i, _) in state.items()},
            sparsity={n: self.steps[n][1][j] for n, (_, j) in state.items()})

    @property
    def total(self) -> int:
        return sum(2 * (len(b) + len(s)) for b, s in self.steps.values())


class _Sensitivity:
    """Loss (pts) with one layer moved along one ladder, others at start.

    Measured lazily, only for the steps the greedy descent considers.
    """

    def __init__(self, ev: Evaluator, ladders: _Ladders, tick):
        self.ev, self.ladders, self.tick = ev, ladders, tick
        self.bits = {n: {} for n in ev.names}
        self.sparsity = {n: {} for n in ev.names}

    def drop(self, name: str, dim: int, index: int) -> float:
        value = self.ladders.steps[name][dim][index]
        table = (self.bits if dim == 0 else self.sparsity)[name]
        if value not in table:
            state = {n: (0, 0) for n in self.ev.names}
            state[name] = (index, 0) if dim == 0 else (0, index)
            plan = self.ladders.plan(state)
            fresh = not self.ev.is_scored(plan)
            table[value] = self.ev.loss(plan)
            if fresh:
                self.tick()
        return table[value]


def _best_move(ev: Evaluator, ladders: _Ladders, state, frozen, sens: _Sensitivity):
    """(ratio, name, dim, new index) of the best move, or None. dim 0 = bits, 1 = sparsity."""
    plan = ladders.plan(state)
    best = None
    for n in ev.names:
        here = ev.layer_bytes(n, plan.layers[n], plan.optimize)[1]
        for dim in (0, 1):
            if (n, dim) in frozen:
                continue
            ladder, cur = ladders.steps[n][dim], state[n][dim]
            for k in range(cur + 1, len(ladder)):  # nearest step that saves bytes
                field = "bits" if dim == 0 else "sparsity"
                moved = replace(plan.layers[n], **{field: ladder[k]})
                saved = here - ev.layer_bytes(n, moved, plan.optimize)[1]
                if saved > 0:
                    inc = max(sens.drop(n, dim, k) - sens.drop(n, dim, cur), 0.0)
                    ratio = saved / (inc + SENSITIVITY_FLOOR_PTS)
                    if best is None or ratio > best[0]:
                        best = (ratio, n, dim, k)
                    break
    return best


def _greedy(ev: Evaluator, ladders: _Ladders, sens: _Sensitivity, budget: float, tick):
    """Descend from the start state while the budget holds; returns (state, reasons)."""
    state = {n: (0, 0) for n in ev.names}
    frozen: set[tuple[str, int]] = set()
    reasons = {(n, d): "ladder end" for n in ev.names for d in (0, 1)}
    while (move := _best_move(ev, ladders, state, frozen, sens)) is not None:
        _, n, dim, k = move
        trial = dict(state)
        trial[n] = (k, state[n][1]) if dim == 0 else (state[n][0], k)
        loss = ev.loss(ladders.plan(trial))
        tick()
        if loss <= budget + 1e-9:
            state = trial
        else:
            frozen.add((n, dim))
            step = ladders.steps[n][dim][k]
            reasons[(n, dim)] = f"budget at {step}b" if dim == 0 else f"budget at {step:.2f}"
    return state, reasons


def search(plan: Plan, ev: Evaluator, max_loss_pts: float, progress: Progress | None = None,
           bits_choices=BITS_LADDER, sparsity_choices=SPARSITY_LADDER) -> SearchResult:
    """Per-layer bits and sparsity minimising weight bytes within `max_loss_pts`.

    `plan` gives everything but bits and sparsity (scale granularity,
    quantizer and lambda, layout, optimize); `ev` holds the float graph
    (already pruned to the plan's sparsity: the ladders start from its own
    sparsity), the calibration, the validation data and the original model
    the loss is measured against (`Evaluator.loss`: the integer reference's
    accuracy drop or fidelity loss). Sparsity is one-shot magnitude pruning
    per layer. `progress(done, total)` is called after each evaluation.
    Deterministic.
    """
    base = replace(plan, scope="layer")
    ladders = _Ladders(ev, base, bits_choices, sparsity_choices)
    total, done = ladders.total, [0]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(min(done[0], total), total)

    ev.check_metric()
    start = {n: (0, 0) for n in ev.names}
    feasible = ev.loss(ladders.plan(start)) <= max_loss_pts + 1e-9
    state, reasons = start, {}
    sens = _Sensitivity(ev, ladders, tick)
    if feasible:
        state, reasons = _greedy(ev, ladders, sens, max_loss_pts, tick)
    if progress is not None:
        progress(total, total)
    chosen = ladders.plan(state)
    exact = applied_bytes(ev.apply(chosen))
    layers = [_choice(ev, n, chosen, exact[n], sens.bits[n], sens.sparsity[n], reasons)
              for n in ev.names]
    start_bytes = ev.weight_bytes(ladders.plan(start))
    labelled = ev.labelled
    return SearchResult(layers, chosen, ev.metric, ev.loss(chosen), max_loss_pts,
                        ev.reference_accuracy if labelled else None,
                        ev.accuracy(chosen) if labelled else None,
                        sum(c.nbytes for c in layers), start_bytes, ev.evaluations, feasible)


def _choice(ev: Evaluator, name: str, plan: Plan, exact, bits_loss, sp_loss, reasons) -> LayerChoice:
    layout, nbytes = exact
    why = (f"bits: {reasons.get((name, 0), 'start over budget')}; "
           f"sparsity: {reasons.get((name, 1), 'start over budget')}")
    lp = plan.layers[name]
    return LayerChoice(name, ev.graph.node(name).op, lp.bits, lp.sparsity, layout, nbytes,
                       bits_loss, sp_loss, why)
