"""Per-layer compression spec: `tinycompress.toml` or `--spec FILE`.

A spec has a `[defaults]` table and one `[layers.<name>]` table per weight
layer that should differ from the defaults (see docs/spec.md):

    [defaults]
    bits = 4            # 2..8, weight bit width
    sparsity = 0.9      # [0, 1), fraction of weights pruned
    layout = "auto"     # auto | dense | csr | cer | cser
    per_channel = true  # weight scale per output channel (else per tensor)
    optimize = "balanced"  # balanced | size | speed: what layout "auto" minimises
    quantizer = "rd"    # uniform | rd (Fisher-weighted rate-distortion)
    lambda = "auto"     # rd trade-off >= 0, or "auto" for a sweep

    [layers.dense_1]
    bits = 8

Precedence, most specific first, resolved only in `merge()` (which
`options.resolve_plan` calls):
CLI per-layer value > CLI global value > file `[layers.X]` > file
`[defaults]` > built-in default. A global CLI option (`--bits 4`) therefore
applies to every layer, including those the file overrides: what the user
types last wins.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from tinycompress.errors import SpecError
from tinycompress.ir.graph import WEIGHT_OPS, Graph

SPEC_FILENAME = "tinycompress.toml"
LAYOUTS = ("auto", "dense", "csr", "cer", "cser", "pcsr")
OPTIMIZE = ("balanced", "size", "speed")
QUANTIZERS = ("uniform", "rd")
MIN_BITS, MAX_BITS = 2, 8
LAYER_KEYS = ("bits", "sparsity", "layout")


@dataclass(frozen=True)
class LayerSpec:
    """What one weight layer gets: bit width, target sparsity, layout."""

    bits: int
    sparsity: float
    layout: str


@dataclass(frozen=True)
class Defaults:
    """Values for every layer that `[layers.X]` does not override.

    `lam` is the TOML key `lambda`; None means "auto" (sweep, rd only).
    """

    bits: int = 8
    sparsity: float = 0.0
    layout: str = "auto"
    per_channel: bool = True
    optimize: str = "balanced"
    quantizer: str = "uniform"
    lam: float | None = None


DEFAULT_KEYS = tuple("lambda" if f.name == "lam" else f.name for f in fields(Defaults))


@dataclass(frozen=True)
class Spec:
    """Defaults plus partial per-layer overrides ({name: {key: value}})."""

    defaults: Defaults = field(default_factory=Defaults)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<defaults>"
    given: frozenset[str] = frozenset()  # the [defaults] keys given (file or command line)

    def chooses(self, *keys: str) -> bool:
        """Whether any of `keys` was given, globally or for some layer (not a built-in default)."""
        return bool(self.given & set(keys)) or any(k in t for t in self.layers.values() for k in keys)

    def resolve(self, graph: Graph) -> dict[str, LayerSpec]:
        """LayerSpec for every weight layer of `graph`, in graph order.

        Raises SpecError if the spec names a layer that is not a weight layer.
        """
        names = [n.name for n in graph.nodes if n.op in WEIGHT_OPS]
        unknown = sorted(set(self.layers) - set(names))
        if unknown:
            raise SpecError(
                f"{self.source}: unknown layer {', '.join(map(repr, unknown))} in [layers]; "
                f"weight layers are: {', '.join(names)}")
        d = self.defaults
        out = {}
        for name in names:
            over = self.layers.get(name, {})
            out[name] = LayerSpec(bits=over.get("bits", d.bits),
                                  sparsity=over.get("sparsity", d.sparsity),
                                  layout=over.get("layout", d.layout))
        return out


# ---------------------------------------------------------------- validation

def _check_value(key: str, value: Any, where: str) -> Any:
    """Validate one option value; returns it normalised (lambda 'auto' -> None)."""
    def bad(expect: str) -> SpecError:
        return SpecError(f"{where}: {key} = {value!r}: {expect}")

    if key == "bits":
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
            raise bad(f"must be an integer from {MIN_BITS} to {MAX_BITS}")
        return value
    if key == "sparsity":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise bad("must be a number in [0, 1)")
        return float(value)
    if key in ("layout", "optimize", "quantizer"):
        allowed = {"layout": LAYOUTS, "optimize": OPTIMIZE, "quantizer": QUANTIZERS}[key]
        if value not in allowed:
            raise bad(f"must be one of {', '.join(allowed)}")
        return value
    if key == "per_channel":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if key == "lambda":
        if value == "auto" or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise bad('must be a finite number >= 0 or "auto"')
        return float(value)
    raise SpecError(f"{where}: unknown key {key!r}")


def _check_table(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict:
    """Validate every key of one table against `allowed`; returns normalised values."""
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: must be a table")
    out = {}
    for key, value in table.items():
        if key not in allowed:
            raise SpecError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
        out[key] = _check_value(key, value, where)
    return out


def _defaults_from(values: Mapping[str, Any], base: Defaults) -> Defaults:
    """`base` with the validated values (TOML key names) applied."""
    kw = {("lam" if k == "lambda" else k): v for k, v in values.items()}
    return replace(base, **kw)


def parse_spec(data: Mapping[str, Any], source: str = "<spec>") -> Spec:
    """Validate an already parsed TOML document (a dict) into a Spec."""
    extra = sorted(set(data) - {"defaults", "layers"})
    if extra:
        raise SpecError(f"{source}: unknown table {extra[0]!r}; allowed: [defaults], [layers.<name>]")
    defaults = _check_table(data.get("defaults", {}), DEFAULT_KEYS, f"{source} [defaults]")
    layers_raw = data.get("layers", {})
    if not isinstance(layers_raw, Mapping):
        raise SpecError(f"{source}: 'layers' must be tables [layers.<name>]")
    layers = {name: _check_table(t, LAYER_KEYS, f"{source} [layers.{name}]")
              for name, t in layers_raw.items()}
    return Spec(_defaults_from(defaults, Defaults()), layers, source, frozenset(defaults))


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file. Raises SpecError (missing file, bad TOML, bad values)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from exc
    return parse_spec(data, str(path))


# ---------------------------------------------------------------- precedence

def find_spec(spec_path: str | Path | None, cwd: str | Path = ".") -> Spec | None:
    """The spec to use: `--spec FILE` if given, else ./tinycompress.toml if present."""
    if spec_path is not None:
        return load_spec(spec_path)
    default = Path(cwd) / SPEC_FILENAME
    return load_spec(default) if default.is_file() else None


def merge(cli: Mapping[str, Any] | None, spec: Spec | None) -> Spec:
    """The one place where CLI values, the spec file and built-in defaults meet.

    `cli` holds the global options under their TOML key names (`bits`,
    `sparsity`, `layout`, `per_channel`, `optimize`, `quantizer`, `lambda`;
    None = not given) and optionally `layers: {name: {bits|sparsity|layout}}`
    for per-layer CLI overrides. A CLI global value removes the same key from
    the file's per-layer tables, so it applies to every layer.
    """
    spec = spec or Spec()
    cli = dict(cli or {})
    cli_layers = cli.pop("layers", None) or {}
    given = {k: v for k, v in cli.items() if v is not None}
    glob = _check_table(given, DEFAULT_KEYS, "command line")
    defaults = _defaults_from(glob, spec.defaults)
    layers = {name: {k: v for k, v in t.items() if k not in glob}
              for name, t in spec.layers.items()}
    for name, t in cli_layers.items():
        checked = _check_table({k: v for k, v in t.items() if v is not None},
                               LAYER_KEYS, f"command line (layer {name})")
        layers[name] = {**layers.get(name, {}), **checked}
    source = spec.source if spec.source != "<defaults>" else "command line"
    return Spec(defaults, layers, source, spec.given | frozenset(glob))

