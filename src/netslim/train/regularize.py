"""Weight penalties added to the loss: L1, L2 and group lasso over conv/linear weights (biases and norms exempt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from netslim.select import matches, require

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def regularized_weights(model: nn.Module, layers: Sequence[str] = ()) -> list[torch.Tensor]:
    """The weights netslim regularizes: those of conv and linear layers whose names match a glob in ``layers``
    (all of them when ``layers`` is empty). A glob that matches no such layer is a ConfigError."""
    named = [(name, m) for name, m in model.named_modules() if isinstance(m, _WEIGHTED) and m.weight.requires_grad]
    require("TrainConfig.regularize_layers", layers, [name for name, _ in named], "conv/linear layer")
    return [m.weight for name, m in named if not layers or matches(name, layers)]


def penalty(
    model: nn.Module, *, l1: float = 0.0, l2: float = 0.0, group_lasso: float = 0.0, layers: Sequence[str] = ()
) -> torch.Tensor:
    """``l1 * sum|w| + l2 * sum w^2 + group_lasso * sum_g sqrt(|g|) * ||w_g||_2`` over output channels/neurons."""
    if not (l1 or l2 or group_lasso):
        return torch.zeros(())
    weights = regularized_weights(model, layers)
    total = torch.zeros((), device=weights[0].device if weights else None)
    for w in weights:
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + l2 * w.pow(2).sum()
        if group_lasso:
            rows = w.flatten(1)
            total = total + group_lasso * (rows.shape[1] ** 0.5) * rows.norm(dim=1).sum()
    return total


def weight_norm(model: nn.Module) -> float:
    """The global L2 norm of the regularized weights (to check that L2 shrinks them)."""
    weights = regularized_weights(model)
    return float(torch.sqrt(sum((w.detach().pow(2).sum() for w in weights), torch.zeros(()))))
