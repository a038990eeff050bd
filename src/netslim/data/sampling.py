"""Small, deterministic, label-stratified subsets, e.g. calibration data for quantization."""

from __future__ import annotations

import numpy as np

from netslim.data.dataset import ArrayDataset
from netslim.data.stratify import stratified_sample
from netslim.errors import ConfigError, DataError


def calibration_subset(ds: ArrayDataset, n: int, *, seed: int = 0, stratified: bool = True) -> ArrayDataset:
    """Pick ``n`` samples of ``ds`` in a seeded order; stratified picks each class in proportion to its frequency.

    With ``stratified`` and ``n`` at least the number of classes present, every class gets at least one sample.
    An ``n`` above ``len(ds)`` returns every sample, shuffled.

    Example:
        >>> from netslim.data import load_digits
        >>> data = load_digits()
        >>> calib = calibration_subset(data.train, 256, seed=0)
        >>> len(calib)
        256
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ConfigError(f"n (the number of calibration samples) must be a positive integer, got {n!r}.")
    if len(ds) == 0:
        raise DataError(f"dataset {ds.name!r} is empty; a calibration subset needs at least one sample.")
    n = min(int(n), len(ds))
    if stratified:
        indices = stratified_sample(ds.y, n, seed, at_least_one=True)
    else:
        indices = np.random.default_rng(seed).permutation(len(ds))[:n]
    return ds.subset(indices, f"{ds.name}/calibration")
