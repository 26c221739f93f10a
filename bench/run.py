"""`make bench`: tinycompress side by side with TFLite int8 / TFLite Micro.

    .venv/bin/python bench/run.py [--models digits,ic,ad] [--quick] [--work DIR]

Writes bench/results.json and bench/results.md (see bench/results.py for the
schema). Build directories and fine-tuned models go to --work (default
build/bench, ignored by git). The MLPerf Tiny models are read from
<repo>/../shared/models/mlperf_tiny; when that directory is absent the bench
says so and skips them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the repo importable (bench, tinycompress)
    sys.path.insert(0, str(REPO))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ chatter hides the progress lines

from bench import markdown, results  # noqa: E402

MODEL_KEYS = {"digits": "digits", "ic": "mlperf_ic", "ad": "mlperf_ad"}


class Progress:
    """One line per step with elapsed wall time, model and step number."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.model = ""
        self.step = 0

    def for_model(self, name: str):
        self.model, self.step = name, 0
        return self.tick

    def tick(self, what: str) -> None:
        self.step += 1
        elapsed = int(time.monotonic() - self.start)
        print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {self.model:<10} #{self.step:<3d} {what}",
              file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits,ic,ad",
                        help="comma-separated subset of: " + ", ".join(MODEL_KEYS))
    parser.add_argument("--quick", action="store_true",
                        help="small grid and sparsities 0/90 only (for iterating on the bench)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench",
                        help="directory for builds and fine-tuned models")
    parser.add_argument("--out", type=Path, default=REPO / "bench",
                        help="where results.json and results.md are written")
    parser.add_argument("--no-speed", action="store_true",
                        help="skip the speed section (instructions per inference vs the anchors)")
    parser.add_argument("--no-ram", action="store_true",
                        help="skip the RAM section (arena + stack vs TFLite Micro's arena)")
    parser.add_argument("--render-only", action="store_true",
                        help="re-render results.md from the existing results.json (no measuring)")
    args = parser.parse_args(argv)
    args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.model_list if m not in MODEL_KEYS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_KEYS)}")
    return args


def selected_entries(names: list[str]) -> list[tuple[str, dict | None, str | None]]:
    """(results key, bench_models entry or None, reason skipped) for every requested model."""
    from bench.baselines import bench_models

    by_key = {e["name"]: e for e in bench_models()}
    out = []
    for name in names:
        entry = by_key[MODEL_KEYS[name]]
        if not Path(entry["path"]).is_file():
            out.append((entry["name"], None, f"model file {entry['path']} not found (the shared "
                        "models directory must sit beside the repository: <repo>/../shared/models)"))
        else:
            out.append((entry["name"], entry, None))
    return out


def _markdown(doc: dict) -> str:
    from bench.ram import markdown as ram_markdown  # the RAM section (issue 13)

    return markdown.render(doc) + ("\n" + ram_markdown(doc["ram"]) if doc.get("ram") else "")


def write(doc: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results.write_json(doc, out / "results.json")
    (out / "results.md").write_text(_markdown(doc), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        doc = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
        (args.out / "results.md").write_text(_markdown(doc), encoding="utf-8")
        return 0
    from bench.model_bench import Settings, run_model

    command = "bench/run.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(argv or sys.argv[1:]))
    doc = results.new_document(command, args.quick)
    progress, start = Progress(), time.monotonic()
    for key, entry, skipped in selected_entries(args.model_list):
        if entry is None:
            print(f"SKIPPED {key}: {skipped}", file=sys.stderr, flush=True)
            doc["models"][key] = {"skipped": skipped}
            continue
        doc["models"][key] = run_model(entry, Settings(quick=args.quick), args.work / key,
                                       progress.for_model(key))
        write(results.finish(doc, time.monotonic() - start), args.out)  # partial results survive
    if not args.no_speed:
        from bench.speed import run_speed

        entries = [entry for _, entry, _ in selected_entries(args.model_list) if entry is not None]
        doc["speed"] = run_speed(entries, args.work / "speed", progress.for_model("speed"))
    if not args.no_ram:
        from bench.ram import run_ram

        doc["ram"] = run_ram(args.work / "ram", progress.for_model("ram"))
    write(results.finish(doc, time.monotonic() - start), args.out)
    problems = results.schema_problems(doc)
    for problem in problems:
        print(f"schema: {problem}", file=sys.stderr)
    for check in doc["targets"]:
        print(f"{check['status']:<4}  #{check['issue']} {check['what']}: {check['measured']} "
              f"(target {check['target']})")
    print(f"wrote {args.out / 'results.md'} and results.json in {time.monotonic() - start:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
