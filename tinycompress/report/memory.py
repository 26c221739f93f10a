"""RAM of a build: the `memory` section of build-report.json and its timeline plot.

    report["memory"] = memory_section(rendered.memory, memory_use(elf), stack)

RAM is three parts, given separately: the activation arena (one static
array of exactly the planned size), the stack reserve (measured:
`target.stack`), and the rest of .data + .bss (static data: the startup
library's state, the layer-name table). The timeline lists, per operator,
the buffers live while it runs; `plot_memory` stacks them by tensor, marks
the peak operator and draws the arena size (and TFLite Micro's arena for the
same model when the section carries it).
"""
from __future__ import annotations

from typing import Callable

from tinycompress.target.stack import StackReport


def memory_section(planned: dict, mem: dict, stack: StackReport | None) -> dict:
    """build-report.json's "memory": arena / stack / static bytes, the planner's figures,
    the measured stack chain and the per-operator timeline."""
    arena = planned["arena_bytes"]
    stack_bytes = mem.get("stack_bytes", 0)
    return {
        "ram_bytes": mem.get("ram_bytes"), "arena_bytes": arena, "stack_bytes": stack_bytes,
        "static_bytes": None if mem.get("ram_bytes") is None else mem["ram_bytes"] - arena - stack_bytes,
        "stack": None if stack is None else stack.as_dict(),
        **{k: v for k, v in planned.items() if k != "arena_bytes"},
    }


def peak_text(planned: dict) -> str:
    """'peak at layer X (op): N B live', for a fit error (empty without a timeline)."""
    if not planned.get("peak_layer"):
        return ""
    return (f"peak at layer {planned['peak_layer']} ({planned['peak_op']}): "
            f"{planned['peak_bytes']:,} B live")


def _series(rows: list[dict]) -> dict[str, list[int]]:
    """{tensor: bytes live at each operator} in order of first appearance; every kernel's
    scratch is one series."""
    label = lambda b: "kernel scratch" if b["tensor"].endswith(" scratch") else b["tensor"]  # noqa: E731
    names: list[str] = []
    for row in rows:
        for b in row["live"]:
            if label(b) not in names:
                names.append(label(b))
    return {n: [sum(b["bytes"] for b in row["live"] if label(b) == n) for row in rows]
            for n in names}


def plot_memory(memory: dict, figure: Callable, png_uri: Callable[..., str]) -> str:
    """Live bytes per operator, stacked by tensor, peak marked; a data: URI (png_uri)."""
    rows = memory["timeline"]
    fig, ax = figure()
    x = list(range(len(rows)))
    bottom = [0] * len(rows)
    series = _series(rows)
    cmap = _colors(len(series))
    for color, (name, heights) in zip(cmap, series.items()):
        ax.bar(x, heights, bottom=bottom, color=color, width=0.85,
               label=name if len(series) <= 12 else None)
        bottom = [b + h for b, h in zip(bottom, heights)]
    top = max(range(len(rows)), key=lambda i: rows[i]["bytes"]) if rows else 0
    if rows:
        ax.annotate(f"peak {rows[top]['bytes']:,} B", (top, rows[top]["bytes"]),
                    xytext=(0, 6), textcoords="offset points", ha="center", color="#c44e52")
    ax.axhline(memory["arena_bytes"], color="#333333", linestyle="--", linewidth=1,
               label=f"arena {memory['arena_bytes']:,} B")
    if memory.get("tflm_arena_bytes"):
        ax.axhline(memory["tflm_arena_bytes"], color="#c44e52", linestyle=":", linewidth=1,
                   label=f"TFLite Micro arena {memory['tflm_arena_bytes']:,} B")
    tallest = max([memory["arena_bytes"], memory.get("tflm_arena_bytes") or 0]
                  + [r["bytes"] for r in rows])
    ax.set_ylim(0, tallest * 1.2)  # room for the peak's label under the title
    ax.set_xticks(x, [r["layer"] for r in rows], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("live bytes")
    ax.set_title("Activation memory per operator, by tensor")
    ax.legend(fontsize=6, ncol=2, loc="upper right")
    return png_uri(fig)


def _colors(n: int) -> list[str]:
    base = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
            "#8c8c8c", "#ccb974", "#64b5cd"]
    return [base[i % len(base)] for i in range(n)]
