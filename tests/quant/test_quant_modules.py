"""Quantized layers, the straight-through estimator and LSQ gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from netslim.data import ArrayDataset
from netslim.quant import (
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    QuantModule,
    QuantSpec,
    calibrate,
    fake_quantize,
    quantizable,
    quantized_module,
    sqnr,
)


def test_quant_linear_shares_parameters_and_tracks_float_output() -> None:
    float_layer = nn.Linear(64, 16)
    layer = QuantLinear.from_float(float_layer, QuantSpec(weights="int8", activations=None))
    assert layer.weight is float_layer.weight and layer.bias is float_layer.bias
    x = torch.randn(32, 64)
    assert sqnr(float_layer(x), layer(x)) > 35.0
    assert layer.weight_quant.scale.shape == (16,)  # per channel by default


@pytest.mark.parametrize(
    ("float_layer", "shape"),
    [(nn.Conv2d(3, 8, 3, padding="same"), (4, 3, 8, 8)), (nn.Conv1d(4, 6, 3, stride=2), (4, 4, 20))],
)
def test_quant_convs_with_activation_quantization(float_layer: nn.Module, shape: tuple[int, ...]) -> None:
    cls = quantizable(float_layer)
    assert cls in (QuantConv1d, QuantConv2d)
    layer = cls.from_float(float_layer, QuantSpec(weights="int8", activations="int8"))
    x = torch.randn(*shape)
    assert layer(x).shape == float_layer(x).shape
    model = nn.Sequential(layer)
    assert calibrate(model, ArrayDataset(x.numpy(), torch.zeros(len(x), dtype=torch.long).numpy(), name="x")) == 1
    assert bool(layer.input_quant.ready)
    assert sqnr(float_layer(x), layer(x)) > 30.0


def test_ste_passes_gradient_inside_range_and_blocks_it_when_clipped() -> None:
    x = torch.tensor([-3.0, -0.4, 0.2, 0.9, 5.0], requires_grad=True)
    scale, zero_point = torch.tensor(1.0 / 127), torch.tensor(0)
    fake_quantize(x, scale, zero_point, "int8").sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_binary_connect_blocks_gradient_where_weight_magnitude_exceeds_one() -> None:
    w = torch.tensor([-1.5, -0.5, 0.5, 2.0], requires_grad=True)
    scale = torch.tensor(1.0)
    out = fake_quantize(w, scale, torch.tensor(0), "binary")
    assert out.tolist() == [-1.0, -1.0, 1.0, 1.0]
    out.sum().backward()
    assert w.grad is not None and w.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_lsq_scale_gradient_matches_esser_et_al() -> None:
    x = torch.tensor([0.26, -0.74, 3.0, -5.0])
    scale = torch.tensor(0.1, requires_grad=True)
    g = 1.0 / math.sqrt(x.numel() * 7)
    fake_quantize(x, scale, torch.tensor(0), "int4", grad_scale=g).sum().backward()
    v = x / 0.1
    inside = (v >= -8) & (v <= 7)
    expected = torch.where(inside, torch.round(v) - v, v.clamp(-8, 7)).sum() * g
    assert scale.grad is not None
    assert float(scale.grad) == pytest.approx(float(expected), rel=1e-5)


def test_lsq_layers_learn_their_scales() -> None:
    layer = QuantLinear.from_float(nn.Linear(16, 4), QuantSpec(weights="int4", activations="int8", lsq=True))
    layer.input_quant.observing = True
    layer(torch.randn(64, 16))
    layer.input_quant.freeze()
    assert layer.weight_quant.log_scale.requires_grad and layer.input_quant.log_scale.requires_grad
    layer(torch.randn(8, 16)).pow(2).sum().backward()
    for log_scale in (layer.weight_quant.log_scale, layer.input_quant.log_scale):
        assert log_scale.grad is not None and float(log_scale.grad.abs().sum()) > 0
    assert layer.weight.grad is not None


def test_registry_accepts_a_new_layer_type() -> None:
    class Scaled(nn.Linear):
        pass

    @quantized_module(Scaled)
    class QuantScaled(QuantLinear):
        pass

    assert quantizable(Scaled(3, 2)) is QuantScaled
    assert quantizable(nn.Linear(3, 2)) is QuantLinear  # exact types: the subclass did not hijack nn.Linear
    assert quantizable(nn.ReLU()) is None
    assert issubclass(QuantScaled, QuantModule)
