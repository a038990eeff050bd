"""Quantization on real MNIST (slow): the acceptance bounds of int8 PTQ, W4A8 and ternary QAT of the seed CNN, and a
binary-weight MLP, on the held-out test set. Recipes of benchmarks/quant_seed_mnist.py with fewer QAT epochs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from netslim.data import Splits, calibration_subset
from netslim.models import build_model
from netslim.quant import QATConfig, QuantConfig, QuantLinear, qat_, quantize_
from netslim.train import DistillConfig, TrainConfig, evaluate, train_

DISTILL = DistillConfig(temperature=4.0, alpha=0.7)


def qat_recipe(lr: float, epochs: int = 1) -> TrainConfig:
    return TrainConfig(epochs=epochs, lr=lr, batch_size=128, schedule="cosine", distill=DISTILL)


@pytest.fixture(scope="module")
def cnn(mnist_seed_cnn) -> tuple[nn.Module, float]:
    """The fp32 seed CNN (trained once per test run, tests/conftest.py) and its test accuracy (tests deepcopy it)."""
    return mnist_seed_cnn


@pytest.mark.slow
def test_int8_ptq_of_seed_cnn_is_within_a_tenth_of_a_point(mnist: Splits, cnn) -> None:
    model, fp32 = copy.deepcopy(cnn[0]), cnn[1]
    quantize_(
        model, QuantConfig(weights="int8", activations="int8"), data=calibration_subset(mnist.train, 1024, seed=0)
    )
    accuracy = evaluate(model, mnist.test).accuracy
    assert accuracy >= fp32 - 0.001, (accuracy, fp32)


@pytest.mark.slow
@pytest.mark.parametrize(("weights", "lr", "bound"), [("int4", 3e-4, 0.003), ("ternary", 1e-3, 0.01)])
def test_qat_of_seed_cnn_stays_within_bound(mnist: Splits, cnn, weights: str, lr: float, bound: float) -> None:
    # one epoch (the benchmark trains two); measured: int4 -0.00 point, ternary -0.10 point
    model, fp32 = copy.deepcopy(cnn[0]), cnn[1]
    torch.manual_seed(0)
    qat_(model, QATConfig(weights=weights, activations="int8", train=qat_recipe(lr)), data=mnist, teacher=cnn[0])
    accuracy = evaluate(model, mnist.test).accuracy
    assert accuracy >= fp32 - bound, (weights, accuracy, fp32)


@pytest.mark.slow
def test_binary_weight_mlp_is_close_to_binaryconnect(mnist: Splits, cnn) -> None:
    # BinaryConnect's 1.29% takes the benchmark's 5 + 10 epochs (benchmarks/quant_seed_mnist.py: 1.15%); this test's
    # 2 + 3 epochs reach 1.57% (the fp32 MLP after its 2 epochs: 1.66%), so it asserts 1.75%: still far below what a
    # broken binary path gives (an untrained or sign-flipped network is near 90%)
    torch.manual_seed(0)
    model = build_model("binary_mlp", mnist.input_shape)
    train_(
        model,
        mnist,
        TrainConfig(epochs=2, lr=2e-3, batch_size=128, schedule="onecycle", distill=DISTILL),
        teacher=cnn[0],
    )
    binary = QATConfig(weights="binary", activations=None, fold_bn=False, train=qat_recipe(3e-3, epochs=3))
    qat_(model, binary, data=mnist, teacher=cnn[0])
    codes = model.fc1.quantized_weight().detach() / model.fc1.weight_quant.scale[:, None]
    assert set(codes.round().unique().tolist()) == {-1.0, 1.0}
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 4 and all(isinstance(m, QuantLinear) and m.weight_qtype.name == "binary" for m in layers)
    error = 1 - evaluate(model, mnist.test).accuracy
    assert error <= 0.0175, error
