"""Small, deterministic, label-stratified subsets, e.g. calibration data for quantization."""

from __future__ import annotations

import numpy as np
import torch

from netslim.data.dataset import ArrayDataset, Splits
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


def training_set(data: Splits | ArrayDataset, verb: str = "this step") -> ArrayDataset:
    """The training part of ``data`` (a ``Splits``) or ``data`` itself (a dataset); anything else is an error."""
    if isinstance(data, Splits):
        return data.train
    if isinstance(data, ArrayDataset):
        return data
    raise DataError(
        f"{verb} needs data: a Splits (netslim.data.load_data) or an ArrayDataset, got {type(data).__name__}"
    )


def example_batch(data: Splits | ArrayDataset, n: int = 2) -> torch.Tensor:
    """The first ``n`` training samples of ``data`` as a float tensor: the example input verbs trace with."""
    ds = training_set(data, "tracing the model")
    return torch.from_numpy(np.ascontiguousarray(ds.x[:n]))
