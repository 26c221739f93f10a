"""What the user asked for (`CompressOptions`) -> the starting `Plan`.

    options = CompressOptions(bits=4, sparsity=0.9, quantizer="rd", lam=1e-6)
    plan = resolve_plan(options, graph)

Precedence, most specific first, is resolved in one place, `spec.merge`:
per-layer option > global option > spec file `[layers.X]` > spec file
`[defaults]` > built-in default. A field left at None is "not given".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tinycompress.compress.fidelity import Budget
from tinycompress.compress.finetune import check_save_path
from tinycompress.compress.plan import LayerPlan, Plan
from tinycompress.compress.spec import Spec, find_spec, merge
from tinycompress.errors import SpecError
from tinycompress.ir.graph import Graph

SCOPES = ("global", "layer")
# CompressOptions field -> spec file key, for the settings the spec file can also hold
SETTING_KEYS = {"bits": "bits", "sparsity": "sparsity", "layout": "layout", "optimize": "optimize",
                "per_channel": "per_channel", "quantizer": "quantizer", "lam": "lambda"}


@dataclass(frozen=True)
class CompressOptions:
    """How to compress a model; None = not given (the spec file's value, else the default).

    bits: weight bit width 2..8. sparsity: fraction pruned, [0, 1). layout:
    auto | dense | csr | cer | cser | pcsr. optimize: what layout "auto" picks,
    balanced | size | speed. per_channel: one weight scale per output channel
    (False: per tensor). quantizer: uniform | rd. lam: the rd trade-off >= 0
    (None with rd: swept on labelled data). layers: per-layer overrides
    {layer: {"bits" | "sparsity" | "layout": value}}. spec: a spec file
    (default ./tinycompress.toml in `cwd` when present). scope: how one
    sparsity is spread, global | layer. epochs: fine-tuning epochs on labelled
    data (None: 0 for settings given, `auto.STEP_EPOCHS` per pruning step of
    the default compression; 0 there: one-shot pruning). no_search: with no
    bits or sparsity given, build plain int8 instead of the default
    compression (`compress.auto`). max_accuracy_drop: search bits and sparsity per layer within this
    many percentage points of the original float model's accuracy on the
    validation data (also the lambda sweep's budget). max_fidelity_loss: the
    same with the fidelity loss to the original float model (top-1
    disagreement in % for classifiers, relative RMS error in % otherwise): no
    labels needed. At most one of the two. save_model: write the fine-tuned
    Keras model here. input_range: (lo, hi) of the synthetic calibration
    inputs used when no data is given (default (0, 1)). lambda_budget: the
    lambda sweep's budget when no search budget is given (default: 1 pt of
    accuracy drop; the grid sweep passes its own).
    """

    bits: int | None = None
    sparsity: float | None = None
    layout: str | None = None
    optimize: str | None = None
    per_channel: bool | None = None
    quantizer: str | None = None
    lam: float | None = None
    layers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    spec: str | Path | None = None
    scope: str = "global"
    epochs: int | None = None
    no_search: bool = False
    max_accuracy_drop: float | None = None
    max_fidelity_loss: float | None = None
    save_model: str | Path | None = None
    input_range: tuple[float, float] | None = None
    lambda_budget: Budget | None = None
    cwd: str | Path = "."

    @property
    def budget(self) -> Budget | None:
        """The selection budget the options give (checked), or None."""
        if self.max_accuracy_drop is not None and self.max_fidelity_loss is not None:
            raise SpecError("give one budget: --max-accuracy-drop or --max-fidelity-loss, not both")
        if self.max_accuracy_drop is not None:
            return Budget("accuracy", self.max_accuracy_drop)
        if self.max_fidelity_loss is not None:
            return Budget("fidelity", self.max_fidelity_loss)
        return None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **others) -> CompressOptions:
        """Options from spec-file key names (`{"bits": 4, "lambda": 1e-6}`) plus other fields."""
        by_key = {key: name for name, key in SETTING_KEYS.items()}
        unknown = sorted(set(settings) - set(by_key))
        if unknown:
            raise SpecError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(by_key)}")
        return cls(**{by_key[k]: v for k, v in settings.items()}, **others)

    def settings(self) -> dict[str, Any]:
        """The given settings under spec-file key names, with per-layer ones under `layers`."""
        out = {key: getattr(self, name) for name, key in SETTING_KEYS.items()}
        out["layers"] = {name: dict(values) for name, values in self.layers.items()}
        return out


def check_options(options: CompressOptions) -> Spec:
    """SpecError for any value that is wrong whatever the model; the merged spec otherwise.

    Everything but the layer names is checked here, before a model is loaded:
    the flags, the per-layer overrides and the spec file (`--spec`, else
    ./tinycompress.toml). Layer names need the graph (`Spec.resolve`).
    """
    if options.scope not in SCOPES:
        raise SpecError(f"--scope must be global or layer, got {options.scope!r}")
    e = options.epochs
    if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 0):
        raise SpecError(f"--epochs must be a whole number >= 0, got {options.epochs!r}")
    if options.no_search and options.budget is not None:
        raise SpecError("--no-search builds plain int8: it cannot keep a budget "
                        "(--max-accuracy-drop / --max-fidelity-loss)")
    options.budget  # noqa: B018  (checks both budgets)
    check_input_range(options.input_range)
    if options.save_model is not None:
        check_save_path(options.save_model)
    return merge(options.settings(), find_spec(options.spec, options.cwd))


def check_input_range(value) -> None:
    """SpecError unless `value` is None or two finite numbers LO < HI."""
    if value is None:
        return
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"--input-range takes two numbers LO HI, got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise SpecError(f"--input-range LO HI must be finite with LO < HI, got {lo:g} {hi:g}")


def resolve_plan(options: CompressOptions, graph: Graph) -> Plan:
    """The plan the options, the spec file and the defaults give for `graph`'s weight layers."""
    spec = check_options(options)
    d = spec.defaults
    layers = {name: LayerPlan(bits=ls.bits, sparsity=ls.sparsity, per_channel=d.per_channel,
                              quantizer=d.quantizer, lam=d.lam, layout=ls.layout)
              for name, ls in spec.resolve(graph).items()}
    return Plan(layers, optimize=d.optimize, scope=options.scope)
