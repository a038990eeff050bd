"""Iterative pruning: prune in steps, fine-tuning with :func:`netslim.train.train_` between them."""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from netslim.config import Config
from netslim.data import Splits
from netslim.errors import ConfigError
from netslim.structure.config import PruneConfig
from netslim.structure.prune import prune_, require_example
from netslim.train import TrainConfig, train_
from netslim.transform import Record, transform


@dataclasses.dataclass(frozen=True)
class IterativePruneConfig(Config):
    """Prune to ``prune.ratio`` (and each ``prune.per_layer`` ratio) in ``steps`` equal compounding steps, fine-tuning
    with ``finetune`` after each. With ``finetune.distill`` set, every fine-tune distils from the teacher given to
    :func:`prune_iteratively_`, or else from the model as it was before the first step."""

    prune: PruneConfig = dataclasses.field(default_factory=PruneConfig)
    steps: int = 3
    finetune: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=1))

    def __post_init__(self) -> None:
        if isinstance(self.prune, dict):
            object.__setattr__(self, "prune", PruneConfig.from_dict(self.prune))
        if isinstance(self.finetune, dict):
            object.__setattr__(self, "finetune", TrainConfig.from_dict(self.finetune))
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"IterativePruneConfig.steps must be an integer >= 1, got {self.steps!r}")


def step_ratio(ratio: float, steps: int) -> float:
    """The per-step ratio that compounds to ``ratio`` over ``steps`` steps: ``1 - (1 - ratio) ** (1 / steps)``."""
    return 1.0 - (1.0 - ratio) ** (1.0 / steps)


@transform("prune_iteratively_", IterativePruneConfig)
def prune_iteratively_(
    model: nn.Module,
    config: IterativePruneConfig,
    *,
    example: torch.Tensor | None = None,
    data: Splits | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Prune ``model`` in ``config.steps`` compounding steps with a fine-tune on ``data`` after each (distilled from
    ``teacher`` when ``config.finetune.distill`` is set). The record's details hold each step's record."""
    if not isinstance(config, IterativePruneConfig):
        raise ConfigError(f"prune_iteratively_ expects an IterativePruneConfig, got {type(config).__name__}")
    if data is None:
        raise ConfigError("prune_iteratively_ fine-tunes between steps: pass data=splits")
    example = require_example("prune_iteratively_", example, data)
    steps, base = config.steps, config.prune
    per_layer = {glob: step_ratio(r, steps) for glob, r in base.per_layer.items()}
    heads = None if base.heads is None else step_ratio(base.heads, steps)
    step_config = base.replace(ratio=step_ratio(base.ratio, steps), per_layer=per_layer, heads=heads)
    if config.finetune.distill is not None and teacher is None:
        teacher = copy.deepcopy(model).eval()
    if config.finetune.distill is None:
        teacher = None
    records, trained = [], []
    for _ in range(steps):
        records.append(prune_(model, step_config, example=example, data=data))
        trained.append(train_(model, data, config.finetune, teacher=teacher))
    first, last = records[0], records[-1]
    touched = {row.name: row for r in records for row in r.layers}
    layers = tuple(
        dataclasses.replace(
            touched[name],
            old_shape=next(r[name].old_shape for r in records if name in r.names),
            params_before=next(r[name].params_before for r in records if name in r.names),
            macs_before=next(r[name].macs_before for r in records if name in r.names),
        )
        for name in touched
    )
    return Record(
        verb="prune_iteratively_",
        config=config.to_dict(),
        layers=layers,
        params_before=first.params_before,
        params_after=last.params_after,
        macs_before=first.macs_before,
        macs_after=last.macs_after,
        bytes_before=first.bytes_before,
        bytes_after=last.bytes_after,
        details={"steps": tuple(records), "finetune": tuple(trained), "distilled": teacher is not None},
    )
