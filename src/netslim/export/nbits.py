"""Export int4 weight-only Linear layers as ONNX Runtime's ``MatMulNBits`` (domain ``com.microsoft``).

``MatMulNBits`` keeps a Linear weight ``[N, K]`` bit-packed, two 4-bit codes per byte (the lower nibble first) in
blocks of ``block_size`` along K, with one fp32 scale (and one 4-bit zero point) per block:
``weight = (code - zero_point) * scale``. Codes and scales are the simulation's own, so the dequantized weight
equals ``quantized_weight()`` bit for bit, and ONNX Runtime computes the product in fp32, while the file stores
~4.5 bits per weight instead of 32.

A :class:`~netslim.quant.modules.QuantLinear` is converted when its input is not quantized and its weights are on
an int4/uint4 grid. Its codes move to the unsigned grid (int4 code ``q`` becomes ``q + 8``; a symmetric grid then
has the default zero point 8 and stores none). The block is the largest power of two (16 to 128) that divides the
scale group: ``per_group:48`` uses blocks of 16 sharing a scale three by three; per-channel and per-tensor scales
are repeated over blocks, and a K with no such divisor is padded to whole blocks of 16. A per-group size that is
not a multiple of 16 has no MatMulNBits form: a ConfigError names the layer and the fix.

Example:
    >>> from netslim.quant import QuantConfig, quantize_
    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 32))
    >>> _ = quantize_(model, QuantConfig(weights="int4", activations=None, granularity="per_group:32"))
    >>> exported, choices = nbits_model(model)
    >>> choices[0].converted, choices[0].block_size
    (True, 32)
    >>> torch.equal(exported[0].dequantized_weight(), model[0].quantized_weight())
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netslim.errors import ConfigError
from netslim.quant.fold import set_submodule
from netslim.quant.functional import weight_qparams
from netslim.quant.modules import QuantLinear, QuantModule
from netslim.quant.qtypes import GranularityKind, QKind, expand

__all__ = ["MatMulNBitsLinear", "NBitsChoice", "nbits_model", "plan_nbits"]

DOMAIN = "com.microsoft"
BITS = 4
MIN_BLOCK, MAX_BLOCK = 16, 128  # MatMulNBits needs a power of two >= 16; 128 is the largest common fast kernel
_HINT = "quantize_(model, QuantConfig(weights='int4', activations=None, granularity='per_group:32'))"


@dataclasses.dataclass(frozen=True)
class NBitsChoice:
    """What ``ExportConfig(int4_matmul=True)`` did with one quantized layer, and why."""

    layer: str
    converted: bool
    reason: str
    block_size: int | None = None


def _largest_block(size: int) -> int:
    """The largest power of two dividing ``size``, capped at MAX_BLOCK."""
    block = 1
    while block < MAX_BLOCK and size % (block * 2) == 0:
        block *= 2
    return block


def _choose(name: str, layer: QuantModule) -> NBitsChoice:
    if not isinstance(layer, QuantLinear):
        return NBitsChoice(name, False, f"a {type(layer).__name__}: MatMulNBits replaces Linear layers only")
    if layer.input_quant is not None:
        return NBitsChoice(
            name, False, f"its input is quantized to {layer.input_quant.qtype.name}: MatMulNBits is weight-only"
        )
    qt, granularity = layer.weight_quant.qtype, layer.weight_quant.granularity
    if qt.kind is not QKind.INT or qt.bits != BITS:
        return NBitsChoice(name, False, f"weights are {qt.name}: MatMulNBits export covers int4 and uint4")
    if GranularityKind(granularity.kind) is GranularityKind.PER_GROUP:
        size = int(granularity.group_size or 0)
        block = _largest_block(size)
        if block < MIN_BLOCK:
            raise ConfigError(
                f"{name}: {granularity} has no MatMulNBits form (blocks are powers of two >= {MIN_BLOCK} that "
                f"divide the group size {size}); re-quantize with granularity='per_group:32' (or 16, 64, 128), "
                "skip the layer, or export with ExportConfig(int4_matmul=False)"
            )
        return NBitsChoice(name, True, f"{qt.name} {granularity} -> MatMulNBits", block)
    block = max(_largest_block(layer.in_features), MIN_BLOCK)  # per channel / tensor: one scale repeated per block
    return NBitsChoice(name, True, f"{qt.name} {granularity} -> MatMulNBits", block)


def plan_nbits(model: nn.Module) -> list[NBitsChoice]:
    """One :class:`NBitsChoice` per quantized layer of ``model``, in module order."""
    return [_choose(name, m) for name, m in model.named_modules() if isinstance(m, QuantModule)]


def _pack(codes: torch.Tensor) -> torch.Tensor:
    """Pack unsigned 4-bit codes pairwise along the last axis (even length) into uint8, the first code low."""
    pairs = codes.to(torch.uint8).reshape(*codes.shape[:-1], -1, 2)
    return pairs[..., 0] | (pairs[..., 1] << 4)


def _unpack(packed: torch.Tensor) -> torch.Tensor:
    return torch.stack([packed & 0x0F, packed >> 4], dim=-1).reshape(*packed.shape[:-1], -1)


def _dequantize(packed: torch.Tensor, scales: torch.Tensor, zero_points: torch.Tensor | None, k: int) -> torch.Tensor:
    """``(code - zero_point) * scale`` as MatMulNBits computes it: the ``[N, K]`` fp32 weight."""
    n, n_blocks, _ = packed.shape
    codes = _unpack(packed).float()  # [N, n_blocks, block_size]
    zero = torch.full((n, n_blocks), 8.0, device=packed.device)
    if zero_points is not None:
        zero = _unpack(zero_points.reshape(n, -1))[:, :n_blocks].float()
    weight = (codes - zero[..., None]) * scales.reshape(n, n_blocks, 1)
    return weight.reshape(n, -1)[:, :k]


class _MatMulNBitsOp(torch.autograd.Function):
    """``x @ weight.T`` in torch, the weight unpacked from the codes; one ``com.microsoft::MatMulNBits`` node in
    the ONNX graph (the TorchScript exporter calls ``symbolic`` instead of tracing ``forward``)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        packed: torch.Tensor,
        scales: torch.Tensor,
        zero_points: torch.Tensor | None,
        k: int,
        block_size: int,
    ) -> torch.Tensor:
        return F.linear(x, _dequantize(packed, scales, zero_points, k))

    @staticmethod
    def symbolic(g: Any, x: Any, packed: Any, scales: Any, zero_points: Any, k: int, block_size: int) -> Any:
        inputs = [x, packed, scales] + ([] if zero_points is None else [zero_points])
        n = packed.type().sizes()[0]
        out = g.op(f"{DOMAIN}::MatMulNBits", *inputs, K_i=k, N_i=n, bits_i=BITS, block_size_i=block_size)
        sizes = x.type().varyingSizes()  # the output is A's shape with N last (None for dynamic axes)
        if sizes is not None:
            out.setType(x.type().with_sizes([*sizes[:-1], n]))
        return out


