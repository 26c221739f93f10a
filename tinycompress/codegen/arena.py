"""Static activation-arena planning.

Every activation tensor gets an offset in one static arena. Two tensors may
share bytes only when their lifetimes do not overlap; a kernel's output is
live at the step that reads its inputs, so outputs never alias inputs.
Reshapes alias their input (same bytes, no copy). A kernel's scratch buffer
(`codegen.scratch`) is live only at its layer's step: it may share bytes with
any tensor not live at that step, never with the layer's inputs or output.

Placement is greedy by size (largest first), each tensor at the lowest
4-byte-aligned offset free for its whole lifetime; deterministic for a given
list of tensors (ties broken by first use, then name).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 4


@dataclass(frozen=True)
class TensorLife:
    """A tensor of `size` bytes, written at step `first`, last read at step `last`."""

    name: str
    size: int
    first: int
    last: int
    alias_of: str | None = None  # a reshape: shares the bytes of this tensor


@dataclass
class ArenaPlan:
    offsets: dict[str, int]
    size: int
    scratch: dict[str, int] = field(default_factory=dict)  # layer -> offset of its scratch

    def offset(self, name: str) -> int:
        return self.offsets[name]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _merge_aliases(tensors: list[TensorLife]) -> tuple[list[TensorLife], dict[str, str]]:
    """Fold alias chains into their root tensor, extending its lifetime."""
    root = {}
    for t in tensors:
        root[t.name] = root.get(t.alias_of, t.alias_of) if t.alias_of else t.name
    span: dict[str, tuple[int, int, int]] = {}
    for t in tensors:
        r = root[t.name]
        size, first, last = span.get(r, (0, t.first, t.last))
        span[r] = (max(size, t.size), min(first, t.first), max(last, t.last))
    merged = [TensorLife(name, s, f, l) for name, (s, f, l) in span.items()]
    return merged, root


def plan_arena(tensors: list[TensorLife], scratch: list[TensorLife] = ()) -> ArenaPlan:
    """Assign every tensor, and every layer's scratch buffer, an offset; returns the
    offsets and the arena size. A scratch TensorLife is named after its layer."""
    merged, root = _merge_aliases(tensors)
    items = [("tensor", t) for t in merged] + [("scratch", t) for t in scratch]
    order = sorted(items, key=lambda it: (-it[1].size, it[1].first, it[0], it[1].name))
    placed: list[tuple[int, int, TensorLife]] = []  # (start, end, tensor)
    offsets: dict[tuple[str, str], int] = {}
    for kind, t in order:
        clashes = sorted(
            (start, end) for start, end, other in placed
            if other.first <= t.last and t.first <= other.last
        )
        offset = 0
        for start, end in clashes:
            if offset + t.size <= start:
                break
            offset = max(offset, _align(end))
        offsets[kind, t.name] = offset
        placed.append((offset, offset + t.size, t))
    size = _align(max((end for _, end, _ in placed), default=0))
    return ArenaPlan({name: offsets["tensor", r] for name, r in root.items()}, size,
                     {t.name: offsets["scratch", t.name] for t in scratch})
