"""Quantization-aware training on digits: W4A8 with LSQ, ternary and binary weights, BatchNorm folding."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from netslim.data import Splits
from netslim.errors import ConfigError
from netslim.models import build_model
from netslim.quant import QATConfig, QuantConv2d, qat_
from netslim.train import DistillConfig, TrainConfig, evaluate, train_


def test_w4a8_lsq_qat_stays_within_one_and_a_half_points(cnn: nn.Module, trained_cnn, digits: Splits) -> None:
    record = qat_(cnn, digits, QATConfig(weights="int4", activations="int8"), TrainConfig(epochs=4, lr=1e-3))
    accuracy = evaluate(cnn, digits.test).accuracy
    assert accuracy >= trained_cnn[1] - 0.015, (accuracy, trained_cnn[1])
    assert record.quant["conv1"].weights == "int4" and record.quant["conv1"].activations == "int8"
    assert cnn.conv1.weight_quant.lsq and cnn.conv1.input_quant.log_scale.requires_grad
    assert record.accuracy >= record.initial_accuracy - 0.01
    assert all(row.sqnr_db is not None for row in record.quant.layers)


@pytest.mark.parametrize("weights", ["ternary", "binary"])
def test_sub_integer_qat_of_seed_mlp_trains_above_85_percent(weights: str, digits: Splits) -> None:
    torch.manual_seed(0)
    model = build_model("seed_mlp", digits.input_shape)
    record = qat_(
        model, digits, QATConfig(weights=weights, activations="int8"), TrainConfig(epochs=15, lr=3e-3, batch_size=32)
    )
    codes = model.fc1.quantized_weight().detach() / model.fc1.weight_quant.scale[:, None]
    levels = {-1.0, 0.0, 1.0} if weights == "ternary" else {-1.0, 1.0}
    assert set(codes.round().unique().tolist()) <= levels
    assert evaluate(model, digits.test).accuracy > 0.85, record.accuracy


def test_qat_folds_batchnorm_first(digits: Splits) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )
    record = qat_(model, digits, QATConfig(weights="int8"), TrainConfig(epochs=2, lr=3e-3))
    assert record.quant.folded == [("0", "1")] and isinstance(model[1], nn.Identity)
    assert isinstance(model[0], QuantConv2d)
    assert record.accuracy > 0.8


def test_binary_qat_keeps_batchnorm_and_distils_from_a_teacher(digits: Splits) -> None:
    torch.manual_seed(0)
    model = build_model("binary_mlp", digits.input_shape, hidden=(64, 64))
    train_(model, digits, TrainConfig(epochs=5, lr=3e-3, batch_size=32))
    teacher = copy.deepcopy(model).eval()
    config, train = QATConfig(weights="binary", activations=None, fold_bn=False), TrainConfig(epochs=5, lr=3e-3)
    with pytest.raises(ConfigError, match="teacher"):
        qat_(copy.deepcopy(model), digits, config, train.replace(distill=DistillConfig()))
    record = qat_(model, digits, config, train.replace(distill=DistillConfig()), teacher=teacher)
    assert record.quant.folded == [] and isinstance(model.bn1, nn.BatchNorm1d)
    assert [row.weights for row in record.quant.layers] == ["binary"] * 3
    assert evaluate(model, digits.test).accuracy > 0.85, record.accuracy
