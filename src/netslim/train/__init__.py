"""Parameter optimization: the training loop (GD, SGD, momentum, RMSprop, Adam/AdamW; schedules; L1/L2/group-lasso;
early stopping; distillation) that fine-tuning, QAT and distillation reuse."""

from netslim.train.config import DEFAULT_LR, DistillConfig, Optimizer, Schedule, TrainConfig
from netslim.train.evaluate import Evaluation, evaluate, predict
from netslim.train.finetune import finetune_
from netslim.train.loop import Callback, EpochStats, TrainRecord, distillation_loss, train_
from netslim.train.regularize import penalty, weight_norm

__all__ = [
    "DEFAULT_LR",
    "Callback",
    "DistillConfig",
    "EpochStats",
    "Evaluation",
    "Optimizer",
    "Schedule",
    "TrainConfig",
    "TrainRecord",
    "distillation_loss",
    "evaluate",
    "finetune_",
    "penalty",
    "predict",
    "train_",
    "weight_norm",
]
