"""In-memory labelled datasets (``ArrayDataset``), train/val/test ``Splits`` and a stratified ``split``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from netslim.data.stratify import stratified_partition
from netslim.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """Samples ``x`` with integer labels ``y``, held in memory as numpy arrays.

    ``x`` is float32 (images NCHW scaled to [0, 1], or (N, F) features) or int64 token ids (N, L); other float and
    integer dtypes are converted on construction. ``y`` is int64 of shape (N,).

    Example:
        >>> ds = ArrayDataset(np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 0, 1]), name="toy")
        >>> len(ds), ds.input_shape, ds.num_classes
        (4, (1, 8, 8), 2)
    """

    x: np.ndarray
    y: np.ndarray
    name: str
    classes: tuple[str, ...] | None = None
    vocab: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x), np.asarray(self.y)
        where = f"dataset {self.name!r}"
        if x.ndim < 2:
            raise DataError(f"{where}: expected x of shape (N, ...) with at least 2 dims, got shape {x.shape}.")
        if x.dtype.kind == "f":
            x = np.ascontiguousarray(x, dtype=np.float32)
        elif x.dtype.kind in "iu":
            x = np.ascontiguousarray(x, dtype=np.int64)
        else:
            raise DataError(f"{where}: expected x of float or integer dtype, got {x.dtype}. Convert x first.")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(
                f"{where}: expected y as 1-D integer labels of shape (N,), got dtype {y.dtype} shape {y.shape}. "
                "Pass class indices, e.g. y.astype(np.int64)."
            )
        if len(x) != len(y):
            raise DataError(f"{where}: x has {len(x)} samples but y has {len(y)} labels; they must be equal.")
        y = np.ascontiguousarray(y, dtype=np.int64)
        if len(y) and int(y.min()) < 0:
            raise DataError(f"{where}: labels must be >= 0, got minimum {int(y.min())}.")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
            if len(y) and int(y.max()) >= len(self.classes):
                raise DataError(
                    f"{where}: label {int(y.max())} is out of range for {len(self.classes)} class names; "
                    "pass one name per class or classes=None."
                )
        if self.vocab is not None:
            object.__setattr__(self, "vocab", tuple(self.vocab))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"ArrayDataset(name={self.name!r}, n={len(self)}, x={self.x.dtype}{list(self.x.shape)})"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``x.shape[1:]``."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        """``len(classes)`` when class names are known, else ``max(y) + 1`` (0 for an empty dataset)."""
        if self.classes is not None:
            return len(self.classes)
        return int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> ArrayDataset:
        """Return the samples at ``indices`` (or a boolean mask), keeping ``classes`` and ``vocab``."""
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iub":
            raise DataError(f"dataset {self.name!r}: indices must be integers or a boolean mask, got {idx.dtype}.")
        return ArrayDataset(self.x[idx], self.y[idx], name or self.name, self.classes, self.vocab)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x, y)`` as torch tensors sharing memory with the numpy arrays."""
        return torch.from_numpy(self.x), torch.from_numpy(self.y)

    def batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` tensor batches; with ``shuffle`` the order is ``default_rng(seed).permutation``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        n = len(self)
        order = np.random.default_rng(seed).permutation(n) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, n)
            if order is None:
                xb, yb = self.x[start:end], self.y[start:end]
            else:
                xb, yb = self.x[order[start:end]], self.y[order[start:end]]
            yield torch.from_numpy(xb), torch.from_numpy(yb)


@dataclass(frozen=True, eq=False)
class Splits:
    """Train, validation and test datasets drawn from one source."""

    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample of the training set."""
        return self.train.input_shape

    @property
    def num_classes(self) -> int:
        """Number of classes of the training set (the largest of the three when class names are unknown)."""
        if self.train.classes is not None:
            return self.train.num_classes
        return max(self.train.num_classes, self.val.num_classes, self.test.num_classes)


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def split(ds: ArrayDataset, *, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0) -> Splits:
    """Split ``ds`` into label-stratified train/val/test parts, deterministic for a given ``seed``.

    Example:
        >>> from netslim.data import load_digits
        >>> ds = load_digits().train
        >>> parts = split(ds, val_fraction=0.1, test_fraction=0.2, seed=0)
        >>> len(parts.train) + len(parts.val) + len(parts.test) == len(ds)
        True
    """
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction must be below 1 to leave training data, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction}."
        )
    n = len(ds)
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    if n_val == 0 or n_test == 0 or n - n_val - n_test < 1:
        raise DataError(
            f"dataset {ds.name!r}: {n} samples cannot be split into non-empty train/val/test parts "
            f"(val_fraction={val_fraction}, test_fraction={test_fraction} give val={n_val}, test={n_test}, "
            f"train={n - n_val - n_test}). Use fractions above 0 and a dataset with at least 3 samples."
        )
    val_idx, test_idx, train_idx = stratified_partition(ds.y, [n_val, n_test], seed)
    return Splits(
        train=ds.subset(train_idx, f"{ds.name}/train"),
        val=ds.subset(val_idx, f"{ds.name}/val"),
        test=ds.subset(test_idx, f"{ds.name}/test"),
    )
