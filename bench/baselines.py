"""TFLite int8 / TFLite Micro baselines: what a user would deploy instead of tinycompress.

For a Keras model file and calibration inputs this measures
- `tflite_int8`: the `.tflite` flatbuffer of TF's converter with full-integer
  post-training quantization (representative dataset = the calibration data,
  int8 input and output, `TFLITE_BUILTINS_INT8` only), the path TFLite Micro
  users take;
- `tflm_arena_bytes`: the tensor arena the `tflite-micro` host interpreter
  allocates for that flatbuffer (its RecordingMicroAllocator total: head +
  tail of the arena after one inference). The host build is 64-bit, so
  pointer-holding structs are larger than on a 32-bit Cortex-M: the figure is
  an upper bound of the on-device arena, close to it for these models;
- `tflite_accuracy`: top-1 accuracy of the int8 flatbuffer on labelled data,
  run with the `ai-edge-litert` interpreter;
- `float_weight_bytes`: float32 bytes of every weight the Keras model holds
  (trainable and not, e.g. BatchNorm moving statistics), i.e. 4 x params.

This is bench code: it imports TensorFlow, the `tinycompress` package does not.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinycompress.compress import tflite_ref
from tinycompress.errors import ModelLoadError, ToolError

# Arena offered to TFLM while recording; it only has to be large enough, the
# recorded figure is what the model actually used.
_RECORDING_ARENA_BYTES = 4 * 1024 * 1024
_ARENA_TOTAL = re.compile(rb"Arena allocation total (\d+) bytes")


def load_keras(model_path: str | Path):
    """The Keras 3 model in `model_path` (`.keras` or legacy `.h5`), not compiled."""
    import keras

    path = Path(model_path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as exc:
        raise ModelLoadError(f"{path}: Keras could not load it ({exc})") from exc


def float_weight_bytes(model_path: str | Path) -> int:
    """float32 bytes of all weights of the model (4 bytes per parameter)."""
    model = load_keras(model_path)
    return int(sum(np.asarray(w).size for w in model.get_weights()) * 4)


def tflite_int8(model_path: str | Path, calib_x: np.ndarray) -> bytes:
    """Full-integer int8 `.tflite` of the model, calibrated on `calib_x` (N, *input)."""
    return tflite_ref.tflite_int8(load_keras(model_path), calib_x)


# Runs one TFLM inference on the model in argv[1] with an arena of argv[2] bytes
# and prints the recording allocator's report (the host interpreter only
# reports on the C stderr). Each attempt gets its own process because the
# interpreter can crash, or corrupt memory that crashes a later call, when an
# allocation fails; a crash then just means "does not run in this arena".
_TFLM_WORKER = """
import sys
import numpy as np
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
interp = runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
details = interp.get_input_details(0)
interp.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
interp.invoke()
interp.print_allocations()
"""


def tflm_arena_bytes(tflite_bytes: bytes) -> int:
    """Arena bytes TFLite Micro's host interpreter uses for one inference of the model.

    The RecordingMicroAllocator's total (arena head + tail) after an inference
    in a generous arena.
    """
    ok, log = _run_tflm(tflite_bytes, _RECORDING_ARENA_BYTES)
    match = _ARENA_TOTAL.search(log)
    if not ok or match is None:
        raise ToolError(f"tflite-micro could not run the model: {log[-300:]!r}")
    return int(match.group(1))


def tflm_smallest_arena(tflite_bytes: bytes) -> int:
    """Smallest arena (bytes) with which TFLM's host interpreter prepares and runs the model.

    Prepare needs temporary room that the recorded total does not count, so
    this can exceed `tflm_arena_bytes`. Starting from the recorded total, the
    bound doubles until the model runs, then bisection finds the exact size
    (allocation succeeds for every size above the smallest one); one process
    per attempt (~0.5 s each, ~15 attempts).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(tflite_bytes)
        low, high = 0, tflm_arena_bytes(tflite_bytes)  # low fails, high is tried first
        while not _run_tflm_file(path, high)[0]:
            if high >= _RECORDING_ARENA_BYTES:
                raise ToolError(f"tflite-micro cannot run the model in a {high} B arena")
            low, high = high, 2 * high
        while high - low > 1:
            mid = (low + high) // 2
            if _run_tflm_file(path, mid)[0]:
                high = mid
            else:
                low = mid
    return high


