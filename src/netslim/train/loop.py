"""The training loop every netslim technique reuses (fine-tuning, QAT, distillation)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError, DataError, TrainingDivergedError
from netslim.train.config import Optimizer, TrainConfig
from netslim.train.evaluate import evaluate
from netslim.train.optim import make_optimizer, make_schedule
from netslim.train.parallel import Parallel
from netslim.train.regularize import penalty


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float  # mean data loss (without the regularization penalty) over the epoch's batches
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass
class TrainRecord:
    """What :func:`train_` did: the config, one row per epoch, and which epoch's weights were kept."""

    config: dict[str, Any]
    epochs: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    steps: int = 0

    @property
    def final(self) -> EpochStats:
        return self.epochs[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "epochs": [asdict(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "steps": self.steps,
        }


class Callback(Protocol):
    """Progress hooks (the CLI draws a progress bar with them)."""

    def on_train_begin(self, total_steps: int) -> None: ...
    def on_step(self, step: int, loss: float) -> None: ...
    def on_epoch(self, stats: EpochStats) -> None: ...


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Hinton et al.: hard-label cross-entropy blended with the temperature-softened KL to the teacher."""
    hard = F.cross_entropy(student, labels)
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.log_softmax(teacher / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - alpha) * hard + alpha * temperature**2 * soft


def train_(
    model: nn.Module,
    data: Splits | ArrayDataset,
    config: TrainConfig | None = None,
    *,
    teacher: nn.Module | None = None,
    callback: Callback | None = None,
    loss_hook: Callable[[nn.Module], torch.Tensor] | None = None,
) -> TrainRecord:
    """Train ``model`` in place on ``data.train`` (validating on ``data.val``) and return a :class:`TrainRecord`.

    ``teacher`` turns on knowledge distillation (``config.distill`` or its defaults). ``loss_hook`` adds a
    technique-specific term to the loss (e.g. a pruning or quantization penalty). Deterministic under ``config.seed``.

    >>> from netslim.data import load_digits
    >>> from netslim.models import build_model
    >>> splits = load_digits()
    >>> model = build_model("seed_mlp", splits.input_shape)
    >>> record = train_(model, splits, TrainConfig(epochs=5, lr=1e-2, batch_size=32))
    >>> record.final.val_accuracy > 0.8
    True
    """
    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train_ expects a TrainConfig, got {type(config).__name__}")
    train, val = (data.train, data.val) if isinstance(data, Splits) else (data, None)
    if len(train) == 0:
        raise DataError(f"{train.name}: the training set is empty")
    distill = config.distill
    if teacher is not None:
        from netslim.train.config import DistillConfig

        distill = distill or DistillConfig()
        teacher.eval()
    elif distill is not None:
        raise ConfigError("TrainConfig.distill is set but no teacher model was given to train_(..., teacher=...)")

    torch.manual_seed(config.seed)
    parallel = Parallel.detect()
    net = parallel.wrap(model)
    full_batch = config.optimizer is Optimizer.GD
    batch_size = min(config.batch_size * parallel.world, len(train))  # the global batch
    batches_per_epoch = math.ceil(len(train) / batch_size)
    steps_per_epoch = 1 if full_batch else batches_per_epoch
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(optimizer, config, steps_per_epoch)
    record = TrainRecord(config=config.to_dict())
    if callback:
        callback.on_train_begin(config.epochs * batches_per_epoch)

    best_score, best_state, stale, step = -math.inf, None, 0, 0
    for epoch in range(1, config.epochs + 1):
        start, model_loss, seen = time.perf_counter(), 0.0, 0
        model.train()
        if full_batch:
            optimizer.zero_grad(set_to_none=True)
        batches = list(train.batches(batch_size, shuffle=not full_batch, seed=config.seed * 1000 + epoch))
        sync_at = max(i for i, (_, by) in enumerate(batches) if len(by) >= parallel.world)  # GD's one all-reduce
        for index, (global_x, global_y) in enumerate(batches):
            step += 1
            shard = parallel.shard(global_x, global_y)
            if shard is None:
                continue
            x, y = shard
            if not full_batch:
                optimizer.zero_grad(set_to_none=True)
            with parallel.no_sync(net, skip=full_batch and index != sync_at):
                logits = net(x)
                if distill is not None and teacher is not None:
                    with torch.no_grad():
                        target = teacher(x)
                    loss = distillation_loss(logits, target, y, distill.temperature, distill.alpha)
                else:
                    loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                objective = loss + penalty(
                    model, l1=config.l1, l2=config.l2, group_lasso=config.group_lasso, layers=config.regularize_layers
                )
                if loss_hook is not None:
                    objective = objective + loss_hook(model)
                # full-batch GD: accumulate the exact full-data gradient over chunks, then one step (under DDP the
                # ranks' gradients are averaged, hence the world factor)
                scale = len(y) * parallel.world / len(train)
                (objective * scale if full_batch else objective).backward()
            if not full_batch:
                _step(model, optimizer, schedule, config)
            value = loss.detach().item()
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"training diverged at epoch {epoch}, step {step}: the loss is {value} (lr {_lr(optimizer):.3g}, "
                    f"{config.optimizer if isinstance(config.optimizer, str) else config.optimizer.value}); nothing "
                    "was saved. Lower TrainConfig.lr (--lr), set max_grad_norm, or check the data for NaN/Inf"
                )
            model_loss += value * len(y)
            seen += len(y)
            if callback:
                callback.on_step(step, value)
        if full_batch:
            _step(model, optimizer, schedule, config)
        record.steps += steps_per_epoch
        stats = _epoch_stats(model, val, epoch, model_loss / seen, optimizer, time.perf_counter() - start)
        record.epochs.append(stats)
        if callback:
            callback.on_epoch(stats)
        score = stats.val_accuracy if stats.val_accuracy is not None else -stats.train_loss
        if score > best_score:
            best_score, stale, record.best_epoch = score, 0, epoch
            if config.restore_best and val is not None:
                best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                record.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return record


def _lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any, config: TrainConfig) -> None:
    if config.max_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    schedule.step()


def _epoch_stats(
    model: nn.Module,
    val: ArrayDataset | None,
    epoch: int,
    train_loss: float,
    optimizer: torch.optim.Optimizer,
    seconds: float,
) -> EpochStats:
    lr = float(optimizer.param_groups[0]["lr"])
    if val is None or len(val) == 0:
        return EpochStats(epoch, train_loss, None, None, lr, seconds)
    result = evaluate(model, val)
    return EpochStats(epoch, train_loss, result.loss, result.accuracy, lr, seconds)
