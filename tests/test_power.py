"""`tinycompress power`: meter drivers against simulated meters, the window arithmetic, the errors.

These tests prove the protocols and the arithmetic, not the hardware: the
LPM01A and the PPK2 are simulated at the far end of a pseudo-terminal (the
real pyserial and ppk2-api talk to them), the JS110 at the USB transport of
joulescope's own driver, the board's UART on a pseudo-terminal too; no real
meter or board was used. Known energies: tests/meter_sims.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests import meter_sims as sims
from tests.board_builds import board_builds, energy_build  # noqa: F401  (session fixtures)
from tinycompress import cli
from tinycompress.target.meters.integrate import Capture, PowerError, active_edges, repeat_windows
from tinycompress.target.power import REPORT_FILE, measure
from tinycompress.target.power_data import ENERGY_GAP_S

pytestmark = pytest.mark.target  # the energy-mode build is a real one
runner = CliRunner()
PER_INFERENCE_UJ = sims.INFER_J / sims.N * 1e6                                   # 3.3 V x 12.5 mA x 80 ms / 4
IDLE_SUBTRACTED_UJ = (sims.INFER_J - sims.VDD * sims.IDLE_A * sims.INFER_S) / sims.N * 1e6


def test_window_arithmetic_by_hand():
    # 10 samples at 1 kHz, 2 V: edges at 0, 4, 10 -> idle 4 ms of 1 mA, inference 6 ms of 3 mA
    cap = Capture(np.array([1e-3] * 4 + [3e-3] * 6), 1000, 2.0, [0, 4, 10])
    idle, infer = repeat_windows(cap)
    assert idle.energy_j == pytest.approx(2.0 * 1e-3 * 4e-3) and idle.seconds == pytest.approx(4e-3)
    assert infer.energy_j == pytest.approx(2.0 * 3e-3 * 6e-3) and infer.power_w == pytest.approx(6e-3)
    # falling edges of a timestamp input idle high: 1 1 0 1 1 0 1 -> edges at 2 and 5
    assert active_edges(np.array([1, 1, 0, 1, 1, 0, 1]), "falling") == [2, 5]
    assert active_edges(np.array([0, 1, 0, 0, 1]), "rising") == [1, 4]


def _check(report, subtract=False):
    assert report["uj_per_inference"] == pytest.approx(IDLE_SUBTRACTED_UJ if subtract else PER_INFERENCE_UJ,
                                                       rel=2e-3)
    assert report["mean_power_mw"] == pytest.approx(sims.VDD * sims.INFER_A * 1e3, rel=2e-3)
    assert report["idle_power_mw"] == pytest.approx(sims.VDD * sims.IDLE_A * 1e3, rel=2e-3)
    # latency from the board's cycles at its clock: 80 ms / 4
    assert report["latency_ms"] == pytest.approx(sims.INFER_S / sims.N * 1e3, rel=1e-6)


def test_lpm01a_on_a_pty(energy_build):
    meter = sims.Lpm01a()
    board = sims.Board(meter)
    try:
        report = measure(energy_build, "lpm01a", port=meter.path, uart=board.path, n=2, timeout_s=5)
    finally:
        board.close(), meter.close()
    _check(report)
    assert meter.commands[:6] == ["htc", "format ascii_dec", "freq 10k", "acqtime 0", "volt 3300m", "trigsrc d7"]
    assert json.loads((energy_build / REPORT_FILE).read_text())["meter"] == "lpm01a"


def test_ppk2_on_a_pty_idle_subtracted(energy_build):
    meter = sims.Ppk2()
    board = sims.Board(meter)
    try:
        report = measure(energy_build, "ppk2", port=meter.path, uart=board.path, n=2, subtract_idle=True,
                         timeout_s=5)
    finally:
        board.close(), meter.close()
    _check(report, subtract=True)
    assert len(report["repeats"]) == 2 and report["rate_hz"] == sims.Ppk2.RATE


@pytest.fixture
def js110(monkeypatch):
    """A simulated JS110 behind joulescope's own driver: only its USB transport is replaced."""
    import joulescope.v0.usb
    fake = sims.Js110Usb()
    monkeypatch.setattr(joulescope.v0.usb, "scan", lambda name=None: [fake])
    yield fake
    fake.stop.set()


