"""load_digits: sizes, determinism, stratification and value range."""

from __future__ import annotations

import numpy as np

from netslim.data import load_digits


def test_sizes_sum_to_1797_and_shapes():
    data = load_digits(seed=0)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert (len(data.val), len(data.test)) == (270, 270)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert [p.name for p in (data.train, data.val, data.test)] == ["digits/train", "digits/val", "digits/test"]


def test_values_in_unit_interval():
    data = load_digits()
    for part in (data.train, data.val, data.test):
        assert part.x.dtype == np.float32
        assert part.x.min() >= 0.0 and part.x.max() <= 1.0
    assert data.train.x.max() == 1.0


def test_deterministic_under_seed():
    a, b, c = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert not np.array_equal(a.test.x, c.test.x)


def test_every_class_in_every_split_in_proportion():
    data = load_digits(seed=0, val_fraction=0.1, test_fraction=0.2)
    for part in (data.train, data.val, data.test):
        counts = np.bincount(part.y, minlength=10)
        share = counts / counts.sum()
        assert counts.min() > 0
        assert np.abs(share - 0.1).max() < 0.02


def test_the_shipped_array_is_scikit_learns_digits_without_scikit_learn():
    import hashlib
    import subprocess
    import sys
    from importlib import resources

    with resources.files("netslim.data").joinpath("digits.npz").open("rb") as handle:
        arrays = np.load(handle, allow_pickle=False)
        digest = hashlib.sha256(arrays["x"].tobytes() + arrays["y"].tobytes()).hexdigest()
    # the digest of sklearn.datasets.load_digits() data (uint8 0..16) and target, taken when the file was made
    assert digest == "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
    code = "import sys, netslim; netslim.data.load_digits(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
