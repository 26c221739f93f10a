"""results.json: the bench's document, its run metadata, and writing it.

Schema (issue 5), one entry per model under `models`:

    {"generated": {date, machine, versions, command, run_seconds, quick},
     "models": {name: {
        "float_weight_bytes", "tflite_int8_bytes", "tflm_arena_bytes",
        "configs": [{name, weight_bytes, flash_bytes, ram_bytes, accuracy,
                     entropy_bound_bytes, ...}],
        "instructions": {layout: {sparsity_percent: instructions_per_inference}},
        "accuracy": {"float", "tflite_int8", "ours": {config: accuracy}},
        ...}                     # or {"skipped": reason}
     },
     "targets": [{issue, what, target, measured, status}]}

A model that could not be benchmarked carries `skipped` (why) instead.
"""
from __future__ import annotations

import datetime as dt
import json
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from bench.targets import check_all

REQUIRED_MODEL_KEYS = ("float_weight_bytes", "tflite_int8_bytes", "tflm_arena_bytes",
                       "configs", "instructions")
REQUIRED_CONFIG_KEYS = ("name", "weight_bytes", "flash_bytes", "ram_bytes", "accuracy",
                        "entropy_bound_bytes")
PACKAGES = ("tensorflow-cpu", "keras", "numpy", "ai-edge-litert", "tflite-micro", "platformio",
            "jinja2")
REPO = Path(__file__).resolve().parents[1]


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, core count, OS of the machine the bench ran on."""
    import os

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}"}


def versions() -> dict:
    """Versions of the tools and packages behind the numbers (None when absent)."""
    found = {"python": platform.python_version(),
             "tinycompress_commit": _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
             "arm-none-eabi-gcc": _first_line(["arm-none-eabi-gcc", "--version"]),
             "qemu-system-arm": _first_line(["qemu-system-arm", "--version"])}
    found.update({name: _package_version(name) for name in PACKAGES})
    return found


def new_document(command: str, quick: bool) -> dict:
    """An empty results document with its run metadata."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return {"generated": {"date": now.isoformat(), "machine": machine_info(), "versions": versions(),
                          "command": command, "quick": quick, "run_seconds": None},
            "models": {}, "targets": []}


def finish(doc: dict, run_seconds: float) -> dict:
    """Fill in run time and the target checks."""
    doc["generated"]["run_seconds"] = round(run_seconds, 1)
    doc["targets"] = [c.as_dict() for c in check_all(doc)]
    return doc


def schema_problems(doc: dict) -> list[str]:
    """What the document lacks from the issue-5 schema (empty list: complete)."""
    problems = [] if isinstance(doc.get("models"), dict) else ["no 'models' object"]
    for name, model in (doc.get("models") or {}).items():
        if "skipped" in model:
            continue
        problems += [f"{name}: missing {k}" for k in REQUIRED_MODEL_KEYS if k not in model]
        for cfg in model.get("configs", []):
            if "error" in cfg:
                continue
            problems += [f"{name}/{cfg.get('name')}: missing {k}" for k in REQUIRED_CONFIG_KEYS
                         if k not in cfg]
        for layout, row in (model.get("instructions") or {}).items():
            problems += [f"{name}: instructions[{layout}] key {p!r} is not a sparsity percent"
                         for p in row if not str(p).isdigit()]
    return problems


def write_json(doc: dict, path: Path) -> Path:
    """Write the document (sorted keys, 2-space indent, trailing newline)."""
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=_plain) + "\n", encoding="utf-8")
    return path


def _plain(value):
    """numpy scalars and paths -> JSON values."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
