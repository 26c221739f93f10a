"""Calibrate the layout cost model from exact QEMU instruction counts.

    .venv/bin/python bench/calibrate.py [--work DIR] [--quick]

Builds five synthetic models (fully-connected layers of several shapes; 3x3,
1x1, strided and 5x5 convolutions and depthwise convolutions, 'same' and
'valid', so that output pixels on the border and inside vary apart; first
convolutions on one or three channels and depthwise layers on small maps; 3x3
convolutions on 16-256 channels, depthwise layers with 64-256 channels on 6x6
and 3x3 maps, and output channels that pruning empties; image models' first
layers on three channels) with every layer forced to each layout, at several
bit widths and sparsities, and the four conv models again under --optimize
size's scratch (every dense conv on its general path, every padded sparse conv
sweeping rectangle by rectangle: the paths the balanced policy takes where it
cuts a layer's scratch), for the Cortex-M4F board `mps2_an386`; runs each in
QEMU on two inputs and reads every weight layer's exact instruction count, and
from the build's state which layers had less than their full scratch (195
builds, about 10 minutes). For each kind of kernel and layout it then fits

    instructions = per_call + sum_g once_g * g + inside * sum_f coef_f * f
                   + border * sum_f edge_f * f

by non-negative least squares (features: `tinycompress.layouts.cost`; a
fully-connected layer has one inside position and no once terms; a dense conv
on its general path has entries of its own, `dense<bits>_general`) and writes
tinycompress/layouts/cost_table.json,
with how the numbers were measured and the worst relative error on the
calibration set. bench/cost_check.py checks the fitted model on the bench
models' layers, which are not part of this calibration set. After a kernel
changes, this one command refits the table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the repo importable
    sys.path.insert(0, str(REPO))

from bench.firmware import SPEED_BOARD  # noqa: E402
from tinycompress.compress import CompressOptions  # noqa: E402
from tinycompress.compress.plan import border, geometry, positions  # noqa: E402
from tinycompress.compress.weights import col_map  # noqa: E402
from tinycompress.data import save_npz  # noqa: E402
from tinycompress.layouts import LAYOUT_NAMES, encode_as  # noqa: E402
from tinycompress.layouts.cost import (KINDS, TABLE_FILE, cost_table, features,  # noqa: E402
                                       kind_of, layout_key, once_features, predict,
                                       table_entry)
from tinycompress.pipeline import build  # noqa: E402
from tinycompress.target.sim import simulate  # noqa: E402
from tinycompress.target.state import load_state  # noqa: E402

SEED = 11
DENSE_BITS = (2, 3, 4, 5, 6, 7, 8)
SPARSE_POINTS = ((4, 0.0), (4, 0.5), (4, 0.9), (8, 0.5), (8, 0.9))  # 0.0: CER/CSER row sums
QUICK_SPARSE_POINTS = ((4, 0.9), (8, 0.5))
# Builds of the conv models again under --optimize size's scratch policy ('least'): every
# dense conv on its general path, every padded sparse conv sweeping rectangle by rectangle
# (RECT), the paths the balanced policy takes at the arena's peak (Rendered.layers).
LEAST_SPARSE_POINTS = ((4, 0.9), (8, 0.5))


def _keras():
    import keras  # the calibration models are built from Keras layers

    return keras


def fc_model():
    """Fully-connected layers of several shapes (fan-in 10..300, 2..256 units; a small
    output on a wide input, as a classifier's logits, where the input's packing weighs);
    in three of them pruning empties a half, a quarter or three quarters of the units
    (`_uneven`), as global pruning empties whole rows of real models."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((300,))
    x = keras.layers.Dense(96, activation="relu", name="fc1")(inp)
    x = keras.layers.Dense(160, activation="relu", name="fc2")(x)
    x = keras.layers.Dense(24, activation="relu", name="fc3")(x)
    x = keras.layers.Dense(64, activation="relu", name="fc4")(x)
    x = keras.layers.Dense(10, activation="relu", name="fc5")(x)
    x = keras.layers.Dense(256, activation="relu", name="fc6")(x)
    out = keras.layers.Dense(2, name="fc7")(x)
    model = keras.Model(inp, out, name="calib_fc")
    _uneven(model, ("fc2", "fc4", "fc6"))  # rows that pruning empties, beside full ones
    return model


