"""Simulate stage: run a build's firmware in QEMU, bit-exact against the integer reference.

    report = simulate("build/", n=100)
    report.bit_exact, report.instructions_per_inference, report.layers

The build directory carries what the check needs (its build state, read by
`target.state.load_state`: the QGraph, the layer table and which data the
build used). Inputs go to the firmware as host files `input_NNNNN.bin`
(semihosting); its line protocol is documented in templates/main.c.j2. Every
output is compared with `int_ref.run_int`; on a mismatch the first such input
is re-run with per-layer tensor dumps to name the first layer that diverges.

Float inputs far outside the model input's calibrated range all clip to -128
or 127 when quantized, and the accuracy measured on them says little: the
share of input values that saturate is reported (`input_saturation`), with a
one-line warning (`SimReport.warnings`) above SATURATION_WARN_SHARE.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tinycompress.target.boards import load_board, sim_machine
from tinycompress.data import Dataset, load_npz
from tinycompress.errors import SimulationError
from tinycompress.ir.qgraph import QGraph
from tinycompress.reference.int_ref import run_int
from tinycompress.target.qemu import run_elf
from tinycompress.target.state import BuildState, load_state

SIM_ELF = "firmware_sim.elf"
REPORT_FILE = "sim-report.json"
RANDOM_SEED = 0
RANDOM_INPUTS = 16
MAX_MISMATCHES_LISTED = 20
# Above 1 % of input values clipped, the inputs are not what the model was calibrated for
# (data like the calibration set clips next to nothing: calibration covers its min..max).
SATURATION_WARN_SHARE = 0.01
Progress = Callable[[str, int, int], None]


@dataclass
class SimReport:
    """What `sim` found; `to_dict()` is sim-report.json."""

    board: str
    qemu_machine: str
    n_inputs: int
    bit_exact: bool
    mismatches: list[dict]
    accuracy: float | None
    instructions_per_inference: float
    layers: list[dict]
    inputs: str = ""
    wall_seconds: float = 0.0
    first_divergent_layer: str | None = None
    # share of float input values that quantize past [-128, 127] and are clipped (None: int8 inputs)
    input_saturation: float | None = None
    input_range: tuple[float, float] | None = None  # real values int8 -128..127 stand for
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("input_range")
        d.update(d.pop("extra"))
        return d

    @property
    def warnings(self) -> list[str]:
        """One line per problem with the run worth a warning (inputs out of range)."""
        share = self.input_saturation
        if share is None or share <= SATURATION_WARN_SHARE or self.input_range is None:
            return []
        lo, hi = self.input_range
        return [f"{100 * share:.1f} % of the input values are outside the model's calibrated input "
                f"range [{lo:.4g}, {hi:.4g}] and were clipped to -128/127; the accuracy is of "
                f"clipped inputs"]


@dataclass
class SimInputs:
    x: np.ndarray  # int8 (N, *input_shape)
    y: np.ndarray | None
    what: str
    saturation: float | None  # input_saturation() of float inputs, None for random int8


def input_saturation(qgraph: QGraph, x_float) -> float:
    """Share of values of `x_float` that QGraph.quantize_input clips (beyond int8 before the clip)."""
    q = np.round(np.asarray(x_float, np.float64) / qgraph.input_scale) + qgraph.input_zero_point
    return float(np.count_nonzero((q < -128) | (q > 127)) / q.size) if q.size else 0.0


def input_range(qgraph: QGraph) -> tuple[float, float]:
    """The real values the int8 input's -128 and 127 stand for (the calibrated range, nudged)."""
    s, z = qgraph.input_scale, qgraph.input_zero_point
    return s * (-128 - z), s * (127 - z)


def choose_inputs(state: BuildState, data: Path | None, n: int | None) -> SimInputs:
    """int8 inputs, labels, description, saturation: --data, else the build's data, else random."""
    qgraph = state.qgraph
    ds, what = _dataset(state.data, data, qgraph)
    if ds is None:
        count = n or RANDOM_INPUTS
        rng = np.random.default_rng(RANDOM_SEED)
        x = rng.integers(-128, 128, size=(count, *qgraph.input_shape), dtype=np.int64).astype(np.int8)
        return SimInputs(x, None, f"{count} random int8 inputs (seed {RANDOM_SEED})", None)
    ds = ds.take(n) if n else ds
    return SimInputs(qgraph.quantize_input(ds.x), ds.y, f"{len(ds)} samples of {what}",
                     input_saturation(qgraph, ds.x))


