"""Firmware numbers for the bench: build (pipeline.build) + simulate (sim.simulate).

- `build_config`: one configuration on the size board (NUCLEO-F401RE): weight,
  flash and RAM bytes from build-report.json; accuracy and per-layer
  instructions from simulating it (netduinoplus2, the board's Cortex-M4
  QEMU machine), bit-exact against the integer reference.
- `instruction_matrix`: the same model at 8 bits, one-shot pruned to each
  sparsity, every layer forced to each layout, built for `mps2_an386`
  (Cortex-M4F with 4 MiB of code memory, so even CSR of the 8-bit dense AD
  model fits) and run on a few inputs: under QEMU with `-icount` the counts
  are exact and input-independent for dense kernels (sparse ones skip no
  data-dependent work either), so 2 inputs suffice.
- `time_cli`: wall time of `tinycompress build` and `tinycompress sim -n 100`
  as a user runs them (fresh processes, so TensorFlow's import is included).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tinycompress.layouts import LAYOUT_NAMES

SIZE_BOARD = "nucleo"
SPEED_BOARD = "mps2_an386"
LAYOUTS = LAYOUT_NAMES  # every layout the tool has: dense, csr, cer, cser, pcsr
SPARSITY_PERCENTS = (0, 50, 80, 90, 95)
QUICK_SPARSITY_PERCENTS = (0, 90)
MATRIX_INPUTS = 2
REPO = Path(__file__).resolve().parents[1]

Tick = Callable[[str], None]


def _summary(build_report: dict, sim) -> dict:
    """The fields the bench keeps from a build report and a SimReport."""
    return {
        "weight_bytes": build_report["weight_bytes"], "flash_bytes": build_report["flash_bytes"],
        "ram_bytes": build_report["ram_bytes"], "arena_bytes": build_report.get("arena_bytes"),
        "code_bytes": build_report.get("code_bytes"),
        "build_layers": build_report["layers"],
        "instructions_per_inference": sim.instructions_per_inference,
        "layers": sim.layers, "bit_exact": sim.bit_exact, "sim_inputs": sim.n_inputs,
        "sim_accuracy": sim.accuracy, "sim_input_source": sim.inputs,
    }


def build_and_sim(model: Path, board: str, out_dir: Path, options: dict, calib_npz: Path,
                  sim_npz: Path | None, n: int | None, patch: str = "off") -> dict:
    """Build `model` with compress `options` (calibrated on `calib_npz`, accuracy on
    `sim_npz`; `patch`: build's --patch), then simulate `n` inputs of `sim_npz` (all when None)."""
    from tinycompress.compress import CompressOptions
    from tinycompress.pipeline import build
    from tinycompress.target.sim import simulate

    settings = dict(options)
    layers = settings.pop("layers", {})  # per-layer bits / sparsity: the plan of another build
    opts = CompressOptions.from_settings(settings, layers=layers, scope="layer" if layers else "global")
    built = build(model, board, out_dir, force=True, options=opts, data=calib_npz, eval_data=sim_npz,
                  patch=patch)
    sim = simulate(out_dir, data=sim_npz, n=n)
    search = built.report.get("search") or {}
    plan = {r["name"]: {"bits": r["bits"], "sparsity": r["sparsity"]} for r in search.get("layers", [])}
    return {**_summary(built.report, sim), "board": built.report["board"], "plan": plan or None,
            "mode": built.report.get("mode"),
            "sim_board": sim.qemu_machine, "build_seconds": round(built.seconds, 2)}


def build_config(model: Path, options: dict, calib_npz: Path, eval_npz: Path | None,
                 n_eval: int | None, out_dir: Path) -> dict:
    """A configuration's firmware on the size board (see module docstring)."""
    return build_and_sim(model, SIZE_BOARD, out_dir, options, calib_npz, eval_npz, n_eval)


def matrix_options(layout: str, percent: int) -> dict:
    """Compress options of one cell: 8-bit, one-shot global sparsity, layout forced."""
    return {"bits": 8, "sparsity": percent / 100.0, "layout": layout}


def instruction_matrix(model: Path, calib_npz: Path, work: Path, percents, tick: Tick) -> dict:
    """{layout: {percent: cell}} with cell = instructions, per-layer counts, bytes (or error)."""
    cells: dict[str, dict[int, dict]] = {}
    for layout in LAYOUTS:
        for percent in percents:
            tick(f"instructions {layout} at {percent}%")
            out = work / f"matrix_{layout}_{percent}"
            try:
                cells.setdefault(layout, {})[percent] = build_and_sim(
                    model, SPEED_BOARD, out, matrix_options(layout, percent), calib_npz,
                    calib_npz, MATRIX_INPUTS)
            except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the bench
                cells.setdefault(layout, {})[percent] = {"error": f"{type(exc).__name__}: {exc}"}
    return cells


def fc_instructions(cell: dict) -> float | None:
    """Instructions of the fully-connected (dense-op) layers of one simulated build."""
    if "layers" not in cell:
        return None
    return float(sum(l["instructions"] for l in cell["layers"] if l["op"] == "dense"))


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, check=False)
    return time.monotonic() - start, done


def write_spec(path: Path, options: dict) -> Path:
    """A tinycompress.toml `[defaults]` table holding `options` (for the CLI timing)."""
    lines = ["[defaults]"]
    for key, value in options.items():
        text = str(value).lower() if isinstance(value, bool) else (
            f'"{value}"' if isinstance(value, str) else repr(value))
        lines.append(f"{key} = {text}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def time_cli(model: Path, options: dict, calib_npz: Path, sim_npz: Path, work: Path) -> dict:
    """Wall seconds of `tinycompress build` (board nucleo) and `tinycompress sim -n 100`."""
    exe = str(Path(sys.executable).with_name("tinycompress"))
    out = work / "timed_build"
    spec = write_spec(work / "timed_spec.toml", options)
    build_s, b = _timed([exe, "build", str(model), "--board", SIZE_BOARD, "-o", str(out), "--force",
                         "--data", str(calib_npz), "--eval-data", str(sim_npz), "--spec", str(spec)])
    if b.returncode != 0:
        return {"error": f"build failed: {(b.stdout + b.stderr)[-400:]}"}
    sim_s, s = _timed([exe, "sim", str(out), "--data", str(sim_npz), "-n", "100"])
    if s.returncode != 0:
        return {"error": f"sim failed: {(s.stdout + s.stderr)[-400:]}"}
    report = json.loads((out / "sim-report.json").read_text())
    return {"build_seconds": round(build_s, 2), "sim100_seconds": round(sim_s, 2),
            "sim_n_inputs": report["n_inputs"], "sim_bit_exact": report["bit_exact"],
            "command_build": f"tinycompress build MODEL --board {SIZE_BOARD} --data TRAIN --eval-data TEST --spec SPEC",
            "command_sim": "tinycompress sim DIR --data TEST -n 100"}
