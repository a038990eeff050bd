"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"): balance per-channel weight ranges.

For ``layer1 -> relu -> layer2`` the float function is unchanged when output channel ``i`` of ``layer1`` is divided by
``s_i`` and input channel ``i`` of ``layer2`` multiplied by ``s_i`` (ReLU is positively homogeneous). Choosing
``s_i = sqrt(r1_i / r2_i)`` makes both ranges ``sqrt(r1_i * r2_i)``, so a per-tensor scale wastes fewer levels on
channels with small weights. Chains are found inside ``nn.Sequential`` containers; between the two layers only
positively homogeneous modules (ReLU, LeakyReLU, max/avg pooling, Identity, Dropout, Flatten) may appear. Fold
BatchNorm first (:func:`netslim.quant.fold_batchnorm_`).

Example:
    >>> model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    >>> equalize_(model)
    [('0', '2')]
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["equalize_"]

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)
_HOMOGENEOUS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.Identity,
    nn.Dropout,
    nn.Flatten,
)


def _weight(model: nn.Module, name: str) -> torch.Tensor:
    weight: torch.Tensor = model.get_submodule(name).weight  # type: ignore[assignment]
    return weight.detach()


def _chains(model: nn.Module) -> list[tuple[str, str]]:
    chains = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container.named_children())
        for i, (name, first) in enumerate(children):
            if not isinstance(first, _LAYERS):
                continue
            for other_name, second in children[i + 1 :]:
                if isinstance(second, _LAYERS):
                    chains.append(
                        (f"{prefix}.{name}" if prefix else name, f"{prefix}.{other_name}" if prefix else other_name)
                    )
                if not isinstance(second, _HOMOGENEOUS):
                    break
    return chains


def _input_view(layer: nn.Module, channels: int) -> torch.Tensor | None:
    """``layer.weight`` viewed as ``(groups, out/groups, channels/groups, rest)``, or None if shapes do not fit."""
    w: torch.Tensor = layer.weight  # type: ignore[assignment]
    groups = getattr(layer, "groups", 1)
    in_total = w.shape[1] * groups
    if in_total % channels:
        return None
    per_channel = in_total // channels  # > 1 when a Flatten spreads each channel over several features
    return w.reshape(groups, w.shape[0] // groups, channels // groups, per_channel * w[0, 0].numel())


@torch.no_grad()
def _equalize_pair(first: nn.Module, second: nn.Module) -> bool:
    w1: torch.Tensor = first.weight  # type: ignore[assignment]
    view = _input_view(second, w1.shape[0])
    if view is None:
        return False
    r1 = w1.abs().reshape(w1.shape[0], -1).amax(1)
    r2 = view.abs().amax(dim=(1, 3)).reshape(-1)
    s = torch.where((r1 > 0) & (r2 > 0), torch.sqrt(r1 / r2.clamp_min(1e-12)), torch.ones_like(r1))
    w1.div_(s.reshape(-1, *([1] * (w1.ndim - 1))))
    if first.bias is not None:
        first.bias.div_(s)  # type: ignore[operator]
    groups = view.shape[0]
    view.mul_(s.reshape(groups, 1, -1, 1))
    return True


def equalize_(model: nn.Module, iterations: int = 20, tolerance: float = 1e-6) -> list[tuple[str, str]]:
    """Equalize every ``layer -> [homogeneous ops] -> layer`` chain in place; returns the ``(first, second)`` pairs.

    Chains sharing a layer are balanced jointly by repeating the sweep until scales change by less than
    ``tolerance`` (at most ``iterations`` sweeps).
    """
    pairs = [(a, b) for a, b in _chains(model) if not isinstance(model.get_submodule(a), nn.Identity)]
    done: list[tuple[str, str]] = []
    for sweep in range(iterations):
        before = [_weight(model, a).clone() for a, _ in pairs]
        for a, b in pairs:
            if _equalize_pair(model.get_submodule(a), model.get_submodule(b)) and sweep == 0:
                done.append((a, b))
        change = max(
            (float((_weight(model, a) - w).abs().max()) for (a, _), w in zip(pairs, before, strict=True)),
            default=0.0,
        )
        if change < tolerance:
            break
    return done
