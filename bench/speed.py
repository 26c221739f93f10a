"""The speed section (issue 10): instructions per inference and per MAC, next to the anchors.

Every model is built twice for the Cortex-M4F board `mps2_an386` (int8
dense, and the tool's default options) and run in QEMU on a few inputs:
with `-icount` the counts are exact, and for these kernels they do not
depend on the input values. A Cortex-M4 needs at least one cycle per
instruction, so an instruction count at or below an anchor's cycle count is
the least a faster-than-the-anchor claim needs (flash wait states and
multi-cycle loads come on top on a real board).

Models: digits (bundled), MLPerf Tiny IC ResNet-8 and AD (`../shared/
models/`), and two architectures built here from Keras layers with random
weights, since their trained weights are not available offline: MobileNetV1
alpha 0.25 at 96x96x3 with 2 classes (visual wake words) and the DS-CNN
keyword spotter. Inputs for calibration and simulation are synthetic
(uniform, fixed seed) unless the model ships real data; speed does not
depend on them.

Run alone (the rest of the bench takes much longer):

    .venv/bin/python bench/speed.py [--models digits,ic,ad] [--work DIR]

prints instructions per inference and the instructions per MAC by layer
type (first conv, conv, pointwise, depthwise, FC) of every build, the worst
ratio of a default build's layer to the fastest layout of the same layer
(every layer forced to each layout at the default build's per-layer bits and
sparsity), and writes DIR/speed.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the repo importable (bench, tinycompress)
    sys.path.insert(0, str(REPO))

from bench.firmware import LAYOUTS, SPEED_BOARD, build_and_sim  # noqa: E402
from tinycompress.data import save_npz  # noqa: E402
from tinycompress.frontend import load  # noqa: E402

# MLPerf Tiny v1.0 closed division, NUCLEO-L4R5ZI (Cortex-M4 at 120 MHz): best
# published latency per benchmark, in ms, and the system that reached it.
ANCHOR_MHZ = 120
ANCHORS_MS = {"mlperf_ic": (165.1, "X-CUBE-AI"), "ds_cnn": (43.2, "X-CUBE-AI"),
              "mobilenet_v1_025": (88.9, "X-CUBE-AI"), "mlperf_ad": (4.05, "Plumerai")}
CONFIGS = {"int8-dense": {"bits": 8, "sparsity": 0.0, "layout": "dense"}, "default": {}}
SIM_INPUTS = 2
SEED = 7

Tick = Callable[[str], None]


def anchor_cycles(name: str) -> float | None:
    """The anchor's latency in cycles at ANCHOR_MHZ (None: no published anchor)."""
    if name not in ANCHORS_MS:
        return None
    return ANCHORS_MS[name][0] * 1e-3 * ANCHOR_MHZ * 1e6


def _keras():
    import keras  # the bench builds two models from Keras layers

    return keras


def _conv_bn_relu(keras, x, name: str, filters: int, kernel, strides=1):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                            name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _dw_bn_relu(keras, x, name: str, strides=1):
    x = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def mobilenet_v1_025(classes: int = 2):
    """MobileNetV1, width 0.25, 96x96x3 input (the visual-wake-words network)."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((96, 96, 3))
    x = _conv_bn_relu(keras, inp, "conv0", 8, 3, strides=2)
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 \
        + [(256, 2), (256, 1)]
    for i, (filters, stride) in enumerate(blocks, 1):
        x = _dw_bn_relu(keras, x, f"dw{i}", stride)
        x = _conv_bn_relu(keras, x, f"pw{i}", filters, 1)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="logits")(x)
    return keras.Model(inp, out, name="mobilenet_v1_025")


def ds_cnn(classes: int = 12):
    """The DS-CNN keyword spotter: conv 64 10x4 stride 2, four depthwise-separable blocks, pool, dense."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((49, 10, 1))
    x = _conv_bn_relu(keras, inp, "conv0", 64, (10, 4), strides=2)
    for i in range(1, 5):
        x = _dw_bn_relu(keras, x, f"dw{i}")
        x = _conv_bn_relu(keras, x, f"pw{i}", 64, 1)
    x = keras.layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="logits")(x)
    return keras.Model(inp, out, name="ds_cnn")


def _randomize_batchnorm(model, seed: int) -> None:
    """Plausible trained BatchNorm statistics instead of the identity ones Keras starts with."""
    rng = np.random.default_rng(seed)
    keras = _keras()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)])


def built_models(work: Path) -> dict[str, Path]:
    """The two architectures built here, saved as .keras files under `work` (cached)."""
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for builder in (mobilenet_v1_025, ds_cnn):
        path = work / f"{builder.__name__}.keras"
        if not path.is_file():
            model = builder()
            _randomize_batchnorm(model, SEED)
            model.save(path)
        out[builder.__name__] = path
    return out


