"""report.html: every plot present as a real PNG, every table number equal to the JSON."""
import base64
import json
import re
import struct
from html.parser import HTMLParser

import pytest

from tinycompress.errors import DataError
from tinycompress.report.page import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A digits-LeNet-like build on nucleo_f401re (512 KiB flash, 96 KiB RAM).
BUILD = {
    "board": "nucleo_f401re", "model": "examples/digits/model.keras",
    "layers": [
        {"name": "conv2d", "op": "conv2d", "bits": 6, "sparsity": 0.5, "layout": "dense",
         "weight_bytes": 161, "energy_pj": 512345.6, "instructions_est": 180400,
         "fastest": {"layout": "dense", "weight_bytes": 161, "instructions_est": 180400}},
        {"name": "conv2d_1", "op": "conv2d", "bits": 4, "sparsity": 0.8, "layout": "cer",
         "weight_bytes": 1203, "energy_pj": 201000.25, "instructions_est": 93012,
         "fastest": {"layout": "csr", "weight_bytes": 1460, "instructions_est": 88100}},
        {"name": "dense", "op": "dense", "bits": 3, "sparsity": 0.9, "layout": "cser",
         "weight_bytes": 1770, "energy_pj": 88123.0},
        {"name": "dense_1", "op": "dense", "bits": 4, "sparsity": 0.85, "layout": "csr",
         "weight_bytes": 512, "energy_pj": 12001.4},
        {"name": "dense_2", "op": "dense", "bits": 5, "sparsity": 0.6, "layout": "dense",
         "weight_bytes": 318, "energy_pj": 3003.0},
    ],
    "weight_bytes": 3964, "flash_bytes": 11873, "ram_bytes": 3210,
    "board_flash": 524288, "board_ram": 98304,
    "accuracy": {"float": 0.9667, "quantized": 0.9600},
}
SIM = {
    "board": "nucleo_f401re", "qemu_machine": "netduinoplus2", "n_inputs": 450,
    "bit_exact": True, "mismatches": [], "n_mismatches": 0, "accuracy": 0.96, "instructions_per_inference": 412345,
    "layers": [{"name": "conv2d", "layout": "dense", "instructions": 180001},
               {"name": "conv2d_1", "layout": "cer", "instructions": 150123},
               {"name": "dense", "layout": "cser", "instructions": 52000},
               {"name": "dense_1", "layout": "csr", "instructions": 9876},
               {"name": "dense_2", "layout": "dense", "instructions": 2345}],
}
COMPRESS = {"layers": BUILD["layers"], "weight_bytes": 3964, "float_weight_bytes": 117800,
            "accuracy": BUILD["accuracy"]}
SWEEP = {"model": "examples/digits/model.keras", "float_accuracy": 0.9667, "points": [
    {"name": "s0-b8", "sparsity": 0.0, "bits": 8, "quantizer": "uniform",
     "weight_bytes": 29950, "accuracy": 0.9667, "pareto": True},
    {"name": "s80-b4", "sparsity": 0.8, "bits": 4, "quantizer": "uniform",
     "weight_bytes": 6012, "accuracy": 0.9622, "pareto": False},
    {"name": "s80-b4-rd", "sparsity": 0.8, "bits": 4, "quantizer": "rd",
     "weight_bytes": 5120, "accuracy": 0.9644, "pareto": True},
    {"name": "s95-b2", "sparsity": 0.95, "bits": 2, "quantizer": "rd",
     "weight_bytes": 1501, "accuracy": 0.8311, "pareto": True},
]}


class PageParser(HTMLParser):
    """Collects <img> src by id, table cells by table id, and every attribute value."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.attrs, self.text = {}, {}, [], []
        self._table = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attrs.extend(v for v in attrs.values() if v)
        if tag == "img":
            self.images[attrs["id"]] = attrs["src"]
        elif tag == "table":
            self._table = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(path):
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def as_int(cell):      # "11,873" -> 11873
    return int(cell.replace(",", ""))


def as_pct(cell):      # "96.67 %" -> 0.9667
    assert cell.endswith(" %"), cell
    return float(cell[:-2]) / 100.0


def as_float(cell):    # "512,345.6" -> 512345.6
    return float(cell.replace(",", ""))


def png_size(uri):
    """(width, height) from the IHDR chunk of a base64 PNG data URI."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):], validate=True)
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_dir(tmp_path, **reports):
    names = {"build": "build-report.json", "sim": "sim-report.json",
             "compress": "compress-report.json", "sweep": "sweep.json"}
    for key, data in reports.items():
        (tmp_path / names[key]).write_text(json.dumps(data))
    return tmp_path


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    d = write_dir(tmp_path_factory.mktemp("full"), build=BUILD, sim=SIM, compress=COMPRESS,
                  sweep=SWEEP)
    out = write_report(d)
    return d, out, parse(out)


def test_every_plot_is_an_inline_png(full):
    _, _, page = full
    assert set(page.images) == {"plot-weights", "plot-fill", "plot-instructions",
                                "plot-energy", "plot-sweep"}
    for name, uri in page.images.items():
        width, height = png_size(uri)
        assert width > 100 and height > 100, name


def test_no_external_references(full):
    _, out, page = full
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    # every src/href is inline data, nothing to fetch
    for value in page.attrs:
        assert not value.startswith(("//", "/", "file:")), value
    assert "<link" not in html and "<script" not in html


