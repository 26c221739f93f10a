"""Weight layouts: hand-derived arrays and bytes (derivations in comments),
round trips, byte accounting, index narrowing, op counts and the chooser."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinycompress import layouts
from tinycompress.layouts import cer, cser, csr, dense

EXAMPLE_M = np.array([[0, 2, 0, 2, 1, 0],
                     [1, 0, 0, 0, 0, 0],
                     [0, 0, 1, 2, 0, 2]])


def arrays_of(lay):
    """{name: (list, dtype name)} for exact comparison."""
    return {k: (v.tolist(), v.dtype.name) for k, v in lay.arrays.items()}


def test_cer_design_worked_example():
    # counts 0->11, 2->4, 1->3 -> omega [0, 2, 1]; row 1 has an empty
    # group for 2 before its group for 1; every index fits uint8.
    lay = cer.encode(EXAMPLE_M)
    assert arrays_of(lay) == {
        "omega": ([0, 2, 1], "int8"),
        "col_idx": ([1, 3, 4, 0, 3, 5, 2], "uint8"),
        "omega_ptr": ([0, 2, 3, 3, 4, 6, 7], "uint8"),
        "row_ptr": ([0, 2, 4, 6], "uint8"),
    }
    assert lay.nbytes == 3 + 7 + 7 + 4


def test_cser_design_example():
    # same groups without the empty one: row0 (2:{1,3}) (1:{4}); row1 (1:{0});
    # row2 (2:{3,5}) (1:{2}) -> 5 groups, value indices 1,2,2,1,2
    lay = cser.encode(EXAMPLE_M)
    assert arrays_of(lay) == {
        "omega": ([0, 2, 1], "int8"),
        "col_idx": ([1, 3, 4, 0, 3, 5, 2], "uint8"),
        "omega_ptr": ([0, 2, 3, 4, 6, 7], "uint8"),
        "row_ptr": ([0, 2, 3, 5], "uint8"),
        "omega_idx": ([1, 2, 2, 1, 2], "uint8"),
    }
    assert lay.nbytes == 3 + 7 + 6 + 4 + 5


def test_csr_design_example():
    # non-zeros row by row: (0,1)=2 (0,3)=2 (0,4)=1 | (1,0)=1 | (2,2)=1 (2,3)=2 (2,5)=2
    lay = csr.encode(EXAMPLE_M)
    assert arrays_of(lay) == {
        "values": ([2, 2, 1, 1, 1, 2, 2], "int8"),
        "col_idx": ([1, 3, 4, 0, 2, 3, 5], "uint8"),
        "row_ptr": ([0, 3, 4, 7], "uint8"),
    }
    assert lay.nbytes == 7 + 7 + 4


@pytest.mark.parametrize("bits, row, expected", [
    # 1 bit, {-1, 0} -> codes 1,0,1,1,0,0,0,1 | 1: LSB first 0b10001101 = 0x8D, then 0x01
    (1, [-1, 0, -1, -1, 0, 0, 0, -1, -1], [0x8D, 0x01]),
    # 2 bits: 01 11 00 10 | 01 -> 1 | 3<<2 | 0<<4 | 2<<6 = 0x8D, then 0x01
    (2, [1, -1, 0, -2, 1], [0x8D, 0x01]),
    # 3 bits: 001 111 011 100, stream bits (LSB of each code first)
    # 1,0,0 | 1,1,1 | 1,1,0 | 0,0,1 -> byte0 bits0-7 = 1,0,0,1,1,1,1,1 = 0xF9,
    # byte1 bits 8-11 = 0,0,0,1 = 0x08
    (3, [1, -1, 3, -4], [0xF9, 0x08]),
    # 4 bits: nibbles 1 F 7 9 3, low nibble first -> 0xF1 0x97 0x03
    (4, [1, -1, 7, -7, 3], [0xF1, 0x97, 0x03]),
])
def test_dense_packing_bytes(bits, row, expected):
    lay = dense.encode(np.array([row]), bits)
    assert lay.arrays["weights"].dtype == np.uint8
    assert lay.arrays["weights"].tolist() == expected
    assert lay.nbytes == len(expected)
    assert lay.decode().tolist() == [row]


def test_dense_8bit_is_plain_int8():
    lay = dense.encode(np.array([[1, -1], [127, -127]]), 8)
    assert arrays_of(lay) == {"weights": ([1, -1, 127, -127], "int8")}


def test_dense_rows_start_on_a_byte():
    # 3 levels at 4 bits = 12 bits -> 2 bytes per row, the last high nibble is padding:
    # row0 1,2,3 -> 0x21 0x03; row1 4,5,6 -> 0x54 0x06
    lay = dense.encode(np.array([[1, 2, 3], [4, 5, 6]]), 4)
    assert lay.arrays["weights"].tolist() == [0x21, 0x03, 0x54, 0x06]
    assert lay.nbytes == 4


def test_empty_row():
    # counts 0->5, 3->1: omega [0, 3]; row 0 has no groups, row 1 one group {1}
    m = np.array([[0, 0, 0], [0, 3, 0]])
    assert arrays_of(cer.encode(m)) == {
        "omega": ([0, 3], "int8"), "col_idx": ([1], "uint8"),
        "omega_ptr": ([0, 1], "uint8"), "row_ptr": ([0, 0, 1], "uint8")}
    assert arrays_of(csr.encode(m)) == {
        "values": ([3], "int8"), "col_idx": ([1], "uint8"), "row_ptr": ([0, 0, 1], "uint8")}
    assert cser.encode(m).arrays["omega_idx"].tolist() == [1]


def test_all_zero_tensor():
    # omega [0] and no groups: 1 + 0 + 1 + 3 bytes; CSR only its row pointers (3)
    m = np.zeros((2, 3), np.int64)
    lay = cer.encode(m)
    assert arrays_of(lay) == {"omega": ([0], "int8"), "col_idx": ([], "uint8"),
                              "omega_ptr": ([0], "uint8"), "row_ptr": ([0, 0, 0], "uint8")}
    assert lay.nbytes == 5
    assert csr.encode(m).nbytes == 3
    assert dense.encode(m, 4).arrays["weights"].tolist() == [0, 0, 0, 0]  # 2 rows x 2 bytes
    for name in layouts.LAYOUT_NAMES:
        assert (layouts.encode_as(name, m, 4).decode() == m).all()


def test_single_column_and_nonzero_omega0():
    # counts 2->2, 0->1, -1->1; tie 0 vs -1 -> smaller |v| first: omega [2, 0, -1].
    # row0 = omega[0] (no groups); row1 0 = omega[1] -> group {0}; row2 -1 = omega[2]
    # -> empty group for 0, then {0}; row3 no groups.
    m = np.array([[2], [0], [-1], [2]])
    lay = cer.encode(m)
    assert arrays_of(lay) == {
        "omega": ([2, 0, -1], "int8"), "col_idx": ([0, 0], "uint8"),
        "omega_ptr": ([0, 1, 1, 2], "uint8"), "row_ptr": ([0, 0, 1, 3, 3], "uint8")}
    assert (lay.decode() == m).all()
    assert cser.encode(m).arrays["omega_idx"].tolist() == [1, 2]


def test_tie_order_smaller_magnitude_then_negative_first():
    # 0 three times; -2, -1, 1, 2 once each -> [0, -1, 1, -2, 2]
    m = np.array([[1, -1, 2, -2, 0, 0, 0]])
    assert cer.encode(m).arrays["omega"].tolist() == [0, -1, 1, -2, 2]


def test_col_map_stores_offsets():
    # conv 2x2 kernel over a 5-wide, 1-channel input: offsets ky*5 + kx = 0, 1, 5, 6
    m = np.array([[0, 3, 0, -1], [2, 0, 0, 2]])
    col_map = np.array([0, 1, 5, 6])
    lay = csr.encode(m, col_map=col_map)
    assert lay.arrays["col_idx"].tolist() == [1, 6, 0, 6]
    for name in layouts.LAYOUT_NAMES:
        assert (layouts.encode_as(name, m, 4, col_map).decode() == m).all()


@pytest.mark.parametrize("last_offset, dtype", [
    (255, np.uint8), (256, np.uint16), (65_535, np.uint16), (65_536, np.uint32)])
def test_column_index_narrowing(last_offset, dtype):
    # the largest stored column decides: 255 fits uint8, 256 needs uint16, ...
    # (two 0s, two 1s: tie -> omega[0] = 0, so both 1s are stored)
    m, col_map = np.array([[0, 0, 1, 1]]), np.array([0, 1, 2, last_offset])
    for enc in (csr.encode, cer.encode, cser.encode):
        assert enc(m, col_map=col_map).arrays["col_idx"].dtype == dtype


@pytest.mark.parametrize("nnz, dtype", [(255, np.uint8), (256, np.uint16)])
def test_pointer_narrowing(nnz, dtype):
    # one row of nnz ones: row_ptr (CSR) and omega_ptr (CER) end at nnz
    m = np.ones((1, nnz), np.int64)
    m = np.concatenate([m, np.zeros((1, nnz), np.int64)])  # tie 0 vs 1 -> omega[0] = 0
    assert csr.encode(m).arrays["row_ptr"].dtype == dtype
    assert cer.encode(m).arrays["omega_ptr"].dtype == dtype


def test_pointer_narrowing_at_65536():
    m = np.zeros((2, 65_536), np.int64)
    m[0, :] = 1  # 65,536 ones vs 65,536 zeros: tie -> 0 first (smaller |v|)
    assert cer.encode(m).arrays["omega_ptr"].tolist() == [0, 65_536]
    assert cer.encode(m).arrays["omega_ptr"].dtype == np.uint32
    m[0, 0] = 0
    assert cer.encode(m).arrays["omega_ptr"].dtype == np.uint16  # ends at 65,535


def test_op_counts_design_example():
    # CER: nnz 7, G 6, rows 3: loads 2*7 (col_idx, x) + 7 omega_ptr + 6 omega + 4 row_ptr
    assert layouts.encode_as("cer", EXAMPLE_M).ops().as_dict() == {
        "loads": 31, "adds": 13, "multiplies": 6, "writes": 3}
    # CSER: G 5: 14 + 6 omega_ptr + 5 omega + 5 omega_idx + 4 row_ptr
    assert layouts.encode_as("cser", EXAMPLE_M).ops().as_dict() == {
        "loads": 34, "adds": 12, "multiplies": 5, "writes": 3}
    # CSR: 3 loads per non-zero + 4 row_ptr; dense 8-bit: 18 weights + 18 inputs
    assert layouts.encode_as("csr", EXAMPLE_M).ops().as_dict() == {
        "loads": 25, "adds": 7, "multiplies": 7, "writes": 3}
    assert layouts.encode_as("dense", EXAMPLE_M).ops().as_dict() == {
        "loads": 36, "adds": 18, "multiplies": 18, "writes": 3}


def test_op_counts_nonzero_omega0_add_the_row_sum():
    # [[2],[0],[-1],[2]]: nnz 2, G 3 -> base loads 4+4+3+5 = 16, adds 5, mults 3;
    # omega0 != 0 adds 1 column of loads/adds once and a multiply-add per row (4)
    assert cer.encode(np.array([[2], [0], [-1], [2]])).ops().as_dict() == {
        "loads": 17, "adds": 10, "multiplies": 7, "writes": 4}


def test_choose_by_size_and_speed():
    # EXAMPLE_M at 8 bits: dense 18, csr 18, cer 21, cser 25, pcsr 6 (3 stream words,
    # see tests/test_pcsr.py) -> pcsr; without pcsr the dense/csr tie goes to dense
    assert layouts.choose(EXAMPLE_M, 8).name == "pcsr"
    assert layouts.choose(EXAMPLE_M, 8, allowed=["csr", "dense"]).name == "dense"
    assert layouts.choose(EXAMPLE_M, 8, allowed=["cer", "cser"]).name == "cer"
    rng = np.random.default_rng(0)
    sparse = np.where(rng.random((64, 256)) < 0.05, rng.integers(-7, 8, (64, 256)), 0)
    # ~819 non-zeros: CSR 2 bytes each; PCSR <= 4 value bits + a Rice-coded gap of
    # mean ~19 (k=4: 1 + 4 + ~1.2 bits), about 10 bits each
    assert layouts.choose(sparse, 4).name == "pcsr"
    assert layouts.choose(sparse, 4, allowed=["dense", "csr", "cer", "cser"]).name in (
        "csr", "cer", "cser")
    assert layouts.choose(sparse, 4, optimize="speed").name != "dense"
    full = rng.integers(-127, 128, (16, 64))
    assert layouts.choose(full, 8, optimize="speed").name == "dense"
    with pytest.raises(ValueError, match="unknown layout"):
        layouts.choose(EXAMPLE_M, 8, allowed=["coo"])
    with pytest.raises(ValueError, match="optimize"):
        layouts.choose(EXAMPLE_M, 8, optimize="energy")


def test_bad_levels_are_rejected():
    with pytest.raises(ValueError, match="do not fit"):
        dense.encode(np.array([[8]]), 4)
    with pytest.raises(ValueError, match="2-D"):
        cer.encode(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="col_map"):
        csr.encode(np.ones((1, 2), np.int64), col_map=np.array([3, 3]))


@st.composite
def level_matrices(draw):
    bits = draw(st.integers(1, 8))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    shape = draw(st.tuples(st.integers(1, 12), st.integers(1, 40)))
    m = draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))
    if draw(st.booleans()):  # mostly one value (0 or not), as after pruning
        m = np.where(draw(hnp.arrays(np.bool_, shape)), m, draw(st.integers(lo, hi)))
    return bits, m


@settings(max_examples=150, deadline=None)
@given(level_matrices(), st.booleans(), st.integers(1, 5))
def test_round_trip_and_bytes(case, with_map, gap):
    bits, m = case
    col_map = np.arange(m.shape[1]) * gap + 2 if with_map else None
    for name in layouts.LAYOUT_NAMES:
        lay = layouts.encode_as(name, m, bits, col_map)
        assert (lay.decode() == m).all(), name
        assert lay.nbytes == sum(a.nbytes for a in lay.arrays.values())
        for key, a in lay.arrays.items():  # indices: the narrowest type for their values
            if a.dtype.kind == "u" and key not in ("weights", "stream") and a.size:
                assert a.dtype == layouts.index_dtype(int(a.max())), (name, key)
        omega = lay.arrays.get("omega")
        if omega is not None:  # omega by descending count
            counts = [(m == v).sum() for v in omega]
            assert counts == sorted(counts, reverse=True) and len(set(omega)) == len(omega)


def test_balanced_is_the_smallest_layout_within_ten_percent_of_the_fastest():
    from tinycompress.layouts import BALANCED_SLOWDOWN, choose, encode_all, estimated_instructions

    rng = np.random.default_rng(3)
    for sparsity in (0.0, 0.5, 0.9, 0.97):
        m = rng.integers(-7, 8, (32, 144))
        m[rng.random(m.shape) < sparsity] = 0
        every = encode_all(m, 4)
        fastest = min(estimated_instructions(l) for l in every.values())
        ok = sorted((l.nbytes, list(every).index(n), n) for n, l in every.items()
                    if estimated_instructions(l) <= 1.10 * fastest)
        assert BALANCED_SLOWDOWN == 1.10
        assert choose(m, 4, "balanced").name == ok[0][2]
        assert estimated_instructions(choose(m, 4, "balanced")) <= 1.10 * fastest
        assert choose(m, 4, "balanced").nbytes >= choose(m, 4, "size").nbytes


@pytest.mark.parametrize("in_hw, out_hw, k, s, pad, expected", [
    # 16 x 16 'same' 3 x 3 stride 1 (pad 1): inside rows/cols 1..14 -> 256 - 14 * 14 = 60
    ((16, 16), (16, 16), (3, 3), (1, 1), (1, 1), 60),
    # stride 2, TF 'same' pads 0 before and 1 after: inside rows/cols 0..6 -> 64 - 7 * 7 = 15
    ((16, 16), (8, 8), (3, 3), (2, 2), (0, 0), 15),
    # 'valid': no window reaches into padding
    ((18, 18), (16, 16), (3, 3), (1, 1), (0, 0), 0),
    # kernel as large as the input: only the centre pixel of 3 x 3 is inside
    ((3, 3), (3, 3), (3, 3), (1, 1), (1, 1), 8),
    # DS-CNN's first conv, 49 x 10, 10 x 4 stride 2, pads (4, 1): rows 2..21, cols 1..3 inside
    ((49, 10), (25, 5), (10, 4), (2, 2), (4, 1), 125 - 20 * 3),
])
def test_border_positions(in_hw, out_hw, k, s, pad, expected):
    assert layouts.border_positions(in_hw, out_hw, k, s, pad) == expected


def test_cost_model_splits_inside_border_and_once_terms():
    # predict = per_call + once . g + inside * coef . f + border * edge . f
    from tinycompress.layouts.cost import predict

    entry = {"per_call": 10.0, "coef": {"macs": 2.0}, "edge": {"macs": 1.0},
             "once": {"cells": 3.0}}
    # 100 positions, 20 on the border, 9 MACs each, 18 cells:
    # 10 + 3 * 18 + 80 * 2 * 9 + 20 * 1 * 9 = 10 + 54 + 1440 + 180 = 1684
    assert predict(entry, 100, 20, {"macs": 9.0}, {"cells": 18.0}) == 1684.0


@pytest.mark.parametrize("name", ["csr", "pcsr", "cer", "cser"])
def test_cost_features_count_live_and_empty_rows(name):
    # rows 0 and 2 of EXAMPLE_M hold non-zeros; a fourth, all-zero row (a pruned-away
    # output) is empty: the sparse kernels only write its constant output
    from tinycompress.layouts.cost import features, once_features
    from tinycompress.layouts.sweep import Geometry

    m = np.vstack([EXAMPLE_M, np.zeros((1, 6), EXAMPLE_M.dtype)])
    m[1] = 0
    feats = features(layouts.encode_as(name, m, 4))
    assert (feats["rows"], feats["live_rows"], feats["empty_rows"]) == (4.0, 2.0, 2.0)
    # in a 1x1 conv on a 5x3 map, the 2 empty channels' constants are 2 * 15 outputs
    once = once_features(layouts.encode_as(name, m, 4), geometry=Geometry(
        (5, 3), (5, 3), (1, 1), (1, 1), (0, 0), in_c=6))
    assert once["fills"] == 30.0


def test_sweep_features_count_taps_inside_the_input_by_run():
    # one channel, every one of the 9 taps non-zero
    from tinycompress.layouts.sweep import Geometry, sweep_features

    layout = layouts.encode_as("csr", np.ones((1, 9), dtype=np.int64), 4, col_map=np.arange(9))
    # 4 x 4 'same' (pad 1): rows 0 and 3 keep 2 kernel rows, 1 and 2 all 3 (columns alike).
    # Work per pixel: corner 4 taps, edge 6, inside 9; 4*4 + 8*6 + 4*9 = 100 products.
    # By rows, each output row's runs: edge column (1 pixel), the middle 2 (a pair), edge.
    # By rectangles: 4 corners (single pixels), 4 edges of 2 (a pair each), the 2 x 2
    # middle (2 lines of a pair); the partitions scan all 9 entries for each of the 2
    # border row classes, then the row class's entries (6, 9, 6) for each border column.
    # The engine's mode picks the way counted: depthwise on 8 channels copies more (6 x 6 x 8
    # = 288 B) than its tap lists take (72 + 176): by rows; with the least scratch: by
    # rectangles; a conv2d on one channel: the padded copy (36 B), every tap at every pixel.
    # By rows the 9 entries are first sorted into the channel's tap lists (tap_sorts).
    same = ((4, 4), (4, 4), (3, 3), (1, 1), (1, 1))
    zero = dict.fromkeys(("w_quad", "w_pair", "w_single", "sweep_runs", "sweep_groups", "r_quad",
                          "r_pair", "r_single", "rect_lines", "rect_groups", "rect_scan",
                          "pad_copy", "band_chans", "band_entries", "band_fill", "band_rows",
                          "band_bytes", "tap_sorts"), 0.0)
    f = sweep_features(layout, Geometry(*same, in_c=8, depthwise=True))
    assert f == {**zero, "w_pair": 2 * (6 + 9 + 9 + 6), "w_single": 4 + 4 + 6 + 6 + 6 + 6 + 4 + 4,
                 "sweep_runs": 12.0, "sweep_groups": 12.0, "sweep_classes": 9.0, "tap_sorts": 9.0}
    f = sweep_features(layout, Geometry(*same, in_c=8, depthwise=True, least=True))
    assert f == {**zero, "r_pair": 4 * 2 * 6 + 2 * 2 * 9, "r_single": 4 * 4.0, "rect_lines": 10.0,
                 "rect_groups": 10.0, "rect_scan": 2 * 9 + 2 * (6 + 9 + 6), "sweep_classes": 9.0}
    f = sweep_features(layout, Geometry(*same, in_c=1))
    assert f == {**zero, "w_quad": 16 * 9.0, "sweep_runs": 1.0, "sweep_groups": 4.0,
                 "pad_copy": 36.0, "sweep_classes": 1.0}
    # 'valid' on 6 x 6: no padding, the 16 pixels one run of four quads
    f = sweep_features(layout, Geometry((6, 6), (4, 4), (3, 3), (1, 1), (0, 0)))
    assert (f["w_quad"], f["w_pair"], f["w_single"], f["sweep_runs"]) == (16 * 9.0, 0.0, 0.0, 1.0)
    assert (f["r_quad"], f["rect_lines"], f["rect_scan"], f["sweep_classes"]) == (0.0, 0.0, 0.0, 1.0)


def test_sweep_features_count_bands_where_the_list_leaves_room():
    # conv2d, one input channel, 3x3 'same' on 8x8, least scratch: the list of K = 9 entries.
    # A channel of one non-zero leaves 8 * 8 = 64 bytes, 6 rows of the padded width 10:
    # bands of (6 - 3) + 1 = 4 output rows, each copying 6 padded rows, 8 bytes of input
    # each (the padding columns written once: 6 x 10 = 60 bytes); a band's 32 pixels are
    # one line of 8 quads. A channel of all 9 has no room: rectangles, as alone.
    from tinycompress.layouts.sweep import Geometry, sweep_features

    g = Geometry((8, 8), (8, 8), (3, 3), (1, 1), (1, 1), in_c=1, least=True)
    one = np.zeros((1, 9), dtype=np.int64)
    one[0, 4] = 3
    full = np.ones((1, 9), dtype=np.int64)
    f = sweep_features(layouts.encode_as("csr", one, 4, col_map=np.arange(9)), g)
    bands = {"band_chans": 1.0, "band_entries": 1.0, "band_fill": 60.0, "band_rows": 12.0,
             "band_bytes": 96.0, "w_quad": 2 * 32.0, "sweep_groups": 16.0, "sweep_runs": 2.0}
    assert {k: v for k, v in f.items() if v} == bands
    rect = sweep_features(layouts.encode_as("csr", full, 4, col_map=np.arange(9)), g)
    assert rect["band_chans"] == 0 and rect["rect_lines"] > 0
    both = sweep_features(layouts.encode_as("csr", np.vstack([one, full]), 4,
                                            col_map=np.arange(9)), g)
    assert both == {k: rect[k] + f[k] for k in rect}
    # without the least scratch the same channel reads the padded copy: no bands
    f = sweep_features(layouts.encode_as("csr", one, 4, col_map=np.arange(9)), g._replace(least=False))
    assert f["band_chans"] == 0 and f["pad_copy"] == 100.0


def test_cost_model_keys_a_dense_conv_on_its_general_path():
    # tc_conv2d_dense_s8 takes its DSP path with its full scratch and an even number of
    # output channels; with its least scratch or odd channels, its general path
    from tinycompress.layouts.cost import layout_key, table_entry
    from tinycompress.layouts.sweep import Geometry

    shape = ((8, 8), (8, 8), (3, 3), (1, 1), (1, 1))
    even = layouts.encode_as("dense", np.ones((4, 9), dtype=np.int64), 4, col_map=np.arange(9))
    odd = layouts.encode_as("dense", np.ones((3, 9), dtype=np.int64), 4, col_map=np.arange(9))
    assert layout_key(even, "conv", Geometry(*shape)) == "dense4"
    assert layout_key(even, "conv", Geometry(*shape, least=True)) == "dense4_general"
    assert layout_key(odd, "conv", Geometry(*shape)) == "dense4_general"
    assert layout_key(even, "fc") == "dense4"
    assert layout_key(even, "dwconv3", Geometry(*shape, least=True)) == "dense4"
    assert layout_key(even, "conv", Geometry(*shape, short_rq=False)) == "dense4_general"
    # a table without the general path's entries gives the DSP path's
    table = {"kinds": {"conv": {"dense4": {"per_call": 1.0}}}}
    assert table_entry(table, "conv", "dense4_general") == {"per_call": 1.0}


def test_short_requant_follows_the_dense_engines_forms():
    # tc_dense_rq_init: shifts -23..-2 are the short form; -1 and above (multipliers >= 0.5)
    # the long one, made short on acc * 2^p (p = 2 + shift) below 8 bits when p <= 8 - bits
    # and |bias| + cols * 2^(bits-1) * 128 < 2^(31-p); below -23 tc_out_row
    from tinycompress.layouts.cost import short_requant

    assert short_requant([-9, -2, -23], [5, 5, 5], 8, 27)
    assert not short_requant([-9, -24], [5, 5], 8, 27)
    assert not short_requant([-1], [0], 8, 27)  # 8 bits: no room to shift the accumulator
    assert short_requant([-1], [0], 2, 27)  # p = 1 <= 6; 27 * 2 * 128 = 6,912 < 2^30
    assert not short_requant([5], [0], 2, 27)  # p = 7 > 6
    assert short_requant([4], [0], 2, 27)  # p = 6; 6,912 < 2^25
    assert not short_requant([4], [2 ** 25], 2, 27)  # the bias breaks the bound
    assert not short_requant([8], [1, 0, 1], 8, 27)  # one shift for every row (per tensor)
    assert short_requant([-8], [1, 0, 1], 8, 27)


def test_planar_features_follow_the_depthwise_kernels_layout():
    # tc_dwconv2d_dense_s8's 3x3 path: 8 x 8 'same' stride 1, 8 channels: whole channels
    # (10 rows of (8 + 4) columns <= 256 values), 8 sweeps of 8 outputs per channel, two passes
    from tinycompress.layouts.sweep import Geometry, planar_features

    f = planar_features(Geometry((8, 8), (8, 8), (3, 3), (1, 1), (1, 1), in_c=8, depthwise=True))
    assert f == {"plane_values": 8 * 8 * 8.0, "plane_bands": 2.0, "plane_fill": 4 * 10 * 12.0,
                 "plane_sweeps": 64.0, "plane_tails": 0.0}
    # 32 x 32 at stride 2 to 16 x 16: a ring of 3 output rows (7 rows of 34 columns)
    f = planar_features(Geometry((32, 32), (16, 16), (3, 3), (2, 2), (0, 0), 4, True))
    assert (f["plane_bands"], f["plane_fill"], f["plane_tails"]) == (6.0, 4 * 7 * 34.0, 0.0)
    assert planar_features(Geometry((8, 8), (8, 8), (5, 5), (1, 1), (2, 2), 8, True)) == {}
