"""BatchNorm folding and cross-layer equalization keep the float function and help per-tensor quantization."""

from __future__ import annotations

import copy

import torch
from torch import nn

from helpers import max_abs_diff
from netslim.quant import QuantConfig, equalize_, fake_quantize, fold_batchnorm_, quantize_, sqnr, weight_qparams
from netslim.quant.qtypes import Granularity


def randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model.eval()


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


@torch.no_grad()
def test_bn_folding_keeps_float_outputs() -> None:
    x = torch.randn(4, 3, 8, 8)
    seq = randomize_bn(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)))
    expected = seq(x)
    assert fold_batchnorm_(seq) == [("0", "1")]
    assert isinstance(seq[1], nn.Identity)
    assert max_abs_diff(seq(x), expected) < 1e-5
    block = randomize_bn(Block())  # attribute-style: found by tracing an example input
    expected = block(x)
    assert fold_batchnorm_(block, x) == [("conv", "bn")]
    assert block.conv.bias is not None and max_abs_diff(block(x), expected) < 1e-5


def imbalanced_chain() -> nn.Sequential:
    """conv -> relu -> pool -> conv -> relu -> flatten -> linear, with channel ranges spread over 1000x."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4)
    )
    with torch.no_grad():
        spread = torch.logspace(-2, 1, 8)
        model[0].weight.mul_(spread.reshape(-1, 1, 1, 1))
        model[0].bias.mul_(spread)
        model[3].weight.div_(spread.reshape(1, -1, 1, 1))
    return model.eval()


def per_tensor_error(model: nn.Sequential, x: torch.Tensor) -> float:
    quantized = copy.deepcopy(model)
    for layer in (quantized[0], quantized[3], quantized[6]):
        q = weight_qparams(layer.weight, "int8", Granularity.per_tensor())
        layer.weight.data = fake_quantize(layer.weight.data, q.scale, q.zero_point, "int8")
    return sqnr(model(x), quantized(x))


@torch.no_grad()
def test_cross_layer_equalization_keeps_outputs_and_improves_per_tensor_sqnr() -> None:
    model = imbalanced_chain()
    x = torch.rand(16, 1, 8, 8)
    before_out, before_db = model(x), per_tensor_error(model, x)
    pairs = equalize_(model)
    assert pairs == [("0", "3"), ("3", "6")]
    assert max_abs_diff(model(x), before_out) < 1e-4 * float(before_out.abs().max())
    r1 = model[0].weight.abs().reshape(8, -1).amax(1)
    r2 = model[3].weight.abs().transpose(0, 1).reshape(8, -1).amax(1)
    torch.testing.assert_close(r1, r2, rtol=0.05, atol=1e-6)  # per-channel ranges balanced
    assert per_tensor_error(model, x) > before_db + 10.0


def test_quantize_with_equalize_records_the_pairs() -> None:
    model = imbalanced_chain()
    record = quantize_(model, QuantConfig(activations=None, granularity="per_tensor", equalize=True))
    assert record.equalized == [("0", "3"), ("3", "6")]
