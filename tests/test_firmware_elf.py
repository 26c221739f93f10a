"""Target tier: one model with every op and every weight layout, built with -Werror for a
Cortex-M4F and a Cortex-M3 board, and its ELFs read back with binutils.

`models.every_op_model` has every op of the Graph and five layers of each weight op;
the spec below puts each weight op in every layout (pcsr included), so the projects
compile every kernel a generated model can use. Both builds go through
`pipeline.build` with `-Werror` appended to every compile by PlatformIO's
PLATFORMIO_BUILD_FLAGS (the generated sources and platformio.ini are untouched; that
the variable makes a warning fail a build is checked on a one-file project).

Checked against the ELF, not against the code under test:
- the M4F build (mps2_an386) takes the DSP path: its disassembly holds SMLAD; the M3
  build (mps2_an385) holds none;
- weight bytes: `arm-none-eabi-nm -S` gives each const array its own size; per weight
  layer, the sizes of the arrays the generated tc_model.c defines under that layer's
  banner add up to the layer's weight_bytes in build-report.json (the compress
  result), and all of them to the report's total and TC_MODEL_WEIGHT_BYTES. The report counts each array's own
  bytes and no padding; GCC (-O2, ARM) aligns each array to 4 bytes, so the gaps
  between arrays are left out of both sides (nm sizes, not address spans);
- both firmwares are bit-exact in QEMU against the integer reference.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests import models
from tinycompress.compress.core import CompressOptions
from tinycompress.errors import ToolError
from tinycompress.ir.graph import WEIGHT_OPS
from tinycompress.layouts import LAYOUT_NAMES
from tinycompress.pipeline import build
from tinycompress.target.pio import run_pio
from tinycompress.target.sim import simulate

pytestmark = pytest.mark.target
STRICT = "-Werror"
BOARDS = {"mps2_an386": "v7E-M", "mps2_an385": "v7"}  # board -> its ELF's Tag_CPU_arch
# layer -> (layout, bits): every weight op in every layout, widths 2..8. fc0 is dense at
# 8 bits: the loop that multiplies with SMLAD when the core has the DSP extension.
PLAN = {
    "conv0": ("dense", 4), "conv1": ("csr", 8), "conv2": ("cer", 3), "conv3": ("cser", 6),
    "conv4": ("pcsr", 5),
    "dw0": ("dense", 2), "dw1": ("csr", 5), "dw2": ("cer", 8), "dw3": ("cser", 4), "dw4": ("pcsr", 7),
    "fc0": ("dense", 8), "fc1": ("csr", 3), "fc2": ("cer", 6), "fc3": ("cser", 5), "fc4": ("pcsr", 4),
}
C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4}
WEIGHT_BANNER = re.compile(r"^/\* ---- (\S+): (\w+), (\w+), (\d+) B ---- \*/$")
ARRAY = re.compile(r"^static const (\w+) (\w+)\[(\d+)\] = \{$")


@pytest.fixture(scope="module")
def strict_builds(tmp_path_factory, offline_core):
    """board -> BuildResult of every_op_model under PLAN, compiled with -Werror."""
    root = tmp_path_factory.mktemp("every_op")
    models.every_op_model().save(root / "every_op.keras")
    options = CompressOptions(sparsity=0.5, scope="layer", layers={
        name: {"layout": lay, "bits": bits} for name, (lay, bits) in PLAN.items()})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATFORMIO_BUILD_FLAGS", STRICT)
        return {board: build(root / "every_op.keras", board, root / board, options=options)
                for board in BOARDS}


def _tool(*cmd) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_warnings_fail_the_build_under_the_strict_flags(firmware_project, tmp_path, monkeypatch):
    # the mechanism strict_builds relies on: PLATFORMIO_BUILD_FLAGS reaches the compiler
    project = firmware_project(tmp_path / "warn", "mps2_an386", {
        "src/main.c": "int main(void)\n{\n    int unused = 0;\n    return 0;\n}\n"})
    monkeypatch.setenv("PLATFORMIO_BUILD_FLAGS", STRICT)
    with pytest.raises(ToolError, match=r"unused variable 'unused' \[-Werror=unused-variable\]"):
        run_pio(project, env="sim")


def test_builds_have_every_weight_op_in_every_layout(strict_builds):
    for board, result in strict_builds.items():
        layers = result.report["layers"]
        assert {l["name"]: (l["layout"], l["bits"]) for l in layers} == PLAN, board
        assert {(l["op"], l["layout"]) for l in layers} == \
            {(op, lay) for op in WEIGHT_OPS for lay in LAYOUT_NAMES}, board
        kernels = set(result.report["kernels"])
        assert {f"tc_{k}_{lay}_s8.c" for k in ("fc", "conv2d", "dwconv2d") for lay in LAYOUT_NAMES} <= kernels


@pytest.mark.parametrize("board,smlad", [("mps2_an386", True), ("mps2_an385", False)])
def test_dsp_path_only_on_the_m4(strict_builds, board, smlad):
    elf = strict_builds[board].out_dir / "firmware_sim.elf"
    # ARMv7E-M is ARMv7-M with the DSP extension (Cortex-M4); the M3 is plain ARMv7-M
    assert f"Tag_CPU_arch: {BOARDS[board]}\n" in _tool("arm-none-eabi-readelf", "-A", str(elf))
    found, function = [], None
    for line in _tool("arm-none-eabi-objdump", "-d", str(elf)).splitlines():
        if line.endswith(">:"):
            function = line.split()[-1]
        elif "\tsmlad\t" in line:
            found.append(function)
    assert bool(found) == smlad, f"{board}: SMLAD in {sorted(set(found))}"


def weight_arrays(model_c: str) -> dict[str, dict[str, int]]:
    """weight layer -> {array: bytes from its declaration}, from the generated tc_model.c:
    the const arrays between a weight layer's banner and the next banner."""
    layers, current = {}, None
    for line in model_c.splitlines():
        if line.startswith("/* ---- "):
            banner = WEIGHT_BANNER.match(line)
            current = banner.group(1) if banner else None
            if current:
                layers[current] = {}
        elif current and (array := ARRAY.match(line)):
            ctype, name, count = array.groups()
            layers[current][name] = C_SIZES[ctype] * int(count)
    return layers


