"""scikit-learn's bundled 8x8 handwritten digits (1797 samples, no download) as stratified ``Splits``."""

from __future__ import annotations

import numpy as np

from netslim.data.dataset import ArrayDataset, Splits, split

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


def load_digits(*, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15) -> Splits:
    """Load the digits set as images of shape (N, 1, 8, 8), float32 in [0, 1], split by label.

    Example:
        >>> data = load_digits(seed=0)
        >>> data.input_shape, data.num_classes
        ((1, 8, 8), 10)
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    ds = ArrayDataset(x, y, name="digits", classes=DIGIT_CLASSES)
    return split(ds, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
