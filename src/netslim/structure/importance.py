"""Channel importance per dependency group: L1, L2, BN scale, first-order Taylor, random.

A group channel's score sums the scores of its slices over the group's members (a conv's output filter, the next
conv's input columns, the flattened features of the following linear), so coupled layers vote together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError
from netslim.models.layers import weight_axis
from netslim.structure.config import Importance
from netslim.structure.group import Group, Member

Batches = Splits | ArrayDataset | Iterable[tuple[torch.Tensor, torch.Tensor]]
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def _per_position(values: torch.Tensor, axis: int, power: int) -> torch.Tensor:
    """Sum of |v|^power over every axis but ``axis``: one number per position."""
    moved = values.detach().abs().movedim(axis, 0).reshape(values.shape[axis], -1)
    return (moved**power).sum(dim=1)


def _scatter(member: Member, per_position: torch.Tensor, size: int) -> torch.Tensor:
    index = torch.tensor(member.channels, dtype=torch.long)
    return torch.zeros(size, dtype=per_position.dtype).index_add_(0, index, per_position.float())


def group_importance(
    model: nn.Module,
    group: Group,
    kind: Importance | str,
    *,
    grads: dict[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Score each of ``group.size`` channels (higher = more important). ``grads`` holds Taylor saliencies
    ``|w * dL/dw|`` per parameter name (see :func:`taylor_saliency`)."""
    kind = Importance(kind)
    if kind is Importance.RANDOM:
        generator = torch.Generator().manual_seed(seed + sum(map(ord, group.name)))
        return torch.rand(group.size, generator=generator)
    if kind is Importance.TAYLOR and grads is None:
        raise ConfigError("importance='taylor' needs data batches: pass data=... to prune_/resize_")
    scored = _NORMS if kind is Importance.BN_SCALE else _WEIGHTED
    members = [m for m in group.members if isinstance(model.get_submodule(m.module), scored)]
    if kind is Importance.BN_SCALE and not members:  # no norm layer in this group: fall back to L2
        return group_importance(model, group, Importance.L2)
    score = torch.zeros(group.size)
    for m in members:
        module = model.get_submodule(m.module)
        weight = getattr(module, "weight", None)
        if weight is None:
            continue
        axis = weight_axis(module, m.dim)
        if kind is Importance.TAYLOR:
            assert grads is not None
            saliency = grads.get(f"{m.module}.weight", torch.zeros_like(weight))
            score += _scatter(m, _per_position(saliency, axis, 1), group.size)
        elif kind is Importance.L2:
            score += _scatter(m, _per_position(weight, axis, 2), group.size).sqrt()
        else:  # L1, BN_SCALE
            score += _scatter(m, _per_position(weight, axis, 1), group.size)
    return score


def _iterate(data: Batches, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, Splits):
        data = data.train
    if isinstance(data, ArrayDataset):
        yield from data.batches(batch_size, shuffle=True, seed=seed)
    else:
        yield from data


def taylor_saliency(
    model: nn.Module, data: Batches, *, batches: int = 4, batch_size: int = 64, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``sum over batches of |w * dL/dw|`` for every parameter (cross-entropy loss, eval mode, model unchanged)."""
    params = dict(model.named_parameters())
    saliency = {name: torch.zeros_like(p) for name, p in params.items()}
    was_training = model.training
    model.eval()
    seen = 0
    try:
        for x, y in _iterate(data, batch_size, seed):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            for name, p in params.items():
                if p.grad is not None:
                    saliency[name] += (p.detach() * p.grad).abs()
            seen += 1
            if seen >= batches:
                break
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if seen == 0:
        raise ConfigError("importance='taylor': the data yielded no batches")
    return saliency
