"""Formatting of C literals and identifiers for the templates.

Templates lay out; this module computes the text they receive: array
literals, C type names, and identifiers made from layer names (checked
against C reserved words, unique within one generated file).
"""
from __future__ import annotations

import re

import numpy as np

C_RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for
    goto if inline int long register restrict return short signed sizeof static struct
    switch typedef union unsigned void volatile while _Bool _Complex _Imaginary
    bool true false NULL main int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t
    uint64_t size_t asm fortran""".split()
)

_CTYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
}


def ctype(dtype) -> str:
    """The C type name of a numpy integer dtype."""
    try:
        return _CTYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no C type for numpy dtype {dtype}") from None


def literal(values: np.ndarray, per_line: int = 16, indent: str = "    ") -> str:
    """Comma-separated integer literal body, `per_line` numbers per line.

    int32 extremes are written so the C compiler does not warn
    (-2147483648 is `(-2147483647 - 1)`).
    """
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        return indent + "0 /* empty */"
    if flat.dtype.kind not in "iu":
        raise ValueError(f"literal() takes integer arrays, got {flat.dtype}")
    words = [_int_text(int(v)) for v in flat]
    lines = [", ".join(words[i:i + per_line]) for i in range(0, len(words), per_line)]
    return indent + (",\n" + indent).join(lines)


def _int_text(v: int) -> str:
    if v == -(1 << 31):
        return "(-2147483647 - 1)"
    if v > 0x7FFFFFFF:
        return f"{v}u"
    return str(v)


def identifier(name: str, taken: set[str] | None = None, prefix: str = "") -> str:
    """A valid, non-reserved C identifier derived from `name`.

    Runs of non-alphanumerics become one `_` (none leading or trailing, which
    C reserves); a leading digit gets `t_` in front; reserved
    words and names already in `taken` get a numeric suffix. The result is
    added to `taken` when a set is given.
    """
    ident = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") or "t"
    if ident[0].isdigit():
        ident = "t_" + ident
    ident = prefix + ident
    base, n = ident, 1
    while ident in C_RESERVED or (taken is not None and ident in taken):
        ident = f"{base}_{n}"
        n += 1
    if taken is not None:
        taken.add(ident)
    return ident