def symbol_sizes(elf: Path) -> dict[str, list[int]]:
    """symbol -> sizes (`arm-none-eabi-nm -S --size-sort`: symbols that have a size)."""
    sizes: dict[str, list[int]] = {}
    for line in _tool("arm-none-eabi-nm", "-S", "--size-sort", str(elf)).splitlines():
        _, size, _, name = line.split()
        sizes.setdefault(name, []).append(int(size, 16))
    return sizes


@pytest.mark.parametrize("board", list(BOARDS))
def test_weight_bytes_are_the_linked_array_sizes(strict_builds, board):
    out = strict_builds[board].out_dir
    report = json.loads((out / "build-report.json").read_text())
    arrays = weight_arrays((out / "src" / "tc_model.c").read_text())
    sizes = symbol_sizes(out / "firmware_sim.elf")
    assert set(arrays) == set(PLAN)
    linked = {}
    for layer, declared in arrays.items():
        for name, nbytes in declared.items():
            assert sizes.get(name) == [nbytes], f"{layer}: {name} is {nbytes} B in tc_model.c, nm: {sizes.get(name)}"
        linked[layer] = sum(sizes[name][0] for name in declared)
    assert {l["name"]: l["weight_bytes"] for l in report["layers"]} == linked
    total = sum(linked.values())
    assert report["weight_bytes"] == total
    assert f"#define TC_MODEL_WEIGHT_BYTES {total}\n" in (out / "src" / "tc_model.h").read_text()


@pytest.mark.parametrize("board", list(BOARDS))
def test_strict_builds_bit_exact_in_qemu(strict_builds, board):
    sim = simulate(strict_builds[board].out_dir, n=4)
    assert sim.bit_exact, (f"{board}: {sim.mismatches[:3]}, first divergent layer "
                           f"{sim.first_divergent_layer}")
    assert sim.n_inputs == 4 and all(l["instructions"] > 0 for l in sim.layers)
