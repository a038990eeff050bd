"""The bundled 8x8 handwritten digits (1797 samples, no download) as stratified ``Splits``.

The array ships inside the package (``digits.npz``, 45 kB: pixel counts 0..16 as uint8 and labels), so netslim
needs no scikit-learn. It is the copy scikit-learn bundles of the test set of the UCI "Optical Recognition of
Handwritten Digits" data (E. Alpaydin, C. Kaynak, 1998), redistributed there under the BSD-3-Clause license; see
``DIGITS_LICENSE.txt`` beside it.
"""

from __future__ import annotations

from importlib import resources

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
    with resources.files("netslim.data").joinpath("digits.npz").open("rb") as handle:
        arrays = np.load(handle, allow_pickle=False)
        pixels, labels = arrays["x"], arrays["y"]
    x = (pixels.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = labels.astype(np.int64)
    ds = ArrayDataset(x, y, name="digits", classes=DIGIT_CLASSES)
    return split(ds, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
