"""tinycompress.data: the digits split and user `.npz` files."""
from __future__ import annotations

import numpy as np
import pytest

from tinycompress.data import (
    Dataset,
    digits_calibration,
    digits_test,
    load_digits_split,
    load_npz,
    save_npz,
    upsample_digits,
)
from tinycompress.errors import DataError

SHAPE = (16, 16, 1)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_round_trip(tmp_path):
    x = np.arange(3 * 16 * 16).reshape(3, 16, 16, 1) / 768.0
    y = np.array([2, 0, 9])
    data = load_npz(save_npz(tmp_path / "d.npz", x, y), SHAPE)
    assert data.x.dtype == np.float32 and data.x.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(data.x, x.astype(np.float32))
    assert data.y.tolist() == [2, 0, 9] and np.issubdtype(data.y.dtype, np.integer)


def test_y_is_optional_and_shape_check_is_optional(tmp_path):
    data = load_npz(save_npz(tmp_path / "d.npz", np.ones((2, 5))))
    assert data.y is None and data.x.shape == (2, 5) and len(data) == 2


def test_one_hot_labels_become_indices(tmp_path):
    y = np.eye(4)[[3, 1]]
    data = load_npz(_write(tmp_path / "d.npz", x=np.zeros((2, 16, 16, 1)), y=y), SHAPE)
    assert data.y.tolist() == [3, 1]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "absent.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match="text.npz"):
        load_npz(path)


def test_single_npy_array_is_not_an_npz(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 16, 16, 1)))
    with pytest.raises(DataError, match="not an .npz"):
        load_npz(path)


def test_no_x(tmp_path):
    path = _write(tmp_path / "d.npz", images=np.zeros((2, 16, 16, 1)))
    with pytest.raises(DataError, match=r"no array named 'x' \(found: images\)"):
        load_npz(path, SHAPE)


def test_wrong_shape_says_expected_and_got(tmp_path):
    path = save_npz(tmp_path / "d.npz", np.zeros((5, 8, 8, 1)))
    with pytest.raises(DataError, match=r"shape \(5, 8, 8, 1\), expected \(N, 16, 16, 1\)"):
        load_npz(path, SHAPE)


def test_missing_batch_axis_is_an_error(tmp_path):
    path = save_npz(tmp_path / "d.npz", np.zeros(SHAPE))
    with pytest.raises(DataError, match="missing batch axis"):
        load_npz(path, SHAPE)


def test_y_length_mismatch(tmp_path):
    path = save_npz(tmp_path / "d.npz", np.zeros((3, 16, 16, 1)), np.array([1, 2]))
    with pytest.raises(DataError, match="2 labels but 'x' has 3 samples"):
        load_npz(path, SHAPE)


def test_non_integer_labels(tmp_path):
    path = save_npz(tmp_path / "d.npz", np.zeros((2, 16, 16, 1)), np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="integer labels"):
        load_npz(path, SHAPE)


def test_empty_and_non_finite_x(tmp_path):
    with pytest.raises(DataError, match="no samples"):
        load_npz(save_npz(tmp_path / "e.npz", np.zeros((0, 16, 16, 1))), SHAPE)
    with pytest.raises(DataError, match="NaN"):
        load_npz(save_npz(tmp_path / "n.npz", np.full((1, 16, 16, 1), np.nan)), SHAPE)


def test_upsample_is_nearest_neighbour_and_scaled():
    image = np.array([[[0, 16], [8, 4]]])  # one 2x2 "image"
    big = upsample_digits(image)
    # each pixel becomes a 2x2 block, divided by 16 (the largest digits intensity)
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [.5, .5, .25, .25], [.5, .5, .25, .25]])
    assert big.shape == (1, 4, 4, 1) and big.dtype == np.float32
    np.testing.assert_array_equal(big[0, :, :, 0], expected)


def test_digits_split_shapes_and_determinism():
    a, b = load_digits_split(), load_digits_split()
    # load_digits has 1797 images; test_size=0.25 -> ceil(449.25) = 450 test, 1347 train
    assert a.x_train.shape == (1347, 16, 16, 1) and a.x_test.shape == (450, 16, 16, 1)
    assert a.y_train.shape == (1347,) and a.y_test.shape == (450,)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert set(np.unique(a.y_test)) == set(range(10))  # stratified: every class in test


def test_digits_split_matches_sklearn_images():
    from sklearn.datasets import load_digits

    digits = load_digits()
    split = load_digits_split()
    # any test image, downsampled by taking every other pixel, is a digits image * 1/16
    small = split.x_test[0, ::2, ::2, 0] * 16.0
    matches = np.all(digits.images == small, axis=(1, 2))
    assert matches.any() and split.y_test[0] in digits.target[matches]


def test_calibration_and_test_helpers():
    calib, test = digits_calibration(50), digits_test()
    split = load_digits_split()
    assert isinstance(calib, Dataset) and len(calib) == 50
    np.testing.assert_array_equal(calib.x, split.x_train[:50])
    np.testing.assert_array_equal(test.y, split.y_test)
