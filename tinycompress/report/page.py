"""`tinycompress report DIR`: one self-contained HTML page from a build's JSON reports.

Inputs, all in DIR (at least one of the first two):
- `build-report.json` (`tinycompress build`): board, model, layers
  [{name, op, bits, sparsity, layout, weight_bytes, energy_pj?}], weight_bytes,
  flash_bytes, ram_bytes, board_flash, board_ram, accuracy {float, quantized}?.
  `layers[].energy_pj` (optional) is the layer's estimated energy per
  inference in pJ (`tinycompress.layouts.energy`); without it the page says
  "no energy data".
- `compress-report.json` (`tinycompress compress`): layers, weight_bytes,
  float_weight_bytes, accuracy {float, quantized}; used for the layers when
  there is no build report, and for float_weight_bytes.
- `sim-report.json` (`tinycompress sim`, optional): board, qemu_machine,
  n_inputs, bit_exact, mismatches, accuracy, instructions_per_inference,
  layers [{name, layout, instructions}].
- `sweep.json` (`tinycompress sweep`, optional), schema:
      {"model": str?,                      # what was swept
       "float_accuracy": float?,           # 0..1, drawn as a reference line
       "points": [{"weight_bytes": int,    # total weight bytes of the point
                   "accuracy": float,      # 0..1 on the labelled data
                   "pareto": bool,         # on the bytes-vs-accuracy front
                   "sparsity": float?, "bits": int?, "quantizer": str?,
                   "name": str?}]}         # optional settings, shown in the table

Output: DIR/report.html, no external assets: plots are matplotlib (Agg) PNGs
inlined as base64 `data:` URIs, CSS inline. The page is deterministic: fixed
order everywhere and PNGs saved without the software/date metadata.

Number formats (the test parses them back): integers with thousands commas;
accuracies and sparsities as percent with 2 / 1 decimals; energy in pJ with
1 decimal.
"""
from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from tinycompress.errors import DataError
from tinycompress.paths import TEMPLATES_DIR
from tinycompress.report.memory import plot_memory
from tinycompress.report.board_energy import energy_rows
from tinycompress.report.trust import SPLIT_NAMES, plot_confusion, trust_table

REPORT_NAME = "report.html"
TEMPLATE_NAME = "report.html.j2"
LAYOUT_ORDER = ("dense", "csr", "cer", "cser", "pcsr")
LAYOUT_COLORS = {"dense": "#4c72b0", "csr": "#dd8452", "cer": "#55a868", "cser": "#c44e52",
                 "pcsr": "#8172b3"}
_FIG_SIZE = (7.0, 3.4)
_DPI = 100


@dataclass
class Inputs:
    """The JSON reports found in a build directory (None when absent)."""

    build: dict | None
    compress: dict | None
    sim: dict | None
    sweep: dict | None

    @property
    def main(self) -> dict:
        """The report that describes the layers: build's, else compress's."""
        return self.build if self.build is not None else self.compress


@dataclass
class Page:
    """Everything the template shows: titles, tables of strings, PNG data URIs."""

    title: str
    summary: list[tuple[str, str]]
    layers_head: list[str]
    layers: list[list[str]]
    plots: dict[str, str] = field(default_factory=dict)
    energy_note: str = ""
    sweep_head: list[str] = field(default_factory=list)
    sweep: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trust_head: list[str] = field(default_factory=list)
    trust: list[list[str]] = field(default_factory=list)
    trust_note: str = ""


def write_report(build_dir: str | Path) -> Path:
    """Write BUILD_DIR/report.html from the JSON reports in it; return its path."""
    build_dir = Path(build_dir)
    inputs = read_inputs(build_dir)
    page = make_page(inputs)
    page.summary += energy_rows(build_dir, inputs.build, inputs.sim)  # measured beside the estimates
    out = build_dir / REPORT_NAME
    out.write_text(render_html(page), encoding="utf-8")
    return out


def read_inputs(build_dir: Path) -> Inputs:
    """Load the reports; DataError when the directory or both layer reports are missing."""
    if not build_dir.is_dir():
        raise DataError(f"{build_dir}: not a directory")
    inputs = Inputs(*(_read_json(build_dir / n) for n in (
        "build-report.json", "compress-report.json", "sim-report.json", "sweep.json")))
    if inputs.main is None:
        raise DataError(f"{build_dir}: no build-report.json or compress-report.json "
                        "(run `tinycompress build` or `tinycompress compress` first)")
    if not isinstance(inputs.main.get("layers"), list):
        raise DataError(f"{build_dir}: the build/compress report has no 'layers' list")
    return inputs


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# --- formatting (the test parses these back) ---------------------------------

