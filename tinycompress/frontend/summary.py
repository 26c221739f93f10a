"""Per-layer summary of a model: what `tinycompress inspect` shows.

Computed from the `Graph` only (no Keras, no typer), so it can be used from
Python and tested without the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinycompress.frontend.loader import load
from tinycompress.ir.graph import Graph, Node, Shape


@dataclass(frozen=True)
class LayerRow:
    """One node of the graph as the inspect table shows it.

    `input_shape` is the shape of the node's single input; nodes with several
    inputs (add, concat) carry one shape per input; the input node its own shape.
    """

    name: str
    op: str
    activation: str
    input_shape: Shape | tuple[Shape, ...]
    output_shape: Shape
    params: int
    macs: int

    def to_dict(self) -> dict:
        """The JSON form: exactly name, op, input_shape, output_shape, params, macs."""
        return {
            "name": self.name,
            "op": self.op,
            "input_shape": _jsonable(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
        }


@dataclass(frozen=True)
class ModelSummary:
    """All layers in topological order plus totals."""

    name: str
    layers: tuple[LayerRow, ...]
    params: int
    macs: int

    def to_dict(self) -> dict:
        """The JSON form: {"layers": [...], "params": int, "macs": int}."""
        return {
            "layers": [row.to_dict() for row in self.layers],
            "params": self.params,
            "macs": self.macs,
        }


def summarize(graph: Graph) -> ModelSummary:
    """Rows and totals for `graph`; totals are sums over the rows."""
    rows = tuple(_row(node) for node in graph.nodes)
    return ModelSummary(
        name=graph.name,
        layers=rows,
        params=sum(r.params for r in rows),
        macs=sum(r.macs for r in rows),
    )


def inspect_model(path: str | Path) -> ModelSummary:
    """Load the model at `path` and summarize it (raises the loader's errors)."""
    return summarize(load(path))


def _row(node: Node) -> LayerRow:
    return LayerRow(
        name=node.name,
        op=node.op,
        activation=node.activation,
        input_shape=_input_shape(node),
        output_shape=tuple(node.output_shape),
        params=node.params,
        macs=node.macs,
    )


def _input_shape(node: Node) -> Shape | tuple[Shape, ...]:
    shapes = [tuple(s) for s in node.input_shapes]
    if not shapes:  # the model's input node reads nothing: show what it provides
        return tuple(node.output_shape)
    if len(shapes) == 1:
        return shapes[0]
    return tuple(shapes)


def _jsonable(shape) -> list:
    return [_jsonable(s) if isinstance(s, tuple) else int(s) for s in shape]


def format_shape(shape: Shape | tuple[Shape, ...]) -> str:
    """'16x16x1' for one shape, '8x8x16 + 8x8x16' for several."""
    if shape and isinstance(shape[0], tuple):
        return " + ".join(format_shape(s) for s in shape)
    return "x".join(str(d) for d in shape) or "scalar"
