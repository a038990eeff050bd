from __future__ import annotations

import pytest
import torch

from netslim.data import Splits, load_digits
from netslim.data.mnist import default_mnist_dir


@pytest.fixture(scope="session")
def digits() -> Splits:
    return load_digits(seed=0)


@pytest.fixture(scope="session")
def mnist_dir():
    path = default_mnist_dir()
    if path is None:
        pytest.skip("real MNIST not found: set NETSLIM_MNIST_DIR or place it at ../shared/data/mnist")
    return path


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
