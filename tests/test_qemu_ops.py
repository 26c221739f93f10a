"""Target tier: every op of the Graph, every weight layout, bit-exact in QEMU (mps2_an386).

Each test model of tests/models.py (plus a single-output wrapper of the
activations model, whose several outputs the firmware cannot return) is saved
to .keras and built once with `pipeline.build` (real PlatformIO, real
arm-none-eabi-gcc) and run in QEMU on random int8 inputs; every output must
equal the numpy integer reference (`int_ref.run_int`, inside `sim.simulate`).

Four builds per model would be too slow, so one build mixes layouts: a spec
file gives each weight layer its own layout, counted per graph op (dense,
conv2d, depthwise_conv2d) across all builds in a fixed order, so that the k-th
layer of an op gets LAYOUTS[k % 4] and every op meets every layout (checked by
`test_every_weight_op_meets_every_layout` from the layouts the builds report).
Bit widths cycle per layer too, so packed widths 2..8 and per-tensor scales
run on the target as well.

Edge cases of the sparse formats run too: a 90 % sparse model has empty
rows (CSR and CSER rows with no entries), and a few unpruned layers get
all-positive kernels so that the most frequent level omega[0] is not 0 and
the CER/CSER kernels take their omega[0] * sum(x) branch (dense, conv2d and
depthwise each; `test_sparse_edge_cases_were_built` checks both happened).

The digits example is built twice with the rotation shifted by two, so its
two convolutions and three dense layers also see every layout between them.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tinycompress.compress.core import CompressOptions
from tinycompress.data import DIGITS_MODEL
from tinycompress.ir.graph import ACTIVATIONS, OPS, WEIGHT_OPS
from tinycompress.layouts import LAYOUT_NAMES

# The rotation's layouts. pcsr (added later) is left out so the edge cases below keep
# their layers (depthwise has only 4); it runs in QEMU in tests/test_pcsr_qemu.py
# (conv2d, dense) and on the host for every op (tests/test_weight_kernels_host.py).
ROTATION = tuple(n for n in LAYOUT_NAMES if n != "pcsr")
from tinycompress.pipeline import build
from tinycompress.target.sim import simulate

pytestmark = [pytest.mark.target, pytest.mark.slow]
BOARD = "mps2_an386"
N_INPUTS = 4
BITS_CYCLE = (8, 3, 6, 2, 5, 4, 7)  # coprime with 4 layouts: widths and layouts pair up differently


def activations_single_output():
    """models.activations_model with its outputs flattened into one concatenated output."""
    from keras import Model, layers

    m = models.activations_model()
    flat = [layers.Flatten(name=f"flat_{k}")(o) for k, o in enumerate(m.outputs)]
    return Model(m.inputs, layers.Concatenate(name="all_outputs")(flat), name="activations_one")


def with_positive_kernels(builder, names):
    """`builder` whose Keras layers `names` get first kernels uniform in [0.2, 1]: most levels
    are then non-zero and one of them is the most frequent (omega[0] != 0) once quantized."""
    def make():
        model = builder()
        rng = np.random.default_rng(11)
        for name, _ in names:
            layer = model.get_layer(name)
            weights = layer.get_weights()
            weights[0] = rng.uniform(0.2, 1.0, weights[0].shape).astype(np.float32)
            layer.set_weights(weights)
        return model
    return make


# model -> (Keras layer, its weight node in the Graph): kernel made positive, node not pruned.
# A SeparableConv2D's first kernel is its depthwise one, node "<name>_depthwise".
POSITIVE = {"bn_fold": (("conv", "conv"), ("conv_relu", "conv_relu")),
            "separable": (("dw_sigmoid", "dw_sigmoid"), ("sep", "sep_depthwise")),
            "activations": (("fused_softmax", "fused_softmax"), ("fused_leaky", "fused_leaky"))}
# name -> (builder, [defaults] of the spec); POSITIVE layers are not pruned.
CASES = {
    "conv_padding": (models.conv_padding_model, {"sparsity": 0.5, "per_channel": False}),
    "bn_fold": (with_positive_kernels(models.bn_fold_model, POSITIVE["bn_fold"]), {"sparsity": 0.6}),
    "residual": (models.residual_model, {"sparsity": 0.3}),
    "pooling": (models.pooling_model, {"sparsity": 0.0}),
    "separable": (with_positive_kernels(models.separable_model, POSITIVE["separable"]),
                  {"sparsity": 0.5, "per_channel": False}),
    "conv1d": (models.conv1d_model, {"sparsity": 0.9}),  # empty rows
    "activations": (with_positive_kernels(activations_single_output, POSITIVE["activations"]),
                    {"sparsity": 0.5}),
}


def _toml_value(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) \
        else f'"{v}"' if isinstance(v, str) else str(v)


def write_spec(path: Path, defaults: dict, layers: dict[str, dict]) -> Path:
    """A tinycompress.toml with [defaults] and one [layers.<name>] table per entry."""
    lines = ["[defaults]"] + [f"{k} = {_toml_value(v)}" for k, v in defaults.items()]
    for name, table in layers.items():
        lines += ["", f"[layers.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rotate(graph, counters: dict[str, int]) -> dict[str, dict]:
    """Per weight layer: the next layout of its op's rotation, and the next bit width."""
    tables = {}
    for node in graph.nodes:
        if node.op in WEIGHT_OPS:
            k = counters[node.op]
            counters[node.op] += 1
            counters["bits"] += 1
            tables[node.name] = {"layout": ROTATION[k % len(ROTATION)],
                                 "bits": BITS_CYCLE[counters["bits"] % len(BITS_CYCLE)]}
    return tables