def mismatch_count(sim: dict) -> int | None:
    """Mismatching outputs: sim-report.json lists them (`mismatches`) and counts them."""
    if "n_mismatches" in sim:
        return sim["n_mismatches"]
    found = sim.get("mismatches")
    return len(found) if isinstance(found, list) else found


def fmt_int(value) -> str:
    """12345 -> '12,345'; None -> '–'."""
    return "–" if value is None else f"{int(value):,}"


def fmt_pct(fraction, decimals: int = 2) -> str:
    """0.9667 -> '96.67 %'; None -> '–'."""
    return "–" if fraction is None else f"{100.0 * float(fraction):.{decimals}f} %"


def fmt_pj(value) -> str:
    """Energy in pJ with one decimal and thousands commas; None -> '–'."""
    return "–" if value is None else f"{float(value):,.1f}"


def fmt_fill(used, total) -> str:
    """'12,345 / 524,288 B (2.4 %)'."""
    if used is None:
        return "–"
    if not total:
        return f"{fmt_int(used)} B"
    return f"{fmt_int(used)} / {fmt_int(total)} B ({100.0 * used / total:.1f} %)"


# --- page --------------------------------------------------------------------

def make_page(inputs: Inputs) -> Page:
    """Tables and plots for the template."""
    main = inputs.main
    page = Page(title=_title(inputs), summary=_summary(inputs),
                layers_head=["layer", "op", "bits", "sparsity", "layout", "weight bytes",
                             "instructions", "instructions (est.)", "fastest layout (est.)",
                             "energy (pJ, est.)"],
                layers=_layer_rows(inputs), warnings=list(main.get("warnings") or []))
    trust = main.get("trust")
    if trust:
        page.trust_head, page.trust = trust_table(trust)
        page.trust_note = f"TFLite int8: {trust['tflite']}"
        if trust.get("confusion"):
            page.plots["confusion"] = plot_confusion(trust["confusion"], _figure, _png_uri)
    page.plots["weights"] = plot_weights(main["layers"])
    if inputs.build is not None and inputs.build.get("board_flash"):
        page.plots["fill"] = plot_fill(inputs.build)
    if inputs.build is not None and (inputs.build.get("memory") or {}).get("timeline"):
        page.plots["memory"] = plot_memory(inputs.build["memory"], _figure, _png_uri)
    if inputs.sim is not None and inputs.sim.get("layers"):
        page.plots["instructions"] = plot_instructions(inputs.sim["layers"])
    energy = _energy(main["layers"])
    if energy is None:
        page.energy_note = "no energy data"
    else:
        page.plots["energy"] = plot_energy(energy)
    if inputs.sweep is not None:
        points = _sweep_points(inputs.sweep)
        page.plots["sweep"] = plot_sweep(points, inputs.sweep.get("float_accuracy"),
                                         inputs.sweep.get("split"))
        page.sweep_head, page.sweep = _sweep_table(points)
    return page


def _title(inputs: Inputs) -> str:
    main = inputs.main
    board = main.get("board") or (inputs.sim or {}).get("board")
    model = Path(str(main.get("model", "model"))).name
    return f"tinycompress report: {model}" + (f" on {board}" if board else "")


