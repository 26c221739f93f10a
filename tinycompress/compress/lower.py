"""Float-graph lowering before quantization (still a float `Graph`, same math).

Lowering makes the float graph have exactly the structure of the integer one,
so calibration can observe every tensor the integer graph will hold:

- conv2d / depthwise_conv2d with 'same' padding keep it, its widths recorded
  in attrs["pads"] ((top, bottom), (left, right)): the kernels pad inside
  (a padded tap reads the input zero point, i.e. real 0.0), so no pad node
  and no padded copy of the input exist. Only a kernel larger than its
  unpadded input (whose input offsets would be ambiguous) is lowered to a
  zero_pad2d node + 'valid' conv;
- a fused activation other than linear/relu/relu6 (or relu/relu6 on an op
  whose integer kernel has no output clamp: concat, reshape, zero_pad2d)
  -> the op with `linear` + an `activation` node named `<name>_<activation>`;
  relu/relu6 elsewhere stay fused (they become act_min/act_max clamps).

Weight ops keep their names (bits, sparsity and layouts are specified by
layer name); consumers and graph outputs are rewired to the new nodes, which
record the layer they came from in attrs["source"].
"""
from __future__ import annotations

import copy

from tinycompress.ir.graph import WEIGHT_OPS, Graph, Node

CLAMP_ACTIVATIONS = ("linear", "relu", "relu6")
# ops whose integer kernel ends in a clamp [act_min, act_max]
CLAMP_OPS = WEIGHT_OPS + ("max_pool2d", "avg_pool2d", "global_avg_pool2d",
                          "global_max_pool2d", "add", "affine")


def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TF 'same': out = ceil(size / stride), extra after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _unique(graph_names: set[str], base: str) -> str:
    name, i = base, 1
    while name in graph_names:
        name, i = f"{base}_{i}", i + 1
    graph_names.add(name)
    return name


def same_conv_pads(node: Node) -> tuple[tuple[tuple[int, int], tuple[int, int]], bool]:
    """A 'same' conv's pads ((top, bottom), (left, right)), and whether its kernel takes
    them inside (False when the kernel is larger than the input: an explicit pad op)."""
    h, w = node.input_shapes[0][:2]
    kh, kw = node.weights["kernel"].shape[:2]
    sh, sw = node.attrs.get("strides", (1, 1))
    return (same_pads(h, kh, sh), same_pads(w, kw, sw)), kh <= h and kw <= w


def _pad_node(node: Node, names: set[str]) -> Node | None:
    """Record a 'same' conv's pads; the zero_pad2d node that makes it 'valid' only when
    its kernel is larger than the input (None otherwise, or if no padding)."""
    h, w, c = node.input_shapes[0]
    pads, inside = same_conv_pads(node)
    if pads == ((0, 0), (0, 0)):
        node.attrs = {**node.attrs, "padding": "valid"}
        return None
    if inside:  # padded inside the kernel
        node.attrs = {**node.attrs, "pads": pads}
        return None
    node.attrs = {**node.attrs, "padding": "valid"}
    shape = (h + sum(pads[0]), w + sum(pads[1]), c)
    pad = Node(_unique(names, f"{node.name}_pad"), "zero_pad2d", [node.inputs[0]],
               [node.input_shapes[0]], shape, attrs={"pads": pads, "source": node.name})
    node.inputs = [pad.name] + node.inputs[1:]
    node.input_shapes = [shape] + node.input_shapes[1:]
    return pad


def _activation_node(node: Node, names: set[str]) -> Node | None:
    """Split off a fused activation the op's integer kernel cannot apply."""
    act = node.activation
    if act == "linear" or node.op == "activation":
        return None
    if node.op in CLAMP_OPS and act in CLAMP_ACTIVATIONS:
        return None
    new = Node(_unique(names, f"{node.name}_{act}"), "activation", [node.name],
               [node.output_shape], node.output_shape, attrs={"source": node.name},
               activation=act, activation_alpha=node.activation_alpha)
    node.activation, node.activation_alpha = "linear", 0.0
    return new


def _rewire(nodes: list[Node], outputs: list[str], old: str, new: str, skip: Node) -> None:
    """Consumers of `old` (except `skip`) and graph outputs now read `new`."""
    for n in nodes:
        if n is not skip and old in n.inputs:
            n.inputs = [new if i == old else i for i in n.inputs]
    outputs[:] = [new if o == old else o for o in outputs]


def lower_graph(graph: Graph) -> Graph:
    """Return a lowered copy of `graph` (see module doc); the input is not modified."""
    g = copy.deepcopy(graph)
    names = {n.name for n in g.nodes}
    nodes: list[Node] = []
    outputs = list(g.outputs)
    for node in g.nodes:
        if node.op in ("conv2d", "depthwise_conv2d") and node.attrs.get("padding") == "same":
            pad = _pad_node(node, names)
            if pad is not None:
                nodes.append(pad)
        nodes.append(node)
        act = _activation_node(node, names)
        if act is not None:
            nodes.append(act)
            _rewire(g.nodes, outputs, node.name, act.name, act)
    return Graph(g.name, nodes, outputs, g.arithmetic)
