from __future__ import annotations

import pytest
import torch
from torch import nn

from netslim.data import Splits, load_digits, load_mnist
from netslim.data.mnist import default_mnist_dir
from netslim.models import build_model
from netslim.train import TrainConfig, evaluate, train_

# the recipe of benchmarks/common.py: 3 epochs of Adam with a one-cycle schedule
MNIST_CNN_RECIPE = TrainConfig(epochs=3, lr=2e-3, batch_size=128, schedule="onecycle", seed=0)


@pytest.fixture(scope="session")
def digits() -> Splits:
    return load_digits(seed=0)


@pytest.fixture(scope="session")
def mnist_dir():
    path = default_mnist_dir()
    if path is None:
        pytest.skip("real MNIST not found: set NETSLIM_MNIST_DIR or place it at ../shared/data/mnist")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_dir) -> Splits:
    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def mnist_seed_cnn(mnist: Splits) -> tuple[nn.Module, float]:
    """The seed CNN trained once per test run on real MNIST (``MNIST_CNN_RECIPE``) and its test accuracy; tests that
    change it must ``copy.deepcopy`` it first."""
    torch.manual_seed(0)
    model = build_model("seed_cnn", mnist.input_shape)
    train_(model, mnist, MNIST_CNN_RECIPE)
    return model.eval(), evaluate(model, mnist.test).accuracy


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread is fastest, and on a shared 2-core machine extra threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
