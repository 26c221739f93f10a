"""The firmware's stack, measured: GCC's per-function frames over the call graph.

Every file is compiled with `-fstack-usage -fcallgraph-info=su` (STACK_FLAGS),
so next to each object GCC writes a `.ci` call graph (VCG text) whose nodes
carry the function's frame ("136 bytes (static)") and whose edges are its
calls. `measure(build_dirs)` joins the graphs of one build and takes the
deepest chain from the reset handler (frames added along the path):

    Reset_Handler 8 -> main 120 -> tc_model_run 32 -> tc_maxpool2d_s8 176 -> ...

The reserve written into the linker script is that figure plus STACK_MARGIN,
rounded up to the 8-byte stack alignment of the AAPCS. The margin covers
what the graph cannot see: one exception frame with the FPU's registers
(Cortex-M4F: 26 words, 104 B) and the C library's leaf functions
(memcpy, memset, the semihosting trap), compiled elsewhere without a `.su`;
they are listed as `unknown` in the report. A call through a pointer (the
firmware's per-layer hook) is charged the deepest chain of any function whose
address the call graph cannot otherwise explain: those no direct call
reaches (but `main` and the exception handlers). Recursion would make the figure unbounded: ValueError.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

STACK_FLAGS = ("-fstack-usage", "-fcallgraph-info=su")
STACK_MARGIN = 256  # bytes: one FPU exception frame (104 B) and uncounted library leaves
STACK_ALIGN = 8
ROOTS = ("Reset_Handler", "main")  # the chain starts at the first one the firmware has
INDIRECT = "__indirect_call"

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"\\]+)(?:\\n[^"]*?)?(?:\\n(\d+) bytes \(([^)]+)\))?"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


@dataclass
class StackReport:
    """Deepest call chain from the reset handler and the reserve made of it."""

    bytes: int  # sum of the frames along the deepest chain
    chain: list[tuple[str, int]]  # (function, frame bytes) from the reset handler down
    reserve: int  # bytes + STACK_MARGIN, aligned
    unknown: list[str] = field(default_factory=list)  # called, no frame size (library code)
    dynamic: list[str] = field(default_factory=list)  # frames GCC could not bound statically

    def as_dict(self) -> dict:
        return {"measured_bytes": self.bytes, "reserve_bytes": self.reserve,
                "margin_bytes": STACK_MARGIN,
                "chain": [{"function": f, "bytes": b} for f, b in self.chain],
                "unknown_functions": self.unknown, "dynamic_frames": self.dynamic}


def _name(title: str) -> str:
    """A node title is `file:function` for a static function, else the function."""
    return title.rsplit(":", 1)[-1]


def parse_callgraph(texts: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, set[str]]]:
    """({title: (frame bytes, qualifier)} of the functions compiled here, {caller: callees})
    from the text of `.ci` files; a title seen only as a callee has no frame."""
    frames: dict[str, tuple[int, str]] = {}
    calls: dict[str, set[str]] = {}
    for text in texts:
        for m in _NODE.finditer(text):
            if m.group(3) is not None:
                frames[m.group(1)] = (int(m.group(3)), m.group(4))
        for m in _EDGE.finditer(text):
            calls.setdefault(m.group(1), set()).add(m.group(2))
    return frames, calls


def deepest_chain(frames: dict[str, tuple[int, str]], calls: dict[str, set[str]],
                  roots: tuple[str, ...] = ROOTS) -> tuple[int, list[tuple[str, int]], list[str]]:
    """(bytes, chain, functions without a frame) of the deepest path from the first of
    `roots` the graph has.

    A call through a pointer may reach any pointer target (module doc) not already on
    the chain: the firmware calls nothing recursively, through pointers either (the FC
    kernel calls its layout's row engine through a pointer, which calls its index
    type's loop through another). Chains with no pointer call below them are memoized.
    """
    called = {t for targets in calls.values() for t in targets}
    names = {_name(t): t for t in frames}
    root = next((names[r] for r in roots if r in names), None)
    if root is None:
        raise ValueError(f"no {' or '.join(roots)} in the call graph")
    pointer_targets = sorted(t for t in frames if t not in called and t != root
                             and _name(t) not in roots and not _name(t).endswith("_Handler"))
    unknown: set[str] = set()
    pure: dict[str, tuple[int, list[tuple[str, int]]] | None] = {}  # None: a pointer call below

    def depth(title: str, path: frozenset[str]) -> tuple[int, list[tuple[str, int]]]:
        if title in path:
            raise ValueError(f"recursion through {_name(title)}: the stack is unbounded")
        if pure.get(title) is not None:
            return pure[title]
        if title == INDIRECT:
            found = [depth(t, path) for t in pointer_targets if t not in path]
            return max(found, key=lambda f: f[0], default=(0, []))
        own = frames.get(title, (0, ""))[0]
        if title not in frames:
            unknown.add(_name(title))
        best: tuple[int, list[tuple[str, int]]] = (0, [])
        below = path | {title}
        for t in sorted(calls.get(title, ())):
            found = depth(t, below)
            if found[0] > best[0]:
                best = found
        result = (own + best[0], [(_name(title), own)] + best[1])
        if not _reaches_pointer(title, calls, set()):
            pure[title] = result
        return result

    total, chain = depth(root, frozenset())
    return total, chain, sorted(unknown)


def _reaches_pointer(title: str, calls: dict[str, set[str]], seen: set[str]) -> bool:
    """Some call below `title` goes through a pointer."""
    if title == INDIRECT:
        return True
    seen.add(title)
    return any(_reaches_pointer(t, calls, seen) for t in calls.get(title, ()) if t not in seen)


def reserve_for(measured: int) -> int:
    """The linker script's stack reserve for a measured chain of `measured` bytes."""
    need = measured + STACK_MARGIN
    return (need + STACK_ALIGN - 1) // STACK_ALIGN * STACK_ALIGN


def measure(build_dirs: list[Path]) -> StackReport:
    """The deepest chain over the `.ci` files under each build directory (the largest
    of them, e.g. the QEMU and the hardware builds). ValueError when there are none."""
    best: StackReport | None = None
    for build in build_dirs:
        texts = [p.read_text(encoding="utf-8", errors="replace")
                 for p in sorted(Path(build).rglob("*.ci"))]
        if not texts:
            raise ValueError(f"no call graphs (.ci) under {build}: compiled without "
                             f"{' '.join(STACK_FLAGS)}?")
        frames, calls = parse_callgraph(texts)
        total, chain, unknown = deepest_chain(frames, calls)
        dynamic = sorted({_name(t) for t, (_, kind) in frames.items() if "dynamic" in kind})
        report = StackReport(total, chain, reserve_for(total), unknown, dynamic)
        if best is None or report.bytes > best.bytes:
            best = report
    if best is None:
        raise ValueError("no build directories to measure")
    return best