def conv_model():
    """3x3 / 1x1 / 1x3 / strided / 5x5 convolutions and depthwise 3x3 (stride 1, 2) and 5x5,
    'same' (padded inside the kernel) and 'valid'."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((20, 20, 4))
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw3")(x)
    x = L.Conv2D(24, 1, activation="relu", name="pw1")(x)
    x = L.Conv2D(12, 3, padding="same", activation="relu", name="conv3b")(x)
    x = L.Conv2D(40, 1, activation="relu", name="pw2")(x)
    x = L.Conv2D(20, (1, 3), padding="same", activation="relu", name="conv1x3")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw3b")(x)
    x = L.DepthwiseConv2D(3, padding="valid", activation="relu", name="dw3v")(x)
    x = L.Conv2D(16, 3, padding="valid", activation="relu", name="conv3v")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="dw3s2")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv3s2")(x)
    x = L.DepthwiseConv2D(5, padding="same", activation="relu", name="dw5")(x)
    x = L.Conv2D(8, 5, padding="same", activation="relu", name="conv5")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(4, name="head")(x)
    return keras.Model(inp, out, name="calib_conv")


def grid(quick: bool, layouts=LAYOUT_NAMES, least: bool = False) -> list[dict]:
    """Compress options of every calibration build: dense at every bit width, the
    sparse layouts at a few (bits, sparsity) points; every layer forced. `least`: the
    builds under the least scratch (--optimize size; LEAST_SPARSE_POINTS)."""
    points = [{"layout": "dense", "bits": b, "sparsity": 0.0} for b in DENSE_BITS
              if "dense" in layouts]
    sparse = LEAST_SPARSE_POINTS if least else QUICK_SPARSE_POINTS if quick else SPARSE_POINTS
    points += [{"layout": name, "bits": b, "sparsity": s} for name in LAYOUT_NAMES
               if name != "dense" and name in layouts for b, s in sparse]
    return [{**p, "optimize": "size"} for p in points] if least else points


def samples(build_dir: Path, sim_layers: list[dict], names: bool = False) -> list[tuple]:
    """(kind, layout key, positions, border positions, features, once features, measured
    instructions) per weight layer of a build; with `names`, the layer's name first."""
    state = load_state(build_dir)
    qgraph = state.qgraph
    # the layers the arena gave less than their kernel's full scratch (Rendered.layers)
    least = {part for l in state.layers if l.get("least_scratch")
             for part in l.get("parts", [l["name"]])}
    sim_layer = {part: l for l in sim_layers for part in l.get("parts", [l["name"]])}
    out = []
    for node in qgraph.weight_nodes:
        layer = sim_layer[node.name]
        cmap = col_map(node)
        layout = encode_as(layer["layout"], node.levels, int(node.bits), col_map=cmap)
        kind = kind_of(node.op, (node.kh, node.kw), node.strides) if node.op != "dense" else "fc"
        feats = features(layout, cmap)
        if len(layer.get("parts", ())) > 1:  # a residual add fused into the conv (codegen.fuse)
            feats["add_rows"] = feats["rows"]  # its add: one element per output channel and pixel
        shape = geometry(node, node.name in least)
        once = once_features(layout, cmap, shape) if kind != "fc" else {}
        row = (kind, layout_key(layout, kind, shape), positions(node), border(node), feats, once,
               float(layer["instructions"]))
        out.append((node.name, *row) if names else row)
    return out


# Dense kernels do the same work at every bit width but for unpacking the levels: their
# few calibration layers per width fit only MACs, rows and the patch gather (runs, cols),
# once per layer the cells (unpacking) and the depthwise 3x3 path's planes
# (sweep.planar_features), on the border the MACs, rows and the padded patch's gather.
DENSE_FEATURES = {"coef": ("gmacs", "rows", "runs", "cols", "add_rows"),
                  "once": ("cells", "plane_values", "plane_bands", "plane_fill", "plane_sweeps",
                           "plane_tails"),
                  "edge": ("gmacs", "rows", "runs", "cols", "add_rows")}
# The sparse convolution kernels' work per pixel is their sweep over the non-zero weights,
# counted once per layer (sweep.sweep_features); per pixel and channel there is only the
# output stage of a row with a non-zero (its accumulator set up and requantized); an empty
# row (all its weights pruned) only writes its constant, inside or on the border alike: a
# once feature (`fills`, its outputs).
SPARSE_CONV_FEATURES = {"coef": ("live_rows",), "edge": ("live_rows",)}


