"""The report's energy rows: measured (power-report.json) beside the two estimates.

    measured      `tinycompress power`: current x voltage over timestamp-framed windows
    board terms   instructions x CPI / clock x the MCU's datasheet run-mode power (estimate)
    45 nm model   the CER paper's op counts priced at Horowitz's 45 nm energies (estimate,
                  for comparing layouts; weight layers only)
"""
from __future__ import annotations

import json
from pathlib import Path

from tinycompress.errors import BoardError
from tinycompress.target.boards import load_board
from tinycompress.target.power import REPORT_FILE
from tinycompress.target.power_data import board_energy_estimate


def energy_rows(build_dir: Path, build: dict | None, sim: dict | None) -> list[tuple[str, str]]:
    """(label, value) rows for the page's summary; empty without a build report."""
    rows = []
    power = Path(build_dir) / REPORT_FILE
    if power.is_file():
        m = json.loads(power.read_text(encoding="utf-8"))
        rows.append((f"energy per inference, measured ({m['meter']}, {len(m['repeats'])} repetitions)",
                     f"{m['uj_per_inference']:,.1f} µJ, mean {m['mean_power_mw']:.2f} mW, "
                     f"latency {m['latency_ms']:.3f} ms" + (", idle subtracted" if m["idle_subtracted"] else "")))
    if build is None:
        return rows
    try:
        board = load_board(build["board"])
    except (BoardError, KeyError):
        return rows
    est = board_energy_estimate(board, build, sim)
    if est is not None:
        rows.append(("energy per inference, estimate (board terms)",
                     f"{est['uj_per_inference']:,.1f} µJ = {est['instructions']:,.0f} instructions "
                     f"({est['instructions_from']}) x {est['cpi']:g} CPI / {est['clock_hz'] / 1e6:g} MHz "
                     f"x {est['run_power_mw']:.1f} mW ({est['power_source']})"))
    ops = sum(float(l.get("energy_pj") or 0.0) for l in build.get("layers", []))
    if ops:
        rows.append(("energy, estimate (45 nm op-count model, relative)", f"{ops / 1e6:,.3f} µJ (weight layers)"))
    return rows
