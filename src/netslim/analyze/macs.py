"""Multiply-accumulate counts per layer type, from the shapes seen in a forward pass.

MACs count the multiply-accumulates of convolutions, linear layers and attention matmuls (the convention of the
papers and of torch's flop counter, whose FLOPs are ``2 * MACs``). Element-wise ops (activations, norms, pooling)
are not MACs; their cost shows up in measured latency instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

MacRule = Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], int]
_RULES: dict[type[nn.Module], MacRule] = {}


def mac_rule(*types: type[nn.Module]) -> Callable[[MacRule], MacRule]:
    """Register the MAC formula of a layer type. To support a new layer, decorate a function
    ``(module, inputs, output) -> int``."""

    def wrap(fn: MacRule) -> MacRule:
        for t in types:
            _RULES[t] = fn
        return fn

    return wrap


def rule_for(module: nn.Module) -> MacRule | None:
    for klass in type(module).__mro__:
        if klass in _RULES:
            return _RULES[klass]
    return None


@mac_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    assert isinstance(module, nn.modules.conv._ConvNd)
    per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
    return int(output.numel() * per_output)


@mac_rule(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _conv_transpose(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    assert isinstance(module, nn.modules.conv._ConvNd)
    per_input = (module.out_channels // module.groups) * math.prod(module.kernel_size)
    return int(inputs[0].numel() * per_input)


@mac_rule(nn.Linear)
def _linear(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    assert isinstance(module, nn.Linear)
    return int(output.numel() * module.in_features)


@mac_rule(nn.Bilinear)
def _bilinear(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    assert isinstance(module, nn.Bilinear)
    return int(output.numel() * module.in1_features * (module.in2_features + 1))


@mac_rule(nn.MultiheadAttention)
def _attention(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    assert isinstance(module, nn.MultiheadAttention)
    query, key = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
    batch_first = module.batch_first
    q_len = query.shape[1 if batch_first else 0] if query.dim() == 3 else query.shape[0]
    k_len = key.shape[1 if batch_first else 0] if key.dim() == 3 else key.shape[0]
    batch = query.shape[0 if batch_first else 1] if query.dim() == 3 else 1
    e, kdim, vdim = module.embed_dim, module.kdim, module.vdim
    projections = q_len * e * e + k_len * kdim * e + k_len * vdim * e + q_len * e * e
    scores = q_len * k_len * e * 2  # QK^T and attention @ V
    return int(batch * (projections + scores))
