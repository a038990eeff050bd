"""Low-rank factor pairs of a Linear or Conv2d from a truncated SVD (see :mod:`netslim.structure.decompose`)."""

from __future__ import annotations

import enum
from typing import Any

import torch
from torch import nn


class ConvMethod(str, enum.Enum):
    """Conv factorisation: ``channel`` (kxk to r channels, then 1x1) or ``spatial`` (kx1 to r channels, then 1xk)."""

    CHANNEL = "channel"
    SPATIAL = "spatial"


def matrix_of(layer: nn.Module, conv: ConvMethod) -> torch.Tensor:
    w = layer.weight.detach().double()  # type: ignore[union-attr, operator]
    if isinstance(layer, nn.Linear):
        return w
    out, cin, kh, kw = w.shape
    if conv is ConvMethod.SPATIAL:
        return w.permute(1, 2, 0, 3).reshape(cin * kh, out * kw)
    return w.reshape(out, cin * kh * kw)


def factorise(layer: nn.Module, rank: int, conv: ConvMethod = ConvMethod.CHANNEL) -> nn.Sequential:
    """The rank-``rank`` factor pair of a Linear or Conv2d (schemes in :mod:`netslim.structure.decompose`), the bias
    on the second factor. The first factor gets ``sqrt(S_r) V_r^T``, the second ``U_r sqrt(S_r)``."""
    u, s, vh = torch.linalg.svd(matrix_of(layer, conv), full_matrices=False)
    root = s[:rank].sqrt()
    left, right = u[:, :rank] * root, root[:, None] * vh[:rank]  # matrix ~ left @ right
    bias = getattr(layer, "bias", None) is not None
    if isinstance(layer, nn.Linear):
        first: nn.Module = nn.Linear(layer.in_features, rank, bias=False)
        second: nn.Module = nn.Linear(rank, layer.out_features, bias=bias)
        weights = (right, left)
    else:
        assert isinstance(layer, nn.Conv2d)
        out, cin, kh, kw = layer.weight.shape
        if conv is ConvMethod.SPATIAL:
            (sh, sw), (dh, dw) = layer.stride, layer.dilation
            pads: tuple[Any, Any] = (
                (layer.padding, layer.padding)
                if isinstance(layer.padding, str)
                else ((layer.padding[0], 0), (0, layer.padding[1]))
            )
            first = nn.Conv2d(cin, rank, (kh, 1), (sh, 1), pads[0], (dh, 1), bias=False)
            second = nn.Conv2d(rank, out, (1, kw), (1, sw), pads[1], (1, dw), bias=bias)
            weights = (
                left.T.reshape(rank, cin, kh, 1),
                right.reshape(rank, out, kw).permute(1, 0, 2).reshape(out, rank, 1, kw),
            )
        else:
            first = nn.Conv2d(
                cin, rank, (kh, kw), layer.stride, layer.padding, layer.dilation,  # type: ignore[arg-type]
                bias=False, padding_mode=layer.padding_mode,
            )  # fmt: skip
            second = nn.Conv2d(rank, out, 1, bias=bias)
            weights = (right.reshape(rank, cin, kh, kw), left.reshape(out, rank, 1, 1))
    with torch.no_grad():
        first.weight.copy_(weights[0])  # type: ignore[operator]
        second.weight.copy_(weights[1])  # type: ignore[operator]
        if bias:
            second.bias.copy_(layer.bias)  # type: ignore[operator, union-attr, arg-type]
    return nn.Sequential(first, second).to(layer.weight.dtype)  # type: ignore[union-attr, arg-type]


def product(pair: nn.Sequential, conv: ConvMethod = ConvMethod.CHANNEL) -> torch.Tensor:
    """The dense weight a factor pair computes (to measure its reconstruction error)."""
    a, b = (m.weight.detach().double() for m in pair)  # type: ignore[union-attr, operator]
    if a.dim() == 2:
        return b @ a
    if conv is ConvMethod.SPATIAL:  # a: (r, in, kh, 1), b: (out, r, 1, kw)
        return torch.einsum("orx,rcy->ocyx", b[:, :, 0, :], a[..., 0])
    return (b.flatten(1) @ a.flatten(1)).reshape(b.shape[0], *a.shape[1:])
