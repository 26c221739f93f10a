"""The bench's own logic: entropy bound, budget/selection, FC ratio, results schema and targets.

No full bench here (it takes half an hour): the schema writer and the
target checks run on a tiny hand-made results document.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import configs, markdown, results
from bench.model_bench import fc_ratios
from tinycompress.report.entropy import entropy_bits_per_weight, entropy_bound_bytes, graph_entropy_bounds, ratio


def test_entropy_bound_of_hand_derived_levels():
    # 8 weights: level 0 x4, 1 x2, -1 x1, 3 x1 -> p = 1/2, 1/4, 1/8, 1/8
    # H0 = 1/2*1 + 1/4*2 + 2 * 1/8*3 = 1.75 bits per weight; 8 weights -> 14 bits = 1.75 bytes
    levels = np.array([[0, 0, 1, -1], [0, 3, 0, 1]], dtype=np.int8)
    assert entropy_bits_per_weight(levels) == pytest.approx(1.75)
    assert entropy_bound_bytes(levels) == pytest.approx(1.75)


def test_entropy_bound_counts_zeros_and_single_value_is_zero():
    # 3 zeros and one 2: H0 = -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.811278 bits; x4 / 8 bytes
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert entropy_bound_bytes(np.array([0, 0, 0, 2])) == pytest.approx(h * 4 / 8)
    assert entropy_bound_bytes(np.full((5, 7), -3)) == 0.0
    assert entropy_bound_bytes(np.zeros((0,), np.int8)) == 0.0
    assert ratio(10, 0.0) is None and ratio(13, 10) == pytest.approx(1.3)


def test_graph_entropy_bounds_per_weight_node():
    class Node:  # only what the function reads: name and levels of weight nodes
        def __init__(self, name, levels):
            self.name, self.levels = name, np.asarray(levels)

    class QGraph:
        weight_nodes = [Node("a", [0, 1]), Node("b", [[2, 2], [2, 2]])]

    # a: two equiprobable levels -> 1 bit x 2 = 0.25 B; b: one value -> 0
    assert graph_entropy_bounds(QGraph()) == {"a": 0.25, "b": 0.0}


def test_budget_and_smallest_point():
    # float 96.67 %: 95.67 % is exactly 1.00 pt below (inside), 95.66 % is not
    assert configs.within_budget(0.9567, 0.9667)
    assert not configs.within_budget(0.9566, 0.9667)
    p = lambda b, a: configs.Point(Path("m"), {"bits": b}, b * 1000, a)  # noqa: E731
    pts = [p(5, 0.97), p(3, 0.90), p(4, 0.962), p(4, 0.965)]
    best = configs.smallest(pts, 0.9667)
    assert best.weight_bytes == 4000 and best.accuracy == 0.965  # 3 kB is 6.7 pt below
    assert configs.smallest([p(3, 0.5)], 0.9667) is None


def test_fc_ratio_sums_dense_op_layers_only():
    def cell(fc1, conv):
        return {"layers": [{"name": "c", "op": "conv2d", "instructions": conv},
                           {"name": "f1", "op": "dense", "instructions": fc1},
                           {"name": "f2", "op": "dense", "instructions": 100.0}]}
    cells = {"dense": {90: cell(900.0, 5.0)}, "cer": {90: cell(400.0, 999.0)},
             "csr": {90: {"error": "ToolError: x"}}}
    # cer FC = 400 + 100 = 500, dense FC = 900 + 100 = 1000 -> 0.5; conv counts ignored
    assert fc_ratios(cells) == {"dense": 1.0, "cer": 0.5, "csr": None}


def _fake_document() -> dict:
    config = lambda name, wb, flash, ram, acc, bound: {  # noqa: E731
        "name": name, "weight_bytes": wb, "flash_bytes": flash, "ram_bytes": ram, "accuracy": acc,
        "entropy_bound_bytes": bound, "weight_over_bound": wb / bound, "layers": [], "bit_exact": True}
    digits = {
        "float_weight_bytes": 117800, "tflite_int8_bytes": 41000, "tflm_arena_bytes": 6896,
        "labelled": True, "model_file": "examples/digits/model.keras",
        "configs": [config("int8-dense", 31000, 39000, 3000, 0.96, 28000.0),
                    config("smallest-within-1pt", 3900, 11000, 3500, 0.962, 3200.0)],
        "instructions": {"dense": {"0": 600000.0, "90": 600000.0}, "cer": {"0": 5e6, "90": 2e5}},
        "fc_ratio_90": {"dense": 1.0, "cer": 0.45, "cser": 0.6},
        "accuracy": {"float": 0.9667, "tflite_int8": 0.9667, "ours": {}},
        "cli_timing": {"build_seconds": 12.0, "sim100_seconds": 11.0, "sim_n_inputs": 100,
                       "sim_bit_exact": True, "command_build": "tinycompress build ...",
                       "command_sim": "tinycompress sim ..."},
    }
    doc = results.new_document("bench/run.py --quick", quick=True)
    doc["models"] = {"digits": digits, "mlperf_ad": {"skipped": "model file not found"}}
    return results.finish(doc, 1.5)


def test_results_json_has_the_issue_schema(tmp_path):
    doc = _fake_document()
    path = results.write_json(doc, tmp_path / "results.json")
    back = json.loads(path.read_text())
    assert results.schema_problems(back) == []
    gen = back["generated"]
    assert gen["date"] and gen["machine"]["cores"] >= 1 and gen["versions"]["python"]
    assert gen["run_seconds"] == 1.5
    assert set(back["models"]) == {"digits", "mlperf_ad"}
    del back["models"]["digits"]["instructions"]
    back["models"]["digits"]["configs"][0].pop("flash_bytes")
    assert results.schema_problems(back) == ["digits: missing instructions",
                                             "digits/int8-dense: missing flash_bytes"]


def test_targets_pass_and_miss_from_measured_values():
    status = {c["what"]: (c["status"], c["measured"]) for c in _fake_document()["targets"]}
    get = lambda part: next(v for k, v in status.items() if part in k)  # noqa: E731
    # float 96.67 %, 8-bit dense 96.00 % -> 0.67 pt drop > 0.5
    assert get("8-bit dense") == ("MISS", "0.67 pt")
    assert get("total weight bytes") == ("PASS", "3,900 B")
    assert get("firmware flash") == ("PASS", "11,000 B")
    assert get("RAM") == ("MISS", "3,500 B")            # 3,500 > 3,400
    assert get("sim` of 100") == ("MISS", "11.0 s")
    assert get("TFLite int8 file") == ("PASS", "0.095 (3,900 B / 41,000 B)")  # 3900/41000
    assert get("CER, CSER") == ("PASS", "0.45x")         # min(0.45, 0.6)
    assert get("entropy bound") == ("PASS", "1.22x")     # 3900 / 3200 = 1.21875


def test_targets_not_measured_when_digits_is_absent():
    doc = results.finish({"generated": {"run_seconds": None}, "models": {}}, 0.0)
    assert {c["status"] for c in doc["targets"]} == {"N/A"}


def test_markdown_lists_targets_and_skipped_models():
    text = markdown.render(_fake_document())
    assert "## Targets" in text and "**MISS**" in text and "**PASS**" in text
    assert "Skipped: model file not found" in text
    assert "SMLAD" in text and "ESTIMATE" in text


def _speed_cell(instructions: float, macs: int, anchor: float | None) -> dict:
    return {"instructions_per_inference": instructions, "per_mac": instructions / macs,
            "ratio_to_anchor": None if anchor is None else instructions / anchor,
            "weight_bytes": 1000, "bit_exact": True,
            "layers": [{"name": "conv", "op": "conv2d", "layout": "dense", "instructions": instructions,
                        "macs": macs, "per_mac": instructions / macs}]}


def test_speed_targets_against_the_anchor_cycles():
    from bench import speed, targets

    # 165.1 ms at 120 MHz = 19,812,000 cycles; 43.2 ms = 5,184,000
    assert speed.anchor_cycles("mlperf_ic") == pytest.approx(19_812_000)
    assert speed.anchor_cycles("ds_cnn") == pytest.approx(5_184_000)
    assert speed.anchor_cycles("digits") is None
    sp = {"mlperf_ic": {"macs": 1000, "anchor_cycles": 19_812_000.0,
                        "configs": {"int8-dense": _speed_cell(30e6, 1000, 19_812_000.0)}},
          "ds_cnn": {"macs": 1000, "anchor_cycles": 5_184_000.0,
                     "configs": {"int8-dense": _speed_cell(5e6, 1000, 5_184_000.0)}}}
    digits = {"configs": [{"name": "int8-dense", "instructions_per_inference": 400_000.0},
                          {"name": "smallest-within-1pt-at-default", "instructions_per_inference": 180_000.0}]}
    rows = {c.what: (c.status, c.measured) for c in targets.speed_checks(sp, digits)}
    get = lambda part: next(v for k, v in rows.items() if part in k)  # noqa: E731
    assert get("IC ResNet-8") == ("MISS", "30.00 M (1.51x)")   # 30e6 / 19.812e6
    assert get("DS-CNN") == ("PASS", "5.00 M (0.96x)")
    assert get("MobileNetV1")[0] == "N/A"
    assert get("digits") == ("PASS", "0.45x")                  # 180k / 400k
    text = "\n".join(markdown.speed_section(sp))
    assert "| mlperf_ic | int8-dense | 30,000,000 | 1,000 | 30000.00 | 19,812,000 | 1.51x |" in text


@pytest.mark.slow
def test_speed_models_have_the_published_architectures(tmp_path):
    from bench import speed

    paths = speed.built_models(tmp_path)
    macs = {name: sum(speed.layer_macs(path).values()) for name, path in paths.items()}
    # MobileNetV1 0.25 at 96x96: about 7.5 M MACs (the visual-wake-words network)
    assert 7.4e6 < macs["mobilenet_v1_025"] < 7.6e6
    # DS-CNN: conv 10x4x1x64 over 25x5 outputs = 320,000 MACs, four blocks of depthwise
    # 3x3x64 (72,000) + pointwise 64x64 (512,000) over 25x5, dense 64x12 = 768
    assert macs["ds_cnn"] == 320_000 + 4 * (72_000 + 512_000) + 768
