"""Numbers the bench derives from a build's quantized graph: entropy bound, energy, fidelity.

Everything here reads the QGraph a build saved (`target.state.load_state`), so it
describes exactly the model the firmware runs.

- `entropy_rows`: per weight layer, the entropy bound of its levels
  (`tinycompress.report.entropy`), the bytes of its layout arrays alone (levels,
  indices, pointers) and of everything it carries (plus bias, requant
  multipliers and shifts), and both as multiples of the bound.
- `energy_table`: per weight layer and layout, the ESTIMATED energy of one
  inference from the layout's op counts (`tinycompress.layouts.energy`, Horowitz
  45 nm table), times the output positions of a convolution.
- `fidelity`: for models without labels, how close the integer model is to
  the float one on the synthetic inputs (top-1 agreement, relative RMS).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tinycompress.report.entropy import entropy_bound_bytes, ratio
from tinycompress.target.state import load_state


def load_qgraph(build_dir: Path):
    """The QGraph a build directory's firmware was generated from."""
    return load_state(Path(build_dir)).qgraph


def _layout(node, name: str):
    from tinycompress.compress.weights import col_map
    from tinycompress.layouts import encode_as

    return encode_as(name, node.levels, int(node.bits), col_map=col_map(node))


def entropy_rows(qgraph, build_layers: list[dict]) -> list[dict]:
    """Per weight layer: bound, layout bytes, total bytes (see module docstring)."""
    by_name = {row["name"]: row for row in build_layers}
    rows = []
    for node in qgraph.weight_nodes:
        built = by_name[node.name]
        bound = entropy_bound_bytes(node.levels)
        layout_bytes = _layout(node, built["layout"]).nbytes
        rows.append({"name": node.name, "op": node.op, "bits": int(node.bits),
                     "sparsity": float(np.mean(node.levels == 0)), "layout": built["layout"],
                     "weights": int(node.levels.size), "entropy_bound_bytes": round(bound, 1),
                     "layout_bytes": int(layout_bytes), "weight_bytes": int(built["weight_bytes"]),
                     "layout_over_bound": ratio(layout_bytes, bound),
                     "weight_over_bound": ratio(built["weight_bytes"], bound)})
    return rows


def positions(node) -> int:
    """Matrix-vector products per inference: output pixels of a conv, 1 for dense."""
    return 1 if node.op == "dense" else int(math.prod(node.output_shape[:-1]))


def energy_table(qgraph) -> dict:
    """{"layers": {layer: {layout: pJ}}, "total": {layout: pJ}} -- an ESTIMATE."""
    from tinycompress.layouts.energy import estimate_layout
    from tinycompress.layouts import LAYOUT_NAMES

    layers = {}
    for node in qgraph.weight_nodes:
        layers[node.name] = {name: round(estimate_layout(_layout(node, name), positions(node)).pj_total, 1)
                             for name in LAYOUT_NAMES}
    total = {name: round(sum(row[name] for row in layers.values()), 1) for name in LAYOUT_NAMES}
    return {"estimate": True, "unit": "pJ per inference",
            "source": "op counts x Horowitz ISSCC 2014 45 nm (tinycompress.layouts.energy)",
            "layers": layers, "total": total}


def dequantized_outputs(qgraph, x: np.ndarray) -> np.ndarray:
    """Float outputs of the integer reference on float inputs `x`."""
    from tinycompress.reference.int_ref import run_int

    return np.asarray(qgraph.dequantize_output(run_int(qgraph, qgraph.quantize_input(x))),
                      np.float64)


def fidelity(qgraph, x: np.ndarray, float_out: np.ndarray, classifier: bool) -> dict:
    """Top-1 agreement with float (classifiers) and relative RMS error of the outputs."""
    got = dequantized_outputs(qgraph, x).reshape(float_out.shape)
    rms = float(np.sqrt(np.mean(float_out ** 2)))
    result = {"relative_rms_error": float(np.sqrt(np.mean((got - float_out) ** 2))) / rms}
    if classifier:
        result["top1_agreement"] = float(np.mean(np.argmax(got, -1) == np.argmax(float_out, -1)))
    return result
