"""Static activation-arena planning: an offset for every buffer from its lifetime.

Every activation tensor gets an offset in one static arena. Two tensors may
share bytes only when their lifetimes do not overlap; a kernel's output is
live at the step that reads its inputs, so outputs never alias inputs unless
the caller says so (`alias_of`: a reshape, or an in-place operator that
writes over an input dying at its step; `codegen.memory` decides which). A
kernel's scratch buffer (`codegen.scratch`) is live only at its layer's step:
it may share bytes with any tensor not live at that step, never with the
layer's inputs or output.

Placement: each buffer, taken in some order, goes at the lowest 4-byte
aligned offset free for its whole lifetime. The size of any arena is at
least the largest sum of the sizes live at one step (`lower_bound`). The
planner tries a few greedy orders (largest first, longest-lived first, ...),
then a branch-and-bound over placement orders (depth first, pruned when a
partial plan is already as tall as the best found) until a plan reaches the
lower bound (proven optimal) or a budget of placements runs out (the time
limit, counted in placements so the result does not depend on the machine's
speed). Deterministic for a given list of buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 4
SEARCH_BUDGET = 20_000  # placements the branch-and-bound may try (about a second)


@dataclass(frozen=True)
class TensorLife:
    """A tensor of `size` bytes, written at step `first`, last read at step `last`."""

    name: str
    size: int
    first: int
    last: int
    alias_of: str | None = None  # shares the bytes of this tensor (reshape, in-place op)


@dataclass
class ArenaPlan:
    offsets: dict[str, int]
    size: int
    scratch: dict[str, int] = field(default_factory=dict)  # layer -> offset of its scratch
    lower_bound: int = 0  # no arena for these lifetimes can be smaller
    method: str = "greedy"  # which search found it: greedy order or branch-and-bound

    def offset(self, name: str) -> int:
        return self.offsets[name]

    @property
    def optimal(self) -> bool:
        """The plan is proven optimal: it reaches the lower bound."""
        return self.size <= self.lower_bound


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def merge_aliases(tensors: list[TensorLife]) -> tuple[list[TensorLife], dict[str, str]]:
    """Fold alias chains into their root tensor, extending its lifetime; (buffers, root
    of every tensor)."""
    root: dict[str, str] = {}
    for t in tensors:
        root[t.name] = root.get(t.alias_of, t.alias_of) if t.alias_of else t.name
    span: dict[str, tuple[int, int, int]] = {}
    for t in tensors:
        r = root[t.name]
        size, first, last = span.get(r, (0, t.first, t.last))
        span[r] = (max(size, t.size), min(first, t.first), max(last, t.last))
    merged = [TensorLife(name, s, f, l) for name, (s, f, l) in span.items()]
    return merged, root


def lower_bound(buffers: list[TensorLife]) -> int:
    """The largest total of buffer bytes live at one step, aligned: no plan is smaller."""
    steps = sorted({t.first for t in buffers} | {t.last for t in buffers})
    live = [sum(t.size for t in buffers if t.first <= s <= t.last) for s in steps]
    return _align(max(live, default=0))


def _overlaps(a: TensorLife, b: TensorLife) -> bool:
    return a.first <= b.last and b.first <= a.last


def _lowest_fit(t: TensorLife, spans: list[tuple[int, int]]) -> int:
    """Lowest aligned offset where `t` fits between the byte spans `spans` (sorted)."""
    offset = 0
    for start, end in spans:
        if offset + t.size <= start:
            break
        offset = max(offset, _align(end))
    return offset


class _Packer:
    """Places buffers in a given order (lowest fit); the clash lists are precomputed."""

    def __init__(self, items: list[TensorLife]):
        self.items = items
        n = len(items)
        self.clash = [[j for j in range(n) if j != i and _overlaps(items[i], items[j])]
                      for i in range(n)]

    def place(self, i: int, offsets: dict[int, int]) -> int:
        spans = sorted((offsets[j], offsets[j] + self.items[j].size)
                       for j in self.clash[i] if j in offsets)
        return _lowest_fit(self.items[i], spans)

    def pack(self, order: list[int]) -> tuple[int, dict[int, int]]:
        offsets: dict[int, int] = {}
        top = 0
        for i in order:
            offsets[i] = self.place(i, offsets)
            top = max(top, offsets[i] + self.items[i].size)
        return _align(top), offsets


def _greedy_orders(items: list[TensorLife]) -> dict[str, list[int]]:
    """A few placement orders that are often optimal on their own."""
    idx = range(len(items))
    tie = lambda i: (items[i].first, items[i].name, i)  # noqa: E731 - a sort key, used four times
    return {
        "greedy by size": sorted(idx, key=lambda i: (-items[i].size, *tie(i))),
        "greedy by lifetime": sorted(idx, key=lambda i: (items[i].first - items[i].last,
                                                         -items[i].size, *tie(i))),
        "greedy by area": sorted(idx, key=lambda i: (-items[i].size * (items[i].last - items[i].first + 1),
                                                     *tie(i))),
        "greedy by first use": sorted(idx, key=lambda i: (*tie(i), -items[i].size)),
    }


def _branch_and_bound(packer: _Packer, seed: list[int], best: int, bound: int,
                      budget: int) -> tuple[int, dict[int, int] | None]:
    """Depth-first over placement orders, children in `seed` order; (size, offsets) of a
    plan smaller than `best`, or (best, None)."""
    found: dict[int, int] | None = None
    left = budget

    def dfs(remaining: list[int], offsets: dict[int, int], top: int) -> bool:
        nonlocal best, found, left
        if not remaining:
            best, found = _align(top), dict(offsets)
            return best <= bound  # optimal: stop
        for k, i in enumerate(remaining):
            if left <= 0:
                return True
            left -= 1
            off = packer.place(i, offsets)
            new_top = max(top, off + packer.items[i].size)
            if _align(new_top) >= best:
                continue
            offsets[i] = off
            stop = dfs(remaining[:k] + remaining[k + 1:], offsets, new_top)
            del offsets[i]
            if stop:
                return True
        return False

    dfs(list(seed), {}, 0)
    return best, found


def plan_buffers(items: list[TensorLife], budget: int = SEARCH_BUDGET
                 ) -> tuple[list[int], int, int, str]:
    """Offsets of `items` (in their order), arena size, lower bound, method."""
    bound = lower_bound(items)
    packer = _Packer(items)
    best_size, best_offsets, method, seed = None, {}, "", []
    for name, order in _greedy_orders(items).items():
        size, offsets = packer.pack(order)
        if best_size is None or size < best_size:
            best_size, best_offsets, method, seed = size, offsets, name, order
    if best_size is not None and best_size > bound and budget > 0:
        size, offsets = _branch_and_bound(packer, seed, best_size, bound, budget)
        if offsets is not None:
            best_size, best_offsets, method = size, offsets, "branch-and-bound"
    return [best_offsets[i] for i in range(len(items))], best_size or 0, bound, method


def plan_arena(tensors: list[TensorLife], scratch: list[TensorLife] = (),
               budget: int = SEARCH_BUDGET) -> ArenaPlan:
    """Assign every tensor, and every layer's scratch buffer, an offset; returns the
    offsets and the arena size. A scratch TensorLife is named after its layer."""
    merged, root = merge_aliases(tensors)
    items = merged + list(scratch)
    offsets, size, bound, method = plan_buffers(items, budget)
    at = dict(zip([("tensor", t.name) for t in merged] + [("scratch", t.name) for t in scratch],
                  offsets))
    return ArenaPlan({name: at["tensor", r] for name, r in root.items()}, size,
                     {t.name: at["scratch", t.name] for t in scratch}, bound, method)
