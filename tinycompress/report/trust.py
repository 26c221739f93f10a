"""The report's trust section: float / TFLite int8 / ours side by side, and the confusion matrix.

Reads the `trust` document of build-report.json or compress-report.json
(`tinycompress.compress.trust.compare`). Formats as page.py: integers with
thousands commas, fractions as percent with 2 decimals, SNR in dB with 1.
"""
from __future__ import annotations

SPLIT_NAMES = {"val": "validation", "eval": "eval"}


def _pct(v) -> str:
    return "–" if v is None else f"{100.0 * v:.2f} %"


def _snr(v) -> str:
    return "–" if v is None else f"{v:.1f} dB"


def trust_table(trust: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per model its bytes, x smaller than float, and per split the figures."""
    splits = [s for s in ("val", "eval") if any(s in r["splits"] for r in trust["rows"])]
    head = ["model", "weight bytes", "x smaller than float"]
    for s in splits:
        name = SPLIT_NAMES[s]
        head += [f"accuracy ({name})", f"top-1 agreement ({name})",
                 f"relative RMS error ({name})", f"SNR ({name})"]
    rows = []
    for r in trust["rows"]:
        ratio = r["size_ratio"]
        row = [r["model"], f"{r['weight_bytes']:,}", "–" if not ratio else f"{1 / ratio:.1f}"]
        for s in splits:
            f = r["splits"].get(s, {})
            row += [_pct(f.get("accuracy")), _pct(f.get("top1_agreement")),
                    _pct(f.get("rel_rms_error")), _snr(f.get("snr_db"))]
        rows.append(row)
    return head, rows


def plot_confusion(conf: dict, figure, png_uri) -> str:
    """The confusion matrix (true class down, predicted across) as a PNG data URI."""
    fig, ax = figure()
    matrix, labels = conf["matrix"], conf["labels"]
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(labels)), [str(v) for v in labels])
    ax.set_yticks(range(len(labels)), [str(v) for v in labels])
    ax.set_xlabel("predicted (tinycompress, integer model)")
    ax.set_ylabel("true label")
    ax.set_title(f"Confusion matrix on the {SPLIT_NAMES.get(conf['split'], conf['split'])} split")
    return png_uri(fig)
