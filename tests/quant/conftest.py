"""Trained tiny models on the embedded digits, shared by the quantization tests (trained once per session)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from netslim.data import Splits, calibration_subset
from netslim.models import build_model
from netslim.train import TrainConfig, evaluate, train_


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every quantization test runs on one thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def trained_cnn(digits: Splits) -> tuple[nn.Module, float]:
    """seed_cnn trained on digits (15 epochs) and its test accuracy; tests must deepcopy before changing it."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs: one thread is fastest and does not fight other processes
    try:
        model = build_model("seed_cnn", (1, 8, 8))
        train_(model, digits, TrainConfig(epochs=15, lr=3e-3, batch_size=32))
    finally:
        torch.set_num_threads(threads)
    return model, evaluate(model, digits.test).accuracy


@pytest.fixture
def cnn(trained_cnn: tuple[nn.Module, float]) -> nn.Module:
    return copy.deepcopy(trained_cnn[0])


@pytest.fixture(scope="session")
def calib(digits: Splits):
    return calibration_subset(digits.train, 256, seed=0)
