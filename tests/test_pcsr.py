"""PCSR (packed CSR) layout: hand-derived bit streams, an independent string
encoder as reference, round trips, and the C kernels on long Rice quotients.

Notation in the derivations: an entry is `unary | remainder | value`, every
field written in stream order (LSB first), stream bit i = bit i % 16 of word
i // 16.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.test_weight_kernels_host import (ConvDims, FcDims, assert_same, call, conv_offsets,
                                            lib, make_params)  # noqa: F401 (lib is a fixture)
from tinycompress.layouts import pcsr
from tinycompress.reference import weight_ops as wo

EXAMPLE_M = np.array([[0, 2, 0, 2, 1, 0],
                     [1, 0, 0, 0, 0, 0],
                     [0, 0, 1, 2, 0, 2]])


def summary(lay):
    return (lay.arrays["stream"].tolist(), lay.arrays["stream"].dtype.name, lay.n_entries,
            lay.span, lay.rice_bits, lay.value_bits, lay.nbytes)


def test_design_worked_example():
    # positions (span 6) 1,3,4 | 6 | 14,15,17; gaps 1,1,0,1,7,0,1; values {1,2} -> 3 bits.
    # bits: k=0 11+7*4=39, k=1 3+7*5=38, k=2 1+7*6=43 (3 words each), k=3 49 -> k=1.
    # g=1 v=2: 1|1|010  g=1 v=2: 1|1|010  g=0 v=1: 1|0|100  g=1 v=1: 1|1|100
    # g=7 v=1: 0001|1|100  g=0 v=2: 1|0|010  g=1 v=2: 1|1|010
    # bits 0-15  11010 11010 10100 1     -> nibbles 1101=B 0110=6 1010=5 1001=9 -> 0x956B
    # bits 16-31 1100 00011100 1001      -> 1100=3 0001=8 1100=3 1001=9       -> 0x9383
    # bits 32-37 0 11010 (+ 10 zero bits) -> 0110=6 1000=1                    -> 0x0016
    lay = pcsr.encode(EXAMPLE_M)
    assert summary(lay) == ([0x956B, 0x9383, 0x0016], "uint16", 7, 6, 1, 3, 6)
    assert (lay.decode() == EXAMPLE_M).all()
    # loads: 3 words + 7 x; one add and multiply per entry; one write per row
    assert lay.ops().as_dict() == {"loads": 10, "adds": 7, "multiplies": 7, "writes": 3}


def test_empty_rows_and_single_column():
    # 4x1, span 1: 3 at position 1, -1 at position 3; gaps 1, 1; values need 3 bits.
    # k=0: 2 + 2*4 = 10 bits; k=1: 0 + 2*5 = 10 bits -> same words and bits: k=0.
    # g=1 v=3: 01|011 -> 0,1,1,1,0   g=1 v=-1: 01|111 -> 0,1,1,1,1
    # set bits 1,2,3,6,7,8,9 -> 0x000E + 0x03C0 = 0x03CE
    m = np.array([[0], [3], [0], [-1]])
    lay = pcsr.encode(m, 4)
    assert summary(lay) == ([0x03CE], "uint16", 2, 1, 0, 3, 2)
    assert (lay.decode() == m).all()


def test_all_zero_tensor():
    m = np.zeros((2, 3), np.int64)
    lay = pcsr.encode(m, 4)
    assert summary(lay) == ([], "uint16", 0, 3, 0, 1, 0)
    assert (lay.decode() == m).all()
    assert lay.ops().as_dict() == {"loads": 0, "adds": 0, "multiplies": 0, "writes": 2}


def test_rice_parameter_for_one_long_gap():
    # one 1 at column 39: g = 39, value 1 needs 2 bits; bits (39 >> k) + 1 + k + 2:
    # k=0 42, 1 23, 2 14, 3 10, 4 9, 5 9, 6 9, 7 10, 8 11 -> 1 word from k=2 on,
    # fewest bits 9 at k=4..6 -> k=4: q=2 -> 001 | rem 7 -> 1110 | value 1 -> 10
    # bits 0,0,1,1,1,1,0,1,0 -> 4+8+16+32+128 = 0xBC
    m = np.zeros((1, 40), np.int64)
    m[0, 39] = 1
    assert summary(pcsr.encode(m, 3)) == ([0xBC], "uint16", 1, 40, 4, 2, 2)


def test_rice_parameter_with_mixed_gaps():
    # columns 0..7 (gaps 0) and 299 (gap 291), values 1 (2 bits): bits sum(g >> k) + 9*(3 + k)
    # k=3 36+54=90, k=4 18+63=81, k=5 9+72=81, k=6 4+81=85 -> 81 bits (6 words), k=4;
    # the last entry's quotient is 18 zeros: longer than a word
    m = np.zeros((1, 300), np.int64)
    m[0, [0, 1, 2, 3, 4, 5, 6, 7, 299]] = 1
    lay = pcsr.encode(m, 2)
    assert (lay.rice_bits, lay.value_bits, lay.nbytes) == (4, 2, 12)
    assert (lay.decode() == m).all()


def test_col_map_positions_and_value_bits():
    # conv 2x2 taps over a 5-wide 1-channel input: offsets 0, 1, 5, 6 -> span 7.
    # row 0: 3 at offset 1, -1 at offset 6; row 1: 2 at 0, 2 at 6 -> positions 1, 6, 7, 13
    # gaps 1, 4, 0, 5; values {-1, 2, 3} -> 3 bits (tensor is 4-bit)
    m = np.array([[0, 3, 0, -1], [2, 0, 0, 2]])
    lay = pcsr.encode(m, 4, col_map=np.array([0, 1, 5, 6]))
    assert (lay.span, lay.value_bits, lay.n_entries) == (7, 3, 4)
    assert (lay.decode() == m).all()


# ---- an independent encoder: bit strings -------------------------------------------

def string_stream(m: np.ndarray, k: int, vbits: int, span: int, col_map=None) -> str:
    """The stream as a '0'/'1' string, entry by entry (module docstring of pcsr)."""
    out, last = [], -1
    for r in range(m.shape[0]):
        for c in range(m.shape[1]):
            if m[r, c]:
                p = r * span + (c if col_map is None else int(col_map[c]))
                g, last = p - last - 1, p
                out.append("0" * (g >> k) + "1")
                out.append(format(g & ((1 << k) - 1), f"0{k}b")[::-1] if k else "")
                out.append(format(int(m[r, c]) & ((1 << vbits) - 1), f"0{vbits}b")[::-1])
    return "".join(out)


def words(bits: str) -> list[int]:
    bits += "0" * (-len(bits) % 16)
    return [int(bits[i:i + 16][::-1], 2) for i in range(0, len(bits), 16)]


@st.composite
def sparse_matrices(draw):
    bits = draw(st.integers(1, 8))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    shape = draw(st.tuples(st.integers(1, 8), st.integers(1, 120)))
    m = draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))
    keep = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1))) < draw(st.floats(0, 1))
    return bits, np.where(keep, m, 0)


@settings(max_examples=150, deadline=None)
@given(sparse_matrices(), st.booleans())
def test_stream_matches_string_encoder_and_k_is_best(case, with_map):
    bits, m = case
    col_map = np.arange(m.shape[1]) * 3 + 1 if with_map else None
    lay = pcsr.encode(m, bits, col_map)
    nz = m[m != 0]
    vbits = next(b for b in range(1, 9) if not nz.size or (nz.min() >= -(1 << (b - 1))
                                                         and nz.max() < (1 << (b - 1))))
    span = m.shape[1] if col_map is None else int(col_map[-1]) + 1
    by_k = {k: string_stream(m, k, vbits, span, col_map) for k in range(9)}
    best = min(range(9), key=lambda k: (-(-len(by_k[k]) // 16), len(by_k[k]), k))
    assert (lay.rice_bits, lay.value_bits, lay.span) == (best, vbits, span)
    assert lay.arrays["stream"].tolist() == words(by_k[best])
    assert lay.nbytes == 2 * len(words(by_k[best]))
    assert (lay.decode() == m).all()


# ---- the C kernels on what the generic host tests rarely draw -----------------------

def test_fc_kernel_long_quotients_and_empty_rows(lib):  # noqa: F811
    # wide sparse rows: mostly small gaps with a few huge ones (quotients > 16 bits),
    # empty rows at the start, middle and end
    rng = np.random.default_rng(3)
    m = np.zeros((7, 3000), np.int64)
    for r in (1, 2, 4, 5):
        m[r, rng.integers(0, 40, 12)] = rng.integers(-7, 8, 12)
        m[r, rng.integers(2500, 3000, 3)] = rng.integers(-7, 8, 3)
    m[5, 2999] = -8
    lay = pcsr.encode(m, 4)
    assert lay.decode().tolist() == m.tolist()
    params = make_params(rng, m)
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, 3000).astype(np.int8)
        got = call(lib, "tc_fc_pcsr_s8", FcDims(3000, 7), lay, params, x, (7,))
        assert_same(f"fc pcsr wide seed {seed}", got, wo.fc_s8(x, m, params))


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "dwconv2d"])
def test_conv_kernels_sparse_offsets(lib, depthwise):  # noqa: F811
    rng = np.random.default_rng(5)
    h, w, cin, k = 9, 11, 3, (3, 3)
    cout = cin if depthwise else 4
    cols = 9 * (1 if depthwise else cin)
    m = np.where(rng.random((cout, cols)) < 0.15, rng.integers(-31, 32, (cout, cols)), 0)
    m[0] = 0  # an empty first row
    x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
    params = make_params(rng, m)
    lay = pcsr.encode(m, 6, col_map=conv_offsets(*k, cin, w, depthwise))
    ref = wo.dwconv2d_s8 if depthwise else wo.conv2d_s8
    expected = ref(x, m, k[0], k[1], (1, 2), params)
    oh, ow, _ = expected.shape
    op = "dwconv2d" if depthwise else "conv2d"
    got = call(lib, f"tc_{op}_pcsr_s8", ConvDims(h, w, cin, k[0], k[1], 1, 2, oh, ow, cout),
               lay, params, x, expected.shape)
    assert_same(f"{op} pcsr", got, expected)
