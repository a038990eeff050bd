"""Per-layer sensitivity and mixed-precision bit allocation under a size budget."""

from __future__ import annotations

import pytest
from torch import nn

from netslim.data import Splits
from netslim.errors import BudgetNotMetError
from netslim.quant import QuantConfig, allocate_bits, bit_overrides, layer_sensitivity, layer_sizes, quantize_
from netslim.train import evaluate


def test_allocation_meets_budget_and_spares_sensitive_layers() -> None:
    sens = {"a": {8: 0.0, 4: 0.001, 2: 0.002}, "b": {8: 0.0, 4: 0.05, 2: 0.4}}
    sizes = {"a": 1000, "b": 1000}
    bits = allocate_bits(sens, sizes, budget_bytes=1000, choices=(8, 4, 2))
    assert sum(sizes[n] * b / 8 for n, b in bits.items()) <= 1000
    assert bits == {"a": 2, "b": 4}
    assert allocate_bits(sens, sizes, budget_bytes=10_000) == {"a": 8, "b": 8}
    with pytest.raises(BudgetNotMetError, match="smallest allocation"):
        allocate_bits(sens, sizes, budget_bytes=100)


def test_sensitivity_drives_a_mixed_precision_quantization(cnn: nn.Module, trained_cnn, digits: Splits) -> None:
    sens = layer_sensitivity(cnn, digits.val, choices=(8, 2))
    assert set(sens) == {"conv1", "conv2", "fc1", "fc2"}
    assert all(abs(s[8]) <= 0.01 for s in sens.values())  # int8 alone costs at most a point anywhere
    sizes = layer_sizes(cnn)
    budget = sum(sizes.values()) * 5 / 8  # between all-int8 and all-int2
    bits = allocate_bits(sens, sizes, budget, choices=(8, 2))
    assert sum(sizes[n] * b / 8 for n, b in bits.items()) <= budget
    record = quantize_(cnn, QuantConfig(activations=None, overrides=bit_overrides(bits)))
    assert {row.name: row.weights for row in record.layers} == bit_overrides(bits)
    assert evaluate(cnn, digits.test).accuracy > 0.5
