"""bench/ram.py: the RAM table says which targets were met and which missed."""
from __future__ import annotations

from bench.ram import TARGETS, markdown


def _row(arena: int, tflm: int, target):
    return {"arena_bytes": arena, "arena_bytes_before": arena + 100, "stack_bytes": 700,
            "stack_measured_bytes": 444, "arena_plus_stack_bytes": arena + 700,
            "tflm_arena_bytes": tflm, "arena_ratio": arena / tflm, "target_ratio": target,
            "meets_target": None if target is None else arena / tflm <= target,
            "peak_layer": "conv", "peak_op": "conv2d", "bit_exact": True}


def test_ram_table_marks_targets():
    text = markdown({"mlperf_ic": _row(6100, 10000, 0.6), "ds_cnn": _row(5000, 10000, 0.6),
                     "digits": _row(1920, 6896, None), "broken": {"error": "ToolError: x"}})
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "0.61x | <= 0.6: MISSED" in lines["mlperf_ic"]
    assert "0.50x | <= 0.6: met" in lines["ds_cnn"]
    assert "0.28x |  |" in lines["digits"] and "6,100 | 700 (444) | 6,800" in lines["mlperf_ic"]
    assert "ToolError: x" in lines["broken"]
    assert set(TARGETS) == {"mlperf_ic", "mobilenet_v1_025", "ds_cnn"}


def test_ram_table_has_the_patch_rows():
    applied = {"applied": True, "reason": "", "layers": ["dw1", "pw1", "dw2"], "bands": 4,
               "extra_macs": 28800, "extra_macs_fraction": 0.053, "extra_instructions": 156309,
               "extra_instructions_fraction": 0.0096, "arena_bytes": 28776,
               "arena_ratio": 28776 / 103552, "target_ratio": 0.35, "meets_target": True,
               "bit_exact": True}
    none = {**applied, "applied": False, "reason": "no band split lowers the arena",
            "arena_bytes": 5000, "arena_ratio": 0.5, "target_ratio": None, "meets_target": None}
    text = markdown({"mobilenet_v1_025": {**_row(37240, 103552, 0.6), "patch": applied},
                     "ds_cnn": {**_row(5000, 10000, 0.6), "patch": none}})
    rows = [line for line in text.splitlines() if "bands" in line or "none:" in line]
    assert "| mobilenet_v1_025 | dw1, pw1, dw2 in 4 bands | 28,776 | 0.278x | <= 0.35: met | " \
           "28,800 (5.3% of the chain's) | +156,309 (+0.96%) | True |" in rows
    assert any(r.startswith("| ds_cnn | none: no band split lowers the arena | 5,000 | 0.500x") for r in rows)
