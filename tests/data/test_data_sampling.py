"""calibration_subset: determinism, stratification and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from netslim.data import ArrayDataset, calibration_subset
from netslim.errors import ConfigError, DataError


def _imbalanced() -> ArrayDataset:
    y = np.repeat([0, 1, 2], [700, 200, 100])
    return ArrayDataset(np.arange(1000, dtype=np.float32)[:, None], y, name="imb", classes=("a", "b", "c"))


def test_deterministic_and_seed_dependent():
    ds = _imbalanced()
    a, b = calibration_subset(ds, 50, seed=1), calibration_subset(ds, 50, seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, calibration_subset(ds, 50, seed=2).x)
    assert len(np.unique(a.x)) == 50 and a.classes == ds.classes


def test_stratified_is_proportional():
    sub = calibration_subset(_imbalanced(), 100, seed=0)
    np.testing.assert_array_equal(np.bincount(sub.y), [70, 20, 10])


def test_every_class_represented_when_n_allows():
    y = np.array([0] * 97 + [1, 2, 3])
    ds = ArrayDataset(np.zeros((100, 2), np.float32), y, name="rare")
    assert set(calibration_subset(ds, 4, seed=0).y.tolist()) == {0, 1, 2, 3}
    assert len(calibration_subset(ds, 2, seed=0)) == 2


def test_unstratified_and_oversized():
    ds = _imbalanced()
    assert len(calibration_subset(ds, 30, stratified=False, seed=3)) == 30
    everything = calibration_subset(ds, 5000, seed=3)
    assert len(everything) == 1000
    np.testing.assert_array_equal(np.sort(everything.x[:, 0]), np.arange(1000))
    assert not np.array_equal(everything.x[:, 0], np.arange(1000))
    np.testing.assert_array_equal(everything.x, calibration_subset(ds, 5000, seed=3).x)


def test_bad_n_and_empty_dataset():
    with pytest.raises(ConfigError, match="n "):
        calibration_subset(_imbalanced(), 0)
    empty = ArrayDataset(np.zeros((0, 3), np.float32), np.zeros(0, np.int64), name="nothing")
    with pytest.raises(DataError, match="nothing"):
        calibration_subset(empty, 5)
