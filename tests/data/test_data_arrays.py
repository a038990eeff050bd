"""load_arrays: accepted shapes and dtypes, and errors that name the file and the key."""

from __future__ import annotations

import re

import numpy as np
import pytest

from netslim.data import load_arrays
from netslim.errors import DataError


def test_uint8_images_get_a_channel_and_are_scaled(tmp_path):
    path = tmp_path / "imgs.npz"
    np.savez(path, x=np.full((6, 5, 4), 255, dtype=np.uint8), y=np.array([0, 1, 2, 0, 1, 2]))
    ds = load_arrays(path)
    assert ds.input_shape == (1, 5, 4) and ds.x.dtype == np.float32
    assert ds.x.max() == 1.0 and ds.num_classes == 3 and ds.name == str(path)


def test_nchw_features_keys_and_whole_float_labels(tmp_path):
    path = tmp_path / "custom.npz"
    np.savez(path, images=np.zeros((4, 3, 2, 2), np.float64), labels=np.array([0.0, 1.0, 1.0, 0.0]))
    ds = load_arrays(path, x_key="images", y_key="labels")
    assert ds.input_shape == (3, 2, 2) and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    feats = tmp_path / "feats.npz"
    np.savez(feats, x=np.ones((5, 7), np.float32), y=np.arange(5), classes=np.array(list("abcde")))
    ds = load_arrays(feats)
    assert ds.input_shape == (7,) and ds.classes == ("a", "b", "c", "d", "e")


@pytest.mark.parametrize(
    ("arrays", "key", "fragment"),
    [
        ({"x": np.zeros(5), "y": np.zeros(5, int)}, "'x'", "(N, H, W)"),
        ({"x": np.zeros((2, 1, 1, 3, 3)), "y": np.zeros(2, int)}, "'x'", "(N, C, H, W)"),
        ({"x": np.zeros((5, 3)), "y": np.zeros((5, 2), int)}, "'y'", "(5,)"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(4, int)}, "'y'", "(5,)"),
        ({"x": np.zeros((3, 3)), "y": np.array([0.0, 0.5, 1.0])}, "'y'", "whole-number"),
        ({"x": np.zeros((2, 3)), "y": np.array([0, -1])}, "'y'", "negative"),
        ({"x": np.full((2, 3), np.nan), "y": np.array([0, 1])}, "'x'", "NaN"),
        ({"x": np.zeros((2, 3, 3), np.int32), "y": np.array([0, 1])}, "'x'", "uint8"),
        ({"images": np.zeros((2, 3)), "y": np.array([0, 1])}, "'x'", "['images', 'y']"),
    ],
)
def test_wrong_arrays_name_file_and_key(tmp_path, arrays, key, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        load_arrays(path)
    assert key in str(info.value) and fragment in str(info.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        load_arrays(path)
    assert "'x'" in str(info.value) and "unpickl" in str(info.value)


def test_not_a_zip(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        load_arrays(path)
    assert "not a zip" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "none.npz"))):
        load_arrays(tmp_path / "none.npz")