def synthetic_npz(path: Path, shape: tuple, low: float, high: float, n: int) -> Path:
    """An .npz of `n` uniform inputs (fixed seed) for calibration and simulation."""
    rng = np.random.default_rng(SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_npz(path, rng.uniform(low, high, size=(n, *shape)))


def layer_macs(model: Path) -> dict[str, int]:
    """MACs of every layer of the float graph, by name (the QGraph's weight nodes keep them)."""
    return {n.name: int(n.macs) for n in load(model).nodes}


def speed_record(name: str, model: Path, calib_npz: Path, work: Path, tick: Tick) -> dict:
    """One model's speed entry: per config, instructions per inference and per MAC per layer."""
    macs = layer_macs(model)
    total_macs = sum(macs.values())
    record = {"model_file": str(model), "macs": total_macs, "anchor_cycles": anchor_cycles(name),
              "anchor": None if name not in ANCHORS_MS else
              f"{ANCHORS_MS[name][0]} ms ({ANCHORS_MS[name][1]}, NUCLEO-L4R5ZI at {ANCHOR_MHZ} MHz)",
              "configs": {}}
    for config, options in CONFIGS.items():
        tick(f"speed: {name} {config} on {SPEED_BOARD}")
        try:
            cell = build_and_sim(model, SPEED_BOARD, work / f"speed_{config}", options, calib_npz,
                                 calib_npz, SIM_INPUTS)
        except Exception as exc:  # noqa: BLE001 - one failed build must not stop the bench
            record["configs"][config] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        instr = cell["instructions_per_inference"]
        layers = []
        for l in cell["layers"]:  # a fused conv+add layer: the conv's MACs
            n_macs = sum(macs.get(part, 0) for part in l.get("parts", [l["name"]]))
            layers.append({"name": l["name"], "op": l["op"], "layout": l["layout"],
                           "instructions": l["instructions"], "macs": n_macs,
                           "per_mac": l["instructions"] / n_macs if n_macs else None,
                           **({"parts": l["parts"]} if "parts" in l else {})})
        anchor = record["anchor_cycles"]
        record["configs"][config] = {
            "instructions_per_inference": instr, "per_mac": instr / total_macs if total_macs else None,
            "ratio_to_anchor": None if anchor is None else instr / anchor,
            "weight_bytes": cell["weight_bytes"], "bit_exact": cell["bit_exact"], "layers": layers,
            "mode": cell.get("mode"), "plan": cell.get("plan")}
    return record


def with_fastest(record: dict, model: Path, calib: Path, work: Path, tick: Tick) -> dict:
    """`record` with `fastest_layout`: its default build's layers against every layout."""
    cell = record["configs"].get("default", {})
    if "layers" in cell:
        try:
            record["fastest_layout"] = fastest_layout_ratio(model, CONFIGS["default"], cell, calib,
                                                            work, tick)
        except Exception as exc:  # noqa: BLE001 - one failed build must not stop the bench
            record["fastest_layout"] = {"error": f"{type(exc).__name__}: {exc}"}
    return record


def run_speed(entries: list[dict], work: Path, tick: Tick) -> dict:
    """{model: speed record} for the bench models in `entries` (baselines.bench_models) and
    the two architectures built here."""
    out = {}
    for entry in entries:
        calib = work / entry["name"] / "speed_calib.npz"
        calib.parent.mkdir(parents=True, exist_ok=True)
        save_npz(calib, entry["calib"])
        rec = speed_record(entry["name"], Path(entry["path"]), calib, work / entry["name"], tick)
        out[entry["name"]] = with_fastest(rec, Path(entry["path"]), calib, work / entry["name"], tick)
    shapes = {"mobilenet_v1_025": ((96, 96, 3), 0.0, 1.0), "ds_cnn": ((49, 10, 1), -1.0, 1.0)}
    for name, path in built_models(work / "built").items():
        shape, low, high = shapes[name]
        calib = synthetic_npz(work / name / "speed_calib.npz", shape, low, high, 32)
        out[name] = with_fastest(speed_record(name, path, calib, work / name, tick), path, calib,
                                 work / name, tick)
    return out


def layer_type(layer: dict, first_conv: str | None) -> str:
    """The layer's type for the per-type summary (a conv2d is pointwise when 1x1)."""
    if layer["op"] == "conv2d":
        if layer["name"] == first_conv:
            return "first conv"
        return "pointwise" if layer.get("kernel") == [1, 1] else "conv"
    return {"depthwise_conv2d": "depthwise", "dense": "fc"}.get(layer["op"], "other ops")


def by_type(cell: dict, kernels: dict[str, list[int]]) -> dict[str, dict]:
    """Instructions, MACs and instructions per MAC of a build's layers by layer type."""
    convs = [l["name"] for l in cell["layers"] if l["op"] == "conv2d"]
    out: dict[str, dict] = {}
    for layer in cell["layers"]:
        kernel = kernels.get(layer.get("parts", [layer["name"]])[0])
        kind = layer_type({**layer, "kernel": kernel}, convs[0] if convs else None)
        t = out.setdefault(kind, {"instructions": 0.0, "macs": 0})
        t["instructions"] += layer["instructions"]
        t["macs"] += layer.get("macs") or 0
    for t in out.values():
        t["per_mac"] = t["instructions"] / t["macs"] if t["macs"] else None
    return out


def kernel_sizes(model: Path) -> dict[str, list[int]]:
    """(kh, kw) of every convolution of the float graph, by name."""
    return {n.name: list(n.weights["kernel"].shape[:2]) for n in load(model).nodes
            if n.op in ("conv2d", "depthwise_conv2d")}


def fastest_layout_ratio(model: Path, options: dict, cell: dict, calib: Path, work: Path,
                         tick: Tick) -> dict:
    """Every weight layer of a build against the same layer forced to each layout (same
    options): the worst measured ratio of its instructions to the fastest layout's. Only
    meaningful when `options` fix the levels (bits, sparsity, quantizer): the default
    compression searches again once a layout is forced and may land on other levels. So a
    default build made by the search with one-shot pruning (unlabelled data: `mode` "search")
    is repeated with its chosen per-layer bits and sparsity, which give the same levels."""
    if cell.get("mode") == "search" and cell.get("plan"):
        options = {**options, "layers": cell["plan"]}
    best: dict[str, tuple[float, str]] = {}
    for layout in LAYOUTS:
        tick(f"speed: {model.stem} every layer {layout}")
        forced = build_and_sim(model, SPEED_BOARD, work / f"forced_{layout}",
                               {**options, "layout": layout}, calib, calib, SIM_INPUTS)
        for l in forced["layers"]:
            if l["layout"] and (l["name"] not in best or l["instructions"] < best[l["name"]][0]):
                best[l["name"]] = (l["instructions"], layout)
    rows = [{"name": l["name"], "layout": l["layout"], "instructions": l["instructions"],
             "fastest": best[l["name"]][1], "ratio": l["instructions"] / best[l["name"]][0]}
            for l in cell["layers"] if l["name"] in best]
    return {"worst": max(rows, key=lambda r: r["ratio"], default=None), "layers": rows}


def _summary_lines(name: str, rec: dict, kernels: dict) -> list[str]:
    lines = []
    for config, cell in rec["configs"].items():
        if "error" in cell:
            lines.append(f"{name:<18} {config:<14} ERROR {cell['error']}")
            continue
        anchor = rec.get("anchor_cycles")
        ratio = "" if anchor is None else f" ({cell['instructions_per_inference'] / anchor:.2f}x anchor)"
        lines.append(f"{name:<18} {config:<14} {cell['instructions_per_inference'] / 1e6:8.3f} M"
                     f"{ratio}  weights {cell['weight_bytes']} B")
        for kind, t in sorted(by_type(cell, kernels).items()):
            per = "" if t["per_mac"] is None else f"{t['per_mac']:6.2f}/MAC"
            lines.append(f"{'':<34}{kind:<11} {t['instructions'] / 1e6:8.3f} M {per}")
    return lines


def smallest_at_default(digits: dict, work: Path, tick: Tick) -> dict | None:
    """digits' <= 1 pt setting of the last full bench (bench/results.json), built with the
    default layout choice: instructions per inference and the ratio to dense int8."""
    doc = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))
    best = (doc["models"].get("digits", {}).get("search") or {}).get("best")
    if not best or not (REPO / best["model_file"]).is_file():
        return None
    options = {k: v for k, v in best["options"].items() if k != "optimize"}
    tick(f"speed: digits <= 1 pt setting at the default {options}")
    calib = work / "digits" / "speed_calib.npz"
    cell = build_and_sim(REPO / best["model_file"], SPEED_BOARD, work / "digits" / "smallest_default",
                         options, calib, calib, SIM_INPUTS)
    dense = digits["configs"]["int8-dense"]["instructions_per_inference"]
    return {"options": options, "instructions_per_inference": cell["instructions_per_inference"],
            "ratio_to_int8_dense": cell["instructions_per_inference"] / dense,
            "weight_bytes": cell["weight_bytes"],
            "layers": [{k: l[k] for k in ("name", "layout", "instructions")} for l in cell["layers"]]}


