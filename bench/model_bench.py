"""All the bench numbers of one model: baselines, our configurations, instruction matrix, energy.

`run_model(entry, settings, work, tick)` returns the model's entry of
results.json (schema in `bench.results`). Digits has labels (train.npz for
calibration and fine-tuning, test.npz for accuracy); the MLPerf Tiny models
get synthetic inputs (see `bench.baselines.synthetic_inputs`) and report how
closely the integer model follows the float one instead of an accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.calibrate import check_build
from bench import analysis, baselines, configs, firmware
from tinycompress.data import load_npz, save_npz
from tinycompress.report.entropy import ratio

REPO = Path(__file__).resolve().parents[1]
DIGITS_TRAIN = REPO / "examples" / "digits" / "train.npz"
DIGITS_TEST = REPO / "examples" / "digits" / "test.npz"
MLPERF_SIM_INPUTS = 3

Tick = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    quick: bool = False

    @property
    def grid(self) -> configs.Grid:
        return configs.Grid.quick() if self.quick else configs.Grid()

    @property
    def percents(self) -> tuple[int, ...]:
        return firmware.QUICK_SPARSITY_PERCENTS if self.quick else firmware.SPARSITY_PERCENTS


@dataclass
class ModelData:
    """Where a model's calibration and evaluation inputs live (npz files for the CLI/pipeline)."""

    calib_npz: Path
    eval_npz: Path
    n_eval: int | None          # None: all of eval_npz
    labelled: bool


def model_data(entry: dict, work: Path) -> ModelData:
    """Digits: its train/test npz; MLPerf: the synthetic inputs written to npz files."""
    if entry["name"] == "digits":
        return ModelData(DIGITS_TRAIN, DIGITS_TEST, None, True)
    work.mkdir(parents=True, exist_ok=True)
    calib = save_npz(work / "calib.npz", entry["calib"])
    evaluation = save_npz(work / "eval.npz", entry["x"])
    return ModelData(calib, evaluation, MLPERF_SIM_INPUTS, False)


def config_record(name: str, model: Path, options: dict, fw: dict, build_dir: Path,
                  fidelity_inputs=None) -> dict:
    """One entry of `configs`: sizes, accuracy, entropy bound and per-layer numbers."""
    qgraph = analysis.load_qgraph(build_dir)
    rows = analysis.entropy_rows(qgraph, fw["build_layers"])
    bound = sum(r["entropy_bound_bytes"] for r in rows)
    layout_bytes = sum(r["layout_bytes"] for r in rows)
    record = {
        "name": name, "model_file": _rel(model), "options": options,
        "weight_bytes": fw["weight_bytes"], "flash_bytes": fw["flash_bytes"],
        "ram_bytes": fw["ram_bytes"], "arena_bytes": fw["arena_bytes"],
        "accuracy": fw["sim_accuracy"], "entropy_bound_bytes": round(bound, 1),
        "weight_over_bound": ratio(fw["weight_bytes"], bound),
        "layout_bytes": layout_bytes, "layout_over_bound": ratio(layout_bytes, bound),
        "layers": rows, "instructions_per_inference": fw["instructions_per_inference"],
        "instruction_layers": fw["layers"], "bit_exact": fw["bit_exact"],
        "sim_inputs": fw["sim_inputs"], "sim_input_source": fw["sim_input_source"],
        "board": fw["board"], "sim_board": fw["sim_board"], "build_seconds": fw["build_seconds"],
        "energy_estimate": analysis.energy_table(qgraph),
    }
    if fidelity_inputs is not None:
        record["fidelity"] = analysis.fidelity(qgraph, *fidelity_inputs)
    return record


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return Path(path).name


def _build_record(name, model, options, data: ModelData, work: Path, fid, tick) -> dict:
    tick(f"config {name}: build + simulate")
    out = work / f"config_{name}"
    try:
        fw = firmware.build_config(model, options, data.calib_npz, data.eval_npz, data.n_eval, out)
        return config_record(name, model, options, fw, out, fid)
    except Exception as exc:  # noqa: BLE001 - report the failure, keep benchmarking
        return {"name": name, "options": options, "error": f"{type(exc).__name__}: {exc}"}


def _digits_search(entry, float_acc, settings: Settings, work: Path, tick) -> dict:
    train, test = load_npz(DIGITS_TRAIN), load_npz(DIGITS_TEST)
    found = configs.search(Path(entry["path"]), train, test, float_acc, settings.grid,
                           work / "finetuned", tick)
    return {"float_accuracy": float_acc, "val_float_accuracy": found.val_float_accuracy,
            "selected_on": "validation (20 % of train.npz held out, seeded, stratified)",
            "budget_pts": configs.BUDGET_PTS,
            "grid": settings.grid.__dict__, "points": [p.as_dict() for p in found.points],
            "finetune_seconds": {str(k): v for k, v in found.finetune_seconds.items()},
            "best": None if found.best is None else {**found.best.as_dict(),
                                                     "model_file": _rel(found.best.model)},
            "_best": found.best}


def fc_ratios(instr_cells: dict, percent: int = 90) -> dict:
    """FC-layer instructions of each layout / dense at `percent` sparsity (None if missing)."""
    dense = firmware.fc_instructions(instr_cells.get("dense", {}).get(percent, {}))
    out = {}
    for layout, cells in instr_cells.items():
        fc = firmware.fc_instructions(cells.get(percent, {}))
        out[layout] = None if fc is None or not dense else fc / dense
    return out


