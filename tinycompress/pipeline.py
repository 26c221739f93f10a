"""`tinycompress build`: a model -> compressed, compiled firmware in one directory.

    result = build("model.keras", "nucleo", "build/", options=CompressOptions(bits=4, sparsity=0.9))

The stages chained: frontend + compress (`compress.compress`: load -> plan ->
prune -> quantize -> layouts) -> codegen (`codegen.render`) -> target:
PlatformIO project -> `pio run` (env sim; and hw for real boards) -> sizes
from the ELF -> fit check -> build-report.json. Everything is written to a
temporary directory next to DIR and renamed at the end, so a failed build
leaves no DIR behind (project.staged).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinycompress.target.boards import Board, load_board
from tinycompress.compress.core import Model, compress
from tinycompress.compress.options import CompressOptions
from tinycompress.compress.results import planned_estimates
from tinycompress.data import Dataset, load_npz
from tinycompress.errors import BoardError, SpecError, ToolError
from tinycompress.target.power_data import energy_flags
from tinycompress.target.project import STACK_SIZE, check_output_dir, fit_stack, staged, write_project
from tinycompress.report.memory import memory_section, peak_text
from tinycompress.codegen.patch import MODES as PATCH_MODES
from tinycompress.codegen.render import Rendered, render
from tinycompress.target.pio import run_pio_envs
from tinycompress.target.sim import SIM_ELF, layer_ticks
from tinycompress.target.state import save_state

Progress = Callable[[str, int, int], None]
REPORT_FILE = "build-report.json"
HW_ELF = "firmware.elf"
STAGES = ("compress", "render", "compile", "report")
FIRMWARE_MODES = ("normal", "energy")  # energy: windows for a power meter (templates/main.c.j2)
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


@dataclass
class BuildResult:
    out_dir: Path
    report: dict
    seconds: float


def _data(data: Path | None, val_data: Path | None, eval_data: Path | None
          ) -> tuple[Dataset | None, Dataset | None, Dataset | None, str | None]:
    """(data, validation data, eval data, the file sim reuses: eval data, else data).

    Each is read only from the file given: what data a build uses never
    depends on the model's file name.
    """
    read = [None if path is None else load_npz(path) for path in (data, val_data, eval_data)]
    source = next((p for p in (eval_data, data) if p is not None), None)
    return read[0], read[1], read[2], None if source is None else str(Path(source).resolve())


def elf_sections(elf: Path) -> dict[str, int]:
    """Section sizes of an ELF (arm-none-eabi-size -A)."""
    try:
        out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"arm-none-eabi-size failed on {elf}: {exc}") from exc
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", out, re.M)}


def memory_use(elf: Path) -> dict[str, int]:
    """flash = text + rodata + data (+ vectors, exidx); ram = data + bss + stack reserve."""
    s = elf_sections(elf)
    return {"flash_bytes": sum(s.get(k, 0) for k in FLASH_SECTIONS),
            "ram_bytes": sum(s.get(k, 0) for k in RAM_SECTIONS),
            "stack_bytes": s.get(".stack", 0)}


def _breakdown(weights: int, code: int | None, arena: int, stack: int) -> str:
    code_text = "code not compiled yet" if code is None else f"code and tables {code:,} B"
    return f"weights {weights:,} B, {code_text}, arena {arena:,} B, stack {stack:,} B"


HINT = "try more sparsity (--sparsity), fewer bits (--bits) or a bigger board (tinycompress boards)"


def check_fit(board: Board, weights: int, arena: int, stack: int = STACK_SIZE, peak: str = "") -> None:
    """BoardError before compiling when weights alone exceed flash or arena + stack exceed RAM
    (`peak`: where the arena peaks, named when RAM is what does not fit)."""
    if weights > board.flash.size or arena + stack > board.ram.size:
        where = f"; {peak}" if peak and arena + stack > board.ram.size else ""
        raise BoardError(f"model does not fit {board.name} (flash {board.flash.size:,} B, RAM "
                         f"{board.ram.size:,} B): {_breakdown(weights, None, arena, stack)}{where}; {HINT}")


def _link_overflow(exc: ToolError, board: Board, rendered: Rendered) -> BoardError | None:
    found = dict(re.findall(r"region `(\w+)' overflowed by (\d+) bytes", str(exc)))
    if not found:
        return None
    weights = sum(s.weight_bytes for s in rendered.steps)
    flash_need = board.flash.size + int(found.get("FLASH", 0))
    ram_need = board.ram.size + int(found.get("RAM", 0))
    return BoardError(f"model does not fit {board.name}: needs flash {flash_need:,} of {board.flash.size:,} B, "
                      f"RAM {ram_need:,} of {board.ram.size:,} B "
                      f"({_breakdown(weights, flash_need - weights, rendered.arena_bytes, STACK_SIZE)}); {HINT}")


def compile_project(project: Path, board: Board, rendered: Rendered) -> dict[str, Path]:
    """pio run for sim (and hw on real boards); {env: ELF}. Link overflow -> BoardError.

    The two environments build in parallel (separate .pio/build/<env> trees):
    each `pio run` is mostly PlatformIO/SCons start-up on one core, so two
    at once take about the wall time of one on a 2-core machine.
    """
    envs = ("sim",) if board.is_qemu else ("sim", "hw")
    try:
        results = run_pio_envs(project, envs)  # sim's error first, as when they ran one after the other
    except ToolError as exc:
        raise (_link_overflow(exc, board, rendered) or exc) from exc
    elves = {}
    for env in envs:
        if results[env].elf is None:
            raise ToolError(f"pio run (env {env}) made no firmware.elf in {project}")
        elves[env] = results[env].elf
    return elves


def _sample(compressed, *datasets: Dataset | None) -> np.ndarray | None:
    """The first input of the first dataset given, quantized (the firmware's built-in sample)."""
    given = next((d for d in datasets if d is not None), None)
    return None if given is None else compressed.qgraph.quantize_input(given.x[:1])[0]


def build_report(board: Board, compressed, rendered: Rendered, mem: dict, seconds: float) -> dict:
    """The build-report.json document."""
    weights = sum(s.weight_bytes for s in rendered.steps)
    return {
        "board": board.name, "model": compressed.qgraph.name,
        "layers": [r.as_dict() for r in compressed.layers],
        "weight_bytes": weights, "flash_bytes": mem["flash_bytes"], "ram_bytes": mem["ram_bytes"],
        "board_flash": board.flash.size, "board_ram": board.ram.size,
        "accuracy": compressed.accuracy, "validation": compressed.validation,
        "fidelity": compressed.fidelity, "data": {"calibration": compressed.calibration, **compressed.data},
        "warnings": list(compressed.warnings),
        "mode": compressed.mode, "pruning": compressed.pruning, "trust": compressed.trust,
        "search": None if compressed.search is None else compressed.search.as_dict(),
        "arena_bytes": rendered.arena_bytes, "stack_bytes": mem["stack_bytes"],
        "code_bytes": mem["flash_bytes"] - weights, "float_weight_bytes": compressed.float_weight_bytes,
        "calibration": compressed.calibration, "kernels": rendered.kernel_sources,
        "build_seconds": round(seconds, 2),
    }


def _sim_elf(project: Path, board: Board, rendered: Rendered) -> Path:
    """The sim ELF of `rendered` built in a scratch project (normal firmware)."""
    write_project(project, board, rendered)
    return run_pio_envs(project, ("sim",))["sim"].elf


def least_scratch(rendered: Rendered) -> set[str]:
    """The graph nodes whose kernel the arena gave less than its full scratch."""
    return {part for layer in rendered.layers() if layer.get("least_scratch")
            for part in layer.get("parts", [layer["name"]])}


def scratch_policy(compressed) -> str:
    """render's scratch policy for the build's --optimize: size 'least' (every kernel that
    can run with less scratch gets less), speed 'fast', balanced 'peak' (a kernel's faster
    scratch given up only where that lowers the arena)."""
    optimize = compressed.plan.optimize if compressed.plan is not None else "balanced"
    return {"size": "least", "speed": "fast"}.get(optimize, "peak")


def patch_cost(project: Path, board: Board, compressed, rendered: Rendered, sim_elf: Path | None,
               sample: np.ndarray | None) -> dict:
    """Instructions of one inference with the patched chain and without, both firmwares
    run in QEMU on the build's sample input (the unpatched one, and the patched one when
    `sim_elf` is not normal firmware (None), built in scratch projects inside `project`
    and removed); ToolError if their outputs differ."""
    plain = render(compressed.qgraph, compressed.layouts, board.name, sample,
                   scratch_policy=scratch_policy(compressed))
    probe = project / "patch-probe"
    elf = _sim_elf(probe / "unpatched", board, plain)
    sim_elf = sim_elf or _sim_elf(probe / "patched", board, rendered)
    x1 = (np.full(rendered.input_bytes, compressed.qgraph.input_zero_point, np.int8)
          if sample is None else np.asarray(sample, np.int8).ravel())
    ticks, out = layer_ticks(sim_elf, board.name, x1, len(rendered.steps), probe / "run-patched",
                             compressed.qgraph)
    base, base_out = layer_ticks(elf, board.name, x1, len(plain.steps), probe / "run", compressed.qgraph)
    shutil.rmtree(probe, ignore_errors=True)
    if not np.array_equal(out, base_out):
        raise ToolError("the patched firmware's output differs from the unpatched one's")
    layers = {s.name: {"instructions": t, "unpatched": b} for s, t, b in zip(rendered.steps, ticks, base)
              if s.name in rendered.patch["layers"]}
    return {"instructions": sum(ticks), "instructions_unpatched": sum(base),
            "extra_instructions": sum(ticks) - sum(base),
            "extra_instructions_fraction": round((sum(ticks) - sum(base)) / max(sum(base), 1), 4),
            "per_layer": layers}


def patch_line(report: dict) -> str | None:
    """The build summary's line on --patch (None when it was off)."""
    p = report.get("patch") or {}
    if p.get("mode", "off") == "off":
        return None
    if not p.get("applied"):
        return f"patch: none ({p.get('reason')})"
    return (f"patch: {', '.join(p['layers'])} in {p['bands']} row bands: arena "
            f"{p['arena_bytes_unpatched']:,} -> {p['arena_bytes']:,} B, +{p['extra_macs']:,} MACs "
            f"recomputed, {p['extra_instructions']:+,} instructions per inference "
            f"({p['extra_instructions_fraction']:+.2%}, measured in QEMU)")


def _save_state(project: Path, board: Board, compressed, rendered: Rendered, data_source, model_path) -> None:
    save_state(project, compressed.qgraph, rendered.layers(), board.name, data_source, model_path)


def build(model: Model, board: str = "nucleo", out_dir: str | Path = "build",
          force: bool = False, options: CompressOptions | None = None, data: Path | None = None,
          eval_data: Path | None = None, progress: Progress | None = None, *,
          val_data: Path | None = None, firmware_mode: str = "normal",
          patch: str = "off") -> BuildResult:
    """Compress, render, compile and size `model` for `board` into `out_dir` (see module doc).

    model: a model file, a loaded `Graph` or a Keras model (as `compress.compress`).
    options: what `compress.compress` does (bits, sparsity, spec file, fine-tuning, ...).
    data, val_data, eval_data: .npz files in their three roles (`compress.roles`):
    calibration and fine-tuning; validation (default: 20 % held out of data);
    the reported figures only. Without data, activation ranges come from
    synthetic inputs (a warning in the report). firmware_mode: normal, or
    energy (idle and inference windows framed by GPIO timestamps, for `power`).
    patch: 'off', or 'auto': a chain of early layers run in row bands when that
    lowers the arena (`codegen.patch`); the extra instructions are measured in
    QEMU against the unpatched firmware (report "patch").
    Raises OutputExistsError, BoardError (unknown board, does not fit), DataError, ToolError.
    """
    start = time.monotonic()
    tick = progress or (lambda *_: None)
    model_path = Path(model) if isinstance(model, (str, Path)) else None
    out_dir = Path(out_dir)
    the_board = load_board(board)
    if firmware_mode not in FIRMWARE_MODES:
        raise SpecError(f"--mode {firmware_mode!r}: expected one of {', '.join(FIRMWARE_MODES)}")
    if patch not in PATCH_MODES:
        raise SpecError(f"--patch {patch!r}: expected one of {', '.join(PATCH_MODES)}")
    check_output_dir(out_dir, force)
    train, val, test, source = _data(data, val_data, eval_data)
    tick("compress", 0, len(STAGES))
    compressed = compress(model, options or CompressOptions(), train, test, progress, val_data=val,
                          compare=True)
    tick("render", 1, len(STAGES))
    sample = _sample(compressed, test, train)
    rendered = render(compressed.qgraph, compressed.layouts, the_board.name, sample, patch,
                      scratch_policy(compressed))
    check_fit(the_board, sum(s.weight_bytes for s in rendered.steps), rendered.arena_bytes,
              peak=peak_text(rendered.memory))
    planned_estimates(compressed.qgraph, compressed.layouts, compressed.layers,
                      least_scratch(rendered))
    flags = () if firmware_mode == "normal" else tuple(
        energy_flags(the_board, sum(r.instructions_est for r in compressed.layers)))
    with staged(out_dir, force) as tmp:
        write_project(tmp, the_board, rendered, extra_flags=flags)
        _save_state(tmp, the_board, compressed, rendered, source, model_path)
        tick("compile", 2, len(STAGES))
        elves = compile_project(tmp, the_board, rendered)
        stack, relink = fit_stack(tmp, the_board, tuple(elves))  # reserve = measured + margin
        if relink:
            elves = compile_project(tmp, the_board, rendered)
        shutil.copyfile(elves["sim"], tmp / SIM_ELF)
        final = elves.get("hw", elves["sim"])
        if "hw" in elves:
            shutil.copyfile(elves["hw"], tmp / HW_ELF)
        tick("report", 3, len(STAGES))
        report = build_report(the_board, compressed, rendered, memory_use(final), time.monotonic() - start)
        report["firmware_mode"] = firmware_mode
        report["patch"] = dict(rendered.patch)
        if rendered.patch["applied"]:
            normal = tmp / SIM_ELF if firmware_mode == "normal" else None
            cost = patch_cost(tmp, the_board, compressed, rendered, normal, sample)
            report["patch"].update(cost)
        report["memory"] = memory_section(rendered.memory, memory_use(final), stack)
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tick("done", len(STAGES), len(STAGES))
    return BuildResult(out_dir, report, time.monotonic() - start)

