"""Loading stage for TFLite flatbuffers (float32 and full-integer int8) -> `Graph`.

The file is parsed with TensorFlow's generated FlatBuffers schema module
(`tensorflow.lite.python.schema_py_generated`, object API), never by hand.
Each operator becomes Graph nodes through `tflite_ops`; QUANTIZE at the
model input and DEQUANTIZE at its outputs are edges, not nodes.

An int8 model keeps what its file says (`tflite_ops` documents the attrs):
every node's output (scale, zero point) in attrs["qparams"], every weight
op's int8 levels, weight scales and int32 bias, and the graph's arithmetic
is "tflite" (TFLite's requantization rounding; see reference.requant).
Float weights are the dequantized levels, so the float graph is the model
as TFLite would run it in float.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinycompress.errors import ModelLoadError, UnsupportedLayerError
from tinycompress.frontend.keras_import import import_keras
from tinycompress.frontend.tflite_ops import HANDLERS, OpContext, supported_ops
from tinycompress.ir.graph import Graph, Node, unique_name

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16",
           9: "int8", 10: "float64", 17: "int4"}
_NUMPY = {"float32": np.float32, "int32": np.int32, "int8": np.int8, "int64": np.int64,
          "uint8": np.uint8, "float16": np.float16, "int16": np.int16, "float64": np.float64}
# integer ops the converter emits to compute a RESHAPE's target shape for a dynamic batch
_SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK", "GATHER", "SLICE", "CONCATENATION")
_NOT_YET = ("float16", "int16", "int4", "float64", "uint8")


@dataclass
class Tensor:
    """One tensor of the subgraph: shape with the batch axis, quantization, constant data."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: np.ndarray | None
    zero_points: np.ndarray | None
    quantized_dim: int
    data: np.ndarray | None

    @property
    def quantized(self) -> bool:
        return self.scales is not None and self.scales.size > 0

    def qparams(self) -> tuple[float, int]:
        return float(self.scales[0]), int(self.zero_points[0])


def _schema():
    """TensorFlow's generated TFLite schema module, imported with TF's banners silenced."""
    import_keras()
    return importlib.import_module("tensorflow.lite.python.schema_py_generated")


def _builtin_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def read_model(path: Path):
    """(schema ModelT, schema module); ModelLoadError when the flatbuffer does not parse."""
    schema = _schema()
    buf = path.read_bytes()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    except Exception as exc:  # a truncated or corrupt flatbuffer
        raise ModelLoadError(f"cannot parse TFLite file {path}: {type(exc).__name__}: {exc}") from exc
    if not model.subgraphs:
        raise ModelLoadError(f"TFLite file {path} has no subgraph")
    if len(model.subgraphs) > 1:
        raise UnsupportedLayerError(f"TFLite file {path} has {len(model.subgraphs)} subgraphs "
                                    "(control flow); supported: 1 subgraph")
    return model, schema


def _tensor(model, t, index: int) -> Tensor:
    dtype = _DTYPES.get(t.type, f"type {t.type}")
    q = t.quantization
    scales = None if q is None or q.scale is None else np.asarray(q.scale, np.float32)
    zps = None if q is None or q.zeroPoint is None else np.asarray(q.zeroPoint, np.int64)
    data = None
    buffer = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
    if buffer is not None and buffer.data is not None and len(buffer.data) and dtype in _NUMPY:
        raw = np.asarray(buffer.data, np.uint8).tobytes()
        data = np.frombuffer(raw, dtype=_NUMPY[dtype]).reshape(tuple(int(d) for d in t.shape))
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    return Tensor(index, name, shape, dtype, scales, zps,
                  int(q.quantizedDimension) if q is not None else 0, data)


def _check_types(tensors: list[Tensor], path: Path) -> None:
    for t in tensors:
        if t.dtype in _NOT_YET or t.dtype.startswith("type "):
            raise UnsupportedLayerError(
                f"{path}: tensor {t.name} is {t.dtype}; TFLite models with {t.dtype} tensors are "
                "not supported yet (supported: float32 and full-integer int8 with int32 biases)")


def load_tflite(path: str | Path) -> Graph:
    """A `Graph` from a .tflite file (see the module docstring)."""
    path = Path(path)
    model, schema = read_model(path)
    sub = model.subgraphs[0]
    tensors = [_tensor(model, t, i) for i, t in enumerate(sub.tensors)]
    _check_types(tensors, path)
    names = _builtin_names(schema)
    int8 = any(t.dtype == "int8" for t in tensors)
    builder = _Builder(tensors, int8)
    for i in sub.inputs:
        builder.add_input(tensors[int(i)])
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        opname = names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)),
                           f"custom:{code.customCode!r}")
        builder.add_op(opname, [int(i) for i in op.inputs], [int(o) for o in op.outputs],
                       op.builtinOptions)
    outputs = [builder.producer(int(o)) for o in sub.outputs]
    name = _graph_name(path)
    return Graph(name=name, nodes=builder.nodes, outputs=outputs,
                 arithmetic="tflite" if int8 else "tinycompress")


def _graph_name(path: Path) -> str:
    return re.sub(r"\W", "_", path.stem) or "model"


class _Builder:
    """Graph nodes in operator order, and which node produces each tensor."""

    def __init__(self, tensors: list[Tensor], int8: bool):
        self.tensors = tensors
        self.int8 = int8
        self.nodes: list[Node] = []
        self._producer: dict[int, str] = {}
        self._names: set[str] = set()

    def producer(self, index: int) -> str:
        if index not in self._producer:
            raise ModelLoadError(f"tensor {self.tensors[index].name} is read before it is written "
                                 "(the operators are not in topological order)")
        return self._producer[index]

    def unique(self, base: str) -> str:
        return unique_name(self._names, base, "t")

    def add_input(self, t: Tensor) -> None:
        if len(t.shape) < 2 or t.shape[0] != 1:
            raise UnsupportedLayerError(f"input tensor {t.name} has shape {t.shape}; "
                                        "supported: batch 1 and at least one more axis")
        short = t.name if len(t.name) <= 24 else "input"
        node = Node(self.unique(short), "input", [], [], t.shape[1:],
                    attrs={"tensor": t.name})
        if t.quantized and t.dtype == "int8":
            node.attrs["qparams"] = t.qparams()
        self.nodes.append(node)
        self._producer[t.index] = node.name

    def alias(self, out: int, src: int) -> None:
        self._producer[out] = self.producer(src)

    def add_op(self, opname: str, inputs: list[int], outputs: list[int], options) -> None:
        handler = HANDLERS.get(opname)
        out = self.tensors[outputs[0]] if outputs else None
        if opname in _SHAPE_OPS and all(self.tensors[o].dtype in ("int32", "int64") for o in outputs):
            return  # shape arithmetic of a dynamic batch (feeds RESHAPE's shape, which is not read)
        where = f"op {opname} (tensor {out.name if out else '?'})"
        if handler is None:
            raise UnsupportedLayerError(f"{where}: op not supported; supported: "
                                        f"{', '.join(supported_ops())}")
        ctx = OpContext(self, opname, where, [self.tensors[i] if i >= 0 else None for i in inputs],
                        [self.tensors[o] for o in outputs], options)
        handler(ctx)