def _run_tflm(tflite_bytes: bytes, arena: int) -> tuple[bool, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(tflite_bytes)
        return _run_tflm_file(path, arena)


def _run_tflm_file(path: Path, arena: int) -> tuple[bool, bytes]:
    """(ran without error, its stderr) for one TFLM inference in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _TFLM_WORKER, str(path), str(arena)],
        capture_output=True, timeout=120, check=False,
    )
    return done.returncode == 0, done.stderr


def tflite_predict(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantized outputs (N, ...) of the int8 model on float inputs `x` (N, *input)."""
    return tflite_ref.tflite_predict(tflite_bytes, x)


def keras_predict(model_path: str | Path, x: np.ndarray) -> np.ndarray:
    """Float outputs of the Keras model on `x`."""
    model = load_keras(model_path)
    return np.asarray(model.predict(np.asarray(x, dtype=np.float32), verbose=0))


def tflite_accuracy(tflite_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy (0..1) of the int8 `.tflite` on inputs `x` with integer labels `y`."""
    predictions = tflite_predict(tflite_bytes, x)
    return float(np.mean(np.argmax(predictions, axis=-1) == np.asarray(y)))


# --- the three bench models ------------------------------------------------

MLPERF_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny"
SYNTHETIC_SEED = 20240601
SYNTHETIC_CALIB_N = 200
SYNTHETIC_EVAL_N = 200


def synthetic_inputs(shape: tuple, low: float, high: float, n: int, seed: int) -> np.ndarray:
    """`n` float32 inputs of `shape`, uniform in [low, high), from a fixed seed.

    The MLPerf Tiny data sets are not available offline. The ranges come from
    the input quantization of the reference `.tflite` files shipped with the
    models (the range their authors calibrated on): IC takes raw pixels
    0..255 (scale 1.0, zero point -128); AD takes log-mel energies in about
    [-84.9, 14.9] dB (scale 0.391, zero point 89).
    """
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(n, *shape)).astype(np.float32)


TOYCAR = MLPERF_DIR / "ad" / "toycar_id01_clip0.npz"
TOYCAR_DATA_N = 160  # the first windows calibrate (and 20 % of them validate); the rest evaluate


def toycar_inputs(shape: tuple) -> dict:
    """AD's inputs: real ToyCar log-mel windows (196, unlabelled) when the file is there, the
    first 160 as data and the last 36 for the reported fidelity; else synthetic ones."""
    if TOYCAR.is_file():
        x = np.load(TOYCAR)["x"].astype(np.float32)
        return {"calib": x[:TOYCAR_DATA_N], "x": x[TOYCAR_DATA_N:],
                "inputs": f"{TOYCAR.name}: {TOYCAR_DATA_N} windows as data, {len(x) - TOYCAR_DATA_N} to evaluate"}
    return {"calib": synthetic_inputs(shape, -84.9, 14.9, SYNTHETIC_CALIB_N, SYNTHETIC_SEED),
            "x": synthetic_inputs(shape, -84.9, 14.9, SYNTHETIC_EVAL_N, SYNTHETIC_SEED + 1),
            "inputs": "synthetic, uniform in the shipped .tflite's input range"}


def bench_models() -> list[dict]:
    """Model name, path, calibration inputs, evaluation inputs and labels (or None)."""
    from tinycompress.data import DIGITS_MODEL, digits_calibration, load_digits_split

    split = load_digits_split()
    ic_shape, ad_shape = (32, 32, 3), (640,)
    return [
        {"name": "digits", "path": DIGITS_MODEL, "calib": digits_calibration().x,
         "x": split.x_test, "y": split.y_test, "classifier": True, "reference": None},
        {"name": "mlperf_ic", "path": MLPERF_DIR / "ic" / "pretrainedResnet.h5",
         "calib": synthetic_inputs(ic_shape, 0, 255, SYNTHETIC_CALIB_N, SYNTHETIC_SEED),
         "x": synthetic_inputs(ic_shape, 0, 255, SYNTHETIC_EVAL_N, SYNTHETIC_SEED + 1),
         "y": None, "classifier": True, "inputs": "synthetic, uniform 0..255 (no CIFAR-10 offline)",
         "reference": MLPERF_DIR / "ic" / "pretrainedResnet_quant.tflite"},
        {"name": "mlperf_ad", "path": MLPERF_DIR / "ad" / "ad01.h5", **toycar_inputs(ad_shape),
         "y": None, "classifier": False, "reference": MLPERF_DIR / "ad" / "ad01_int8.tflite"},
    ]


def measure(entry: dict) -> dict:
    """Baseline numbers of one bench model (see `bench_models`).

    With labels: float and TFLite int8 top-1 accuracy. Without (synthetic
    inputs): `top1_agreement` of int8 with float (classifiers only) and the
    int8 output's RMS error relative to the float output's RMS.
    `reference_*`: the int8 `.tflite` shipped with the MLPerf model (made by
    an older converter with per-tensor dense weights; TF 2.21 quantizes dense
    layers per channel, whose scale arrays make AD's file ~41 KB larger and
    its TFLM arena ~13 KB larger).
    """
    flat = tflite_int8(entry["path"], entry["calib"])
    result = {
        "float_weight_bytes": float_weight_bytes(entry["path"]),
        "tflite_int8_bytes": len(flat),
        "tflm_arena_bytes": tflm_arena_bytes(flat),
        "tflm_smallest_arena_bytes": tflm_smallest_arena(flat),
    }
    ref, got = keras_predict(entry["path"], entry["x"]), tflite_predict(flat, entry["x"])
    if entry["y"] is not None:
        result["float_accuracy"] = float(np.mean(np.argmax(ref, -1) == entry["y"]))
        result["tflite_accuracy"] = float(np.mean(np.argmax(got, -1) == entry["y"]))
    else:
        if entry["classifier"]:
            result["top1_agreement"] = float(np.mean(np.argmax(ref, -1) == np.argmax(got, -1)))
        rms = float(np.sqrt(np.mean(ref**2)))
        result["relative_rms_error"] = float(np.sqrt(np.mean((got - ref) ** 2))) / rms
    if entry["reference"] is not None:
        shipped = Path(entry["reference"]).read_bytes()
        result["reference_tflite_bytes"] = len(shipped)
        result["reference_tflm_arena_bytes"] = tflm_arena_bytes(shipped)
    return result


def main() -> None:
    """Print the baseline numbers of the three bench models as JSON."""
    import json

    report = {entry["name"]: measure(entry) for entry in bench_models()}
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