def test_layer_table_matches_json(full):
    _, _, page = full
    head, *rows = page.tables["layers"]
    assert head[:6] == ["layer", "op", "bits", "sparsity", "layout", "weight bytes"]
    sim = {l["name"]: l for l in SIM["layers"]}
    assert [r[0] for r in rows] == [l["name"] for l in BUILD["layers"]]
    for row, layer in zip(rows, BUILD["layers"]):
        name, op, bits, sparsity, layout, nbytes, instr, instr_est, fastest, energy = row
        assert (op, int(bits), layout) == (layer["op"], layer["bits"], layer["layout"])
        if "fastest" in layer:  # the cost model's estimate and the fastest layout beside it
            assert as_int(instr_est) == layer["instructions_est"]
            f = layer["fastest"]
            assert fastest == ("same" if f["layout"] == layer["layout"] else
                               f"{f['layout']}: {f['weight_bytes']:,} B, {f['instructions_est']:,}")
        assert as_pct(sparsity) == pytest.approx(layer["sparsity"], abs=0.0005)  # 1 decimal in %
        assert as_int(nbytes) == layer["weight_bytes"]
        assert as_int(instr) == sim[name]["instructions"]
        assert as_float(energy) == pytest.approx(layer["energy_pj"], abs=0.05)


def test_summary_matches_json(full):
    _, _, page = full
    summary = {row[0]: row[1] for row in page.tables["summary"]}
    assert as_int(summary["weight bytes"]) == BUILD["weight_bytes"]
    assert as_int(summary["float32 weight bytes"]) == COMPRESS["float_weight_bytes"]
    # "11,873 / 524,288 B (2.3 %)"
    for key, used, total in (("flash", "flash_bytes", "board_flash"), ("RAM", "ram_bytes", "board_ram")):
        m = re.fullmatch(r"([\d,]+) / ([\d,]+) B \(([\d.]+) %\)", summary[key])
        assert m, summary[key]
        assert (as_int(m[1]), as_int(m[2])) == (BUILD[used], BUILD[total])
        assert float(m[3]) == pytest.approx(100 * BUILD[used] / BUILD[total], abs=0.05)
    assert as_pct(summary["float accuracy"]) == pytest.approx(BUILD["accuracy"]["float"], abs=5e-5)
    assert as_pct(summary["quantized accuracy"]) == pytest.approx(BUILD["accuracy"]["quantized"], abs=5e-5)
    assert as_pct(summary["simulated accuracy"]) == pytest.approx(SIM["accuracy"], abs=5e-5)
    assert as_int(summary["instructions per inference"]) == SIM["instructions_per_inference"]
    assert as_int(summary["simulated inputs"]) == SIM["n_inputs"]
    assert as_int(summary["mismatches"]) == 0 and summary["bit-exact"] == "yes"
    assert summary["QEMU machine"] == SIM["qemu_machine"]


def test_sweep_table_matches_json(full):
    _, _, page = full
    head, *rows = page.tables["sweep"]
    by_name = {p["name"]: p for p in SWEEP["points"]}
    assert sorted(r[0] for r in rows) == sorted(by_name)
    bytes_col, acc_col, pareto_col = (head.index(h) for h in ("weight bytes", "accuracy", "Pareto"))
    for row in rows:
        point = by_name[row[0]]
        assert as_int(row[bytes_col]) == point["weight_bytes"]
        assert as_pct(row[acc_col]) == pytest.approx(point["accuracy"], abs=5e-5)
        assert (row[pareto_col] == "yes") == point["pareto"]
    # rows ordered by size, smallest first
    assert [as_int(r[bytes_col]) for r in rows] == sorted(p["weight_bytes"] for p in SWEEP["points"])


def test_output_is_deterministic(full):
    d, out, _ = full
    first = out.read_bytes()
    assert write_report(d).read_bytes() == first


def test_build_only_says_no_energy_data(tmp_path):
    build = {k: v for k, v in BUILD.items() if k != "accuracy"}
    build["layers"] = [{k: v for k, v in l.items() if k != "energy_pj"} for l in BUILD["layers"]]
    page = parse(write_report(write_dir(tmp_path, build=build)))
    assert set(page.images) == {"plot-weights", "plot-fill"}
    assert "no energy data" in "".join(page.text)
    summary = {row[0]: row[1] for row in page.tables["summary"]}
    assert summary["float accuracy"] == "–"
    rows = page.tables["layers"][1:]
    assert all(r[6] == "–" and r[-1] == "–" for r in rows)  # no instructions, no energy


def test_compress_report_alone_is_enough(tmp_path):
    page = parse(write_report(write_dir(tmp_path, compress=COMPRESS)))
    assert "plot-weights" in page.images and "plot-fill" not in page.images
    assert [as_int(r[5]) for r in page.tables["layers"][1:]] == [l["weight_bytes"] for l in COMPRESS["layers"]]


def test_names_are_escaped(tmp_path):
    build = json.loads(json.dumps(BUILD))
    build["layers"][0]["name"] = "<b>x</b>"
    out = write_report(write_dir(tmp_path, build=build))
    assert "<b>x</b>" not in out.read_text() and "&lt;b&gt;x&lt;/b&gt;" in out.read_text()


def test_missing_reports_rejected(tmp_path):
    with pytest.raises(DataError, match="no build-report.json"):
        write_report(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        write_report(tmp_path / "nope")
    (tmp_path / "build-report.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        write_report(tmp_path)


def test_bad_sweep_rejected(tmp_path):
    sweep = {"points": [{"weight_bytes": 10, "accuracy": 0.5}]}
    with pytest.raises(DataError, match="point 0 lacks pareto"):
        write_report(write_dir(tmp_path, build=BUILD, sweep=sweep))