def test_joulescope_behind_its_usb_transport(energy_build, js110):
    board = sims.Board(js110, gap_s=ENERGY_GAP_S)  # a fixed-length recording needs the firmware's gap
    try:
        report = measure(energy_build, "joulescope", uart=board.path, n=1, timeout_s=5)
    finally:
        board.close()
    # IN0 rides in the current's lowest bit: +1 uA on samples where it is high (<= 0.02 %)
    _check(report)
    assert report["rate_hz"] == sims.Js110Usb.RATE


def test_joulescope_window_count_mismatch(energy_build, monkeypatch):
    import joulescope.v0.usb
    fake = sims.Js110Usb(extra_edge=True)
    monkeypatch.setattr(joulescope.v0.usb, "scan", lambda name=None: [fake])
    board = sims.Board(fake, gap_s=ENERGY_GAP_S)
    try:
        with pytest.raises(PowerError, match="window count mismatch: the meter saw 4 timestamp edges"):
            measure(energy_build, "joulescope", uart=board.path, n=1, timeout_s=5)
    finally:
        board.close()
        fake.stop.set()


def test_cli_power_writes_report_and_report_shows_it(energy_build):
    meter = sims.Lpm01a()
    board = sims.Board(meter)
    try:
        result = runner.invoke(cli.app, ["power", str(energy_build), "--meter", "lpm01a", "--port", meter.path,
                                         "--uart", board.path, "-n", "1"])
    finally:
        board.close(), meter.close()
    assert result.exit_code == 0, result.output
    assert "uJ per inference" in result.stdout and "measured" in result.stdout
    assert "estimate (board terms, not measured)" in result.stdout
    report = runner.invoke(cli.app, ["report", str(energy_build)])
    assert report.exit_code == 0, report.output
    page = (energy_build / "report.html").read_text()
    assert "energy per inference, measured (lpm01a, 1 repetitions)" in page
    assert f"{PER_INFERENCE_UJ:,.1f} µJ" in page and "energy per inference, estimate (board terms)" in page


@pytest.mark.parametrize("case, message", [
    ("no_device", "no LPM01A at /dev/nonexistent-meter"),
    ("wrong_device", "no LPM01A answer to 'htc'"),
    ("no_trigger", "no trigger seen on D7 within 2 s"),
    ("ppk2_wrong_device", "no PPK2 metadata from"),
    ("ppk2_no_trigger", "no trigger seen on PPK2 logic input D0"),
    ("ppk2_mismatch", "window count mismatch: the meter saw 4 timestamp edges"),
    ("joulescope_none", "no Joulescope found on USB"),
])
def test_errors_are_one_line(energy_build, case, message):
    meter = {"wrong_device": lambda: sims.Lpm01a(answer=False), "no_trigger": sims.Lpm01a,
             "ppk2_wrong_device": lambda: sims.Ppk2(answer=False), "ppk2_no_trigger": lambda: sims.Ppk2(pulses=False),
             "ppk2_mismatch": lambda: sims.Ppk2(extra_edge=True)}.get(case, lambda: None)()
    board = sims.Board(None if case == "no_trigger" else meter)
    kind = "ppk2" if case.startswith("ppk2") else "joulescope" if case.startswith("joulescope") else "lpm01a"
    port = meter.path if meter else (None if kind == "joulescope" else "/dev/nonexistent-meter")
    args = ["power", str(energy_build), "--meter", kind, "--uart", board.path, "--timeout", "2"]
    try:
        result = runner.invoke(cli.app, args + (["--port", port] if port else []))
    finally:
        board.close()
        if meter:
            meter.close()
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1, result.stderr


def test_normal_build_is_refused(board_builds):
    result = runner.invoke(cli.app, ["power", str(board_builds["nucleo"]), "--meter", "lpm01a"])
    assert result.exit_code == 2
    assert "is a normal build: rebuild with `tinycompress build ... --mode energy`" in result.stderr
