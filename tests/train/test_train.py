from __future__ import annotations

import copy

import pytest
import torch

from helpers import mean_kl
from netslim.errors import ConfigError
from netslim.models import build_model
from netslim.train import DistillConfig, TrainConfig, evaluate, predict, train_, weight_norm


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_each_optimizer_lowers_training_loss(digits, optimizer: str) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    before = evaluate(model, digits.train).loss
    lr = {"gd": 0.5, "sgd": 0.05}.get(optimizer)
    epochs = 40 if optimizer == "gd" else 3  # full-batch GD takes one step per epoch
    train_(model, digits, TrainConfig(epochs=epochs, optimizer=optimizer, lr=lr, batch_size=32, restore_best=False))
    after = evaluate(model, digits.train).loss
    assert after < 0.8 * before, f"{optimizer}: loss {before:.3f} -> {after:.3f}"


def test_full_batch_gd_takes_one_step_per_epoch(digits) -> None:
    record = train_(build_model("seed_mlp", digits.input_shape), digits, TrainConfig(epochs=4, optimizer="gd"))
    assert record.steps == 4


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_schedules_train_and_change_the_lr(digits, schedule: str) -> None:
    record = train_(
        build_model("seed_mlp", digits.input_shape),
        digits,
        TrainConfig(epochs=3, schedule=schedule, step_epochs=1, lr=1e-2, batch_size=64),
    )
    lrs = [e.lr for e in record.epochs]
    assert (len(set(lrs)) == 1) == (schedule == "constant")
    assert record.final.val_accuracy > 0.8


def test_l2_shrinks_the_weight_norm(digits) -> None:
    base = build_model("seed_mlp", digits.input_shape)
    plain, reg = copy.deepcopy(base), copy.deepcopy(base)
    train_(plain, digits, TrainConfig(epochs=5, seed=1))
    train_(reg, digits, TrainConfig(epochs=5, seed=1, l2=1e-2))
    assert weight_norm(reg) < 0.8 * weight_norm(plain)


def test_group_lasso_zeroes_whole_neurons(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=10, group_lasso=2e-3, lr=3e-3, seed=0))
    row_norms = model.fc1.weight.detach().norm(dim=1)
    plain = build_model("seed_mlp", digits.input_shape)
    train_(plain, digits, TrainConfig(epochs=10, lr=3e-3, seed=0))
    plain_norms = plain.fc1.weight.detach().norm(dim=1)
    assert (row_norms < 1e-2).sum() > (plain_norms < 1e-2).sum() + 10


def test_distillation_moves_the_student_toward_the_teacher(digits) -> None:
    teacher = build_model("seed_cnn", digits.input_shape)
    train_(teacher, digits, TrainConfig(epochs=15, lr=3e-3, batch_size=32))
    student = build_model("seed_mlp_64", digits.input_shape)
    plain = copy.deepcopy(student)
    train_(plain, digits, TrainConfig(epochs=5, batch_size=32, lr=3e-3, seed=3))
    train_(
        student,
        digits,
        TrainConfig(epochs=5, batch_size=32, lr=3e-3, seed=3, distill=DistillConfig(4.0, 0.9)),
        teacher=teacher,
    )
    t_logits = predict(teacher, digits.val)
    distilled, independent = (mean_kl(t_logits, predict(m, digits.val), temperature=4.0) for m in (student, plain))
    assert distilled < 0.5 * independent


def test_training_is_deterministic_under_a_seed(digits) -> None:
    a, b = build_model("seed_cnn", digits.input_shape), build_model("seed_cnn", digits.input_shape)
    b.load_state_dict(a.state_dict())
    ra = train_(a, digits, TrainConfig(epochs=2, seed=7))
    rb = train_(b, digits, TrainConfig(epochs=2, seed=7))
    assert [e.train_loss for e in ra.epochs] == [e.train_loss for e in rb.epochs]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_early_stopping_stops_and_restores_the_best_epoch(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    record = train_(model, digits, TrainConfig(epochs=60, lr=3e-2, patience=2))
    assert record.stopped_early and len(record.epochs) < 60
    best = max(e.val_accuracy for e in record.epochs)
    assert evaluate(model, digits.val).accuracy == pytest.approx(best)


def test_config_errors_name_the_field(digits) -> None:
    with pytest.raises(ConfigError, match="TrainConfig.optimizer"):
        TrainConfig(optimizer="adagradx")
    with pytest.raises(ConfigError, match="TrainConfig.lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ConfigError, match="DistillConfig.alpha"):
        DistillConfig(alpha=2.0)
    with pytest.raises(ConfigError, match="teacher"):
        train_(build_model("seed_mlp", digits.input_shape), digits, TrainConfig(distill=DistillConfig()))


def test_config_round_trips_through_dict_and_yaml(tmp_path) -> None:
    config = TrainConfig(epochs=3, optimizer="rmsprop", distill=DistillConfig(temperature=2.0))
    assert TrainConfig.from_dict(config.to_dict()) == config
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config.to_dict()))
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config
    with pytest.raises(ConfigError, match="unknown field"):
        TrainConfig.from_dict({"type": "TrainConfig", "data": {"epoch": 3}})
