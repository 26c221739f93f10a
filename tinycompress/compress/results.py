"""What `compress()` returns: the applied plan, the per-layer table and the measured figures.

    result.report()        # the compress-report.json document (build-report.json shares its keys)
    write_report(result, "out")

Every accuracy says which split it was measured on: "val" (the validation
data every selection was scored on) or "eval" (`--eval-data`, which no
selection reads). See `Compressed.report` for the document.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tinycompress.compress.outputs import check_output_dir
from tinycompress.compress.plan import Plan, border, cost_kind, geometry, positions
from tinycompress.compress.search import SearchResult
from tinycompress.compress.weights import col_map, layer_weight_bytes
from tinycompress.errors import OutputPathError
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.layouts import Layout, encode_all, encode_as, estimated_instructions
from tinycompress.layouts.energy import estimate_layout


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
    """A compressed model and what was measured on it.

    accuracy: the reported top-1 figures {"split", "float", "quantized",
    "pruned_float"?}: on the eval split when `--eval-data` has labels, else on
    the validation split (None without labels). validation: the validation
    split's source, size, accuracy and fidelity (None without validation
    data). fidelity: the integer model against the float model as given, on
    the eval split when given, else validation.
    """

    graph: Graph                    # the float graph after pruning
    qgraph: QGraph
    layouts: dict[str, Layout]      # weight layer name -> chosen layout
    layers: list[LayerResult]
    float_weight_bytes: int
    accuracy: dict | None = None
    calibration: str = ""           # what the activation ranges were calibrated on
    search: SearchResult | None = None  # with --max-accuracy-drop / --max-fidelity-loss
    lam: float | None = None        # the rate-distortion lambda used (rd quantizer)
    plan: Plan | None = None        # the plan that was applied
    validation: dict | None = None
    fidelity: dict | None = None
    data: dict = field(default_factory=dict)      # where each role's data came from
    mode: str = "as given"          # compress.auto.default_mode: as given / int8 / prune+search / search
    pruning: dict | None = None     # the default compression's pruning schedule (compress.auto)
    trust: dict | None = None       # float / TFLite int8 / ours side by side (compress.trust)
    warnings: list[str] = field(default_factory=list)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    def report(self) -> dict:
        """The compress-report.json document."""
        return {"model": self.graph.name, "layers": [r.as_dict() for r in self.layers],
                "weight_bytes": self.weight_bytes,
                "float_weight_bytes": self.float_weight_bytes,
                "accuracy": self.accuracy, "validation": self.validation,
                "fidelity": self.fidelity, "calibration": self.calibration,
                "data": {"calibration": self.calibration, **self.data},
                "lambda": self.lam,
                "search": None if self.search is None else self.search.as_dict(),
                "mode": self.mode, "pruning": self.pruning, "trust": self.trust,
                "warnings": list(self.warnings)}


def float_weight_bytes(graph: Graph) -> int:
    """float32 bytes of every weight and bias of the (folded) graph's weight layers."""
    return 4 * sum(n.params for n in graph.nodes if n.op in WEIGHT_OPS)


def layer_results(qgraph: QGraph, chosen: dict[str, Layout], least: bool = False
                  ) -> list[LayerResult]:
    """Per weight layer: bits, sparsity, layout, exact bytes, op counts, energy estimate,
    estimated instructions, and the fastest layout's bytes and instructions beside them
    (`least`: the sparse kernels get their least scratch, --optimize size)."""
    rows = []
    for n in qgraph.weight_nodes:
        layout, reps = chosen[n.name], positions(n)
        ops = {k: v * reps for k, v in layout.ops().as_dict().items()}
        cost = _cost(n, reps, least)
        fastest = min(encode_all(n.levels, int(n.bits), col_map(n)).values(), key=cost)
        rows.append(LayerResult(n.name, n.op, int(n.bits), n.sparsity, layout.name,
                                layer_weight_bytes(n, layout), ops,
                                estimate_layout(layout, positions=reps).pj_total, cost(layout),
                                {"layout": fastest.name, "weight_bytes": layer_weight_bytes(n, fastest),
                                 "instructions_est": round(cost(fastest))}))
    return rows


def planned_estimates(qgraph: QGraph, chosen: dict[str, Layout], layers: list[LayerResult],
                      least: set[str]) -> None:
    """Set every layer's `instructions_est` for the scratch the arena planned it: the
    layers in `least` got less than their kernel's full scratch (a dense conv's general
    path, a padded sparse conv's RECT sweep: `Rendered.layers`' least_scratch), the others
    their full scratch; the fastest layout's on the same scratch, so the two compare like
    for like. The layout choice estimated before the arena was planned."""
    nodes = {n.name: n for n in qgraph.weight_nodes}
    for row in layers:
        node = nodes[row.name]
        cost = _cost(node, positions(node), node.name in least)
        row.instructions_est = cost(chosen[row.name])
        if row.fastest.get("layout") == row.layout:
            row.fastest = {**row.fastest, "instructions_est": round(row.instructions_est)}
        elif row.fastest and node.name in least:
            alt = encode_as(row.fastest["layout"], node.levels, int(node.bits), col_map(node))
            row.fastest = {**row.fastest, "instructions_est": round(cost(alt))}


def _cost(node: QNode, reps: int, least: bool = False) -> Callable[[Layout], float]:
    """The cost model's instructions per inference of `node` in a layout."""
    kind, cmap, edge = cost_kind(node), col_map(node), border(node)
    shape = geometry(node, least)
    return lambda layout: estimated_instructions(layout, kind, reps, cmap, edge, shape)


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
