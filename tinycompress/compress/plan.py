"""The compression plan: every decision about a model's weights in one plain object.

Defaults, the spec file, the command line, the `--max-accuracy-drop` search,
the lambda sweep and the grid sweep all produce a `Plan`; `apply` is the one
function that carries one out on a float graph:

    prune (magnitude, to each layer's sparsity) -> quantize (uniform or
    rate-distortion levels at each layer's bits and scale granularity) ->
    one layout per weight layer (forced, or chosen by `plan.optimize`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from tinycompress import layouts
from tinycompress.compress.lower import same_conv_pads
from tinycompress.compress.prune import prune
from tinycompress.compress.quantize import quantize
from tinycompress.compress.qparams import quantize_weights
from tinycompress.compress.rd import rd_quantize
from tinycompress.compress.weights import col_map
from tinycompress.errors import DataError
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.ir.qgraph import QGraph
from tinycompress.layouts import Layout


@dataclass(frozen=True)
class LayerPlan:
    """What one weight layer gets.

    lam: the rate-distortion trade-off (quantizer "rd"); None = not chosen yet
    (the lambda sweep picks it). layout: "auto" lets `Plan.optimize` choose.
    """

    bits: int = 8
    sparsity: float = 0.0
    per_channel: bool = True
    quantizer: str = "uniform"
    lam: float | None = None
    layout: str = "auto"


@dataclass(frozen=True)
class Plan:
    """A LayerPlan per weight layer (graph order), and how the whole is carried out.

    optimize: what layout "auto" picks (balanced | size | speed). scope: how one
    sparsity shared by every layer is reached: "global" (one magnitude
    threshold over all layers) or "layer" (each layer to the fraction).
    """

    layers: Mapping[str, LayerPlan]
    optimize: str = "balanced"
    scope: str = "global"

    def with_layers(self, **changes: Mapping[str, object]) -> Plan:
        """A copy with per-layer fields replaced: `with_layers(bits={"fc1": 4})`."""
        new = dict(self.layers)
        for key, values in changes.items():
            for name, value in values.items():
                new[name] = replace(new[name], **{key: value})
        return replace(self, layers=new)

    def with_all(self, **fields) -> Plan:
        """A copy with the same fields replaced in every layer."""
        return replace(self, layers={n: replace(lp, **fields) for n, lp in self.layers.items()})

    def values(self, key: str) -> dict[str, object]:
        """{layer: that layer's `key`} in graph order."""
        return {n: getattr(lp, key) for n, lp in self.layers.items()}

    @property
    def uses_rd(self) -> bool:
        return any(lp.quantizer == "rd" for lp in self.layers.values())

    @property
    def lam(self) -> float | None:
        """The lambda of the rd layers (one value; None when unset or no rd layer)."""
        lams = {lp.lam for lp in self.layers.values() if lp.quantizer == "rd"}
        return lams.pop() if len(lams) == 1 else None

    def as_dict(self) -> dict:
        return {"optimize": self.optimize, "scope": self.scope,
                "layers": {n: {"bits": lp.bits, "sparsity": lp.sparsity,
                               "per_channel": lp.per_channel, "quantizer": lp.quantizer,
                               "lambda": lp.lam, "layout": lp.layout}
                           for n, lp in self.layers.items()}}


@dataclass
class Applied:
    """A plan carried out: the pruned float graph, its integer graph, a layout per layer."""

    graph: Graph
    qgraph: QGraph
    layouts: dict[str, Layout]


def prune_to(plan: Plan, graph: Graph) -> Graph:
    """`graph` magnitude-pruned to the plan's sparsities (itself when none is > 0).

    One sparsity shared by every layer is reached with `plan.scope`; anything
    else prunes each layer to its own fraction. Pruning a graph that already
    holds at least that many zeros per target changes no value.
    """
    targets = {n: lp.sparsity for n, lp in plan.layers.items() if lp.sparsity > 0}
    if not targets:
        return graph
    values = set(targets.values())
    if len(values) == 1 and len(targets) == len(plan.layers) and plan.scope == "global":
        return prune(graph, values.pop(), scope="global")[0]
    return prune(graph, targets, scope="layer")[0]


def weight_quantizer(plan: Plan, fisher: Mapping[str, np.ndarray] | None):
    """The per-layer weight quantizer of `plan`: None when every layer is uniform.

    Layers with quantizer "rd" take Fisher-weighted rate-distortion levels at
    their lambda; the others, and a layer with no Fisher, round uniformly.
    """
    rd = {n: lp for n, lp in plan.layers.items() if lp.quantizer == "rd"}
    if not rd:
        return None
    unset = sorted(n for n, lp in rd.items() if lp.lam is None)
    if unset:
        raise ValueError(f"rd layers without a lambda: {', '.join(unset)} (choose one first)")
    if fisher is None:
        raise DataError("--quantizer rd needs the Fisher information of a Keras model")

    def quantize_one(name: str, matrix: np.ndarray, bits: int, per_channel: bool):
        if name not in rd or name not in fisher:
            return quantize_weights(matrix, bits, per_channel)
        return rd_quantize(matrix, fisher[name], bits, rd[name].lam, per_channel)
    return quantize_one


def positions(node) -> int:
    """Matrix-vector products per inference: 1 for dense, output pixels for convolutions."""
    return 1 if node.op == "dense" else int(np.prod(node.output_shape[:-1]))


def cost_kind(node) -> str:
    """The cost model's kind of a weight node, float or quantized (`layouts.cost.kind_of`)."""
    if node.op == "dense":
        return "fc"
    return layouts.kind_of(node.op, _kernel(node), tuple(node.attrs.get("strides", (1, 1))))


def _kernel(node) -> tuple[int, int]:
    kernel = node.attrs.get("kernel") or node.weights["kernel"].shape[:2]
    return int(kernel[0]), int(kernel[1])


def _pads(node) -> tuple[tuple[int, int], tuple[int, int]]:
    """The padding a conv's kernel takes inside: the lowered node's `pads`, or for a float
    node with 'same' padding the pads lowering will give it (compress.lower: none when the
    kernel is larger than the input, where an explicit pad makes the conv 'valid')."""
    if "pads" in node.attrs or node.attrs.get("padding") != "same":
        return node.attrs.get("pads", ((0, 0), (0, 0)))
    pads, inside = same_conv_pads(node)
    return pads if inside else ((0, 0), (0, 0))


def geometry(node, least: bool = False) -> layouts.Geometry | None:
    """A convolution's shape as the cost model's sweep sees it (None for dense); `node`
    float or quantized; `least`: the build's sparse kernels get their least scratch
    (--optimize size)."""
    if node.op == "dense":
        return None
    (top, _), (left, _) = _pads(node)
    p, levels = getattr(node, "params", None), getattr(node, "levels", None)
    quantized = p is not None and levels is not None  # else a float node: taken as short
    short = not quantized or layouts.short_requant(p.shift, p.bias_f, int(node.bits),
                                                   levels.shape[1])
    long_rows = 0
    if quantized:
        shift = np.broadcast_to(np.asarray(p.shift), (levels.shape[0],))
        long_rows = int(np.count_nonzero((shift > -2) & np.any(np.asarray(levels) != 0, axis=1)))
    return layouts.Geometry(tuple(node.input_shapes[0][:2]), tuple(node.output_shape[:2]),
                            _kernel(node), tuple(node.attrs.get("strides", (1, 1))), (top, left),
                            int(node.input_shapes[0][-1]), node.op == "depthwise_conv2d", least,
                            short, long_rows)


def border(node) -> int:
    """Output pixels of a convolution whose window reaches into its padding (0 for dense);
    `node` float or quantized."""
    g = geometry(node)
    return 0 if g is None else layouts.border_positions(*g[:5])


def choose_layouts(qgraph: QGraph, plan: Plan) -> dict[str, Layout]:
    """One layout per weight node: the plan's forced one, or the best by `plan.optimize`."""
    chosen = {}
    for node in qgraph.weight_nodes:
        name = plan.layers[node.source or node.name].layout
        allowed = None if name == "auto" else (name,)
        chosen[node.name] = layouts.choose(node.levels, node.bits, plan.optimize,
                                           col_map=col_map(node), allowed=allowed,
                                           kind=cost_kind(node), positions=positions(node),
                                           border=border(node),
                                           geometry=geometry(node, plan.optimize == "size"))
    return chosen


def apply(plan: Plan, graph: Graph, calib_x: np.ndarray,
          fisher: Mapping[str, np.ndarray] | None = None) -> Applied:
    """Carry `plan` out on the float `graph`: prune, quantize, lay out.

    calib_x calibrates the activation ranges; `fisher` (weight-matrix-shaped
    Fisher diagonals by layer) is needed when a layer uses the rd quantizer.
    """
    pruned = prune_to(plan, graph)
    qgraph = quantize(pruned, calib_x, bits=plan.values("bits"),
                      per_channel=plan.values("per_channel"),
                      weight_quantizer=weight_quantizer(plan, fisher))
    return Applied(pruned, qgraph, choose_layouts(qgraph, plan))


def default_plan(graph: Graph, **fields) -> Plan:
    """Every weight layer of `graph` at the same LayerPlan (`fields` as in LayerPlan)."""
    layer = LayerPlan(**fields)
    return Plan({n.name: layer for n in graph.nodes if n.op in WEIGHT_OPS})


