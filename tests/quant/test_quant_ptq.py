"""Post-training quantization of a trained seed CNN on digits: accuracy, record, bias correction, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from torch import nn

from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError, DataError
from netslim.quant import QuantConfig, QuantLinear, probe_layers, quantize_
from netslim.train import evaluate


def test_int8_ptq_keeps_accuracy_within_one_point(cnn: nn.Module, trained_cnn, digits: Splits, calib) -> None:
    calls: list[tuple[int, int]] = []
    config = QuantConfig(weights="int8", activations="int8")
    record = quantize_(cnn, config, data=calib, progress=lambda d, t: calls.append((d, t)))
    accuracy = evaluate(cnn, digits.test).accuracy
    assert accuracy >= trained_cnn[1] - 0.01, (accuracy, trained_cnn[1])
    assert [row.name for row in record.layers] == ["conv1", "conv2", "fc1", "fc2"]
    assert all(row.sqnr_db is not None and row.sqnr_db > 30.0 for row in record.layers)
    assert record["fc1"].weights == ("int7" if config.reduce_range else "int8")  # 7-bit grid on AVX2-only CPUs
    assert record["fc1"].activations == "int8"
    assert record["fc1"].granularity == "per_channel" and record["fc1"].activation_scale is not None
    assert isinstance(cnn.fc1, QuantLinear) and calls and calls[-1][0] == calls[-1][1]
    assert record.to_dict()["details"]["calibration"] == calib.name and record.calibration == calib.name


def test_weight_only_int4_needs_no_data_and_honours_skip_and_overrides(cnn: nn.Module) -> None:
    config = QuantConfig(
        weights="int4", activations=None, skip=("fc2",), overrides={"conv*": "int8"}, reduce_range=False
    )
    record = quantize_(cnn, config)
    assert {row.name: row.weights for row in record.layers} == {"conv1": "int8", "conv2": "int8", "fc1": "int4"}
    assert not isinstance(cnn.fc2, QuantLinear)
    assert all(row.sqnr_db is None for row in record.layers)


def test_bias_correction_removes_the_mean_output_shift(trained_cnn, calib) -> None:
    errors, sqnrs = {}, {}
    for corrected in (False, True):
        model = copy.deepcopy(trained_cnn[0])
        config = QuantConfig(weights="int2", activations=None, skip=("conv*",), bias_correction=corrected)
        record = quantize_(model, config, data=calib)
        errors[corrected] = float(probe_layers(model, calib)["fc1"].mean_error.abs().mean())
        sqnrs[corrected] = record["fc1"].sqnr_db
        assert record["fc1"].bias_corrected is corrected
    assert errors[True] < 0.05 * errors[False]
    assert sqnrs[True] > sqnrs[False]


def test_config_round_trips_through_dict() -> None:
    config = QuantConfig(weights="int4", granularity="per_group:16", observer="mse", overrides={"fc1": "int8"})
    assert QuantConfig.from_dict(config.to_dict()) == config


def test_activations_without_calibration_data_is_a_config_error(cnn: nn.Module) -> None:
    with pytest.raises(ConfigError, match=r"QuantConfig.activations='int8' needs calibration data"):
        quantize_(cnn, QuantConfig(activations="int8"))


def test_empty_calibration_set_is_a_data_error_naming_it(cnn: nn.Module) -> None:
    empty = ArrayDataset(np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64), name="digits/empty")
    with pytest.raises(DataError, match="digits/empty"):
        quantize_(cnn, QuantConfig(), data=empty)


def test_skip_glob_matching_nothing_names_it(cnn: nn.Module) -> None:
    with pytest.raises(ConfigError, match=r"QuantConfig.skip: selector 'head\*' matches no quantizable layer"):
        quantize_(cnn, QuantConfig(activations=None, skip=("head*",)))
    assert not isinstance(cnn.fc1, QuantLinear)  # nothing changed


def test_group_size_not_dividing_names_the_layer(cnn: nn.Module) -> None:
    with pytest.raises(ConfigError, match=r"conv1: group_size 4 does not divide its 1 input channels"):
        quantize_(cnn, QuantConfig(activations=None, granularity="per_group:4"))


def test_invalid_weight_type_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"QuantConfig.weights .*'int3'"):
        QuantConfig(weights="int3")
