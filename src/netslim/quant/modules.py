"""Quantized layers: float layers whose weight and input pass through fake-quantizers.

Each class is registered against the float layer it replaces; ``quantize_`` and ``qat_`` swap layers by exact type.
A ``QuantLinear`` shares its ``weight`` and ``bias`` parameters with the float layer it was built from.

Example:
    >>> layer = QuantLinear.from_float(nn.Linear(64, 10), QuantSpec(weights="int4", activations=None))
    >>> layer(torch.randn(2, 64)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from netslim.quant.fake import ActivationFakeQuant, WeightFakeQuant
from netslim.quant.observers import ObserverKind
from netslim.quant.qtypes import Granularity, QType, qtype

__all__ = [
    "QuantConv1d",
    "QuantConv2d",
    "QuantLinear",
    "QuantModule",
    "QuantSpec",
    "quantizable",
    "quantized_module",
]

M = TypeVar("M", bound=type["QuantModule"])


@dataclasses.dataclass(frozen=True)
class QuantSpec:
    """How one layer is quantized (resolved from a QuantConfig/QATConfig for that layer)."""

    weights: QType | str = "int8"
    activations: QType | str | None = "int8"
    granularity: Granularity = dataclasses.field(default_factory=Granularity.per_channel)
    weight_symmetric: bool = True
    activation_symmetric: bool = False
    observer: ObserverKind | str = ObserverKind.MINMAX
    lsq: bool = False
    observer_options: tuple[tuple[str, float], ...] = ()


_REGISTRY: dict[type[nn.Module], type[QuantModule]] = {}


def quantized_module(float_type: type[nn.Module]) -> Callable[[M], M]:
    """Register a quantized class as the replacement of ``float_type`` (matched by exact type).

    To add one, subclass the float layer and :class:`QuantModule`, and compute the float op in ``_apply_op``::

        @quantized_module(nn.ConvTranspose2d)
        class QuantConvTranspose2d(QuantModule, nn.ConvTranspose2d):
            def _apply_op(self, x, weight):
                return F.conv_transpose2d(x, weight, self.bias, self.stride, self.padding,
                                          self.output_padding, self.groups, self.dilation)

    ``from_float`` copies the constructor arguments listed in ``_init_args`` and shares ``weight``/``bias``.
    """

    def register(cls: M) -> M:
        _REGISTRY[float_type] = cls
        return cls

    return register


def quantizable(module: nn.Module) -> type[QuantModule] | None:
    """The quantized class registered for ``module``'s exact type, or None."""
    return _REGISTRY.get(type(module))


class QuantModule(nn.Module):
    """Mixin of quantized layers: ``weight_quant`` (always) and ``input_quant`` (None when weight-only)."""

    _init_args: tuple[str, ...] = ()
    weight: torch.Tensor
    weight_quant: WeightFakeQuant
    input_quant: ActivationFakeQuant | None
    spec: QuantSpec

    @classmethod
    def from_float(cls, module: nn.Module, spec: QuantSpec, name: str = "layer") -> QuantModule:
        """Build the quantized twin of ``module`` sharing its parameters; ``name`` appears in errors."""
        kwargs: dict[str, Any] = {a: getattr(module, a) for a in cls._init_args}
        kwargs["bias"] = getattr(module, "bias", None) is not None
        with torch.device("meta"):  # no allocation: the parameters are shared with ``module`` below
            layer = cls(**kwargs)
        layer.weight = module.weight  # type: ignore[assignment]
        layer.bias = module.bias  # type: ignore[assignment]
        layer.train(module.training)
        layer.spec = spec
        layer.weight_quant = WeightFakeQuant(
            layer.weight.detach(), spec.weights, spec.granularity, spec.weight_symmetric, spec.lsq, name
        )
        layer.input_quant = None
        if spec.activations is not None:
            layer.input_quant = ActivationFakeQuant(
                spec.activations,
                spec.activation_symmetric,
                spec.observer,
                spec.lsq,
                **dict(spec.observer_options),
            )
        return layer

    @property
    def weight_qtype(self) -> QType:
        return qtype(self.spec.weights)

    def _apply_op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _apply_op(x, weight)")

    def float_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The float layer's output (no quantization), for SQNR and bias correction."""
        return self._apply_op(x, self.weight)

    def quantized_weight(self) -> torch.Tensor:
        """The fake-quantized weight the forward pass uses."""
        return self.weight_quant(self.weight)

    def correct_bias(self, shift: torch.Tensor) -> None:
        """Subtract ``shift`` (one value per output channel) from the quantized output from now on; the float
        ``bias`` stays untouched, so :meth:`float_forward` remains the float reference."""
        old = getattr(self, "bias_shift", None)
        total = shift.detach().clone() if old is None else old + shift.detach()
        self.register_buffer("bias_shift", total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_quant is not None:
            x = self.input_quant(x)
        out = self._apply_op(x, self.quantized_weight())
        shift: torch.Tensor | None = getattr(self, "bias_shift", None)
        if shift is not None:
            dim = out.ndim - 1 if isinstance(self, nn.Linear) else 1
            out = out - shift.reshape(-1, *([1] * (out.ndim - 1 - dim)))
        return out


@quantized_module(nn.Linear)
class QuantLinear(QuantModule, nn.Linear):
    _init_args = ("in_features", "out_features")

    def _apply_op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.linear(x, weight, self.bias)


_CONV_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")


@quantized_module(nn.Conv1d)
class QuantConv1d(QuantModule, nn.Conv1d):
    _init_args = _CONV_ARGS

    def _apply_op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, weight, self.bias)


@quantized_module(nn.Conv2d)
class QuantConv2d(QuantModule, nn.Conv2d):
    _init_args = _CONV_ARGS

    def _apply_op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, weight, self.bias)