def _matrix(entry, data: ModelData, settings: Settings, work: Path, tick) -> dict:
    cells = firmware.instruction_matrix(Path(entry["path"]), data.calib_npz, work, settings.percents, tick)
    table = {layout: {str(p): c.get("instructions_per_inference") for p, c in row.items()}
             for layout, row in cells.items()}
    detail = {layout: {str(p): _cell_detail(c) for p, c in row.items()} for layout, row in cells.items()}
    return {"instructions": table, "instructions_detail": detail,
            "fc_ratio_90": fc_ratios(cells) if 90 in settings.percents else {},
            "cost_model": _cost_model_check(cells, work)}


def _cost_model_check(cells: dict, work: Path) -> dict:
    """The cost model's predicted against the matrix's measured instructions, every weight layer."""
    rows = []
    for layout, row in cells.items():
        for percent, cell in row.items():
            if "layers" in cell:
                for r in check_build(work / f"matrix_{layout}_{percent}", cell["layers"]):
                    rows.append({**r, "cell": f"{layout} {percent}%"})
    errors = [abs(r["error"]) for r in rows if r["error"] is not None]
    worst = max(rows, key=lambda r: abs(r["error"] or 0.0), default=None)
    return {"layers": len(rows), "max_abs_error": max(errors, default=None),
            "within_15pct": sum(e <= 0.15 for e in errors), "worst": worst}


def _smallest_fc_ratio(best, data: ModelData, result: dict, work: Path, tick) -> dict:
    """FC instructions of the <= 1 pt setting forced to CER / CSER over dense int8 (matrix, 90 %)."""
    dense = (result["instructions_detail"].get("dense", {}).get("90") or {}).get("fc_instructions")
    out = {"options": best.options, "dense_int8_fc_instructions": dense}
    for layout in ("cer", "cser"):
        tick(f"instructions of the <= 1 pt setting, every layer {layout}")
        try:
            cell = firmware.build_and_sim(best.model, firmware.SPEED_BOARD, work / f"smallest_{layout}",
                                          {**best.options, "layout": layout}, data.calib_npz,
                                          data.eval_npz, firmware.MATRIX_INPUTS)
        except Exception as exc:  # noqa: BLE001 - report the failure, keep benchmarking
            out[layout] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        fc = firmware.fc_instructions(cell)
        out[layout] = {"fc_instructions": fc, "ratio": None if not dense else fc / dense,
                       "instructions_per_inference": cell["instructions_per_inference"]}
    return out


def _cell_detail(cell: dict) -> dict:
    if "error" in cell:
        return {"error": cell["error"]}
    return {"weight_bytes": cell["weight_bytes"], "flash_bytes": cell["flash_bytes"],
            "fc_instructions": firmware.fc_instructions(cell), "bit_exact": cell["bit_exact"],
            "layers": [{"name": l["name"], "op": l["op"], "layout": l["layout"],
                        "instructions": l["instructions"]} for l in cell["layers"]]}


def run_model(entry: dict, settings: Settings, work: Path, tick: Tick) -> dict:
    """The model's results.json entry (see module docstring)."""
    tick("baselines: TFLite int8, TFLM arena, accuracy")
    base = baselines.measure(entry)
    data = model_data(entry, work)
    fid = None
    if not data.labelled:
        fid = (entry["x"], baselines.keras_predict(entry["path"], entry["x"]), entry["classifier"])
    model = Path(entry["path"])
    result = {**base, "model_file": _rel(model), "labelled": data.labelled,
              "inputs": entry.get("inputs", "digits train.npz (data) and test.npz (eval)"),
              "sim_inputs": data.n_eval or "all of the test split",
              "configs": [_build_record("int8-dense", model, configs.INT8_DENSE, data, work, fid, tick),
                          _build_record("default", model, configs.DEFAULT, data, work, fid, tick)]}
    best = None
    if data.labelled:
        result["configs"].append(_build_record("default-size", model, configs.DEFAULT_SIZE, data,
                                               work, fid, tick))
        search = _digits_search(entry, base["float_accuracy"], settings, work, tick)
        best = search.pop("_best")
        result["search"] = search
        if best is not None:
            result["configs"].append(_build_record(configs.SMALLEST_NAME, best.model, best.options,
                                                   data, work, fid, tick))
            at_default = {k: v for k, v in best.options.items() if k != "optimize"}
            result["configs"].append(_build_record(configs.SMALLEST_DEFAULT_NAME, best.model,
                                                   at_default, data, work, fid, tick))
            tick("timing `tinycompress build` and `tinycompress sim -n 100` (<= 1 pt setting)")
            result["cli_timing"] = firmware.time_cli(best.model, best.options, data.calib_npz,
                                                     data.eval_npz, work)
    result.update(_matrix(entry, data, settings, work, tick))
    if data.labelled and best is not None:
        result["fc_ratio_smallest"] = _smallest_fc_ratio(best, data, result, work, tick)
    result["accuracy"] = _accuracy_table(base, result["configs"])
    return result


def _accuracy_table(base: dict, records: list[dict]) -> dict:
    """Float, TFLite int8 and ours side by side (None where the model has no labels)."""
    return {"float": base.get("float_accuracy"), "tflite_int8": base.get("tflite_accuracy"),
            "ours": {r["name"]: r.get("accuracy") for r in records}}
