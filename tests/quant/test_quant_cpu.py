from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from netslim.data import ArrayDataset
from netslim.errors import ConfigError
from netslim.export import export_onnx
from netslim.quant import QuantConfig, QuantLinear, integer_kernels_saturate, quantize_
from netslim.quant.cpu import cpu_flags, saturates
from netslim.runtime import OrtRuntime

ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma bmi2\n"
ICELAKE = "processor\t: 0\nflags\t\t: fpu avx avx2 avx512f avx512bw avx512_vnni\n"


def test_saturation_follows_the_vnni_flags() -> None:
    assert cpu_flags(ZEN3) >= {"avx2", "fma"}
    assert saturates(cpu_flags(ZEN3))
    assert not saturates(cpu_flags(ICELAKE))
    assert not saturates(frozenset({"avx2", "avx_vnni"}))
    assert not saturates(cpu_flags("no flags here"))  # unknown CPU: nothing to reduce


def test_reduce_range_puts_int8_weights_on_a_7_bit_grid() -> None:
    config = QuantConfig(reduce_range=True, overrides={"b": "int4"})
    assert config.spec("a").weights == "int7" and config.spec("b").weights == "int4"
    assert QuantConfig(reduce_range=False).spec("a").weights == "int8"
    assert QuantConfig().reduce_range is integer_kernels_saturate()  # None asks this CPU; the config keeps the answer
    with pytest.raises(ConfigError, match="reduce_range"):
        QuantConfig(reduce_range="yes")  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8))
    x = torch.randn(64, 16)
    quantize_(model, config.replace(overrides={}), data=ArrayDataset(x.numpy(), np.zeros(64, np.int64), name="x"))
    layer = model[0]
    assert isinstance(layer, QuantLinear)
    codes = layer.quantized_weight().detach() / layer.weight_quant.scale.reshape(-1, 1)
    assert codes.round().min() >= -64 and codes.round().max() == 63  # the largest weight of a row hits the edge


def test_weight_only_int8_matmul_runs_in_fp32_in_onnxruntime(tmp_path) -> None:
    # DequantizeLinear -> MatMul on a 3-D input: ORT rewrites it to MatMulNBits; netslim's runtime keeps it in fp32
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 8))
    x = 3 * torch.randn(16, 10, 64)
    quantize_(model, QuantConfig(activations=None), data=ArrayDataset(x.numpy(), np.zeros(16, np.int64), name="x"))
    record = export_onnx(model, x[:2], tmp_path / "m.onnx", parity_inputs=x)
    with torch.inference_mode():
        expected = model(x).numpy()
    np.testing.assert_allclose(OrtRuntime(record.path).run(x.numpy()), expected, atol=1e-4)
