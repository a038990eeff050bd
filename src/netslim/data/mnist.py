"""MNIST-style IDX directories (MNIST, Fashion-MNIST, ...) as train/val/test ``Splits``; locating the real MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from netslim.data.dataset import ArrayDataset, Splits
from netslim.data.idx import read_idx
from netslim.data.stratify import stratified_partition
from netslim.errors import ConfigError, DataError

MNIST_ENV_VAR = "NETSLIM_MNIST_DIR"
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

#: role -> (file stem, IDX kind); a file is found as "<stem>-<kind>-ubyte" or "<stem>.<kind>-ubyte", each maybe ".gz".
_ROLES: dict[str, tuple[str, str]] = {
    "train images": ("train-images", "idx3"),
    "train labels": ("train-labels", "idx1"),
    "test images": ("t10k-images", "idx3"),
    "test labels": ("t10k-labels", "idx1"),
}


def mnist_file_names(role: str) -> list[str]:
    """The file names searched for ``role`` ("train images", "train labels", "test images" or "test labels")."""
    stem, kind = _ROLES[role]
    names = [f"{stem}-{kind}-ubyte", f"{stem}.{kind}-ubyte"]
    return names + [name + ".gz" for name in names]


def find_mnist_file(directory: Path, role: str) -> Path | None:
    """Return the first existing file for ``role`` in ``directory``, or None."""
    for name in mnist_file_names(role):
        if (directory / name).is_file():
            return directory / name
    return None


def default_mnist_dir() -> Path | None:
    """Where the real MNIST lives: ``$NETSLIM_MNIST_DIR`` if set, else ``shared/data/mnist`` beside the repository.

    Returns None when the directory is not there (an unset-but-wrong ``$NETSLIM_MNIST_DIR`` also gives None).
    """
    override = os.environ.get(MNIST_ENV_VAR)
    if override:
        path = Path(override).expanduser()
        return path if path.is_dir() else None
    repo = Path(__file__).resolve().parents[3]
    for candidate in (repo.parent / "shared/data/mnist", repo / "shared/data/mnist"):
        if candidate.is_dir() and find_mnist_file(candidate, "train images") is not None:
            return candidate
    return None


def _load_pair(directory: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    paths = {}
    for role in (f"{part} images", f"{part} labels"):
        path = find_mnist_file(directory, role)
        if path is None:
            raise DataError(
                f"{directory}: no MNIST {role} file; looked for {', '.join(mnist_file_names(role))}. "
                "Put the four IDX files (gzipped or not) in this directory."
            )
        paths[role] = path
    images, labels = read_idx(paths[f"{part} images"]), read_idx(paths[f"{part} labels"])
    image_path, label_path = paths[f"{part} images"], paths[f"{part} labels"]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{image_path}: expected uint8 images of shape (N, H, W), got {images.dtype} of shape {images.shape}."
        )
    if labels.ndim != 1:
        raise DataError(f"{label_path}: expected labels of shape (N,), got shape {labels.shape}.")
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels; "
            "the counts must match (are the files from the same set?)."
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{label_path}: expected labels in 0..9, got values from {labels.min()} to {labels.max()}.")
    return images, labels.astype(np.int64)


def _as_dataset(images: np.ndarray, labels: np.ndarray, name: str) -> ArrayDataset:
    x = images.astype(np.float32)
    x /= 255.0
    return ArrayDataset(x[:, None, :, :], labels, name=name, classes=MNIST_CLASSES)


def load_mnist(directory: str | Path, *, val_size: int = 5000, seed: int = 0) -> Splits:
    """Load the IDX files in ``directory`` as (N, 1, H, W) float32 in [0, 1]; ``val_size`` comes from the train set.

    The validation set is stratified by label and deterministic for ``seed``; the test set is the t10k files.

    Example:
        >>> data = load_mnist(default_mnist_dir())  # doctest: +SKIP
        >>> len(data.train), len(data.val), len(data.test)  # doctest: +SKIP
        (55000, 5000, 10000)
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: expected a directory of MNIST IDX files, found none. Check the path.")
    train_images, train_labels = _load_pair(directory, "train")
    test_images, test_labels = _load_pair(directory, "test")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"{directory}: train images are {train_images.shape[1:]} but test images are {test_images.shape[1:]}; "
            "both must have the same height and width."
        )
    n_train = len(train_labels)
    if isinstance(val_size, bool) or not isinstance(val_size, int | np.integer) or not 0 < val_size < n_train:
        raise ConfigError(
            f"val_size must be an integer in 1..{n_train - 1} (the training set of {directory} has {n_train} "
            f"samples), got {val_size!r}."
        )
    val_idx, train_idx = stratified_partition(train_labels, [int(val_size)], seed)
    return Splits(
        train=_as_dataset(train_images[train_idx], train_labels[train_idx], "mnist/train"),
        val=_as_dataset(train_images[val_idx], train_labels[val_idx], "mnist/val"),
        test=_as_dataset(test_images, test_labels, "mnist/test"),
    )
