"""Loading stage for ONNX models (float, opset 13 or later, as PyTorch exports them) -> `Graph`.

Parsed with the `onnx` package (extra [onnx]); shapes come from ONNX's own
shape inference. The Graph is NHWC, ONNX is NCHW: every 4-D activation is
kept as the NHWC tensor with the same values (`Value.nchw`), weights are
transposed into the Graph's layouts (`onnx_ops`), and a Flatten of an NCHW
tensor becomes a relabeling whose element order is remembered
(`Value.order`) and applied to the rows of the dense layer that reads it.
Quantized operators (QLinear*, *Integer, Quantize/DequantizeLinear) are
reported as not supported yet.
"""
from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path

import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError, missing_extra
from tinycompress.frontend.onnx_ops import HANDLERS, QUANTIZED_OPS, NodeContext, Value, supported_ops
from tinycompress.frontend.passes import simplify
from tinycompress.ir.graph import Graph, Node, unique_name

MIN_OPSET = 13


def _onnx():
    try:
        return importlib.import_module("onnx")
    except ImportError as exc:
        raise missing_extra("the onnx package (ONNX models)", "onnx") from exc


def read_model(path: Path):
    """The shape-inferred ModelProto; ModelLoadError when it does not parse."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # a truncated or corrupt protobuf
        raise ModelLoadError(f"cannot parse ONNX file {path}: {type(exc).__name__}: {exc}") from exc
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise UnsupportedLayerError(f"{path}: ONNX opset {opset} is not supported; "
                                    f"supported: opset {MIN_OPSET} or later (re-export the model)")
    return model


def load_onnx(path: str | Path) -> Graph:
    """A float `Graph` from an .onnx file (see the module docstring)."""
    path = Path(path)
    model = read_model(path)
    onnx = _onnx()
    g = model.graph
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    shapes = {v.name: _dims(v) for v in (*g.input, *g.value_info, *g.output)}
    builder = _Builder(consts, shapes, onnx.numpy_helper.to_array,
                       Counter(i for n in g.node for i in n.input))
    for inp in g.input:
        if inp.name not in consts:
            builder.add_input(inp.name, shapes[inp.name], _elem_type(onnx, inp))
    for node in g.node:
        builder.add_node(node, onnx)
    outputs = [builder.value(o.name, "graph output").node for o in g.output]
    name = re.sub(r"\W", "_", g.name or path.stem) or "model"
    return simplify(Graph(name=name, nodes=builder.nodes, outputs=outputs))


def _dims(value_info) -> tuple[int, ...] | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in t.shape.dim)


def _elem_type(onnx, value_info) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name


class _Builder:
    """Graph nodes in ONNX node order, and how each ONNX tensor is held."""

    def __init__(self, consts: dict[str, np.ndarray], shapes: dict, to_array, uses: Counter):
        self.consts = consts
        self.shapes = shapes
        self.to_array = to_array  # onnx.numpy_helper.to_array (Constant nodes)
        self.uses = uses  # tensor -> how many node inputs read it
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = {}
        self._names: set[str] = set()

    def unique(self, base: str) -> str:
        return unique_name(self._names, base, "n")

    def value(self, tensor: str, where: str) -> Value:
        if tensor not in self.values:
            raise UnsupportedLayerError(f"{where}: tensor {tensor} is not a model input or an "
                                        "activation of a supported op")
        return self.values[tensor]

    def add_input(self, tensor: str, shape, dtype: str) -> None:
        where = f"input {tensor}"
        if dtype != "float32":
            raise UnsupportedLayerError(f"{where}: {dtype} inputs are not supported yet; supported: float32")
        if shape is None or len(shape) < 2 or shape[0] not in (1, -1) or any(d <= 0 for d in shape[1:]):
            raise UnsupportedLayerError(f"{where}: shape {shape} is not supported; "
                                        "supported: batch 1 (or dynamic) and fixed other axes")
        dims = tuple(shape[1:])
        nchw = len(dims) == 3
        graph_shape = (dims[1], dims[2], dims[0]) if nchw else dims
        node = Node(self.unique(tensor), "input", [], [], graph_shape, attrs={"tensor": tensor})
        self.nodes.append(node)
        self.values[tensor] = Value(node.name, graph_shape, nchw)

    def add_node(self, node, onnx) -> None:
        op = node.op_type
        out = node.output[0] if node.output else "?"
        where = f"op {op} (node {node.name or out})"
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedLayerError(f"{where}: operator domain {node.domain!r} is not supported; "
                                        "supported: the default ONNX domain")
        if op in QUANTIZED_OPS:
            raise UnsupportedLayerError(f"{where}: quantized ONNX models are not supported yet; "
                                        "export the float model")
        handler = HANDLERS.get(op)
        if handler is None:
            raise UnsupportedLayerError(f"{where}: op not supported; supported: {', '.join(supported_ops())}")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        handler(NodeContext(self, node, where, attrs))
