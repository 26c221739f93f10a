"""Weight bytes of a configuration, and the sensitivity-guided bits/sparsity search.

Weight bytes (`weight_bytes`) count every array the firmware carries for a
weight layer: the chosen layout's exact `nbytes` (levels, indices, pointers)
plus the layer constants of `tinycompress.compress.weights` (bias_f per row, int16 when
it fits; int32 m and int8 shift per row, or one of each when the layer is
quantized per tensor). While searching, `layer_bytes` ranks moves with
`weights.constants_nbytes`, which counts the bias as int32 (an upper bound:
its narrowing depends on the whole graph's quantization); the bytes a search
reports are exact, from the chosen configuration's quantized graph (tests
check them against `weight_bytes`).

`search_bits` chooses per weight layer a bit width (2..8) and a magnitude-
pruning sparsity that minimise total weight bytes while the integer model's
accuracy on (x_val, y_val) stays within `max_drop_pts` percentage points of
the float model's:

1. Sensitivity: a layer alone is moved down a ladder (fewer bits at its
   start sparsity; more sparsity at its start bits), all other layers at the
   start configuration (8 bits, the graph's own sparsity); the accuracy drop
   of that step is measured, lazily, for the steps the descent considers.
2. Greedy descent: repeatedly take the move (one layer: next lower bit
   width, or next higher sparsity) with the most bytes saved per point of
   measured sensitivity; evaluate the whole configuration; keep it if the
   budget holds, else freeze that layer's ladder. Ties go to graph order, so
   the search is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.compress.weights import col_map, col_map_for  # noqa: F401  (col_map_for re-exported)
from tinycompress.compress.weights import constants_nbytes

BITS_LADDER = (8, 7, 6, 5, 4, 3, 2)
SPARSITY_LADDER = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95)
SENSITIVITY_FLOOR_PTS = 0.1  # keeps the greedy ratio finite for insensitive layers

Progress = Callable[[int, int], None]


# ------------------------------------------------------------------ bytes

def layer_bytes(levels: np.ndarray, bits: int, per_channel: bool, col_map=None,
                layout: str = "auto", optimize: str = "size"):
    """(chosen Layout, total bytes of the layer: layout nbytes + constants)."""
    from tinycompress import layouts

    allowed = None if layout == "auto" else (layout,)
    chosen = layouts.choose(levels, bits, optimize, col_map=col_map, allowed=allowed)
    return chosen, chosen.nbytes + constants_nbytes(levels.shape[0], per_channel)


def weight_bytes(qgraph, layout: dict[str, str] | None = None, optimize: str = "size") -> int:
    """Total weight bytes of a QGraph: sum of `layer_bytes` over its weight nodes."""
    from tinycompress import layouts
    from tinycompress.compress.weights import layer_weight_bytes

    layout = layout or {}
    total = 0
    for qn in qgraph.weight_nodes:
        forced = layout.get(qn.name, "auto")
        chosen = layouts.choose(qn.levels, qn.bits, optimize, col_map=col_map(qn),
                                allowed=None if forced == "auto" else (forced,))
        total += layer_weight_bytes(qn, chosen)
    return total


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
    bits_drop: dict[int, float]  # bits -> accuracy drop (pts) with only this layer changed
    sparsity_drop: dict[float, float]  # sparsity -> drop (pts), only this layer, 8 bits
    stopped_by: str  # why descent stopped: "budget" / "ladder end" per dimension


@dataclass
class SearchResult:
    """The chosen configuration, its accuracy and bytes, and the per-layer reasons."""

    layers: list[LayerChoice]
    float_accuracy: float
    accuracy: float
    max_drop_pts: float
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
    def drop_pts(self) -> float:
        return 100.0 * (self.float_accuracy - self.accuracy)

    def table(self) -> list[dict]:
        """Rows for the CLI: choice per layer and the sensitivities that explain it."""
        rows = []
        for c in self.layers:
            sens_b = ", ".join(f"{b}b:{d:+.1f}" for b, d in sorted(c.bits_drop.items(), reverse=True))
            sens_s = ", ".join(f"{s:.2f}:{d:+.1f}" for s, d in sorted(c.sparsity_drop.items()))
            rows.append({"name": c.name, "op": c.op, "bits": c.bits, "sparsity": round(c.sparsity, 4),
                         "layout": c.layout, "bytes": c.nbytes,
                         "drop_by_bits": sens_b, "drop_by_sparsity": sens_s, "stopped_by": c.stopped_by})
        return rows


# ------------------------------------------------------------------ search

class _Evaluator:
    """Accuracy and bytes of configurations {layer: (bits, sparsity)}, memoised."""

    def __init__(self, graph: Graph, calib_x, x_val, y_val, per_channel: bool,
                 quantizer=None, optimize: str = "size"):
        from tinycompress.compress.lower import lower_graph

        self.graph, self.calib_x, self.x_val, self.y_val = graph, calib_x, x_val, y_val
        self.per_channel, self.quantizer, self.optimize = per_channel, quantizer, optimize
        self.names = [n.name for n in graph.nodes if n.op in WEIGHT_OPS]
        lowered = lower_graph(graph)
        self.col_maps = {n.name: col_map_for(n.op, n.weights["kernel"].shape[:2], n.input_shapes[0])
                         for n in lowered.nodes if n.op in WEIGHT_OPS}
        self._acc: dict[tuple, float] = {}
        self._bytes: dict[tuple, tuple] = {}

    def _levels(self, name: str, bits: int, matrix: np.ndarray):
        from tinycompress.compress.qparams import quantize_weights

        if self.quantizer is None:
            return quantize_weights(matrix, bits, self.per_channel)[0]
        return self.quantizer(name, matrix, bits, self.per_channel)[0]

    def layer(self, name: str, bits: int, sparsity: float) -> tuple[str, int]:
        """(layout name, bytes) of one layer at (bits, sparsity)."""
        key = (name, bits, sparsity)
        if key not in self._bytes:
            from tinycompress.compress.prune import magnitude_masks
            from tinycompress.compress.qparams import weight_matrix

            node = self.graph.node(name)
            k = node.weights["kernel"]
            k = np.where(magnitude_masks({name: k}, {name: sparsity})[name], k, 0.0)
            levels = self._levels(name, bits, weight_matrix(node.op, k))
            chosen, nbytes = layer_bytes(levels, bits, self.per_channel, self.col_maps[name],
                                         optimize=self.optimize)
            self._bytes[key] = (chosen.name, nbytes)
        return self._bytes[key]

    def total_bytes(self, cfg: dict[str, tuple[int, float]]) -> int:
        return sum(self.layer(n, *cfg[n])[1] for n in self.names)

    def accuracy(self, cfg: dict[str, tuple[int, float]]) -> float:
        key = tuple(cfg[n] for n in self.names)
        if key not in self._acc:
            self._acc[key] = self._measure(cfg)
        return self._acc[key]

    def _measure(self, cfg) -> float:
        from tinycompress.reference import int_ref

        return int_ref.evaluate(self.qgraph(cfg), self.x_val, self.y_val)

    def qgraph(self, cfg):
        """The quantized graph of a configuration (what compress() would make of it)."""
        from tinycompress.compress.prune import prune
        from tinycompress.compress.quantize import quantize

        pruned, _ = prune(self.graph, {n: cfg[n][1] for n in self.names}, scope="layer")
        qg = quantize(pruned, self.calib_x, {n: cfg[n][0] for n in self.names}, self.per_channel)
        if self.quantizer is not None:
            from tinycompress.compress.rd import apply_weight_quantizer
            qg = apply_weight_quantizer(qg, pruned, self.quantizer)
        return qg

    def exact_layers(self, cfg) -> dict[str, tuple[str, int]]:
        """{layer: (layout, exact bytes)} from the configuration's quantized graph.

        `layer()` ranks moves with an estimate that counts the bias as int32
        (its narrowing to int16 depends on the whole graph's quantization);
        the bytes the search reports come from here.
        """
        from tinycompress import layouts
        from tinycompress.compress.weights import layer_weight_bytes

        exact = {}
        for qn in self.qgraph(cfg).weight_nodes:
            chosen = layouts.choose(qn.levels, qn.bits, self.optimize, col_map=col_map(qn))
            exact[qn.name] = (chosen.name, layer_weight_bytes(qn, chosen))
        return exact

    @property
    def evaluations(self) -> int:
        return len(self._acc)


def _float_accuracy(graph: Graph, keras_model, x_val, y_val) -> float:
    """Top-1 accuracy of the float model (Keras if given, else the float reference)."""
    y = np.asarray(y_val)
    y = np.argmax(y, axis=1) if y.ndim == 2 else y
    if keras_model is not None:
        pred = keras_model.predict(np.asarray(x_val, np.float32), batch_size=256, verbose=0)
    else:
        from tinycompress.reference.float_ref import run_float
        pred = run_float(graph, np.asarray(x_val, np.float32))
    return float(np.mean(np.argmax(np.asarray(pred).reshape(len(y), -1), axis=1) == y))


def _ladders(graph: Graph, names: list[str], bits_choices, sparsity_choices):
    """Per layer: bits ladder (descending) and sparsity ladder (from its current sparsity)."""
    from tinycompress.compress.prune import sparsity_report

    report = sparsity_report(graph)
    bits_l = tuple(sorted(set(bits_choices), reverse=True))
    out = {}
    for n in names:
        s0 = round(report.layer(n).sparsity, 4)
        out[n] = (bits_l, (s0,) + tuple(s for s in sorted(set(sparsity_choices)) if s > s0 + 0.005))
    return out


class _Sensitivity:
    """Drop (pts below float) with one layer moved along one ladder, others at start.

    Measured lazily, only for the steps the greedy descent considers.
    """

    def __init__(self, ev: _Evaluator, start, float_acc: float, tick):
        self.ev, self.start, self.float_acc, self.tick = ev, start, float_acc, tick
        self.bits = {n: {} for n in ev.names}
        self.sparsity = {n: {} for n in ev.names}

    def drop(self, name: str, dim: int, value) -> float:
        table = (self.bits if dim == 0 else self.sparsity)[name]
        if value not in table:
            b, s = self.start[name]
            cfg = {**self.start, name: (value, s) if dim == 0 else (b, value)}
            fresh = tuple(cfg[n] for n in self.ev.names) not in self.ev._acc
            table[value] = 100.0 * (self.float_acc - self.ev.accuracy(cfg))
            if fresh:
                self.tick()
        return table[value]


def _config(ladders, state) -> dict[str, tuple[int, float]]:
    return {n: (ladders[n][0][i], ladders[n][1][j]) for n, (i, j) in state.items()}


def _best_move(ev: _Evaluator, ladders, state, frozen, sens: _Sensitivity):
    """(ratio, name, dim, new index) of the best move, or None. dim 0 = bits, 1 = sparsity."""
    cfg = _config(ladders, state)
    best = None
    for n in ev.names:
        here = ev.layer(n, *cfg[n])[1]
        for dim in (0, 1):
            if (n, dim) in frozen:
                continue
            ladder, cur = ladders[n][dim], state[n][dim]
            for k in range(cur + 1, len(ladder)):  # nearest step that saves bytes
                moved = (ladder[k], cfg[n][1]) if dim == 0 else (cfg[n][0], ladder[k])
                saved = here - ev.layer(n, *moved)[1]
                if saved > 0:
                    inc = max(sens.drop(n, dim, ladder[k]) - sens.drop(n, dim, ladder[cur]), 0.0)
                    ratio = saved / (inc + SENSITIVITY_FLOOR_PTS)
                    if best is None or ratio > best[0]:
                        best = (ratio, n, dim, k)
                    break
    return best


def _greedy(ev: _Evaluator, ladders, sens: _Sensitivity, float_acc, budget, tick):
    """Descend from the start state while the budget holds; returns (state, reasons)."""
    state = {n: [0, 0] for n in ev.names}
    frozen: set[tuple[str, int]] = set()
    reasons = {(n, d): "ladder end" for n in ev.names for d in (0, 1)}
    while (move := _best_move(ev, ladders, state, frozen, sens)) is not None:
        _, n, dim, k = move
        trial = {m: list(v) for m, v in state.items()}
        trial[n][dim] = k
        acc = ev.accuracy(_config(ladders, trial))
        tick()
        if 100.0 * (float_acc - acc) <= budget + 1e-9:
            state = trial
        else:
            frozen.add((n, dim))
            step = ladders[n][dim][k]
            reasons[(n, dim)] = f"budget at {step}b" if dim == 0 else f"budget at {step:.2f}"
    return state, reasons


def search_bits(graph: Graph, keras_model, calib_x, x_val, y_val, max_drop_pts: float,
                progress: Progress | None = None, per_channel: bool = True,
                bits_choices=BITS_LADDER, sparsity_choices=SPARSITY_LADDER,
                quantizer=None, optimize: str = "size") -> SearchResult:
    """Per-layer bits and sparsity minimising weight bytes within `max_drop_pts`.

    Accuracy is the integer reference's top-1 on (x_val, y_val), compared with
    the float model's (`keras_model`, or the float reference when None).
    Sparsity is one-shot magnitude pruning per layer on top of what `graph`
    already has (prune and fine-tune first for high sparsity). `quantizer` is
    an optional weight quantizer (e.g. `rd.rd_weight_quantizer`); `progress
    (done, total)` is called after each evaluation. Deterministic.
    """
    ev = _Evaluator(graph, calib_x, x_val, y_val, per_channel, quantizer, optimize)
    ladders = _ladders(graph, ev.names, bits_choices, sparsity_choices)
    total = sum(2 * (len(b) + len(s)) for b, s in ladders.values())
    done = [0]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(min(done[0], total), total)

    float_acc = _float_accuracy(graph, keras_model, x_val, y_val)
    start = _config(ladders, {n: (0, 0) for n in ev.names})
    start_acc = ev.accuracy(start)
    feasible = 100.0 * (float_acc - start_acc) <= max_drop_pts + 1e-9
    state, reasons = {n: [0, 0] for n in ev.names}, {}
    sens = _Sensitivity(ev, start, float_acc, tick)
    if feasible:
        state, reasons = _greedy(ev, ladders, sens, float_acc, max_drop_pts, tick)
    if progress is not None:
        progress(total, total)
    cfg = _config(ladders, state)
    exact = ev.exact_layers(cfg)
    layers = [_choice(ev, n, cfg[n], exact[n], sens.bits[n], sens.sparsity[n], reasons)
              for n in ev.names]
    start_bytes = sum(nbytes for _, nbytes in ev.exact_layers(start).values())
    return SearchResult(layers, float_acc, ev.accuracy(cfg), max_drop_pts,
                        sum(c.nbytes for c in layers), start_bytes, ev.evaluations, feasible)


def _choice(ev: _Evaluator, name: str, cfg, exact, bits_drop, sp_drop, reasons) -> LayerChoice:
    layout, nbytes = exact
    why = (f"bits: {reasons.get((name, 0), 'start over budget')}; "
           f"sparsity: {reasons.get((name, 1), 'start over budget')}")
    return LayerChoice(name, ev.graph.node(name).op, cfg[0], cfg[1], layout, nbytes,
                       bits_drop, sp_drop, why)