class MatMulNBitsLinear(nn.Module):
    """The export twin of an int4 weight-only QuantLinear: packed codes, per-block scales and zero points.

    In torch it computes ``F.linear`` with the weight unpacked from exactly the stored codes, so the ONNX graph
    (MatMulNBits, then Add for the bias) and the module share one source of truth.
    """

    zero_points: torch.Tensor | None

    def __init__(
        self,
        packed: torch.Tensor,
        scales: torch.Tensor,
        zero_points: torch.Tensor | None,
        in_features: int,
        block_size: int,
        bias: torch.Tensor | None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.block_size = in_features, packed.shape[0], block_size
        self.register_buffer("packed", packed)  # uint8 [N, n_blocks, block_size / 2]
        self.register_buffer("scales", scales)  # fp32 [N * n_blocks]
        self.register_buffer("zero_points", zero_points)  # uint8 [N * ceil(n_blocks / 2)], or None: all 8
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    packed: torch.Tensor
    scales: torch.Tensor

    @classmethod
    def from_quant(cls, layer: QuantLinear, block_size: int) -> MatMulNBitsLinear:
        """Pack ``layer``'s int4/uint4 weight codes into blocks of ``block_size`` along its input features."""
        with torch.no_grad():
            weight = layer.quantized_weight().detach().float()
            quant = layer.weight_quant
            scale, zero_point = quant.scale, quant.zero_point  # learned (LSQ): exactly what forward uses
            if not quant.lsq:  # recomputed from the weight as forward does (``scale`` is exp(log(s)), an ulp off)
                qp = weight_qparams(layer.weight, quant.qtype, quant.granularity, quant.symmetric, quant.layer)
                scale, zero_point = qp.scale, qp.zero_point
            scale = expand(scale.detach().float(), weight).expand_as(weight)
            zero = expand(zero_point.float(), weight).expand_as(weight)
            qt, offset = quant.qtype, 8 if quant.qtype.signed else 0  # int4 [-8, 7] -> uint4 [0, 15]
            codes = torch.clamp(torch.round(weight / scale + zero), qt.qmin, qt.qmax) + offset
            n, k = weight.shape
            n_blocks = -(-k // block_size)
            pad = n_blocks * block_size - k  # padded codes sit on the zero point: they dequantize to 0
            codes = torch.cat([codes, (zero[:, -1:] + offset).expand(n, pad)], dim=1)
            block_scale, block_zero = scale[:, ::block_size], zero[:, ::block_size] + offset  # [N, n_blocks]
            packed = _pack(codes.reshape(n, n_blocks, block_size))
            zero_points = None
            if bool((block_zero != 8).any()):
                zero_points = _pack(F.pad(block_zero, (0, n_blocks % 2), value=8)).reshape(-1)
            bias = getattr(layer, "bias", None)
            bias = None if bias is None else bias.detach().clone()
            shift = getattr(layer, "bias_shift", None)
            if shift is not None:
                bias = (bias if bias is not None else torch.zeros_like(shift)) - shift
        return cls(packed, block_scale.contiguous().reshape(-1), zero_points, k, block_size, bias)

    def dequantized_weight(self) -> torch.Tensor:
        """The ``[N, K]`` fp32 weight MatMulNBits computes with: ``(code - zero_point) * scale``."""
        return _dequantize(self.packed, self.scales, self.zero_points, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = (self.packed, self.scales, self.zero_points, self.in_features, self.block_size)
        out = _MatMulNBitsOp.apply(x, *args)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, block_size={self.block_size}"


def nbits_model(model: nn.Module) -> tuple[nn.Module, list[NBitsChoice]]:
    """An export copy of ``model``: eligible layers become :class:`MatMulNBitsLinear`, the other quantized layers
    their QDQ twins (:func:`~netslim.export.qdq.qdq_model`). A model with no eligible layer is a ConfigError."""
    from netslim.export.qdq import qdq_model

    choices = plan_nbits(model)
    if not any(c.converted for c in choices):
        why = "; ".join(f"{c.layer}: {c.reason}" for c in choices) or "it has no quantized layer"
        raise ConfigError(
            f"ExportConfig.int4_matmul: no layer of {type(model).__name__} can become MatMulNBits ({why}); "
            f"quantize its Linear layers weight-only to int4 first, e.g. {_HINT}"
        )
    exported = qdq_model(model)
    for choice in choices:
        if choice.converted and choice.block_size is not None:
            layer = model.get_submodule(choice.layer)
            assert isinstance(layer, QuantLinear)
            set_submodule(exported, choice.layer, MatMulNBitsLinear.from_quant(layer, choice.block_size))
    return exported, choices