def fit(rows: list[tuple[int, int, dict, dict, float]], dense: bool = False,
        sparse_conv: bool = False) -> dict:
    """Non-negative least squares of instructions on [1, once features, inside * features,
    border * features] (rows: positions, border, features, once features, measured), each
    row divided by its measured count: relative errors, which the bench checks, weigh the
    same for a small layer as for a large one."""
    from scipy.optimize import nnls

    names = sorted({f for _, _, feats, _, _ in rows for f in feats})
    once = sorted({g for _, _, _, o, _ in rows for g in o})
    edge = names if any(b for _, b, _, _, _ in rows) else []
    if dense:
        names = [f for f in names if f in DENSE_FEATURES["coef"]]
        once = [g for g in once if g in DENSE_FEATURES["once"]]
        edge = [f for f in edge if f in DENSE_FEATURES["edge"]]
    elif sparse_conv:
        names = [f for f in names if f in SPARSE_CONV_FEATURES["coef"]]
        edge = [f for f in edge if f in SPARSE_CONV_FEATURES["edge"]]
    a = np.array([[1.0] + [o.get(g, 0.0) for g in once]
                  + [(p - b) * feats.get(f, 0.0) for f in names]
                  + [b * feats.get(f, 0.0) for f in edge] for p, b, feats, o, _ in rows])
    y = np.array([m for *_, m in rows])
    a = a / y[:, None]
    scale = np.maximum(np.abs(a).max(axis=0), 1e-12)  # columns on one scale for the solver
    coef, _ = nnls(a / scale, np.ones_like(y))
    coef = coef / scale
    k = 1 + len(once)
    out = {"per_call": float(coef[0]),
           "coef": {f: float(c) for f, c in zip(names, coef[k:k + len(names)])}}
    if once:
        out["once"] = {g: float(c) for g, c in zip(once, coef[1:k])}
    if edge:
        out["edge"] = {f: float(c) for f, c in zip(edge, coef[k + len(names):])}
    return out


def edge_model():
    """The shapes the other two miss: first convolutions on one or three input channels
    (a tall 10x4 stride-2 kernel, 3x3 at stride 1 and 2, 5x5 'same'), a 'valid' 3x3 on a
    narrow map (its pixels' rows wrap within a group of four), 1x1 convolutions on few
    channels, a residual add (fused into the dense conv before it: its instructions are
    the conv's), and depthwise layers on small maps with many channels, where most or
    all output pixels are on the border."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((32, 16, 1))
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="c3in1")(inp)
    x = L.Conv2D(3, 5, padding="same", activation="relu", name="c5in3")(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c3s2in3")(x)
    x = L.Conv2D(16, 1, activation="relu", name="pw8")(x)
    x = L.Conv2D(16, 3, padding="valid", activation="relu", name="c3v16")(x)
    x = L.Conv2D(1, 1, activation="relu", name="pw16to1")(x)
    x = L.Conv2D(24, (10, 4), strides=2, padding="same", activation="relu", name="c10x4")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw7x3")(x)
    x = L.Conv2D(48, 1, activation="relu", name="pw24")(x)
    y = L.Conv2D(16, 1, activation="relu", name="pw_res")(x)
    y = L.Conv2D(48, 3, padding="same", name="c3res")(y)
    x = L.ReLU(name="res_relu")(L.Add(name="res_add")([x, y]))  # fused into c3res when dense
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="dws2to4x2")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw4x2")(x)
    x = L.Conv2D(96, 1, activation="relu", name="pw48")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="dws2to2x1")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw2x1")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(4, name="head")(x)
    return keras.Model(inp, out, name="calib_edge")


def wide_model():
    """What the other three miss and the bench models have: 3x3 convolutions on 16-256
    channels, depthwise layers with 64-256 channels on 6x6 and 3x3 maps (stride 1 and 2)
    and a stride-2 one with few channels on a larger map,
    and output channels that pruning empties. Each conv layer's weights are shrunk a
    thousandfold on a quarter, a half or three quarters of its output channels
    (`_uneven`), so magnitude pruning of the layer to 50 % or more leaves those channels
    all zero, as uneven or global pruning does on real models."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((24, 24, 16))
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="wdws2in")(inp)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="wc3a")(x)
    x = L.Conv2D(64, 1, activation="relu", name="wpw0")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="wdws2a")(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu", name="wc3b")(x)
    x = L.Conv2D(128, 1, activation="relu", name="wpw1")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="wdw6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="wdws2b")(x)
    x = L.Conv2D(256, 1, activation="relu", name="wpw2")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="wdw3")(x)
    x = L.Conv2D(32, 1, activation="relu", name="wpw3")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="wc3c")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(4, name="head")(x)
    model = keras.Model(inp, out, name="calib_wide")
    _uneven(model)
    return model


