"""Build torch optimizers and per-step learning-rate schedules from a TrainConfig."""

from __future__ import annotations

import math

import torch
from torch import nn

from netslim.train.config import Optimizer, Schedule, TrainConfig


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr, wd = config.learning_rate, config.weight_decay
    kind = config.optimizer
    if kind in (Optimizer.GD, Optimizer.SGD):
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind in (Optimizer.MOMENTUM, Optimizer.NESTEROV):
        return torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, nesterov=kind is Optimizer.NESTEROV, weight_decay=wd
        )
    if kind is Optimizer.RMSPROP:
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if kind is Optimizer.ADAM:
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd or 0.01)


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler stepped once per optimizer step."""
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule is Schedule.ONECYCLE and total >= 4:  # shorter runs have no room for warm-up and decay
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.learning_rate, total_steps=total, pct_start=0.25 if total > 4 else 0.5
        )
    if config.schedule is Schedule.COSINE:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
    if config.schedule is Schedule.STEP:
        every = config.step_epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: config.gamma ** (s // every))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
