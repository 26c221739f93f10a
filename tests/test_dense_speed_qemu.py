"""Target tier: instructions per MAC of the dense FC and conv2d kernels, exact, in QEMU.

One small network with the layer types whose speed matters (a first 3x3
convolution on 3 channels, a 3x3 convolution on 16 channels, pointwise
convolutions on 16 and 32 channels, an FC layer, a 10-way classifier) is built
with dense weights, unpruned, at 8 bits for the Cortex-M4 (mps2_an386, DSP
extension) and the Cortex-M3 (mps2_an385, plain C), and at every sub-byte width
2..7 for the Cortex-M4. Each firmware runs in QEMU on random inputs, bit-exact
against the integer reference (`sim.simulate`), and each layer's executed
instructions (exact with -icount: the same build always gives the same count)
divided by its multiply-accumulates must stay within budget:

- 8 bits on the M4: the budgets below, each under what CMSIS-NN v7 needs for
  that kind of layer (DESIGN.md, "Reference points for speed": 3x3 convolutions
  1.76-2.33 per MAC, a first layer on 3 channels 4.77, pointwise 1.83-6.63, FC
  2.07);
- sub-byte on the M4: at most 1.3x the 8-bit count of the same layer;
- 8 bits on the M3: the plain-C budgets below.

The budgets sit a little above the counts measured when they were set, so a
change that slows a kernel down fails here, on the counts, not on a timer.
"""
from __future__ import annotations

import keras
import pytest
from keras import layers

from tests.models import randomize
from tinycompress.compress.core import CompressOptions
from tinycompress.pipeline import build
from tinycompress.target.sim import simulate

pytestmark = pytest.mark.target

H = W = 16
# layer -> multiply-accumulates, by hand: output pixels x output channels x fan-in
MACS = {
    "first3x3": H * W * 16 * (3 * 3 * 3),     # 16x16x3 -> 16 channels, 'same'
    "conv3x3": H * W * 16 * (3 * 3 * 16),     # 16x16x16 -> 16
    "pointwise16": H * W * 32 * 16,           # 1x1, 16 -> 32 channels
    "pointwise32": H * W * 32 * 32,           # 1x1, 32 -> 32
    "fc": (4 * 4 * 32) * 64,                  # average-pooled 4x4x32 = 512 -> 64
    "logits": 64 * 10,
}
# instructions per MAC at 8 bits; measured when set: M4 2.656, 1.492, 2.869, 2.028, 1.772,
# 3.092; M3 4.193, 2.894, 4.362, 3.407, 3.306, 4.827. first3x3 re-set to 2.80 when 'same'
# padding moved into the kernels (issue 10): it measures 2.779 with its padding inside; the
# pad step it replaced took 2,091 instructions (0.019 per MAC) and the 'valid' convolution
# after it 2.709 per MAC, so the first layer on 3 channels is now 2.6 % slower than the
# explicit pad + 'valid' convolution it replaced (the 16-channel conv3x3 is not).
M4_BUDGET = {"first3x3": 2.80, "conv3x3": 1.54, "pointwise16": 2.95, "pointwise32": 2.09,
             "fc": 1.83, "logits": 3.2}
# CMSIS-NN on the M4, the worst of each range above (a 64 -> 10 classifier is not among
# them; its 84 -> 10 takes 2,218 instructions, 2.64 per MAC)
CMSIS_NN = {"first3x3": 4.77, "conv3x3": 2.33, "pointwise16": 6.63, "pointwise32": 6.63,
            "fc": 2.07}
M3_BUDGET = {"first3x3": 4.35, "conv3x3": 2.98, "pointwise16": 4.5, "pointwise32": 3.52,
             "fc": 3.41, "logits": 4.98}
SUB_BYTE = (2, 3, 4, 5, 6, 7)
MAX_RATIO = 1.3
BUILDS = [("mps2_an386", 8), ("mps2_an385", 8)] + [("mps2_an386", b) for b in SUB_BYTE]


def speed_model() -> keras.Model:
    inp = keras.Input((H, W, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="first3x3")(inp)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3x3")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="pointwise16")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="pointwise32")(x)
    x = layers.AveragePooling2D(4, name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    out = layers.Dense(10, name="logits")(x)
    return randomize(keras.Model(inp, out, name="dense_speed"), seed=3)


@pytest.fixture(scope="module")
def per_mac(tmp_path_factory, offline_core):
    """(board, bits) -> {layer: instructions per MAC}, every build bit-exact in QEMU."""
    root = tmp_path_factory.mktemp("dense_speed")
    speed_model().save(root / "model.keras")
    out = {}
    for board, bits in BUILDS:
        # --optimize speed: every layer on its kernel's fastest path at every width (no
        # scratch cut for the arena, codegen.render.lean_scratch), so the ratios compare kernels
        options = CompressOptions(bits=bits, sparsity=0.0, layout="dense", optimize="speed")
        result = build(root / "model.keras", board, root / f"{board}_{bits}", options=options)
        sim = simulate(result.out_dir, n=2)
        assert sim.bit_exact, (f"{board} {bits}-bit: {sim.mismatches[:3]}, first divergent "
                               f"layer {sim.first_divergent_layer}")
        counts = {layer["name"]: layer["instructions"] for layer in sim.layers}
        out[board, bits] = {name: counts[name] / macs for name, macs in MACS.items()}
    return out


def _over(got: dict, budget: dict) -> dict:
    return {name: (round(got[name], 3), limit) for name, limit in budget.items() if got[name] > limit}


def test_budgets_are_within_cmsis_nn():
    assert all(M4_BUDGET[name] <= limit for name, limit in CMSIS_NN.items())


def test_m4_8bit_within_budget(per_mac):
    assert not _over(per_mac["mps2_an386", 8], M4_BUDGET), per_mac["mps2_an386", 8]


def test_m3_8bit_within_budget(per_mac):
    assert not _over(per_mac["mps2_an385", 8], M3_BUDGET), per_mac["mps2_an385", 8]


@pytest.mark.parametrize("bits", SUB_BYTE)
def test_sub_byte_within_1_3x_of_8bit(per_mac, bits):
    eight, sub = per_mac["mps2_an386", 8], per_mac["mps2_an386", bits]
    ratios = {name: round(sub[name] / eight[name], 3) for name in MACS}
    assert all(r <= MAX_RATIO for r in ratios.values()), f"{bits}-bit / 8-bit: {ratios}"
