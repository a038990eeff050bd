"""Quantization-aware training on digits: W4A8 with LSQ, ternary and binary weights, BatchNorm folding."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from netslim.data import Splits
from netslim.models import build_model
from netslim.quant import QATConfig, QuantConv2d, QuantLinear, qat_
from netslim.train import DistillConfig, TrainConfig, evaluate, train_


def test_w4a8_lsq_qat_stays_within_one_and_a_half_points(cnn: nn.Module, trained_cnn, digits: Splits) -> None:
    record = qat_(cnn, QATConfig(weights="int4", activations="int8", train=TrainConfig(epochs=4, lr=1e-3)), data=digits)
    accuracy = evaluate(cnn, digits.test).accuracy
    assert accuracy >= trained_cnn[1] - 0.015, (accuracy, trained_cnn[1])
    assert record["conv1"].weights == "int4" and record["conv1"].activations == "int8"
    assert cnn.conv1.weight_quant.lsq and cnn.conv1.input_quant.log_scale.requires_grad
    assert record.accuracy >= record.initial_accuracy - 0.01
    assert all(row.sqnr_db is not None for row in record.layers)


@pytest.mark.parametrize("weights", ["ternary", "binary"])
def test_sub_integer_qat_of_seed_mlp_trains_above_85_percent(weights: str, digits: Splits) -> None:
    torch.manual_seed(0)
    model = build_model("seed_mlp", digits.input_shape)
    record = qat_(
        model,
        QATConfig(weights=weights, activations="int8", train=TrainConfig(epochs=15, lr=3e-3, batch_size=32)),
        data=digits,
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
    record = qat_(model, QATConfig(weights="int8", train=TrainConfig(epochs=2, lr=3e-3)), data=digits)
    assert record.folded == [("0", "1")] and isinstance(model[1], nn.Identity)
    assert isinstance(model[0], QuantConv2d)
    assert record.accuracy > 0.8


def test_binary_qat_keeps_batchnorm_and_distils_from_a_teacher(digits: Splits, monkeypatch) -> None:
    torch.manual_seed(0)
    model = build_model("binary_mlp", digits.input_shape, hidden=(64, 64))
    train_(model, digits, TrainConfig(epochs=5, lr=3e-3, batch_size=32))
    teacher = copy.deepcopy(model).eval()
    train = TrainConfig(epochs=5, lr=3e-3, distill=DistillConfig())
    config = QATConfig(weights="binary", activations=None, fold_bn=False, train=train)
    # distill without a teacher: qat_ distils from a frozen copy of the float model taken before quantizing
    seen: dict[str, nn.Module | None] = {}

    def spy(student: nn.Module, data: Splits, cfg: TrainConfig, *, teacher=None, callback=None):
        seen["teacher"] = teacher
        raise _Stop

    with monkeypatch.context() as patch:
        patch.setattr("netslim.quant.qat.train_", spy)
        with pytest.raises(_Stop):
            qat_(copy.deepcopy(model), config, data=digits)
    x = torch.from_numpy(digits.test.x[:32])
    assert seen["teacher"] is not None and not seen["teacher"].training
    assert not any(isinstance(m, QuantLinear) for m in seen["teacher"].modules())
    with torch.no_grad():
        torch.testing.assert_close(seen["teacher"](x), teacher(x), rtol=0, atol=0)
    record = qat_(model, config, data=digits, teacher=teacher)
    assert record.folded == [] and isinstance(model.bn1, nn.BatchNorm1d)
    assert [row.weights for row in record.layers] == ["binary"] * 3
    assert evaluate(model, digits.test).accuracy > 0.85, record.accuracy


class _Stop(Exception):
    """Stops qat_ at its training step."""