@pytest.fixture(scope="module")
def op_builds(tmp_path_factory, offline_core):
    """name -> (BuildResult, Graph) of every CASES model, built once per module."""
    from tinycompress.frontend.keras import from_keras

    root = tmp_path_factory.mktemp("qemu_ops")
    counters: dict[str, int] = defaultdict(int)
    out = {}
    for name, (builder, defaults) in CASES.items():
        model = builder()
        model.save(root / f"{name}.keras")
        graph = from_keras(model)
        tables = rotate(graph, counters)
        for _, node in POSITIVE.get(name, ()):
            tables[node]["sparsity"] = 0.0
        spec = write_spec(root / f"{name}.toml", defaults, tables)
        result = build(root / f"{name}.keras", BOARD, root / name,
                       options=CompressOptions(spec=spec, scope="layer"))
        out[name] = (result, graph)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_model_bit_exact_in_qemu(op_builds, name):
    result, graph = op_builds[name]
    report = simulate(result.out_dir, n=N_INPUTS)
    assert report.bit_exact, (f"{name}: {report.mismatches[:3]}, first divergent layer "
                              f"{report.first_divergent_layer}")
    weight_layers = {n.name for n in graph.nodes if n.op in WEIGHT_OPS}
    # a conv fused with its residual add (codegen.fuse) runs as the layer "<conv>+<add>"
    assert weight_layers <= {p for l in report.layers for p in [l["name"], *l.get("parts", ())]}
    assert all(l["instructions"] > 0 for l in report.layers)


def test_spec_layouts_and_bits_were_applied(op_builds):
    """The builds use exactly the layouts and bit widths the spec files asked for."""
    counters: dict[str, int] = defaultdict(int)
    for name, (result, graph) in op_builds.items():
        wanted = rotate(graph, counters)
        got = {l["name"]: {"layout": l["layout"], "bits": l["bits"]} for l in result.report["layers"]}
        assert got == wanted, name


def test_sparse_edge_cases_were_built(op_builds):
    """Empty rows in CSR and CSER; omega[0] != 0 in CER and CSER on dense, conv2d and depthwise."""
    from tinycompress.layouts.cer import omega_order
    from tinycompress.target.state import load_state

    empty_rows, nonzero_omega0 = set(), set()
    for result, _ in op_builds.values():
        state = load_state(result.out_dir)
        layouts = {l["name"]: l["layout"] for l in result.report["layers"]}
        for node in state.qgraph.weight_nodes:
            levels = node.levels.reshape(node.levels.shape[0], -1)
            if not np.all(np.any(levels != 0, axis=1)):
                empty_rows.add(layouts[node.name])
            if omega_order(levels)[0] != 0:
                nonzero_omega0.add((node.op, layouts[node.name]))
    assert {"csr", "cser"} <= empty_rows
    assert {(op, lay) for op in WEIGHT_OPS for lay in ("cer", "cser")} <= nonzero_omega0, nonzero_omega0


