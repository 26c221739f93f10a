"""Energy estimate: hand-priced op counts against the Horowitz 45 nm table."""
import math

import numpy as np
import pytest

from tinycompress.layouts import energy
from tinycompress.layouts import OpCounts, encode_as


def test_dense_fc_hand_priced():
    # 10 loads x 10 pJ + 4 adds x 0.1 + 4 mult x 0.2 (8-bit) + 2 writes x 10 pJ
    # = 100 + 0.4 + 0.8 + 20 = 121.2 pJ
    est = energy.estimate({"loads": 10, "adds": 4, "multiplies": 4, "writes": 2})
    assert est.pj_total == pytest.approx(121.2)
    assert est.breakdown == pytest.approx(
        {"loads": 100.0, "adds": 0.4, "multiplies": 0.8, "writes": 20.0})


def test_32bit_multiply_positions_and_dataclass_input():
    # 3 mults x 3.1 pJ = 9.3 pJ per position, 5 positions = 46.5 pJ; 1 add 8-bit = 0.03 x 5
    counts = OpCounts(loads=0, adds=1, multiplies=3, writes=0)
    est = energy.estimate(counts, mult_bits=32, add_bits=8, positions=5)
    assert est.breakdown["multiplies"] == pytest.approx(46.5)
    assert est.breakdown["adds"] == pytest.approx(0.15)
    assert est.pj_total == pytest.approx(46.65)


def test_sram_access_interpolation():
    assert energy.sram_access_pj(1024) == 10.0        # below the smallest point: 8 KB figure
    assert energy.sram_access_pj(32 * 1024) == 20.0   # a table point
    assert energy.sram_access_pj(1 << 30) == 100.0    # above: 1 MB figure
    # 16 KB is halfway between 8 and 32 KB in log2 (13 -> 14 -> 15): 10 + 0.5 x 10 = 15 pJ
    assert energy.sram_access_pj(16 * 1024) == pytest.approx(15.0)


def test_loads_priced_by_memory_size():
    est = energy.estimate({"loads": 2, "adds": 0, "multiplies": 0, "writes": 1},
                          sram_bytes=1024 * 1024)
    assert est.pj_total == pytest.approx(300.0)  # 3 accesses x 100 pJ


@pytest.mark.parametrize("bad", [
    {"loads": 1, "adds": 1, "multiplies": 1},                    # writes missing
    {"loads": -1, "adds": 0, "multiplies": 0, "writes": 0},      # negative
])
def test_bad_counts_rejected(bad):
    with pytest.raises(ValueError):
        energy.estimate(bad)


def test_bad_bits_rejected():
    with pytest.raises(ValueError, match="8 or 32"):
        energy.estimate({"loads": 0, "adds": 0, "multiplies": 0, "writes": 0}, mult_bits=16)


def test_layout_estimate_uses_kernel_multiply_width():
    m = np.array([[0, 2, 0, 2, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 2, 0, 2]])
    for name, bits in [("dense", 8), ("csr", 8), ("cer", 32), ("cser", 32)]:
        layout = encode_as(name, m, bits=8)
        ops = layout.ops()
        est = energy.estimate_layout(layout)
        want = (ops.loads + ops.writes) * 10.0 + ops.adds * 0.1 + ops.multiplies * energy.MULT_PJ[bits]
        assert math.isclose(est.pj_total, want), name


def test_as_dict_labelled_estimate():
    d = energy.estimate({"loads": 1, "adds": 0, "multiplies": 0, "writes": 0}).as_dict()
    assert d["estimate"] is True and d["pj_total"] == 10.0
