"""Shared arguments and options: one definition of each flag, its help and env var.

Options that can also come from `tinycompress.toml` default to None, so
`compress.options.resolve_plan` can tell "not given" from a value.

Numbers are parsed by `number()`, which raises SpecError for text that is no
number: like every other user mistake it is one `error:` line (click's own
parse errors would print a usage box). Their ranges are checked by the
library (`compress.options.check_options`), or here for flags the library
takes as they are (-n, --jobs).
"""
from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from tinycompress.compress.options import CompressOptions, check_options
from tinycompress.compress.outputs import check_output_dir
from tinycompress.data import load_npz
from tinycompress.errors import SpecError


def number(kind: type, flag: str, minimum: int | None = None) -> Callable[[object], object]:
    """A typer parser: text -> int or float, SpecError naming `flag` when it is none
    (or below `minimum`)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text):
        if isinstance(text, kind) and not isinstance(text, bool):  # a default, already parsed
            return text
        try:
            value = kind(text)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{flag} must be {what}, got {text!r}") from exc
        if minimum is not None and not (math.isfinite(value) and value >= minimum):
            raise SpecError(f"{flag} must be {what} >= {minimum}, got {text}")
        return value
    return parse


ModelArg = Annotated[Path, typer.Argument(
    help="Model: .keras, .h5, .tflite (float or int8), .onnx or a SavedModel directory "
         "(the format is told by content).", show_default=False)]
BuildDirArg = Annotated[Path, typer.Argument(
    help="Build directory made by `tinycompress build`.", show_default=False)]
BoardOpt = Annotated[Optional[str], typer.Option(
    "--board", "-b", help="Target board (see `tinycompress boards`).",
    envvar="TINYCOMPRESS_BOARD", show_default=False)]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output directory.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option(
    "--force", "-f", help="Overwrite the output directory if it exists.")]
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help=".npz with `x` (N, *input shape) and optional labels `y`: calibrates "
                   "activation ranges and fine-tunes (20 % is held out for validation "
                   "unless --val-data is given).",
    show_default=False)]
ValDataOpt = Annotated[Optional[Path], typer.Option(
    "--val-data", help=".npz that scores every selection (--max-accuracy-drop, "
                       "--max-fidelity-loss, the rd lambda sweep, sweep's front); "
                       "default: a seeded, stratified 20 % held out of --data.",
    show_default=False)]
SimDataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help=".npz with `x` (N, *input shape) and optional labels `y` to run.",
    show_default=False)]
SpecOpt = Annotated[Optional[Path], typer.Option(
    "--spec", help="Per-layer spec file (default: ./tinycompress.toml if present).",
    show_default=False)]
BitsOpt = Annotated[Optional[int], typer.Option(
    "--bits", parser=number(int, "--bits"), help="Weight bit width for every layer, 2..8.",
    show_default=False)]
SparsityOpt = Annotated[Optional[float], typer.Option(
    "--sparsity", parser=number(float, "--sparsity"),
    help="Fraction of weights pruned in every layer, [0, 1).", show_default=False)]
LayoutOpt = Annotated[Optional[str], typer.Option(
    "--layout", help="Weight layout: auto, dense, csr, cer, cser or pcsr.", show_default=False)]
OptimizeOpt = Annotated[Optional[str], typer.Option(
    "--optimize", help="What layout 'auto' picks: balanced (the smallest within 1.10x of the "
                       "fastest's instructions; default), size or speed.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print machine-readable JSON on stdout instead of a table.")]


EvalDataOpt = Annotated[Optional[Path], typer.Option(
    "--eval-data", help=".npz for the reported accuracy and fidelity only; no selection "
                        "reads it (default: the validation data).",
    show_default=False)]
EpochsOpt = Annotated[Optional[int], typer.Option(
    "--epochs", parser=number(int, "--epochs"),
    help="Fine-tuning epochs on labelled --data: at most N per pruning step of the default "
         "compression (default 20, early-stopped on validation loss; 0: one-shot pruning), "
         "or for a --sparsity you give (default 0).", show_default=False)]
NoSearchOpt = Annotated[bool, typer.Option(
    "--no-search", help="Without --bits or --sparsity: plain int8 weights instead of the "
                        "default compression (pruning and a per-layer search within 1 pt "
                        "of accuracy, or a fidelity budget without labels).")]
QuantizerOpt = Annotated[Optional[str], typer.Option(
    "--quantizer", help="Weight quantizer: uniform or rd (rate-distortion).", show_default=False)]
LambdaOpt = Annotated[Optional[float], typer.Option(
    "--lambda", parser=number(float, "--lambda"),
    help="Rate-distortion trade-off for --quantizer rd, >= 0.", show_default=False)]
MaxDropOpt = Annotated[Optional[float], typer.Option(
    "--max-accuracy-drop", parser=number(float, "--max-accuracy-drop"),
    help="Search bits and sparsity per layer for the fewest weight bytes within P "
         "percentage points of the original float model's accuracy on the validation "
         "data (needs labels).", show_default=False)]
MaxFidelityOpt = Annotated[Optional[float], typer.Option(
    "--max-fidelity-loss", parser=number(float, "--max-fidelity-loss"),
    help="As --max-accuracy-drop, without labels: within P % top-1 disagreement with the "
         "original float model (classifiers), or P % relative RMS error of the outputs "
         "(other models), on the validation inputs.", show_default=False)]
InputRangeOpt = Annotated[Optional[tuple[str, str]], typer.Option(  # numbers parsed by number()
    "--input-range", metavar="LO HI",
    help="Without --data: the synthetic calibration inputs are uniform in [LO, HI) "
         "(default 0 1).", show_default=False)]
ScopeOpt = Annotated[str, typer.Option(
    "--scope", help="How --sparsity is spread: global (one magnitude threshold for all "
                    "layers) or layer (every layer pruned to the same fraction).")]
SaveModelOpt = Annotated[Optional[Path], typer.Option(
    "--save-model", help="Save the pruned, fine-tuned Keras model (.keras) for later builds.",
    show_default=False)]
PerTensorOpt = Annotated[bool, typer.Option(
    "--per-tensor", help="One weight scale per tensor instead of per output channel.")]


def compress_options(bits, sparsity, layout, optimize, quantizer, lam, per_tensor, spec,
                     epochs, max_drop=None, save_model=None, scope="global", max_fidelity=None,
                     input_range=None, no_search=False):
    """CompressOptions from the shared command-line flags (None = not given)."""
    options = CompressOptions(bits=bits, sparsity=sparsity, layout=layout, optimize=optimize,
                              quantizer=quantizer, lam=lam, per_channel=False if per_tensor else None,
                              spec=spec, epochs=epochs, max_accuracy_drop=max_drop,
                              max_fidelity_loss=max_fidelity, save_model=save_model, scope=scope,
                              input_range=_input_range(input_range), no_search=no_search)
    check_options(options)  # before the model is loaded
    return options


def _input_range(words) -> tuple[float, float] | None:
    """--input-range LO HI as two floats (SpecError for a word that is no number)."""
    if words is None:
        return None
    parse = number(float, "--input-range")
    return parse(words[0]), parse(words[1])


def check_output(output: Path | None) -> None:
    """A --output directory that cannot be created or written: one line now, not a
    traceback after the model is loaded and compressed."""
    if output is not None:
        check_output_dir(output)


def load_datasets(data: Path | None, eval_data: Path | None, val_data: Path | None = None):
    """(data, eval_data, val_data) read from .npz files (shapes are checked against the model later)."""
    return tuple(None if path is None else load_npz(path) for path in (data, eval_data, val_data))


JobsOpt = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", parser=number(int, "--jobs", minimum=1),
    help="Worker processes (default: one per core).", show_default=False)]


class FirmwareMode(str, Enum):
    """What the firmware does: normal, or energy (windows for a power meter)."""

    normal = "normal"
    energy = "energy"


FirmwareModeOpt = Annotated[FirmwareMode, typer.Option(
    "--mode", help="Firmware: normal, or energy (an idle window, then N inferences framed by GPIO "
                   "timestamps, cycles over UART; for `tinycompress power`).")]
SimCountOpt = Annotated[Optional[int], typer.Option(
    "-n", "--n", parser=number(int, "-n", minimum=1),
    help="Number of inputs to simulate (default: all of the data, or 16 random).", show_default=False)]
PatchOpt = Annotated[str, typer.Option(
    "--patch", help="auto: run the first high-resolution layers in row bands (receptive-field "
                    "overlap recomputed) when that lowers the arena; the extra instructions are "
                    "measured in QEMU and reported. off: every layer whole.")]
