"""``finetune_``: the training loop under the transform contract, so recipes and the CLI fine-tune like they prune.

Example:
    >>> from netslim.data import load_digits
    >>> from netslim.models import build_model
    >>> data = load_digits()
    >>> model = build_model("seed_mlp_64", data.input_shape)
    >>> record = finetune_(model, TrainConfig(epochs=2), data=data)
    >>> record.val_accuracy > 0.5
    True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError
from netslim.train.config import TrainConfig
from netslim.train.loop import Callback, train_
from netslim.transform import Record, transform

__all__ = ["finetune_"]


@transform("finetune_", TrainConfig)
def finetune_(
    model: nn.Module,
    config: TrainConfig,
    *,
    example: torch.Tensor | None = None,
    data: Splits | ArrayDataset | None = None,
    teacher: nn.Module | None = None,
    callback: Callback | None = None,
) -> Record:
    """Train ``model`` in place on ``data`` with ``config``. With ``config.distill`` set, training distils from
    ``teacher`` (default: a frozen copy of ``model`` as it is now). The record's details: the training record
    (``train``) and the final validation accuracy (``val_accuracy``, None without validation data)."""
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"finetune_ expects a TrainConfig, got {type(config).__name__}")
    if data is None:
        raise ConfigError("finetune_ trains: pass data=splits (netslim.data.load_data) or a dataset")
    if config.distill is not None and teacher is None:
        teacher = copy.deepcopy(model).eval()
    if config.distill is None:
        teacher = None
    params = sum(p.numel() for p in model.parameters())
    record = train_(model, data, config, teacher=teacher, callback=callback)
    kept = record.best_epoch if config.restore_best and record.best_epoch is not None else None
    final: Any = next((e for e in record.epochs if e.epoch == kept), record.epochs[-1] if record.epochs else None)
    return Record(
        verb="finetune_",
        config=config.to_dict(),
        params_before=params,
        params_after=params,
        details={"train": record, "val_accuracy": None if final is None else final.val_accuracy},
    )