def _summary(inputs: Inputs) -> list[tuple[str, str]]:
    main, sim, build = inputs.main, inputs.sim, inputs.build
    float_bytes = (inputs.compress or {}).get("float_weight_bytes", main.get("float_weight_bytes"))
    accuracy = main.get("accuracy") or {}
    rows = [("model", str(main.get("model", "–"))), ("board", str(main.get("board", "–"))),
            ("weight bytes", fmt_int(main.get("weight_bytes"))),
            ("float32 weight bytes", fmt_int(float_bytes))]
    if build is not None:
        rows += [("flash", fmt_fill(build.get("flash_bytes"), build.get("board_flash"))),
                 ("RAM", fmt_fill(build.get("ram_bytes"), build.get("board_ram")))]
    if float_bytes and main.get("weight_bytes"):
        rows.append(("x smaller than float32", f"{float_bytes / main['weight_bytes']:.1f}"))
    split = accuracy.get("split")
    where = f" ({SPLIT_NAMES.get(split, split)})" if split else ""
    rows += [(f"float accuracy{where}", fmt_pct(accuracy.get("float"))),
             (f"quantized accuracy{where}", fmt_pct(accuracy.get("quantized")))]
    if sim is not None:
        rows += [("QEMU machine", str(sim.get("qemu_machine", "–"))),
                 ("simulated inputs", fmt_int(sim.get("n_inputs"))),
                 ("bit-exact", "yes" if sim.get("bit_exact") else "NO"),
                 ("mismatches", fmt_int(mismatch_count(sim))),
                 ("simulated accuracy", fmt_pct(sim.get("accuracy"))),
                 ("instructions per inference", fmt_int(sim.get("instructions_per_inference")))]
    return rows


def _layer_rows(inputs: Inputs) -> list[list[str]]:
    sim_layers = {l["name"]: l for l in (inputs.sim or {}).get("layers", [])}
    rows = []
    for layer in inputs.main["layers"]:
        sim = sim_layers.get(layer["name"], {})
        sparsity = layer.get("sparsity")
        rows.append([str(layer["name"]), str(layer.get("op", "–")),
                     "–" if layer.get("bits") is None else str(layer["bits"]),
                     fmt_pct(sparsity, 1), str(layer.get("layout", "–")),
                     fmt_int(layer.get("weight_bytes")), fmt_int(sim.get("instructions")),
                     fmt_int(layer.get("instructions_est")), _fastest(layer),
                     fmt_pj(layer.get("energy_pj"))])
    return rows


def _fastest(layer: dict) -> str:
    """The fastest layout by the cost model, with its bytes and instructions ('same': chosen)."""
    f = layer.get("fastest") or {}
    if not f:
        return "–"
    if f.get("layout") == layer.get("layout"):
        return "same"
    return f"{f['layout']}: {fmt_int(f.get('weight_bytes'))} B, {fmt_int(f.get('instructions_est'))}"


def _energy(layers: list[dict]) -> list[tuple[str, float]] | None:
    """(name, pJ) of the layers that carry an energy estimate, or None if none do."""
    pairs = [(l["name"], float(l["energy_pj"])) for l in layers if l.get("energy_pj") is not None]
    return pairs or None


def _sweep_points(sweep: dict) -> list[dict]:
    points = sweep.get("points")
    if not isinstance(points, list) or not points:
        raise DataError("sweep.json: expected a non-empty 'points' list")
    for i, p in enumerate(points):
        missing = [k for k in ("weight_bytes", "accuracy", "pareto") if k not in p]
        if missing:
            raise DataError(f"sweep.json: point {i} lacks {', '.join(missing)}")
        if p["accuracy"] is None and not isinstance(p.get("loss_pts"), (int, float)):
            raise DataError(f"sweep.json: point {i} has neither an accuracy nor a loss_pts")
    return sorted(points, key=lambda p: (p["weight_bytes"], -_quality(p)))


def _quality(point: dict) -> float:
    """Higher is better: the accuracy in %, else minus the fidelity loss in points."""
    return 100.0 * point["accuracy"] if point["accuracy"] is not None else -point["loss_pts"]


