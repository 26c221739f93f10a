"""The package's shape: data flows one way, small modules, no hidden imports.

The module import graph is read from the source with `ast` (imports inside
functions included), not from what Python happens to have imported, so an
import that only runs on some code path still counts.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tinycompress"

# Stage ranks: a module may import modules of its own rank or lower, never higher.
RANKS = {
    "errors": 0, "paths": 0, "_data": 0,  # _data: the shipped data directories (no code)
    "ir": 1, "data": 1,
    "layouts": 2, "reference": 2,
    "frontend": 3,
    "compress": 4,
    "codegen": 5,
    "target": 6,
    "report": 7,
    "pipeline": 8,
    "cli": 9,
    "__main__": 10, "": 10,  # "" is the package's own __init__
}
# Third-party modules that may be imported inside a function: heavy optional dependencies.
LAZY_ALLOWED = {"tensorflow", "keras", "matplotlib", "sklearn", "platformio", "SCons",
                "ai_edge_litert"}  # the LiteRT interpreter: optional (bench extra), TFLite baseline
# The [power] extra's meter drivers (PPK2; Joulescope with its native USB driver), imported
# only when that meter is used so the CLI works without them.
LAZY_ALLOWED |= {"ppk2_api", "joulescope"}
# Ray (the [cluster] extra, sweep --backend ray): optional and ~1 s to import, so imported
# only when a sweep runs on Ray.
LAZY_ALLOWED |= {"ray"}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path):
    """(imported module, line, inside a function) for every import in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    in_function = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function.update(id(n) for n in ast.walk(fn) if n is not fn)
    for node in ast.walk(tree):
        lazy = id(node) in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno, lazy
            for alias in node.names:  # `from pkg import submodule`
                if f"{module}.{alias.name}" in MODULES:
                    yield f"{module}.{alias.name}", node.lineno, lazy


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in _imports(name, path):
            if target in MODULES and target != name and target != "tinycompress":
                edges[name].add(target)
    return edges


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_rank():
    assert {_stage(m) for m in MODULES} <= set(RANKS)


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle():
    # a -> b -> c -> a plus a tail d -> a: one component of three
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_stage_imports_a_later_one():
    wrong = [f"{m} imports {t}" for m, targets in _graph().items() for t in sorted(targets)
             if RANKS[_stage(t)] > RANKS[_stage(m)]]
    assert wrong == []


def test_imports_inside_functions_only_for_heavy_optional_dependencies():
    lazy = [f"{MODULES[m].relative_to(REPO)}:{line} imports {t}"
            for m, path in MODULES.items() for t, line, inside in _imports(m, path)
            if inside and t.split(".")[0] not in LAZY_ALLOWED]
    assert lazy == []


def test_modules_are_small():
    big = {m: n for m, p in MODULES.items()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_no_module_shadows_the_standard_library():
    shadows = [m for m in MODULES if m.rpartition(".")[2] in sys.stdlib_module_names]
    assert shadows == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_comments_cite_only_documents_in_the_repository(module):
    text = MODULES[module].read_text(encoding="utf-8")
    cited = set(re.findall(r"\b([\w./-]+\.md)\b", text))
    missing = [c for c in sorted(cited) if not any(REPO.glob(f"**/{Path(c).name}"))]
    assert missing == []
