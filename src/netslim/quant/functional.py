"""Quantize, dequantize and fake-quantize tensors on a :class:`~netslim.quant.qtypes.QType` grid.

``quantize`` returns integer codes, ``dequantize`` maps them back, and ``fake_quantize`` does both in float with a
straight-through estimator: the gradient flows through the rounding (and is zero where a value is clipped), and a
scale that requires grad receives the LSQ gradient (Esser et al. 2020) multiplied by ``grad_scale``.

Scales and zero points are *compact*: shape ``()`` (per tensor), ``(C,)`` (per channel, dim 0) or ``(C, G)``
(per group of input channels, dim 1); :func:`~netslim.quant.qtypes.expand` broadcasts them.

Example:
    >>> w = torch.randn(16, 64)
    >>> q = weight_qparams(w, qtype("int8"), Granularity.per_channel())
    >>> codes = quantize(w, q.scale, q.zero_point, qtype("int8"))
    >>> codes.dtype, bool((dequantize(codes, q.scale, q.zero_point) - w).abs().max() <= q.scale.max() / 2)
    (torch.int8, True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from netslim.quant.qtypes import Granularity, QKind, QType, expand, grouped, qtype

__all__ = ["QParams", "compute_qparams", "dequantize", "fake_quantize", "quantize", "sqnr", "weight_qparams"]

_MIN_SCALE = 1e-8
_TWN_RATIO = 0.7  # Ternary Weight Networks: threshold = 0.7 * mean|w|


class QParams(NamedTuple):
    """Compact quantization parameters; ``threshold`` is only set for ternary (TWN's delta)."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    threshold: torch.Tensor | None = None


def compute_qparams(
    min_val: torch.Tensor, max_val: torch.Tensor, qt: QType | str, symmetric: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point that map ``[min_val, max_val]`` (any shape) onto ``qt``'s grid.

    Symmetric: ``amax = max(|min|, |max|)`` maps to the top code and zero to the middle code (0 for signed types,
    ``(qmax + 1) // 2`` for unsigned ones). Asymmetric: the range is widened to contain 0 (so zero padding and ReLU
    zeros are exact) and spread over all codes. Ternary and binary grids are always symmetric with ``scale = amax``.
    """
    qt = qtype(qt)
    min_val, max_val = torch.as_tensor(min_val).float(), torch.as_tensor(max_val).float()
    if symmetric or qt.kind is not QKind.INT:
        amax = torch.maximum(min_val.abs(), max_val.abs())
        zero = 0 if qt.signed else (qt.qmax + 1) // 2
        top = qt.qmax - zero if qt.kind is QKind.INT else 1
        scale = (amax / top).clamp_min(_MIN_SCALE)
        return scale, torch.full_like(scale, zero, dtype=torch.int32)
    lo, hi = min_val.clamp_max(0), max_val.clamp_min(0)
    scale = ((hi - lo) / (qt.qmax - qt.qmin)).clamp_min(_MIN_SCALE)
    zero_point = (qt.qmin - torch.round(lo / scale)).clamp(qt.qmin, qt.qmax).to(torch.int32)
    return scale, zero_point


def weight_qparams(
    w: torch.Tensor, qt: QType | str, granularity: Granularity, symmetric: bool = True, layer: str = "weight"
) -> QParams:
    """QParams of a weight tensor: min/max for integer types, TWN statistics for ternary, mean|w| for binary."""
    qt = qtype(qt)
    shape = granularity.reduce_shape(w, layer)
    flat = grouped(w.detach(), shape)
    if qt.kind is QKind.BINARY:
        scale = flat.abs().mean(-1).reshape(shape).clamp_min(_MIN_SCALE)
        return QParams(scale, torch.zeros_like(scale, dtype=torch.int32))
    if qt.kind is QKind.TERNARY:
        delta = _TWN_RATIO * flat.abs().mean(-1, keepdim=True)
        above = flat.abs() > delta
        alpha = (flat.abs() * above).sum(-1) / above.sum(-1).clamp_min(1)
        scale = alpha.reshape(shape).clamp_min(_MIN_SCALE)
        return QParams(scale, torch.zeros_like(scale, dtype=torch.int32), delta.reshape(shape))
    scale, zero_point = compute_qparams(flat.amin(-1).reshape(shape), flat.amax(-1).reshape(shape), qt, symmetric)
    return QParams(scale, zero_point)


def _codes(v: torch.Tensor, x: torch.Tensor, qt: QType, threshold: torch.Tensor | None) -> torch.Tensor:
    """Integer codes (as float) of ``v = x / scale + zero_point``."""
    if qt.kind is QKind.BINARY:
        return torch.where(v >= 0, 1.0, -1.0)
    if qt.kind is QKind.TERNARY and threshold is not None:
        return torch.sign(x) * (x.abs() > expand(threshold, x))
    return torch.clamp(torch.round(v), qt.qmin, qt.qmax)


def quantize(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    qt: QType | str,
    *,
    threshold: torch.Tensor | None = None,
) -> torch.Tensor:
    """Integer codes ``clamp(round(x / scale) + zero_point, qmin, qmax)`` in ``qt.dtype``.

    Binary codes are ``sign(x)`` (zero maps to +1). Ternary codes round to the nearest of {-1, 0, 1} unless
    ``threshold`` is given, in which case ``|x| <= threshold`` maps to 0 (TWN).
    """
    qt = qtype(qt)
    s, z = expand(scale, x), expand(zero_point, x)
    return _codes(x / s + z, x, qt, threshold).to(qt.dtype)


def dequantize(codes: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Float values ``(codes - zero_point) * scale``."""
    return (codes.float() - expand(zero_point, codes)) * expand(scale, codes)


def _round_ste(v: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return v + (codes - v).detach()


def _scaled_grad(scale: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass, gradient multiplied by ``factor`` in the backward pass (LSQ's grad scale)."""
    return (scale - scale * factor).detach() + scale * factor


def fake_quantize(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    qt: QType | str,
    *,
    threshold: torch.Tensor | None = None,
    grad_scale: float | None = None,
) -> torch.Tensor:
    """``dequantize(quantize(x))`` in float, differentiable by the straight-through estimator.

    The gradient w.r.t. ``x`` is 1 inside the representable range and 0 where values are clipped (for binary:
    BinaryConnect's ``|x| <= 1``). When ``scale`` requires grad it gets the LSQ gradient: ``round(v) - v`` inside
    the range, ``qmin`` or ``qmax`` where clipped, times ``grad_scale`` (LSQ uses ``1 / sqrt(numel * qmax)``).
    """
    qt = qtype(qt)
    if grad_scale is not None and scale.requires_grad:
        scale = _scaled_grad(scale, grad_scale)
    s, z = expand(scale, x), expand(zero_point, x).float()
    if qt.kind is QKind.BINARY:
        codes = torch.where(x >= 0, 1.0, -1.0)
        v = x.clamp(-1.0, 1.0)  # BinaryConnect: no gradient where |x| > 1
        return _round_ste(v, codes) * s.detach() + (codes * s - codes * s.detach())
    v = torch.clamp(x / s + z, qt.qmin, qt.qmax)
    codes = _codes(v.detach(), x.detach(), qt, threshold)
    return (_round_ste(v, codes) - z) * s


def sqnr(reference: torch.Tensor, approx: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: ``10 log10(|ref|^2 / |ref - approx|^2)`` (inf when equal)."""
    reference, approx = reference.detach().double(), approx.detach().double()
    noise = (reference - approx).pow(2).sum()
    signal = reference.pow(2).sum()
    if noise == 0:
        return float("inf")
    return float(10 * torch.log10(signal / noise))
