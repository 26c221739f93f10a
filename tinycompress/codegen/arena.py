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
    shift: int = 0  # with alias_of: starts this many bytes before that tensor


@dataclass(frozen=True)
class Piece:
    """One tensor inside a buffer: `rel` bytes from the buffer's start, its own lifetime."""

    name: str
    rel: int
    size: int
    first: int
    last: int


@dataclass(frozen=True)
class Buffer:
    """Tensors placed together (aliases at fixed distances) or one scratch buffer."""

    name: str
    pieces: tuple[Piece, ...]

    @property
    def size(self) -> int:
        return max(p.rel + p.size for p in self.pieces)

    @property
    def first(self) -> int:
        return min(p.first for p in self.pieces)

    @property
    def last(self) -> int:
        return max(p.last for p in self.pieces)


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


def group_aliases(tensors: list[TensorLife]) -> list[Buffer]:
    """Tensors joined by aliases (each after the tensor it aliases) as buffers of pieces.

    A tensor at the same bytes as its source (reshape, elementwise in place)
    holds them from the source's first step: its bytes were written then.
    """
    where: dict[str, tuple[str, int, int]] = {}  # tensor -> (root, rel, first)
    groups: dict[str, list[Piece]] = {}
    for t in tensors:
        if t.alias_of is None:
            root, rel, first = t.name, 0, t.first
        else:
            root, src_rel, src_first = where[t.alias_of]
            rel = src_rel - t.shift
            first = src_first if t.shift == 0 else t.first
        where[t.name] = (root, rel, first)
        groups.setdefault(root, []).append(Piece(t.name, rel, t.size, first, max(t.last, first)))
    buffers = []
    for root, pieces in groups.items():
        low = min(p.rel for p in pieces)
        buffers.append(Buffer(root, tuple(Piece(p.name, p.rel - low, p.size, p.first, p.last)
                                          for p in pieces)))
    return buffers


def merge_aliases(tensors: list[TensorLife]) -> tuple[list[TensorLife], dict[str, str]]:
    """Each buffer of `group_aliases` as one TensorLife spanning its pieces; (buffers, root
    of every tensor)."""
    buffers = group_aliases(tensors)
    root = {p.name: b.name for b in buffers for p in b.pieces}
    return [TensorLife(b.name, b.size, b.first, b.last) for b in buffers], root


def _covered(pieces) -> int:
    """Bytes covered by the union of the pieces' byte ranges."""
    total, end = 0, -1
    for start, stop in sorted((p.rel, p.rel + p.size) for p in pieces):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def step_bytes(buffers: list) -> list[int]:
    """Bytes live at each step where some buffer starts or ends (TensorLife or Buffer
    items; a buffer counts the bytes its live pieces cover)."""
    buffers = [b if isinstance(b, Buffer) else Buffer(b.name, (Piece(b.name, 0, b.size, b.first, b.last),))
               for b in buffers]
    steps = sorted({p.first for b in buffers for p in b.pieces} | {p.last for b in buffers for p in b.pieces})
    return [sum(_covered([p for p in b.pieces if p.first <= s <= p.last]) for b in buffers)
            for s in steps]


def lower_bound(buffers: list) -> int:
    """The largest total of bytes live at one step, aligned: no plan is smaller."""
    return _align(max(step_bytes(buffers), default=0))


def _overlaps(a, b) -> bool:
    return a.first <= b.last and b.first <= a.last


class _Packer:
    """Places buffers in a given order, each at the lowest aligned offset where none of
    its pieces meets a piece placed before that is live at one of the same steps."""

    def __init__(self, items: list[Buffer]):
        self.items = items
        n = len(items)
        # per item: (other item, own piece rel, own size, other piece rel, other size)
        self.clash: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(n)]
        for i in range(n):
            for j in range(n):
                if i == j or not _overlaps(items[i], items[j]):
                    continue
                for p in items[i].pieces:
                    for q in items[j].pieces:
                        if _overlaps(p, q):
                            self.clash[i].append((j, p.rel, p.size, q.rel, q.size))

    def place(self, i: int, offsets: dict[int, int]) -> int:
        # item i at o meets piece q of j when o lies in the open interval (a, b)
        forbidden = sorted((offsets[j] + qr - pr - ps, offsets[j] + qr + qs - pr)
                           for j, pr, ps, qr, qs in self.clash[i] if j in offsets)
        o = 0
        for a, b in forbidden:
            if o <= a:
                break
            if o < b:
                o = _align(b)
        return o

    def pack(self, order: list[int]) -> tuple[int, dict[int, int]]:
        offsets: dict[int, int] = {}
        top = 0
        for i in order:
            offsets[i] = self.place(i, offsets)
            top = max(top, offsets[i] + self.items[i].size)
        return _align(top), offsets


def _greedy_orders(items: list[Buffer]) -> dict[str, list[int]]:
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


def plan_buffers(items: list[Buffer], budget: int = SEARCH_BUDGET
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
    buffers = group_aliases(tensors)
    items = buffers + [Buffer(t.name, (Piece(t.name, 0, t.size, t.first, t.last),))
                       for t in scratch]
    offsets, size, bound, method = plan_buffers(items, budget)
    at = {p.name: offsets[k] + p.rel for k, b in enumerate(buffers) for p in b.pieces}
    return ArenaPlan(at, size, {t.name: offsets[len(buffers) + k] for k, t in enumerate(scratch)},
                     bound, method)
