"""report.html in a real browser: Debian's headless Chromium renders the page of a real
compress run (digits, with train and eval data, so the float / TFLite int8 / ours table and
the confusion matrix are there), every image must decode, the page must log nothing to the
console, and the numbers on the page must be the JSON report's."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinycompress.cli import app
from tinycompress.data import DIGITS_MODEL

pytestmark = pytest.mark.slow
EXAMPLE = DIGITS_MODEL.parent
# Appended to a copy of the page: after load, record which images decoded.
CHECK = """<script>window.addEventListener("load", () => {
  const r = [...document.images].map(i => i.id + "=" + (i.complete && i.naturalWidth > 0));
  document.body.setAttribute("data-images", r.join(","));
});</script>"""


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: apt-get install chromium (scripts/ensure-debs.sh)"
    return path


def _render(page: Path) -> tuple[str, str]:
    """(DOM after load, stderr) of headless Chromium on `page`."""
    run = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, run.stderr


class _Tables(HTMLParser):
    """{table id: [[cell text]]} of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self._id, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
            self.tables[self._id].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    run = CliRunner().invoke(app, ["compress", str(DIGITS_MODEL), "--bits", "4", "--sparsity", "0.5",
                                   "--data", str(EXAMPLE / "train.npz"),
                                   "--eval-data", str(EXAMPLE / "test.npz"), "-o", str(out)])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(app, ["report", str(out)])
    assert run.exit_code == 0, run.output
    return out


def test_page_renders_in_chromium_with_every_image_decoded_and_no_console_output(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    _, stderr = _render(report_dir / "report.html")
    assert "CONSOLE" not in stderr, [l for l in stderr.splitlines() if "CONSOLE" in l]
    checked = report_dir / "checked.html"
    checked.write_text(page.replace("</body>", CHECK + "</body>"), encoding="utf-8")
    dom, _ = _render(checked)
    images = re.search(r'data-images="([^"]*)"', dom).group(1).split(",")
    assert len(images) == page.count("<img") and len(images) >= 2
    assert all(i.endswith("=true") for i in images), images
    assert 'id="plot-confusion"' in page


def test_page_numbers_are_the_json_reports(report_dir):
    report = json.loads((report_dir / "compress-report.json").read_text())
    dom, _ = _render(report_dir / "report.html")
    parser = _Tables()
    parser.feed(dom)
    trust = parser.tables["trust"]
    head, rows = trust[0], {r[0]: r for r in trust[1:]}
    models = [r["model"] for r in report["trust"]["rows"]]
    assert list(rows) == models and "TFLite int8" in models
    for r in report["trust"]["rows"]:
        row = rows[r["model"]]
        assert row[head.index("weight bytes")] == f"{r['weight_bytes']:,}"
        for split, name in (("val", "validation"), ("eval", "eval")):
            acc = r["splits"][split]["accuracy"]
            assert row[head.index(f"accuracy ({name})")] == f"{100 * acc:.2f} %"
    ours = report["trust"]["rows"][-1]
    assert ours["weight_bytes"] == report["weight_bytes"]
    assert ours["splits"]["eval"]["accuracy"] == pytest.approx(report["accuracy"]["quantized"], abs=1e-6)
    summary = dict(r for r in parser.tables["summary"] if len(r) == 2)
    assert summary["quantized accuracy (eval)"] == f"{100 * report['accuracy']['quantized']:.2f} %"
    conf = report["trust"]["confusion"]
    assert conf["split"] == "eval" and sum(map(sum, conf["matrix"])) == 450
