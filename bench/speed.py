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
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from bench.firmware import SPEED_BOARD, build_and_sim
from tinycompress.data import save_npz
from tinycompress.frontend import load

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
        layers = [{"name": l["name"], "op": l["op"], "layout": l["layout"],
                   "instructions": l["instructions"], "macs": macs.get(l["name"], 0),
                   "per_mac": (l["instructions"] / macs[l["name"]]) if macs.get(l["name"]) else None}
                  for l in cell["layers"]]
        anchor = record["anchor_cycles"]
        record["configs"][config] = {
            "instructions_per_inference": instr, "per_mac": instr / total_macs if total_macs else None,
            "ratio_to_anchor": None if anchor is None else instr / anchor,
            "weight_bytes": cell["weight_bytes"], "bit_exact": cell["bit_exact"], "layers": layers}
    return record


def run_speed(entries: list[dict], work: Path, tick: Tick) -> dict:
    """{model: speed record} for the bench models in `entries` (baselines.bench_models) and
    the two architectures built here."""
    out = {}
    for entry in entries:
        calib = work / entry["name"] / "speed_calib.npz"
        calib.parent.mkdir(parents=True, exist_ok=True)
        save_npz(calib, entry["calib"])
        out[entry["name"]] = speed_record(entry["name"], Path(entry["path"]), calib,
                                          work / entry["name"], tick)
    shapes = {"mobilenet_v1_025": ((96, 96, 3), 0.0, 1.0), "ds_cnn": ((49, 10, 1), -1.0, 1.0)}
    for name, path in built_models(work / "built").items():
        shape, low, high = shapes[name]
        calib = synthetic_npz(work / name / "speed_calib.npz", shape, low, high, 32)
        out[name] = speed_record(name, path, calib, work / name, tick)
    return out
