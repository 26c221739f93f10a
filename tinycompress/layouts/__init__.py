"""Weight layouts: an integer matrix in, the firmware's C arrays and costs out.

Layouts know nothing of graphs or layers. Each module (`dense`, `csr`, `cer`,
`cser`, `pcsr`) has `encode(levels, bits=8, col_map=None) -> Layout`; `choose` picks
one per matrix by exact bytes or by the instruction-cost model, `encode_as`
forces one. For conv kernels pass `col_map` (the input offset of every
column, strictly increasing) so the sparse formats store offsets; the sparse
conv kernels require it.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from tinycompress.layouts import cer, cser, csr, dense, pcsr
from tinycompress.layouts.base import Layout, OpCounts, index_dtype
from tinycompress.layouts.cost import KIND_OF_OP, estimated_instructions, kind_of, short_requant
from tinycompress.layouts.sweep import Geometry, border_positions

ENCODERS: dict[str, Callable[..., Layout]] = {
    "dense": dense.encode, "csr": csr.encode, "cer": cer.encode, "cser": cser.encode,
    "pcsr": pcsr.encode,
}
LAYOUT_NAMES = tuple(ENCODERS)
OPTIMIZE = ("balanced", "size", "speed")
BALANCED_SLOWDOWN = 1.10  # `balanced`: the smallest layout within this factor of the fastest

__all__ = ["Layout", "OpCounts", "LAYOUT_NAMES", "OPTIMIZE", "choose", "encode_as",
           "encode_all", "estimated_instructions", "border_positions", "index_dtype", "KIND_OF_OP", "kind_of",
           "Geometry", "short_requant"]


def encode_as(name: str, levels, bits: int = 8, col_map=None) -> Layout:
    """Encode `levels` in the layout called `name` (one of LAYOUT_NAMES)."""
    try:
        encoder = ENCODERS[name]
    except KeyError as exc:
        raise ValueError(f"unknown layout {name!r}; choose from {', '.join(LAYOUT_NAMES)}") from exc
    return encoder(levels, bits=bits, col_map=col_map)


def encode_all(levels, bits: int = 8, col_map=None,
               allowed: Iterable[str] | None = None) -> dict[str, Layout]:
    """Every allowed layout of `levels`, by name (in LAYOUT_NAMES order)."""
    names = LAYOUT_NAMES if allowed is None else tuple(allowed)
    unknown = sorted(set(names) - set(LAYOUT_NAMES))
    if unknown:
        raise ValueError(f"unknown layout(s) {unknown}; choose from {', '.join(LAYOUT_NAMES)}")
    return {n: encode_as(n, levels, bits, col_map) for n in LAYOUT_NAMES if n in names}


def choose(levels, bits: int = 8, optimize: str = "size", col_map=None,
           allowed: Iterable[str] | None = None, kind: str = "fc", positions: int = 1,
           border: int = 0, geometry: Geometry | None = None) -> Layout:
    """The layout `optimize` asks for among the allowed ones.

    size: the fewest exact bytes. speed: the fewest estimated instructions
    (cost model). balanced: the fewest bytes among the layouts whose
    estimated instructions are at most BALANCED_SLOWDOWN x the fastest's, so
    a few bytes are never bought with many times the instructions. `kind`
    (fc | conv | dwconv) and `positions` (output pixels) are what the cost
    model needs of the layer, and `border` (how many of the positions reach into
    the padding, `sweep.border_positions`) and `geometry` (a convolution's shape,
    `sweep.Geometry`). Ties go to the earlier name in LAYOUT_NAMES
    (dense, csr, cer, cser, pcsr), so the choice is deterministic.
    """
    if optimize not in OPTIMIZE:
        raise ValueError(f"optimize must be one of {OPTIMIZE}, got {optimize!r}")
    candidates = list(encode_all(np.asarray(levels), bits, col_map, allowed).values())
    if not candidates:
        raise ValueError("no layout allowed")
    if optimize == "size":
        return min(candidates, key=lambda l: l.nbytes)
    cost = {l.name: estimated_instructions(l, kind, positions, col_map, border, geometry)
            for l in candidates}
    if optimize == "speed":
        return min(candidates, key=lambda l: cost[l.name])
    fastest = min(cost.values())
    return min((l for l in candidates if cost[l.name] <= BALANCED_SLOWDOWN * fastest),
               key=lambda l: l.nbytes)