def _sweep_table(points: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["name", "sparsity", "bits", "quantizer", "weight bytes", "accuracy", "loss (pt)", "Pareto"]
    rows = [[str(p.get("name", "–")), fmt_pct(p.get("sparsity"), 1),
             "–" if p.get("bits") is None else str(p["bits"]), str(p.get("quantizer", "–")),
             fmt_int(p["weight_bytes"]), fmt_pct(p["accuracy"]),
             "–" if not isinstance(p.get("loss_pts"), (int, float)) else f"{p['loss_pts']:.2f}",
             "yes" if p["pareto"] else ""] for p in points]
    return head, rows


# --- plots -------------------------------------------------------------------

def _figure():
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    fig = Figure(figsize=_FIG_SIZE, dpi=_DPI)
    return fig, fig.add_subplot()


def _png_uri(fig) -> str:
    """The figure as a data: URI; metadata dropped so the bytes are reproducible."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot_weights(layers: list[dict]) -> str:
    """Per-layer weight bytes, one stacked series per layout."""
    fig, ax = _figure()
    names = [l["name"] for l in layers]
    layouts = [n for n in LAYOUT_ORDER if any(l.get("layout") == n for l in layers)]
    layouts += sorted({str(l.get("layout")) for l in layers} - set(layouts))
    bottom = [0] * len(layers)
    for layout in layouts:
        heights = [l.get("weight_bytes", 0) if l.get("layout") == layout else 0 for l in layers]
        ax.bar(names, heights, bottom=bottom, label=layout,
               color=LAYOUT_COLORS.get(layout, "#8c8c8c"))
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_ylabel("weight bytes")
    ax.set_title("Weight bytes per layer, by layout")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=45)
    return _png_uri(fig)


def plot_fill(build: dict) -> str:
    """How full the board's flash and RAM are (percent)."""
    fig, ax = _figure()
    labels, used = [], []
    for label, key, total_key in (("flash", "flash_bytes", "board_flash"),
                                  ("RAM", "ram_bytes", "board_ram")):
        if build.get(total_key):
            labels.append(label)
            used.append(100.0 * build.get(key, 0) / build[total_key])
    ax.barh(labels, [100.0] * len(labels), color="#e0e0e0")
    ax.barh(labels, used, color="#4c72b0")
    for y, pct in enumerate(used):
        ax.text(min(pct, 100.0) + 1, y, f"{pct:.1f} %", va="center")
    ax.set_xlim(0, 110)
    ax.set_xlabel(f"percent of {build.get('board', 'board')}")
    ax.set_title("Board flash and RAM fill")
    return _png_uri(fig)


def plot_instructions(sim_layers: list[dict]) -> str:
    """Instructions per layer and inference in QEMU, coloured by layout."""
    fig, ax = _figure()
    ax.bar([l["name"] for l in sim_layers], [l.get("instructions", 0) for l in sim_layers],
           color=[LAYOUT_COLORS.get(l.get("layout"), "#8c8c8c") for l in sim_layers])
    ax.set_ylabel("instructions")
    ax.set_title("Instructions per layer (QEMU)")
    ax.tick_params(axis="x", labelrotation=45)
    return _png_uri(fig)


def plot_energy(pairs: list[tuple[str, float]]) -> str:
    """Estimated energy per layer and inference."""
    fig, ax = _figure()
    ax.bar([n for n, _ in pairs], [pj / 1e6 for _, pj in pairs], color="#55a868")
    ax.set_ylabel("µJ (estimate)")
    ax.set_title("Estimated energy per layer (45 nm op model, not measured)")
    ax.tick_params(axis="x", labelrotation=45)
    return _png_uri(fig)


def plot_sweep(points: list[dict], float_accuracy: float | None, split: str | None = None) -> str:
    """Weight bytes vs accuracy (or fidelity loss, without labels) of all sweep points,
    the Pareto front joined."""
    fig, ax = _figure()
    by_acc = all(p["accuracy"] is not None for p in points)
    y = (lambda p: 100 * p["accuracy"]) if by_acc else (lambda p: p["loss_pts"])  # noqa: E731
    ax.scatter([p["weight_bytes"] for p in points], [y(p) for p in points],
               color="#b0b0b0", label="points")
    front = [p for p in points if p["pareto"]]
    ax.plot([p["weight_bytes"] for p in front], [y(p) for p in front],
            "o-", color="#c44e52", label="Pareto front")
    if float_accuracy is not None and by_acc:
        ax.axhline(100 * float_accuracy, color="#4c72b0", linestyle="--", label="float")
    where = f" on the {SPLIT_NAMES.get(split, split)} split" if split else ""
    ax.set_xscale("log")
    ax.set_xlabel("weight bytes")
    ax.set_ylabel(f"accuracy (%){where}" if by_acc else f"fidelity loss (pt){where}")
    ax.set_title("Size–accuracy front" if by_acc else "Size–fidelity front")
    ax.legend()
    return _png_uri(fig)


# --- HTML --------------------------------------------------------------------

def render_html(page: Page) -> str:
    """The page through templates/report.html.j2 (autoescaped)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.get_template(TEMPLATE_NAME).render(page=page)
