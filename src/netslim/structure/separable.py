"""Depthwise-separable replacement (MobileNets): a kxk ``nn.Conv2d`` becomes a depthwise kxk conv (``groups=in``,
``rank`` filters per input channel) followed by a pointwise 1x1 conv, initialised from the original kernel.

The fit is exact least squares: the original conv is ``y_o = sum_c W[o, c] * x_c``. For each input channel ``c``
the slice ``W[:, c]`` reshaped to ``(out, k*k)`` has the SVD ``U S V^T``; keeping its ``r`` largest singular values
gives the best rank-``r`` approximation (Eckart-Young), realised as ``r`` depthwise filters ``sqrt(s_j) v_j`` on
channel ``c`` and pointwise weights ``sqrt(s_j) u_j``. With ``rank >= min(out, k*k)`` the replacement is exact.
The bias moves to the pointwise conv; stride, padding and dilation stay on the depthwise conv.

>>> import torch
>>> from netslim.models import build_model
>>> model = build_model("seed_cnn", (1, 8, 8))
>>> record = separable_(model, SeparableConfig(layers=("conv2",)), example=torch.rand(2, 1, 8, 8))
>>> model.conv2[0].groups, record.macs_after < record.macs_before
(32, True)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from netslim.config import Config, check_range
from netslim.errors import ConfigError
from netslim.structure.edit import (
    FactorChange,
    capture_inputs,
    module_macs,
    mse,
    params,
    replace,
    run_edit,
    select_layers,
)
from netslim.structure.prune import require_example
from netslim.transform import LayerChange, Record, transform


@dataclasses.dataclass(frozen=True)
class SeparableConfig(Config):
    """``rank``: depthwise filters per input channel (MobileNet's depth multiplier), the rank of each per-channel
    fit. A layer is replaced only when that lowers its MACs and its relative weight error is at most
    ``max_weight_error``; otherwise the record says why it was kept."""

    layers: tuple[str, ...] | str = "auto"
    rank: int = 1
    max_weight_error: float = 1.0

    def __post_init__(self) -> None:
        if self.layers != "auto":
            layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
            if not layers:
                raise ConfigError("SeparableConfig.layers must be 'auto' or name at least one conv (a glob)")
            object.__setattr__(self, "layers", layers)
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"SeparableConfig.rank must be an int >= 1, got {self.rank!r}")
        check_range("SeparableConfig", "max_weight_error", self.max_weight_error, 0.0, 1.0)


@transform("separable_", SeparableConfig)
def separable_(
    model: nn.Module,
    config: SeparableConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Any = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Replace the named convs (globs), or with ``"auto"`` every kxk conv with ``groups=1`` that the forward pass
    calls, by a depthwise + pointwise pair, in place. Named layers must be such convs (ConfigError otherwise)."""
    config = config or SeparableConfig()
    if not isinstance(config, SeparableConfig):
        raise ConfigError(f"separable_ expects a SeparableConfig, got {type(config).__name__}")
    example = require_example("separable_", example, data)
    names = config.layers
    auto = names == "auto"
    selected = select_layers(
        "separable_", ["*"] if auto else [names] if isinstance(names, str) else names, model, (nn.Conv2d,)
    )
    inputs = capture_inputs(model, example, selected)
    plan = []
    for name in selected:
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d)
        why = _ineligible(conv) or ("never called by forward()" if name not in inputs else "")
        if why and not auto:
            raise ConfigError(f"separable_: {name} cannot be made depthwise-separable: {why}")
        if not why:
            plan.append(name)

    def apply() -> tuple[list[LayerChange], dict[str, str], list[FactorChange]]:
        rows, factors = [], []
        for name in plan:
            conv = model.get_submodule(name)
            assert isinstance(conv, nn.Conv2d)
            pair, error = separate(conv, config.rank)
            depthwise, pointwise = pair
            assert isinstance(depthwise, nn.Conv2d) and isinstance(pointwise, nn.Conv2d)
            x = inputs[name]
            with torch.no_grad():
                out_mse = mse(conv(x), pair(x))
            macs = module_macs(conv, x), module_macs(pair, x)
            rank = depthwise.out_channels // conv.in_channels
            reason = ""
            if macs[1] >= macs[0]:
                reason = f"rank {rank} saves no MACs ({macs[0]:,} -> {macs[1]:,})"
            elif error > config.max_weight_error:
                reason = f"relative weight error {error:.3f} > max_weight_error {config.max_weight_error}"
            full = min(conv.out_channels, int(conv.weight[0, 0].numel()))
            sizes = params(conv), params(pair)
            factors.append(
                FactorChange(
                    name, "separable", rank, full, error, out_mse, *sizes, *macs, None, None, not reason, reason
                )
            )
            if reason:
                continue
            shape = tuple(int(d) for d in conv.weight.shape)
            new_shape = (shape[0], pointwise.in_channels, *shape[1:])
            rows.append(LayerChange(name, "Sequential", "factorized", shape, new_shape, params(conv), params(pair)))
            replace(model, name, pair)
        return rows, {r.name: f"depthwise {r.old_shape[2:]} x{r.new_shape[1]} + pointwise 1x1" for r in rows}, factors

    return run_edit("separable_", config.to_dict(), model, example, apply)


def _ineligible(conv: nn.Conv2d) -> str:
    if conv.groups != 1:
        return f"it is already grouped (groups={conv.groups})"
    if conv.kernel_size == (1, 1):
        return "it is a 1x1 conv (already pointwise)"
    return ""


def separate(conv: nn.Conv2d, rank: int) -> tuple[nn.Sequential, float]:
    """The depthwise + pointwise pair fitted to ``conv`` and its relative weight reconstruction error."""
    out, cin, kh, kw = conv.weight.shape
    r = min(rank, out, kh * kw)
    weight = conv.weight.detach().double()
    u, s, vh = torch.linalg.svd(weight.permute(1, 0, 2, 3).reshape(cin, out, kh * kw), full_matrices=False)
    root = s[:, :r].sqrt()  # (in, r)
    depth = (vh[:, :r, :] * root[:, :, None]).reshape(cin * r, 1, kh, kw)
    point = (u[:, :, :r] * root[:, None, :]).permute(1, 0, 2).reshape(out, cin * r, 1, 1)
    depthwise = nn.Conv2d(
        cin, cin * r, (kh, kw), stride=conv.stride, padding=conv.padding, dilation=conv.dilation,  # type: ignore[arg-type]
        groups=cin, bias=False, padding_mode=conv.padding_mode,
    )  # fmt: skip
    pointwise = nn.Conv2d(cin * r, out, 1, bias=conv.bias is not None)
    with torch.no_grad():
        depthwise.weight.copy_(depth)
        pointwise.weight.copy_(point)
        if conv.bias is not None and pointwise.bias is not None:
            pointwise.bias.copy_(conv.bias)
    rebuilt = torch.einsum("ocr,crk->ock", point.reshape(out, cin, r), depth.reshape(cin, r, kh * kw))
    error = float((rebuilt.reshape(weight.shape) - weight).norm() / weight.norm().clamp_min(1e-30))
    pair = nn.Sequential()
    pair.add_module("depthwise", depthwise)
    pair.add_module("pointwise", pointwise)
    return pair.to(conv.weight.dtype), error
