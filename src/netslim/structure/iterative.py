"""Iterative pruning: prune in steps, fine-tuning with :func:`netslim.train.train_` between them."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from netslim.data import Splits
from netslim.errors import ConfigError
from netslim.structure.config import PruneConfig
from netslim.structure.prune import prune_
from netslim.structure.record import PruneRecord
from netslim.train import TrainConfig, TrainRecord, train_


@dataclasses.dataclass(frozen=True)
class IterativeRecord:
    """One :class:`PruneRecord` per step and the fine-tuning record after each step."""

    steps: tuple[PruneRecord, ...]
    finetune: tuple[TrainRecord, ...]

    @property
    def params_before(self) -> int:
        return self.steps[0].params_before

    @property
    def params_after(self) -> int:
        return self.steps[-1].params_after

    @property
    def macs_after(self) -> int:
        return self.steps[-1].macs_after


def step_ratio(ratio: float, steps: int) -> float:
    """The per-step ratio that compounds to ``ratio`` over ``steps`` steps: ``1 - (1 - ratio) ** (1 / steps)``."""
    return 1.0 - (1.0 - ratio) ** (1.0 / steps)


def prune_iteratively_(
    model: nn.Module,
    example: torch.Tensor,
    config: PruneConfig,
    *,
    steps: int = 3,
    data: Splits,
    finetune: TrainConfig | None = None,
) -> IterativeRecord:
    """Prune ``model`` to ``config.ratio`` in ``steps`` equal compounding steps, fine-tuning on ``data`` after each
    step (``finetune=None`` uses ``TrainConfig(epochs=1)``). Taylor importance reads ``data`` too."""
    if steps < 1:
        raise ConfigError(f"prune_iteratively_: steps must be >= 1, got {steps}")
    per_layer = {glob: step_ratio(r, steps) for glob, r in config.per_layer.items()}
    step_config = config.replace(ratio=step_ratio(config.ratio, steps), per_layer=per_layer)
    finetune = finetune or TrainConfig(epochs=1)
    records, trained = [], []
    for _ in range(steps):
        records.append(prune_(model, example, step_config, data=data))
        trained.append(train_(model, data, finetune))
    return IterativeRecord(tuple(records), tuple(trained))
