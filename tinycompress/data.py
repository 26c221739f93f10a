"""Data for calibration and evaluation: the bundled digits split and user `.npz` files.

The digits split is the single source of truth for `examples/digits/train.py`,
the tests and the demo: scikit-learn's 8x8 digits, each pixel repeated 2x2
(nearest-neighbour upsampling) to 16x16x1, scaled from 0..16 to [0, 1] float32,
split 75/25 stratified with a fixed seed.

User data is an `.npz` with `x` (N samples, each of the model's input shape)
and optionally `y` (N integer labels, or N one-hot rows). Every problem with it
raises `DataError` with one line that says what was expected and what was found.

`split_validation` holds a fixed, seeded 20 % of a dataset out for validation
(stratified by label; unlabelled data: a seeded random 20 %), the data every
selection of the compress stage is scored on when no validation file is given.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinycompress.errors import DataError, missing_extra

DIGITS_INPUT_SHAPE = (16, 16, 1)
DIGITS_CLASSES = 10
DIGITS_TEST_FRACTION = 0.25
DIGITS_SEED = 1234
DIGITS_MAX_PIXEL = 16.0  # load_digits pixels are integer intensities 0..16
DIGITS_MODEL = Path(__file__).resolve().parents[1] / "examples" / "digits" / "model.keras"
VALIDATION_PERCENT = 20  # of --data held out for validation when no --val-data is given
VALIDATION_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Inputs `x` (float32, batch axis first) and optional integer labels `y`."""

    x: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, n: int) -> Dataset:
        """The first `n` samples (all of them when there are fewer)."""
        return Dataset(self.x[:n], None if self.y is None else self.y[:n])

    def subset(self, index: np.ndarray) -> Dataset:
        """The samples at `index` (integer positions), in that order."""
        return Dataset(self.x[index], None if self.y is None else self.y[index])


def holdout_counts(counts: list[int], percent: int = VALIDATION_PERCENT) -> list[int]:
    """How many samples of each class to hold out: `percent` % of the total, stratified.

    The total is round(percent % of N) (halves up); each class first gets the
    floor of its exact share, and the samples still missing go one each to the
    classes with the largest remainders (ties: the earlier class). Integer
    arithmetic throughout, so the counts are exact and easy to check by hand.
    """
    total = (sum(counts) * percent + 50) // 100
    held = [c * percent // 100 for c in counts]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(counts[i] * percent % 100), i))
    for i in by_remainder[:total - sum(held)]:
        held[i] += 1
    return held


def holdout_index(y: np.ndarray | None, n: int, percent: int = VALIDATION_PERCENT,
                  seed: int = VALIDATION_SEED) -> np.ndarray:
    """Sorted positions of the held-out samples among `n` (labels `y`, or None).

    Per class in ascending label order (unlabelled data: one class), a seeded
    permutation of the class's positions; its first `holdout_counts` are held
    out. The same labels, percent and seed give the same positions on every run.
    """
    labels = np.zeros(n, np.int64) if y is None else np.asarray(y)
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    counts = holdout_counts([len(m) for m in members], percent)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(m)[:k] for m, k in zip(members, counts)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def split_validation(data: Dataset, percent: int = VALIDATION_PERCENT,
                     seed: int = VALIDATION_SEED) -> tuple[Dataset, Dataset | None]:
    """(the rest, the held-out validation samples) of `data`; disjoint, each in file order.

    Stratified by label when `data` has labels (see `holdout_index`). None
    instead of an empty validation set when `data` is too small to spare a sample.
    """
    held = holdout_index(data.y, len(data), percent, seed)
    if len(held) == 0:
        return data, None
    rest = np.setdiff1d(np.arange(len(data)), held)
    return data.subset(rest), data.subset(held)


@dataclass(frozen=True)
class DigitsSplit:
    """The fixed train/test split of the bundled digits example."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def upsample_digits(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) pixels 0..16 -> (N, 16, 16, 1) float32 in [0, 1], nearest neighbour."""
    big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
    return (big[..., np.newaxis] / DIGITS_MAX_PIXEL).astype(np.float32)


def load_digits_split() -> DigitsSplit:
    """The digits example's train/test split; identical on every call and machine."""
    try:
        from sklearn.datasets import load_digits  # bundled with scikit-learn: no network
        from sklearn.model_selection import train_test_split
    except ModuleNotFoundError as exc:
        raise missing_extra("scikit-learn (the digits data set)", "tf") from exc

    digits = load_digits()
    x = upsample_digits(digits.images)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SEED, stratify=y
    )
    return DigitsSplit(x_train, y_train, x_test, y_test)


def digits_calibration(n: int = 200) -> Dataset:
    """The first `n` training samples: calibration data that the test set never sees."""
    split = load_digits_split()
    return Dataset(split.x_train, split.y_train).take(n)


def digits_test() -> Dataset:
    """The held-out test samples with their labels."""
    split = load_digits_split()
    return Dataset(split.x_test, split.y_test)


def save_npz(path: str | Path, x: np.ndarray, y: np.ndarray | None = None) -> Path:
    """Write `x` (and `y` when given) to an uncompressed `.npz` that `load_npz` reads."""
    path = Path(path)
    arrays = {"x": np.asarray(x, dtype=np.float32)}
    if y is not None:
        arrays["y"] = np.asarray(y)
    with path.open("wb") as f:  # a file object stops numpy from appending ".npz"
        np.savez(f, **arrays)
    return path


def load_npz(path: str | Path, input_shape: tuple | None = None) -> Dataset:
    """Read `x` (and optional `y`) from an `.npz`, checked against `input_shape`.

    `x` must be (N, *input_shape) with N >= 1; a single sample without its
    batch axis is an error, not silently expanded. `y` must hold N integer
    labels, or N one-hot rows (turned into labels). Raises `DataError`.
    """
    arrays = _read_npz(Path(path))
    if "x" not in arrays:
        found = ", ".join(sorted(arrays)) or "no arrays"
        raise DataError(f"{path}: no array named 'x' (found: {found})")
    x = _check_x(path, arrays["x"], input_shape)
    y = _check_y(path, arrays["y"], len(x)) if "y" in arrays else None
    return Dataset(x, y)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: not an .npz archive (a single .npy array?)")
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc


def _check_x(path, x: np.ndarray, input_shape: tuple | None) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{path}: 'x' must be numeric, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{path}: 'x' holds no samples (shape {x.shape})")
    if input_shape is not None:
        expected = (None, *tuple(input_shape))
        if x.ndim != len(expected) or tuple(x.shape[1:]) != tuple(input_shape):
            want = "(N, " + ", ".join(str(d) for d in input_shape) + ")"
            hint = " (missing batch axis?)" if tuple(x.shape) == tuple(input_shape) else ""
            raise DataError(f"{path}: 'x' has shape {x.shape}, expected {want}{hint}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: 'x' contains NaN or infinite values")
    return x


def _check_y(path, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] > 1:
        y = np.argmax(y, axis=1)  # one-hot rows -> class indices
    if y.ndim != 1:
        raise DataError(f"{path}: 'y' has shape {y.shape}, expected ({n},) integer labels")
    if y.shape[0] != n:
        raise DataError(f"{path}: 'y' has {y.shape[0]} labels but 'x' has {n} samples")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(y == np.round(y)):
            raise DataError(f"{path}: 'y' must hold integer labels, got dtype {y.dtype}")
    return y.astype(np.int64)
