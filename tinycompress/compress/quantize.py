"""Post-training quantization: float `Graph` + calibration data -> `QGraph`.

    qgraph = quantize(graph, calib_x, bits=8, per_channel=True)

1. Lower the float graph (quantize_lower): 'same' convs get an explicit pad
   node, non-clamp fused activations become their own nodes.
2. Calibrate: run the lowered float graph on `calib_x` and record every
   tensor's min/max (the float reference interpreter, no TensorFlow).
3. Quantize node by node in order (quantize_ops): int8 activations with
   TFLite-nudged zero points, symmetric 2..8-bit weights, int32 bias, and
   each op's integer constants precomputed by its `prepare_*` function, then
   proved free of int32 overflow for every int8 input (reference.bounds).
"""
from __future__ import annotations

import numpy as np

from tinycompress.errors import DataError, UnsupportedLayerError
from tinycompress.ir.graph import WEIGHT_OPS, Graph
from tinycompress.ir.qgraph import QGraph, QNode
from tinycompress.compress.lower import lower_graph
from tinycompress.compress.qops import Context, quantize_node
from tinycompress.compress.qparams import resolve_bits
from tinycompress.reference.float_ref import run_float

__all__ = ["quantize", "calibrate", "QGraph", "QNode"]


def _check_calibration(graph: Graph, calib_x) -> np.ndarray:
    inputs = graph.inputs
    if len(inputs) != 1:
        raise UnsupportedLayerError(f"quantization supports models with one input, "
                                    f"{graph.name} has {len(inputs)}")
    x = np.asarray(calib_x, dtype=np.float32)
    shape = tuple(inputs[0].output_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise DataError(f"calibration data must have shape (N, {', '.join(map(str, shape))}) "
                        f"with N >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("calibration data contains NaN or infinity")
    return x


def calibrate(graph: Graph, calib_x: np.ndarray, batch: int = 256) -> dict[str, tuple[float, float]]:
    """{node name: (min, max)} of every tensor of `graph` over `calib_x`."""
    ranges: dict[str, tuple[float, float]] = {}
    for start in range(0, len(calib_x), batch):
        outs = run_float(graph, calib_x[start:start + batch], return_all=True)
        for name, t in outs.items():
            lo, hi = float(np.min(t)), float(np.max(t))
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(lo, old[0]), max(hi, old[1]))
    return ranges


def _per_layer(per_channel: bool | dict[str, bool], layers: list[str]) -> dict[str, bool]:
    if isinstance(per_channel, dict):
        return {name: bool(per_channel.get(name, True)) for name in layers}
    return {name: bool(per_channel) for name in layers}


def quantize(graph: Graph, calib_x: np.ndarray, bits: int | dict[str, int] = 8,
             per_channel: bool | dict[str, bool] = True, weight_quantizer=None) -> QGraph:
    """Quantize `graph` with activation ranges calibrated on `calib_x`.

    bits: weight bit width (2..8) for every weight layer, or {layer name: bits}
    (unlisted layers: 8). per_channel: one weight scale per output channel
    (else one per tensor), for every layer or {layer name: bool} (unlisted:
    True). weight_quantizer: optional `(layer name, matrix, bits,
    per_channel) -> (levels, w_scales)` replacing uniform rounding (the
    rate-distortion quantizer, `plan.weight_quantizer`). Raises SpecError for
    invalid bits or names, DataError for calibration data of the wrong shape,
    IntegerOverflowError naming the layer and the bound when some int8 input
    could overflow a layer's int32 arithmetic on the target.
    """
    x = _check_calibration(graph, calib_x)
    lowered = lower_graph(graph)
    weight_layers = [n.name for n in lowered.nodes if n.op in WEIGHT_OPS]
    ctx = Context(ranges=calibrate(lowered, x), bits=resolve_bits(bits, weight_layers),
                  per_channel=_per_layer(per_channel, weight_layers),
                  weight_quantizer=weight_quantizer,
                  given={n.name: n.attrs["qparams"] for n in lowered.nodes if "qparams" in n.attrs},
                  tflite=graph.arithmetic == "tflite")
    nodes: list[QNode] = []
    for node in lowered.nodes:
        q = quantize_node(node, ctx)
        ctx.qnodes[q.name] = q
        nodes.append(q)
    inp = lowered.inputs[0]
    first = ctx.qnodes[inp.name]
    return QGraph(name=graph.name, nodes=nodes, outputs=list(lowered.outputs),
                  input_name=inp.name, input_shape=tuple(inp.output_shape),
                  input_scale=first.scale, input_zero_point=first.zero_point,
                  arithmetic=graph.arithmetic)
