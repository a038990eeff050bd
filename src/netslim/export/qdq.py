"""Export netslim's quantized models to ONNX in QDQ form (QuantizeLinear/DequantizeLinear around float ops), which
ONNX Runtime fuses into integer kernels (QLinearConv, QLinearMatMul / MatMulInteger).

``qdq_model`` turns every fake-quantized layer into an export-ready twin whose weight is the exact dequantized grid
value and whose quantizers are torch's ``fake_quantize_per_*_affine`` ops (exported as Q/DQ pairs):
- weights on an 8-bit-representable grid (int8, int4, int2, ternary, binary codes all fit in int8) with per-tensor or
  per-channel scales become int8 Q/DQ with the same scale, so the dequantized weights are identical;
- per-group weight scales have no QDQ form before opset 21: their dequantized weights are exported as fp32 constants;
- 8-bit activations become uint8/int8 Q/DQ; narrower activation grids are exported as exact Round/Clip arithmetic;
- a bias correction learned by ``quantize_`` is folded into the exported bias.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from netslim.quant.fake import ActivationFakeQuant
from netslim.quant.modules import QuantModule
from netslim.quant.qtypes import GranularityKind, QKind, QType


def _fits_int8(qt: QType) -> bool:
    return qt.kind is not QKind.INT or (qt.qmin >= -128 and qt.qmax <= 127)


class _ActivationQDQ(nn.Module):
    def __init__(self, quant: ActivationFakeQuant) -> None:
        super().__init__()
        self.qtype = quant.qtype
        self.scale = float(quant.scale.detach())
        self.zero_point = int(quant.zero_point)
        self.onnx_native = (self.qtype.qmin, self.qtype.qmax) in ((0, 255), (-128, 127))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onnx_native:
            return torch.fake_quantize_per_tensor_affine(
                x, self.scale, self.zero_point, self.qtype.qmin, self.qtype.qmax
            )
        codes = torch.clamp(torch.round(x / self.scale) + self.zero_point, self.qtype.qmin, self.qtype.qmax)
        return (codes - self.zero_point) * self.scale


class QDQLayer(nn.Module):
    """The export twin of a QuantModule: fixed grid weights, Q/DQ on weight and input, float op in between."""

    def __init__(self, layer: QuantModule) -> None:
        super().__init__()
        spec_qtype = layer.weight_quant.qtype
        with torch.no_grad():
            weight = layer.quantized_weight().detach().clone()
            float_bias: torch.Tensor | None = getattr(layer, "bias", None)
            bias = None if float_bias is None else float_bias.detach().clone()
            shift = getattr(layer, "bias_shift", None)
            if shift is not None:
                bias = (bias if bias is not None else torch.zeros_like(shift)) - shift
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.input_qdq = None if layer.input_quant is None else _ActivationQDQ(layer.input_quant)
        self.op = copy.copy(layer)  # the float op's hyper-parameters (stride, padding, groups...)
        self.weight_scale: torch.Tensor | None = None
        granularity = layer.weight_quant.granularity.kind
        if _fits_int8(spec_qtype) and granularity in (GranularityKind.PER_CHANNEL, GranularityKind.PER_TENSOR):
            scale = layer.weight_quant.scale.detach().reshape(-1).float()
            if scale.numel() == 1:
                scale = scale.expand(weight.shape[0]).clone()
            self.register_buffer("w_scale", scale)
            self.register_buffer("w_zero", torch.zeros_like(scale, dtype=torch.int32))
            self.weight_scale = scale

    w_scale: torch.Tensor
    w_zero: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_qdq is not None:
            x = self.input_qdq(x)
        weight: torch.Tensor = self.weight
        if self.weight_scale is not None:
            weight = torch.fake_quantize_per_channel_affine(weight, self.w_scale, self.w_zero, 0, -128, 127)
        if isinstance(self.op, nn.Linear):
            return F.linear(x, weight, self.bias)
        return self.op._conv_forward(x, weight, self.bias)  # type: ignore[operator]


def qdq_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every QuantModule is replaced by its :class:`QDQLayer` (eval mode)."""
    exported = copy.deepcopy(model).eval()
    for name, module in list(exported.named_modules()):
        if isinstance(module, QuantModule):
            parent, _, child = name.rpartition(".")
            setattr(exported.get_submodule(parent) if parent else exported, child, QDQLayer(module))
    return exported


def is_quantized(model: nn.Module) -> bool:
    return any(isinstance(m, QuantModule) for m in model.modules())


def output_step(model: nn.Module, example: torch.Tensor) -> float:
    """One quantization step of the model's output range at its narrowest activation grid, on ``example``:
    ``max|y| / 127`` for 8-bit activations (or weights only), ``max|y| / 7`` when some activations are 4-bit.

    Two faithful implementations of a quantized model (netslim's simulation and ONNX Runtime) differ where an
    activation lands on a rounding boundary; the coarser the grid, the larger one such flip is at the output.
    """
    half_ranges = [
        (m.qtype.qmax - m.qtype.qmin) // 2
        for m in model.modules()
        if isinstance(m, ActivationFakeQuant | _ActivationQDQ)
    ]
    with torch.inference_mode():
        out = model.eval()(example)
    return float(out.abs().max()) / max(1, min(half_ranges, default=127))


__all__ = ["QDQLayer", "is_quantized", "output_step", "qdq_model"]