def test_every_weight_op_meets_every_layout(op_builds):
    seen = defaultdict(set)
    for result, _ in op_builds.values():
        for layer in result.report["layers"]:
            seen[layer["op"]].add(layer["layout"])
    assert dict(seen) == {op: set(ROTATION) for op in WEIGHT_OPS}


def test_every_executed_op_runs(op_builds):
    ops = {n.op for _, graph in op_builds.values() for n in graph.nodes}
    assert ops == set(OPS), set(OPS) - ops
    every = set(ACTIVATIONS) - {"linear"}
    nodes = [n for _, g in op_builds.values() for n in g.nodes]
    standalone = {n.activation for n in nodes if n.op == "activation"}
    fused = {n.activation for n in nodes if n.op in WEIGHT_OPS}
    assert every <= standalone and every <= fused, (standalone, fused)


@pytest.mark.parametrize("shift", [0, 2])
def test_digits_every_layout_in_qemu(tmp_path, offline_core, shift):
    """Digits LeNet (conv1, conv2, fc1, fc2, logits): layouts rotated per op, shifted by `shift`."""
    from tinycompress.frontend.keras import load

    counters = defaultdict(int, {"conv2d": shift, "dense": shift})
    spec = write_spec(tmp_path / "digits.toml", {"bits": 6, "sparsity": 0.7},
                      {k: {"layout": v["layout"]} for k, v in rotate(load(DIGITS_MODEL), counters).items()})
    result = build(DIGITS_MODEL, BOARD, tmp_path / "b", options=CompressOptions(spec=spec),
                   data=DIGITS_MODEL.parent / "train.npz", eval_data=DIGITS_MODEL.parent / "test.npz")
    report = simulate(result.out_dir, n=20)
    assert report.bit_exact, report.mismatches[:3]
    assert report.accuracy > 0.8  # 20 test digits; the 6-bit 70 % sparse LeNet stays above 90 %


def same_padding_model():
    """Branches from one odd-sized input: per layout and stride (1, 2), a 'same' conv2d then a
    'same' depthwise, global-pooled and joined; layer names say layout and stride."""
    from keras import Input, Model, layers

    from tests.models import randomize

    inp = Input((11, 9, 3), name="image")
    outs = []
    for lay in LAYOUT_NAMES:
        for s in (1, 2):
            c = layers.Conv2D(5, 3, strides=s, padding="same", activation="relu",
                              name=f"conv_{lay}_s{s}")(inp)
            d = layers.DepthwiseConv2D(3, strides=s, padding="same", name=f"dw_{lay}_s{s}")(c)
            outs.append(layers.GlobalAveragePooling2D(name=f"gap_{lay}_s{s}")(d))
    out = layers.Concatenate(name="cat")(outs)
    return randomize(Model(inp, out, name="same_padding"), seed=5)


@pytest.mark.slow
def test_same_convs_pad_inside_every_layout_in_qemu(tmp_path, offline_core):
    """'same' conv2d and depthwise of every layout at strides 1 and 2 on an 11 x 9 input:
    no pad step in the firmware, bit-exact with the reference (which pads explicitly)."""
    same_padding_model().save(tmp_path / "same.keras")
    tables = {f"{op}_{lay}_s{s}": {"layout": lay} for op in ("conv", "dw")
              for lay in LAYOUT_NAMES for s in (1, 2)}
    spec = write_spec(tmp_path / "same.toml", {"bits": 6, "sparsity": 0.5}, tables)
    result = build(tmp_path / "same.keras", BOARD, tmp_path / "b",
                   options=CompressOptions(spec=spec, scope="layer"))
    layers_ = {l["name"]: l for l in result.report["layers"]}
    assert {n: layers_[n]["layout"] for n in tables} == {n: t["layout"] for n, t in tables.items()}
    assert "tc_pad_s8" not in (result.out_dir / "src" / "tc_model.c").read_text(encoding="utf-8")
    report = simulate(result.out_dir, n=N_INPUTS)
    assert report.bit_exact, (report.mismatches[:3], report.first_divergent_layer)
