"""The stack reserve, measured (target.stack): GCC's frames over the call graph."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tinycompress.target.stack import (STACK_FLAGS, STACK_MARGIN, deepest_chain, measure,
                                       parse_callgraph, reserve_for)

# A call graph as GCC writes it (-fcallgraph-info=su), by hand: Reset_Handler 8 -> main 120
# -> run 32 -> {conv 136 -> pack 64, pool 176}; run also calls through a pointer, and the
# only function no direct call reaches is hook (40 -> memcpy, no frame). Deepest:
# 8 + 120 + 32 + max(136 + 64, 176, 40) = 360.
CI = r'''graph: { title: "m.c"
node: { title: "Reset_Handler" label: "Reset_Handler\nm.c:1:1\n8 bytes (static)" }
node: { title: "main" label: "main\nm.c:2:1\n120 bytes (static)" }
node: { title: "run" label: "run\nm.c:3:1\n32 bytes (static)" }
node: { title: "conv" label: "conv\nk.c:4:1\n136 bytes (static)" }
node: { title: "k.c:pack" label: "pack\nk.c:5:1\n64 bytes (dynamic,bounded)" }
node: { title: "pool" label: "pool\np.c:6:1\n176 bytes (static)" }
node: { title: "m.c:hook" label: "hook\nm.c:7:1\n40 bytes (static)" }
node: { title: "memcpy" label: "memcpy\nstring.h:1:1" shape : ellipse }
edge: { sourcename: "Reset_Handler" targetname: "main" label: "m.c:1:2" }
edge: { sourcename: "main" targetname: "run" label: "m.c:2:2" }
edge: { sourcename: "run" targetname: "conv" label: "m.c:3:2" }
edge: { sourcename: "run" targetname: "pool" label: "m.c:3:3" }
edge: { sourcename: "run" targetname: "__indirect_call" label: "m.c:3:4" }
edge: { sourcename: "conv" targetname: "k.c:pack" label: "k.c:4:2" }
edge: { sourcename: "m.c:hook" targetname: "memcpy" label: "m.c:7:2" }
}
'''


def test_deepest_chain_by_hand():
    frames, calls = parse_callgraph([CI])
    assert frames["k.c:pack"] == (64, "dynamic,bounded") and "memcpy" not in frames
    total, chain, unknown = deepest_chain(frames, calls)
    assert total == 360
    assert chain == [("Reset_Handler", 8), ("main", 120), ("run", 32), ("conv", 136), ("pack", 64)]
    assert unknown == ["memcpy"]
    assert reserve_for(total) == 360 + STACK_MARGIN  # already a multiple of 8
    assert reserve_for(361) == 361 + STACK_MARGIN + 7


def test_recursion_is_unbounded():
    ci = CI.replace('edge: { sourcename: "conv" targetname: "k.c:pack"',
                    'edge: { sourcename: "k.c:pack" targetname: "run" label: "k.c:5:2" }\n'
                    'edge: { sourcename: "conv" targetname: "k.c:pack"')
    with pytest.raises(ValueError, match="recursion through"):
        deepest_chain(*parse_callgraph([ci]))


def test_real_gcc_frames(tmp_path):
    # leaf() keeps a 200-byte volatile array; caller() calls it: GCC's frames, joined.
    src = tmp_path / "t.c"
    src.write_text("__attribute__((noinline)) int leaf(int i) { volatile char b[200]; b[i] = 1; "
                   "return b[3]; }\n"
                   "int main(void) { return leaf(7) + 1; }\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", *STACK_FLAGS,
                    "-c", str(src), "-o", str(tmp_path / "t.o")], check=True, cwd=tmp_path)
    report = measure([tmp_path])
    names = [f for f, _ in report.chain]
    assert names == ["main", "leaf"] and report.chain[1][1] >= 200
    assert report.bytes == sum(b for _, b in report.chain)


@pytest.mark.target
def test_build_links_the_measured_reserve(tmp_path):
    from tinycompress.compress import CompressOptions
    from tinycompress.data import DIGITS_MODEL
    from tinycompress.pipeline import build, elf_sections

    out = tmp_path / "digits"
    result = build(DIGITS_MODEL, "nucleo", out, options=CompressOptions.from_settings(
        {"bits": 8, "sparsity": 0.0, "layout": "dense"}))
    mem = json.loads((out / "build-report.json").read_text())["memory"]
    stack = mem["stack"]
    assert stack["reserve_bytes"] == reserve_for(stack["measured_bytes"])
    assert stack["chain"][0]["function"] == "Reset_Handler"
    assert any(f["function"] == "tc_model_run" for f in stack["chain"])
    # each firmware links its own build's reserve (the report's is the board's); the QEMU
    # one reads files and may dump every layer, never less deep than the board's
    sim = measure([out / ".pio" / "build" / "sim"]).reserve
    assert sim >= stack["reserve_bytes"]
    for elf, reserve in (("firmware.elf", stack["reserve_bytes"]), ("firmware_sim.elf", sim)):
        assert reserve <= elf_sections(out / elf)[".stack"] < reserve + 8  # 8-aligned after .bss
    assert mem["ram_bytes"] == mem["arena_bytes"] + mem["stack_bytes"] + mem["static_bytes"]
    assert mem["stack_bytes"] == result.report["stack_bytes"]
    assert "bytes[TC_MODEL_ARENA_BYTES]" in (out / "src" / "tc_model.c").read_text()
    assert f"#define TC_MODEL_ARENA_BYTES {mem['arena_bytes']}" in (out / "src" / "tc_model.h").read_text()


def test_pointer_targets_that_call_through_pointers():
    # run -> (ptr) rows 24 -> (ptr) loop 300: a target calling through a pointer is charged
    # the other targets (not itself): 8 + 120 + 32 + 24 + 300 = 484 beats conv's 360.
    ci = CI.replace('}\n', '', 0) + '''node: { title: "rows" label: "rows\\nr.c:1:1\\n24 bytes (static)" }
node: { title: "r.c:loop" label: "loop\\nr.c:2:1\\n300 bytes (static)" }
edge: { sourcename: "rows" targetname: "__indirect_call" label: "r.c:1:2" }
'''
    total, chain, _ = deepest_chain(*parse_callgraph([ci]))
    assert total == 484
    assert [f for f, _ in chain] == ["Reset_Handler", "main", "run", "rows", "loop"]
