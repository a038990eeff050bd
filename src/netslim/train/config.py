"""Training configuration: optimizer, schedule, regularization, early stopping, distillation."""

from __future__ import annotations

import dataclasses
import enum

from netslim.config import Config, check_range, coerce_enum
from netslim.errors import ConfigError


class Optimizer(str, enum.Enum):
    GD = "gd"  # full-batch gradient descent: one step per epoch over the whole training set
    SGD = "sgd"  # mini-batch stochastic gradient descent
    MOMENTUM = "momentum"
    NESTEROV = "nesterov"
    RMSPROP = "rmsprop"
    ADAM = "adam"
    ADAMW = "adamw"


class Schedule(str, enum.Enum):
    CONSTANT = "constant"
    STEP = "step"
    COSINE = "cosine"
    ONECYCLE = "onecycle"


DEFAULT_LR = {
    Optimizer.GD: 0.5,
    Optimizer.SGD: 0.01,  # the seed's SGD(learning_rate=0.01)
    Optimizer.MOMENTUM: 0.01,
    Optimizer.NESTEROV: 0.01,
    Optimizer.RMSPROP: 1e-3,
    Optimizer.ADAM: 1e-3,
    Optimizer.ADAMW: 1e-3,
}


@dataclasses.dataclass(frozen=True)
class DistillConfig(Config):
    """Knowledge distillation: ``loss = (1 - alpha) * CE(student, y) + alpha * T^2 * KL(teacher_T || student_T)``."""

    temperature: float = 4.0
    alpha: float = 0.7

    def __post_init__(self) -> None:
        check_range("DistillConfig", "temperature", self.temperature, 0, None, low_open=True)
        check_range("DistillConfig", "alpha", self.alpha, 0, 1)


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """How :func:`netslim.train.train_` optimizes a model.

    ``lr=None`` takes a per-optimizer default. ``l1``/``l2``/``group_lasso`` add penalties on conv/linear weights to
    the loss (Keras semantics: ``l2=0.001`` adds ``0.001 * sum(w**2)``); group lasso sums the L2 norms of output
    channels/neurons, which drives whole channels to zero ahead of pruning. ``regularize_layers`` limits the
    penalties to layers whose names match these globs (the seed regularizes one Dense layer: ``("fc1",)``).
    """

    epochs: int = 5
    optimizer: Optimizer | str = Optimizer.ADAM
    lr: float | None = None
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: Schedule | str = Schedule.CONSTANT
    step_epochs: int = 1
    gamma: float = 0.5
    l1: float = 0.0
    l2: float = 0.0
    group_lasso: float = 0.0
    regularize_layers: tuple[str, ...] = ()
    patience: int | None = None
    restore_best: bool = True
    max_grad_norm: float | None = None
    label_smoothing: float = 0.0
    seed: int = 0
    distill: DistillConfig | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", coerce_enum("TrainConfig", "optimizer", Optimizer, self.optimizer))
        object.__setattr__(self, "schedule", coerce_enum("TrainConfig", "schedule", Schedule, self.schedule))
        object.__setattr__(self, "regularize_layers", tuple(self.regularize_layers))
        if isinstance(self.distill, dict):
            object.__setattr__(self, "distill", DistillConfig.from_dict(self.distill))
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"TrainConfig.epochs must be an integer >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"TrainConfig.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.lr is not None:
            check_range("TrainConfig", "lr", self.lr, 0, None, low_open=True)
        for name in ("weight_decay", "l1", "l2", "group_lasso"):
            check_range("TrainConfig", name, getattr(self, name), 0, None)
        check_range("TrainConfig", "momentum", self.momentum, 0, 1, high_open=True)
        check_range("TrainConfig", "gamma", self.gamma, 0, 1, low_open=True)
        check_range("TrainConfig", "label_smoothing", self.label_smoothing, 0, 1, high_open=True)
        if self.step_epochs < 1:
            raise ConfigError(f"TrainConfig.step_epochs must be >= 1, got {self.step_epochs}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"TrainConfig.patience must be >= 1 or None, got {self.patience}")
        if self.max_grad_norm is not None:
            check_range("TrainConfig", "max_grad_norm", self.max_grad_norm, 0, None, low_open=True)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[Optimizer(self.optimizer)]