def first_model():
    """The first layers of image models on three channels: a 3x3 'same' convolution at
    stride 1 on a 32x32 map to 16 channels (MLPerf IC's first: its patches gathered, six
    pixels a pass) and one at stride 2 to 8 (MobileNetV1's), and a 3x3 stride-2 depthwise
    layer on a 32x32 map of 16 channels (its planes a ring of a few rows, as MobileNetV1's
    second depthwise layer's); two 3x3 'same' depthwise layers on 16x16 maps whose inputs
    are read again after them (so they cannot write over them: under the least scratch the
    sparse ones sweep rectangle by rectangle, RECT, which the scratch policies give no
    depthwise layer writing over its input). A wide 1x1 convolution after them holds the
    arena's peak, so that the balanced scratch policy leaves the first convolutions their
    DSP path."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    a = L.Conv2D(16, 3, padding="same", activation="relu", name="f3in3")(inp)
    a = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="fdws2")(a)
    b = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="f3s2in3")(inp)
    c = L.DepthwiseConv2D(3, padding="same", activation="relu", name="fdw3")(b)
    d = L.DepthwiseConv2D(3, padding="same", activation="relu", name="fdw3b")(a)
    x = L.Concatenate(name="cat")([a, b, c, d])
    x = L.Conv2D(96, 1, activation="relu", name="fpw")(x)  # the arena's peak, not the first
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(4, name="head")(x)
    return keras.Model(inp, out, name="calib_first")


def _uneven(model, names: tuple[str, ...] | None = None) -> None:
    """Shrink the kernels of a half, a quarter, three quarters (in turn, layer by layer) of
    the output channels 1000x, of every convolution or of the layers called `names`: the
    first of every two channels (of every four for three quarters: all but the last)."""
    fractions = (0.5, 0.25, 0.75)
    chosen = [l for l in model.layers if l.name in names] if names else [
        l for l in model.layers if l.__class__.__name__ in ("Conv2D", "DepthwiseConv2D")]
    for k, layer in enumerate(chosen):
        kernel, *rest = layer.get_weights()
        depthwise = layer.__class__.__name__ == "DepthwiseConv2D"  # kernel (kh, kw, C, 1)
        channel = np.arange(kernel.shape[2] if depthwise else kernel.shape[-1])
        fraction = fractions[k % len(fractions)]
        shrunk = {0.5: channel % 2 == 0, 0.25: channel % 4 == 0, 0.75: channel % 4 != 3}[fraction]
        scale = np.where(shrunk, 1e-3, 1.0).astype(kernel.dtype)
        kernel = kernel * (scale[:, None] if depthwise else scale)
        layer.set_weights([kernel, *rest])

MODELS = {"fc": (fc_model, (300,)), "conv": (conv_model, (20, 20, 4)),
          "edge": (edge_model, (32, 16, 1)), "wide": (wide_model, (24, 24, 16)),
          "first": (first_model, (32, 32, 3))}


def measure(work: Path, quick: bool, models=tuple(MODELS), layouts=LAYOUT_NAMES,
            tick=print) -> dict:
    """{(kind, layout key): [sample rows]} of the calibration builds of `models` (also
    written to work/samples.json, which `--refit` reads back)."""
    work.mkdir(parents=True, exist_ok=True)
    by_key: dict[tuple[str, str], list] = {}
    for builder, shape in (MODELS[m] for m in models):
        model = builder()
        path = work / f"{model.name}.keras"
        model.save(path)
        rng = np.random.default_rng(SEED)
        calib = save_npz(work / f"{model.name}_calib.npz", rng.uniform(-1, 1, size=(16, *shape)))
        runs = grid(quick, layouts) + (grid(quick, layouts, least=True) if model.name != "calib_fc"
                                       else [])
        for options in runs:
            tick(f"calibrate {model.name}: {options}")
            least = "_least" if options.get("optimize") == "size" else ""
            out = work / (f"{model.name}_{options['layout']}_{options['bits']}"
                          f"_{options['sparsity']}{least}")
            # every layer pruned to the same fraction: none is emptied, as global pruning can
            build(path, SPEED_BOARD, out, force=True, data=calib,
                  options=CompressOptions.from_settings(options, scope="layer"))
            sim = simulate(out, data=calib, n=2)
            for kind, key, *row in samples(out, sim.layers):
                by_key.setdefault((kind, key), []).append(tuple(row))
            (work / "samples.json").write_text(json.dumps(  # after every build: --refit
                [[kind, key, *row] for (kind, key), rows in sorted(by_key.items())
                 for row in rows]), encoding="utf-8")
    return by_key


def resample(dirs: list[Path]) -> dict:
    """{(kind, layout key): [sample rows]} read again from the calibration builds already in
    `dirs` (their build state and sim-report.json): for new features, no new builds."""
    by_key: dict[tuple[str, str], list] = {}
    for work in dirs:
        for out in sorted(p.parent for p in work.glob("calib_*/sim-report.json")):
            layers = json.loads((out / "sim-report.json").read_text(encoding="utf-8"))["layers"]
            for kind, key, *row in samples(out, layers):
                by_key.setdefault((kind, key), []).append(tuple(row))
    return by_key


def load_samples(work: Path) -> dict:
    """The samples `measure` wrote to work/samples.json."""
    by_key: dict[tuple[str, str], list] = {}
    for kind, key, *row in json.loads((work / "samples.json").read_text(encoding="utf-8")):
        by_key.setdefault((kind, key), []).append(tuple(row))
    return by_key


def calibrate(by_key: dict, keep: tuple[str, ...] = ()) -> dict:
    """Fit and return the cost table document (module docstring); kinds in `keep` (not
    measured this time) keep their entries of the shipped table."""
    table: dict[str, dict] = {kind: {} for kind in KINDS}
    worst = 0.0
    for (kind, key), rows in sorted(by_key.items()):
        if kind in keep:
            continue
        # in one order however they were read (measure, --refit, --resample): the solver's
        # answer for collinear features (a depthwise layer's constant taps) depends on it
        rows = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
        entry = fit(rows, dense=key.startswith("dense"),
                    sparse_conv=kind != "fc" and not key.startswith("dense"))
        table[kind][key] = entry
        worst = max(worst, max(abs(predict(entry, *r[:-1]) - r[-1]) / r[-1] for r in rows))
    for kind in keep:
        table[kind] = cost_table()["kinds"][kind]
    _fill_missing(table)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True, check=False).stdout.strip()
    return {"measured": {
        "how": "bench/calibrate.py: exact QEMU instruction counts (mps2-an386, Cortex-M4F, GCC -O2) "
               "of synthetic layers in every layout, fitted by non-negative least squares",
        "board": SPEED_BOARD, "commit": commit, "date": dt.date.today().isoformat(),
        "samples": sum(len(r) for r in by_key.values()),
        "kept_from_previous_table": list(keep),
        "max_relative_error_on_calibration_set": round(worst, 4)},
        "kinds": table}


def check_build(build_dir: Path, sim_layers: list[dict]) -> list[dict]:
    """Predicted (the shipped cost table) against measured instructions, per weight layer."""
    rows = []
    for kind, key, pos, edge, feats, once, measured in samples(build_dir, sim_layers):
        predicted = predict(table_entry(cost_table(), kind, key), pos, edge, feats, once)
        rows.append({"kind": kind, "layout": key, "measured": measured, "predicted": predicted,
                     "error": (predicted - measured) / measured if measured else None})
    return rows


def _fill_missing(table: dict) -> None:
    """A kind with no sample for a layout key borrows the fc entry (say so in the entry)."""
    for kind in KINDS:
        for key, entry in table["fc"].items():
            if key not in table[kind]:
                table[kind][key] = {**entry, "borrowed_from": "fc"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "build" / "calibrate")
    parser.add_argument("--quick", action="store_true", help="fewer sparse points")
    parser.add_argument("--out", type=Path, default=TABLE_FILE)
    parser.add_argument("--models", default=",".join(MODELS),
                        help="calibration models (fc, conv); without fc the fc kind keeps its "
                             "entries of the shipped table")
    parser.add_argument("--layouts", default=",".join(LAYOUT_NAMES),
                        help="layouts to measure (default: all)")
    parser.add_argument("--refit", action="store_true",
                        help="fit the samples of the last run (work/samples.json) again")
    parser.add_argument("--resample", type=Path, nargs="+", metavar="DIR",
                        help="no builds: read the samples again from the calibration builds "
                             "in these work directories (after a change of features)")
    args = parser.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    layouts = tuple(args.layouts.split(","))
    if args.resample:
        by_key = resample(args.resample)
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / "samples.json").write_text(json.dumps(  # --refit reads them back
            [[kind, key, *row] for (kind, key), rows in sorted(by_key.items()) for row in rows]),
            encoding="utf-8")
    elif args.refit:
        by_key = load_samples(args.work)
    else:
        by_key = measure(args.work, args.quick, models, layouts)
    doc = calibrate(by_key, keep=() if "fc" in models else ("fc",))
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {doc['measured']['samples']} samples, worst relative error "
          f"{doc['measured']['max_relative_error_on_calibration_set']:.1%} on the calibration set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
