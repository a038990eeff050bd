"""ArrayDataset validation, batches() and the stratified split()."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from netslim.data import ArrayDataset, split
from netslim.errors import ConfigError, DataError


def _toy(n: int = 100, classes: int = 4) -> ArrayDataset:
    rng = np.random.default_rng(0)
    x = rng.random((n, 3), dtype=np.float32)
    y = np.arange(n) % classes
    return ArrayDataset(x, y, name="toy")


def test_properties_and_dtype_normalisation():
    ds = ArrayDataset(np.zeros((6, 1, 4, 5)), np.array([0, 2, 1, 0, 2, 1], dtype=np.int32), name="t")
    assert len(ds) == 6
    assert ds.input_shape == (1, 4, 5)
    assert ds.num_classes == 3
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    named = ArrayDataset(ds.x, ds.y, name="t", classes=("a", "b", "c", "d"))
    assert named.num_classes == 4


@pytest.mark.parametrize(
    ("x", "y", "fragment"),
    [
        (np.zeros((3, 2)), np.zeros(4, dtype=np.int64), "3 samples but y has 4"),
        (np.zeros((3, 2)), np.zeros((3, 1), dtype=np.int64), "1-D integer"),
        (np.zeros((3, 2)), np.array([0.5, 1.0, 2.0]), "1-D integer"),
        (np.zeros((3, 2)), np.array([0, -1, 1]), ">= 0"),
    ],
)
def test_invalid_arrays_raise_data_error_naming_dataset(x, y, fragment):
    with pytest.raises(DataError, match="my/data") as info:
        ArrayDataset(x, y, name="my/data")
    assert fragment in str(info.value)


def test_label_beyond_class_names_is_rejected():
    with pytest.raises(DataError, match="out of range"):
        ArrayDataset(np.zeros((2, 1)), np.array([0, 2]), name="t", classes=("a", "b"))


def test_subset_keeps_metadata_and_tensors_share_memory():
    ds = ArrayDataset(np.arange(8).reshape(4, 2), np.array([0, 1, 0, 1]), name="tok", classes=("n", "p"), vocab=("a",))
    sub = ds.subset([3, 1])
    assert sub.name == "tok" and sub.classes == ("n", "p") and sub.vocab == ("a",)
    np.testing.assert_array_equal(sub.y, [1, 1])
    x, y = ds.tensors()
    assert x.dtype == torch.int64 and y.dtype == torch.int64
    assert x.data_ptr() == ds.x.ctypes.data


def test_batches_cover_every_sample_once_and_are_deterministic():
    ds = _toy(103)
    first = [yb.clone() for _, yb in ds.batches(10, shuffle=True, seed=7)]
    again = [yb.clone() for _, yb in ds.batches(10, shuffle=True, seed=7)]
    other = [yb.clone() for _, yb in ds.batches(10, shuffle=True, seed=8)]
    assert [len(b) for b in first] == [10] * 10 + [3]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    order = np.random.default_rng(7).permutation(103)
    np.testing.assert_array_equal(torch.cat(first).numpy(), ds.y[order])
    xs = torch.cat([xb for xb, _ in ds.batches(10, shuffle=True, seed=7)])
    np.testing.assert_array_equal(np.sort(xs.numpy(), axis=0), np.sort(ds.x, axis=0))


def test_batches_in_order_and_drop_last():
    ds = _toy(25)
    xs = torch.cat([xb for xb, _ in ds.batches(8)])
    np.testing.assert_array_equal(xs.numpy(), ds.x)
    assert [len(yb) for _, yb in ds.batches(8, drop_last=True)] == [8, 8, 8]
    with pytest.raises(ConfigError, match="batch_size"):
        next(ds.batches(0))


def test_split_is_stratified_complete_and_seeded():
    ds = _toy(200, classes=4)
    parts = split(ds, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (140, 40, 20)
    assert parts.train.name == "toy/train" and parts.test.name == "toy/test"
    assert parts.num_classes == 4 and parts.input_shape == (3,)
    for part, per_class in ((parts.train, 35), (parts.val, 10), (parts.test, 5)):
        np.testing.assert_array_equal(np.bincount(part.y, minlength=4), [per_class] * 4)
    rows = [tuple(r) for p in (parts.train, parts.val, parts.test) for r in p.x.tolist()]
    assert len(set(rows)) == 200
    again = split(ds, val_fraction=0.2, test_fraction=0.1, seed=3)
    np.testing.assert_array_equal(again.val.x, parts.val.x)
    assert not np.array_equal(split(ds, val_fraction=0.2, test_fraction=0.1, seed=4).val.x, parts.val.x)


@pytest.mark.parametrize(
    ("val", "test", "field"),
    [(-0.1, 0.1, "val_fraction"), (0.1, 1.0, "test_fraction"), (0.6, 0.4, "val_fraction + test_fraction")],
)
def test_split_rejects_bad_fractions(val, test, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        split(_toy(), val_fraction=val, test_fraction=test)


def test_split_refuses_empty_parts():
    with pytest.raises(DataError, match="toy"):
        split(_toy(2, classes=2))
    with pytest.raises(DataError, match="non-empty"):
        split(_toy(), val_fraction=0.0)
