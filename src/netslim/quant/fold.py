"""BatchNorm folding: merge an inference-mode BatchNorm into the conv or linear layer that feeds it.

``W' = W * gamma / sqrt(var + eps)`` per output channel and ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``;
the BatchNorm is replaced by ``nn.Identity``. Pairs are found by running ``example_input`` through the model and
matching each BatchNorm's input tensor to the layer output it is (works for attribute-style blocks, not only
``nn.Sequential``); without an example, only neighbours inside ``nn.Sequential`` containers are folded.

Example:
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    >>> fold_batchnorm_(model)
    [('0', '1')]
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["fold_batchnorm_", "set_submodule"]

_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` with ``module``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _sequential_pairs(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for prefix, container in model.named_modules():
        if isinstance(container, nn.Sequential):
            children = list(container.named_children())
            for (a, first), (b, second) in itertools.pairwise(children):
                if isinstance(first, _FOLDABLE) and isinstance(second, _NORMS):
                    pairs.append((f"{prefix}.{a}" if prefix else a, f"{prefix}.{b}" if prefix else b))
    return pairs


@torch.no_grad()
def _traced_pairs(model: nn.Module, example_input: torch.Tensor) -> list[tuple[str, str]]:
    produced: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _FOLDABLE):
            handles.append(module.register_forward_hook(lambda m, i, o, n=name: produced.__setitem__(id(o), n)))
        elif isinstance(module, _NORMS):
            handles.append(
                module.register_forward_pre_hook(
                    lambda m, i, n=name: pairs.append((produced[id(i[0])], n)) if id(i[0]) in produced else None
                )
            )
    was_training = model.training
    try:
        model.eval()
        model(example_input)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return pairs


@torch.no_grad()
def _fold(layer: nn.Module, norm: nn.Module) -> None:
    assert isinstance(norm, _NORMS) and norm.running_mean is not None and norm.running_var is not None
    factor = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        factor = factor * norm.weight
    weight: nn.Parameter = layer.weight  # type: ignore[assignment]
    weight.mul_(factor.reshape(-1, *([1] * (weight.ndim - 1))))
    old_bias: torch.Tensor | None = layer.bias  # type: ignore[assignment]
    bias = old_bias if old_bias is not None else torch.zeros_like(norm.running_mean)
    new_bias = (bias - norm.running_mean) * factor
    if norm.bias is not None:
        new_bias = new_bias + norm.bias
    layer.bias = nn.Parameter(new_bias.detach().clone())


def fold_batchnorm_(model: nn.Module, example_input: torch.Tensor | None = None) -> list[tuple[str, str]]:
    """Fold every BatchNorm (with running statistics) into its producing layer, in place.

    Returns the ``(layer, batchnorm)`` name pairs folded. A BatchNorm whose input is not the direct output of a
    conv/linear layer, or that has no running statistics, is left alone.
    """
    pairs = _sequential_pairs(model) if example_input is None else _traced_pairs(model, example_input)
    folded = []
    for layer_name, norm_name in dict.fromkeys(pairs):
        layer, norm = model.get_submodule(layer_name), model.get_submodule(norm_name)
        out_channels = layer.weight.shape[0]  # type: ignore[index]
        if not isinstance(norm, _NORMS) or norm.running_mean is None or norm.num_features != out_channels:
            continue
        _fold(layer, norm)
        set_submodule(model, norm_name, nn.Identity())
        folded.append((layer_name, norm_name))
    return folded