def main(argv: list[str] | None = None) -> int:
    from bench.run import selected_entries

    parser = argparse.ArgumentParser(description="The bench's speed section alone")
    parser.add_argument("--models", default="digits,ic,ad")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "speed")
    parser.add_argument("--smallest", action="store_true",
                        help="also digits' <= 1 pt setting (from bench/results.json) at the default")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    entries = [e for _, e, _ in selected_entries(names) if e is not None]
    tick = lambda what: print(what, file=sys.stderr, flush=True)  # noqa: E731
    out = run_speed(entries, args.work, tick)
    paths = {e["name"]: Path(e["path"]) for e in entries} | built_models(args.work / "built")
    for name, rec in out.items():
        kernels = kernel_sizes(paths[name])
        print("\n".join(_summary_lines(name, rec, kernels)), flush=True)
        if "fastest_layout" in rec:
            print(f"{name}: worst default layer / fastest layout "
                  f"{rec['fastest_layout'].get('worst')}", flush=True)
    if args.smallest and "digits" in out:
        out["digits"]["smallest_at_default"] = smallest_at_default(out["digits"], args.work, tick)
        print(f"digits <= 1 pt at the default: {out['digits']['smallest_at_default']}", flush=True)
    (args.work / "speed.json").write_text(json.dumps(out, indent=1, default=str) + "\n",
                                          encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
