"""Datasets for compression: in-memory ``ArrayDataset`` and ``Splits``, loaders for digits, MNIST IDX, npz arrays,
image folders and labelled text lines, calibration subsets, and ``load_data``, the CLI's front door.

Example:
    >>> from netslim.data import load_data, calibration_subset
    >>> data = load_data("digits", seed=0)
    >>> calib = calibration_subset(data.train, 128)
    >>> for x, y in data.train.batches(64, shuffle=True, seed=0):
    ...     pass
"""

from __future__ import annotations

from netslim.data.arrays import load_arrays
from netslim.data.dataset import ArrayDataset, Splits, split
from netslim.data.digits import load_digits
from netslim.data.folders import load_image_folder
from netslim.data.idx import read_idx, write_idx
from netslim.data.load import load_data
from netslim.data.mnist import default_mnist_dir, load_mnist
from netslim.data.sampling import calibration_subset, example_batch, training_set
from netslim.data.text import load_text_lines, tokenize

__all__ = [
    "ArrayDataset",
    "Splits",
    "calibration_subset",
    "default_mnist_dir",
    "example_batch",
    "load_arrays",
    "load_data",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "load_text_lines",
    "read_idx",
    "split",
    "tokenize",
    "training_set",
    "write_idx",
]
