"""load_mnist on small synthetic IDX directories, and once (slow) on the real MNIST."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from netslim.data import default_mnist_dir, load_mnist, write_idx
from netslim.errors import ConfigError, DataError


def make_fake_mnist(directory: Path, *, n_train: int = 300, n_test: int = 50, style: str = "dash-gz") -> Path:
    """Write four small MNIST-like IDX files (labels cycle 0..9) named in one of the common styles."""
    rng = np.random.default_rng(0)
    sep, ext = {"dash-gz": ("-", ".gz"), "dot-raw": (".", ""), "dash-raw": ("-", "")}[style]
    directory.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(directory / f"{stem}-images{sep}idx3-ubyte{ext}", images)
        write_idx(directory / f"{stem}-labels{sep}idx1-ubyte{ext}", (np.arange(n) % 10).astype(np.uint8))
    return directory


@pytest.mark.parametrize("style", ["dash-gz", "dot-raw", "dash-raw"])
def test_loads_synthetic_directory(tmp_path, style):
    data = load_mnist(make_fake_mnist(tmp_path / "m", style=style), val_size=40, seed=1)
    assert (len(data.train), len(data.val), len(data.test)) == (260, 40, 50)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.train.classes == tuple("0123456789")
    assert data.train.x.dtype == np.float32 and data.train.x.min() >= 0.0 and data.train.x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(data.val.y, minlength=10), [4] * 10)
    again = load_mnist(tmp_path / "m", val_size=40, seed=1)
    np.testing.assert_array_equal(again.val.x, data.val.x)


def test_missing_file_lists_names_searched(tmp_path):
    directory = make_fake_mnist(tmp_path / "m")
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=re.escape(str(directory))) as info:
        load_mnist(directory)
    for name in ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "t10k-labels-idx1-ubyte.gz"):
        assert name in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "absent"))):
        load_mnist(tmp_path / "absent")


def test_count_mismatch_and_bad_labels(tmp_path):
    directory = make_fake_mnist(tmp_path / "m")
    labels = directory / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(299, dtype=np.uint8))
    with pytest.raises(DataError, match="299 labels"):
        load_mnist(directory)
    write_idx(labels, np.full(300, 12, dtype=np.uint8))
    with pytest.raises(DataError, match=re.escape(str(labels))) as info:
        load_mnist(directory)
    assert "0..9" in str(info.value)


def test_wrong_image_rank(tmp_path):
    directory = make_fake_mnist(tmp_path / "m")
    images = directory / "train-images-idx3-ubyte.gz"
    write_idx(images, np.zeros((300, 784), dtype=np.uint8))
    with pytest.raises(DataError, match=re.escape(str(images))):
        load_mnist(directory)


@pytest.mark.parametrize("val_size", [0, 300, -5])
def test_val_size_out_of_range(tmp_path, val_size):
    with pytest.raises(ConfigError, match="val_size"):
        load_mnist(make_fake_mnist(tmp_path / "m"), val_size=val_size)


def test_default_dir_honours_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSLIM_MNIST_DIR", str(tmp_path))
    assert default_mnist_dir() == tmp_path
    monkeypatch.setenv("NETSLIM_MNIST_DIR", str(tmp_path / "absent"))
    assert default_mnist_dir() is None


@pytest.mark.slow
def test_real_mnist():
    directory = default_mnist_dir()
    if directory is None:
        pytest.skip(
            "real MNIST not found: set NETSLIM_MNIST_DIR or put the IDX files in "
            f"{Path(__file__).resolve().parents[2].parent / 'shared/data/mnist'}"
        )
    data = load_mnist(directory, val_size=5000, seed=0)
    assert len(data.train) + len(data.val) == 60000 and len(data.test) == 10000
    assert (len(data.train), len(data.val)) == (55000, 5000)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.test.x.dtype == np.float32 and data.test.x.min() == 0.0 and data.test.x.max() == 1.0
    assert np.bincount(data.test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    val_counts = np.bincount(data.val.y, minlength=10)
    assert val_counts.min() >= 400 and val_counts.sum() == 5000
