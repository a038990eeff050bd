"""Fake-quantizers: ``nn.Module``s that quantize-dequantize a weight or an activation in the forward pass.

``WeightFakeQuant`` recomputes its qparams from the weight at every call (min/max, TWN or XNOR statistics), or,
with ``lsq=True``, learns the scale as a parameter (Esser et al., "Learned Step Size Quantization").
``ActivationFakeQuant`` passes values through while ``observing`` (calibration), then quantizes with the range its
observer chose (:meth:`ActivationFakeQuant.freeze`); with ``lsq`` that scale keeps training.

Learned scales are stored as ``log_scale`` (``scale = exp(log_scale)``): the step size receives LSQ's gradient
(with its ``1 / sqrt(numel * qmax)`` grad scale) and the chain rule carries it to ``log_scale``. The log domain keeps
the scale positive and makes Adam's steps relative (a raw scale of 0.004 would be wiped out by one Adam step of
lr=3e-3), as TQT (Jain et al. 2020) does for its thresholds.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from netslim.quant.functional import fake_quantize, weight_qparams
from netslim.quant.observers import Observer, ObserverKind, make_observer
from netslim.quant.qtypes import Granularity, QKind, QType, qtype

__all__ = ["ActivationFakeQuant", "WeightFakeQuant"]


class WeightFakeQuant(nn.Module):
    """Fake-quantizes a weight at ``granularity``. LSQ applies to integer grids; ternary and binary scales always
    follow the weights (TWN's ``alpha``/``delta``, XNOR-Net's ``mean|w|``)."""

    zero_point: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        qt: QType | str,
        granularity: Granularity,
        symmetric: bool = True,
        lsq: bool = False,
        layer: str = "weight",
    ) -> None:
        super().__init__()
        self.qtype, self.granularity, self.symmetric, self.layer = qtype(qt), granularity, symmetric, layer
        self.lsq = lsq and self.qtype.kind is QKind.INT
        qp = weight_qparams(weight, self.qtype, granularity, symmetric, layer)  # validates the group size
        self.log_scale = nn.Parameter(qp.scale.log(), requires_grad=self.lsq)
        self.register_buffer("zero_point", qp.zero_point.clone())
        self.grad_scale = 1.0 / math.sqrt(weight.numel() / max(qp.scale.numel(), 1) * max(self.qtype.qmax, 1))

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.lsq:
            return fake_quantize(w, self.scale, self.zero_point, self.qtype, grad_scale=self.grad_scale)
        qp = weight_qparams(w, self.qtype, self.granularity, self.symmetric, self.layer)
        with torch.no_grad():  # keep the reported scale current
            self.log_scale.copy_(qp.scale.log())
            self.zero_point.copy_(qp.zero_point)
        return fake_quantize(w, qp.scale, qp.zero_point, self.qtype, threshold=qp.threshold)

    def extra_repr(self) -> str:
        return f"{self.qtype.name}, {self.granularity}, symmetric={self.symmetric}, lsq={self.lsq}"


class ActivationFakeQuant(nn.Module):
    """Per-tensor fake quantization of a layer's input, calibrated by an observer."""

    zero_point: torch.Tensor
    ready: torch.Tensor

    def __init__(
        self,
        qt: QType | str,
        symmetric: bool = False,
        observer: ObserverKind | str = ObserverKind.MINMAX,
        lsq: bool = False,
        **observer_options: float,
    ) -> None:
        super().__init__()
        self.qtype, self.symmetric, self.lsq = qtype(qt), symmetric, lsq
        self.observer: Observer = make_observer(observer, self.qtype, symmetric, **observer_options)
        self.observing = False
        self.log_scale = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.register_buffer("zero_point", torch.zeros((), dtype=torch.int32))
        self.register_buffer("ready", torch.tensor(False))

    def freeze(self) -> None:
        """Stop observing and quantize with the observer's range from now on."""
        scale, zero_point = self.observer.qparams()
        with torch.no_grad():
            self.log_scale.copy_(scale.log())
            self.zero_point.copy_(zero_point)
            self.ready.fill_(True)
        self.log_scale.requires_grad_(self.lsq)
        self.observing = False

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.observer.observe(x)
            return x
        if not bool(self.ready):
            return x
        grad_scale = 1.0 / math.sqrt(x[0].numel() * max(self.qtype.qmax, 1)) if self.lsq else None
        return fake_quantize(x, self.scale, self.zero_point, self.qtype, grad_scale=grad_scale)

    def extra_repr(self) -> str:
        return f"{self.qtype.name}, symmetric={self.symmetric}, observer={type(self.observer).__name__}, lsq={self.lsq}"