def _dataset(source: str | None, data: Path | None, qgraph: QGraph) -> tuple[Dataset | None, str]:
    if data is not None:
        return load_npz(data, qgraph.input_shape), str(data)
    if source and Path(source).is_file():
        return load_npz(source, qgraph.input_shape), source
    return None, ""


def write_inputs(run_dir: Path, x: np.ndarray, dump: bool = False) -> None:
    """input_NNNNN.bin per sample (and dump.flag to ask for per-layer tensors)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    for i, sample in enumerate(x):
        (run_dir / f"input_{i:05d}.bin").write_bytes(np.ascontiguousarray(sample, np.int8).tobytes())
    if dump:
        (run_dir / "dump.flag").write_bytes(b"1")


@dataclass
class FirmwareRun:
    outputs: list[np.ndarray]
    ticks: list[list[int]]
    tensors: dict[int, np.ndarray]


def _hex(text: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), dtype=np.int8)


def parse_output(stdout: str, n_inputs: int, n_layers: int) -> FirmwareRun:
    """Read the firmware's line protocol; SimulationError when it is cut short or wrong."""
    if "TC_BEGIN" not in stdout:
        raise SimulationError(f"firmware printed no TC_BEGIN line: {stdout[-300:]!r}")
    err = re.search(r"^TC_ERROR (.*)$", stdout, re.M)
    if err:
        raise SimulationError(f"firmware error: {err.group(1)}")
    end = re.search(r"^TC_END (\d+)$", stdout, re.M)
    if not end or int(end.group(1)) != n_inputs:
        raise SimulationError(f"firmware ran {end.group(1) if end else 'an unfinished set of'} "
                              f"inputs, expected {n_inputs}")
    outs = {int(i): _hex(h) for i, h in re.findall(r"^OUT (\d+) ([0-9a-f]*)$", stdout, re.M)}
    ticks = {int(i): [int(t) for t in rest.split()] for i, rest in re.findall(r"^TICKS (\d+)((?: \d+)*)$", stdout, re.M)}
    tensors = {int(k): _hex(h) for k, h in re.findall(r"^TENSOR (\d+) ([0-9a-f]*)$", stdout, re.M)}
    if sorted(outs) != list(range(n_inputs)) or any(len(ticks.get(i, ())) != n_layers for i in range(n_inputs)):
        raise SimulationError("firmware output is incomplete (missing OUT/TICKS lines)")
    return FirmwareRun([outs[i] for i in range(n_inputs)], [ticks[i] for i in range(n_inputs)], tensors)


def _run(elf: Path, machine: str, run_dir: Path, x: np.ndarray, n_layers: int,
         timeout_s: float, dump: bool = False) -> tuple[FirmwareRun, float]:
    write_inputs(run_dir, x, dump)
    result = run_elf(elf, machine, timeout_s=timeout_s, cwd=run_dir)
    if result.exit_code != 0 and "TC_ERROR" not in result.stdout:
        raise SimulationError(f"firmware exited with code {result.exit_code}: "
                              f"{(result.stdout + result.stderr)[-300:]!r}")
    return parse_output(result.stdout, len(x), n_layers), result.elapsed


def compare(expected: np.ndarray, got: list[np.ndarray]) -> list[dict]:
    """Every input whose output differs: input, first output index, expected vs got."""
    found = []
    for i, out in enumerate(got):
        want = np.asarray(expected[i], np.int8).ravel()
        if out.shape != want.shape or not np.array_equal(out, want):
            idx = int(np.argmax(out != want)) if out.shape == want.shape else 0
            found.append({"input": i, "index": idx, "expected": int(want[idx]),
                          "got": int(out[idx]) if idx < out.size else None,
                          "differing": int(np.count_nonzero(out != want)) if out.shape == want.shape else None})
    return found


def first_divergent_layer(state: BuildState, elf: Path, machine: str, run_dir: Path, x1: np.ndarray,
                          timeout_s: float) -> str | None:
    """Re-run one input with per-layer dumps; the first layer whose tensor differs from int_ref."""
    layers = state.layers
    run, _ = _run(elf, machine, run_dir, x1[np.newaxis], len(layers), timeout_s, dump=True)
    ref = run_int(state.qgraph, x1, return_all=True)
    for k, layer in enumerate(layers):
        if k not in run.tensors and any(j > k for j in run.tensors):
            continue  # an inner layer of a chain run in bands: no whole tensor to compare
        tensor = layer.get("parts", [layer["name"]])[-1]  # a fused layer stores its add's tensor
        if not np.array_equal(run.tensors.get(k), np.asarray(ref[tensor], np.int8).ravel()):
            return layer["name"]
    return None


# The timeout only has to catch a hang, never a slow but healthy run. QEMU runs
# these firmwares at 300-500 M instructions/s here; the budget assumes 200 M/s
# and per-op costs at the slow end of the kernels (bit-packed 6-bit dense conv
# ~20 instructions per MAC, an int8 add ~110 per element), so a long inference
# (MLPerf ResNet-8: ~250 M instructions) gets seconds, not the fixed 0.5 s.
QEMU_MIN_INSTRUCTIONS_PER_S = 2e8
INSTRUCTIONS_PER_MAC = 20
INSTRUCTIONS_PER_ELEMENT = 200


def instructions_budget(qgraph: QGraph) -> float:
    """A generous upper bound of one inference's instructions (MACs and elementwise work)."""
    total = 0
    for node in qgraph.nodes:
        elements = max([int(np.prod(node.output_shape))] + [int(np.prod(s)) for s in node.input_shapes])
        total += INSTRUCTIONS_PER_ELEMENT * elements
        if node.levels is not None:
            positions = int(np.prod(node.output_shape)) // node.levels.shape[0]
            total += INSTRUCTIONS_PER_MAC * positions * int(node.levels.size)
    return float(total)


def default_timeout(n_inputs: int, qgraph: QGraph | None = None) -> float:
    """Seconds for `n_inputs` inferences: 30 s start-up, then 0.5 s plus the model's budget each."""
    per_input = 0.5 if qgraph is None else 0.5 + instructions_budget(qgraph) / QEMU_MIN_INSTRUCTIONS_PER_S
    return 30.0 + per_input * n_inputs


def layer_ticks(elf: Path, board_name: str, x1: np.ndarray, n_layers: int, run_dir: Path,
                qgraph: QGraph | None = None) -> tuple[list[int], np.ndarray]:
    """(instructions of each layer, the output) of one inference of `elf` in QEMU on
    int8 input `x1` (the build compares patched and unpatched firmware with it)."""
    machine = sim_machine(load_board(board_name)).qemu_machine
    run, _ = _run(elf, machine, run_dir, x1[np.newaxis], n_layers, default_timeout(1, qgraph))
    return run.ticks[0], run.outputs[0]


def simulate(build_dir: Path, data: Path | None = None, n: int | None = None,
             timeout_s: float | None = None, progress: Progress | None = None) -> SimReport:
    """Run the build's simulation firmware in QEMU; compare, count, write DIR/sim-report.json."""
    build_dir = Path(build_dir)
    state = load_state(build_dir)
    board = load_board(state.board)
    machine = sim_machine(board).qemu_machine
    elf = build_dir / SIM_ELF
    inputs = choose_inputs(state, data, n)
    x = inputs.x
    timeout = timeout_s or default_timeout(len(x), state.qgraph)
    tick = progress or (lambda *_: None)
    tick("simulating", 0, 1)
    run, seconds = _run(elf, machine, build_dir / "sim-run", x, len(state.layers), timeout)
    expected = run_int(state.qgraph, x)
    mismatches = compare(expected, run.outputs)
    report = _report(state, board.name, machine, run, mismatches, inputs, seconds)
    if mismatches:
        bad = x[mismatches[0]["input"]]
        report.first_divergent_layer = first_divergent_layer(state, elf, machine, build_dir / "sim-run", bad, timeout)
    tick("simulating", 1, 1)
    (build_dir / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def _report(state: BuildState, board: str, machine: str, run: FirmwareRun, mismatches,
            inputs: SimInputs, seconds: float) -> SimReport:
    ticks = np.asarray(run.ticks, dtype=np.int64)
    layers = [{"name": l["name"], "op": l["op"], "layout": l["layout"],
               "instructions": float(ticks[:, k].mean()),
               **({"parts": l["parts"]} if "parts" in l else {})} for k, l in enumerate(state.layers)]
    accuracy = None
    if inputs.y is not None:
        pred = np.array([int(np.argmax(o)) for o in run.outputs])
        accuracy = float(np.mean(pred == np.asarray(inputs.y)))
    return SimReport(board=board, qemu_machine=machine, n_inputs=len(run.outputs),
                     bit_exact=not mismatches, mismatches=mismatches[:MAX_MISMATCHES_LISTED],
                     accuracy=accuracy, instructions_per_inference=float(ticks.sum(axis=1).mean()),
                     layers=layers, inputs=inputs.what, wall_seconds=round(seconds, 3),
                     input_saturation=inputs.saturation, input_range=input_range(state.qgraph),
                     extra={"n_mismatches": len(mismatches)})
