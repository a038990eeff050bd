"""set_kernel_ and swap_activation_: exact where the edit preserves the function, trainable afterwards, errors that
name the layer, and edited zoo models that save and load without pickle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import max_abs_diff
from netslim.errors import ConfigError
from netslim.models import build_model, load_model, save_model
from netslim.structure import ActivationConfig, KernelConfig, SwapActivationConfig, set_kernel_, swap_activation_
from netslim.train import TrainConfig, evaluate, train_

SHAPE = (1, 8, 8)


def _x(n: int = 4) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1))


def _out(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def _round_trip(model: nn.Module, x: torch.Tensor, tmp_path) -> nn.Module:
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert max_abs_diff(_out(loaded, x), _out(model, x)) == 0.0
    return loaded


def test_larger_kernel_with_same_padding_embeds_the_old_one_exactly(tmp_path) -> None:
    model = build_model("seed_cnn_same", SHAPE)
    x = _x()
    reference = _out(model, x)
    record = set_kernel_(model, KernelConfig(layers=("conv*",), kernel_size=5), example=x)
    assert model.conv1.kernel_size == model.conv2.kernel_size == (5, 5)
    assert max_abs_diff(_out(model, x), reference) < 1e-5
    assert [r.name for r in record.layers] == ["conv1", "conv2"]
    row = record.layers[0]
    assert (row.old_shape, row.new_shape) == ((32, 1, 3, 3), (32, 1, 5, 5))
    assert row.params_after == 32 * 25 + 32 and row.macs_after > row.macs_before
    assert record.output_mse is not None and record.output_mse < 1e-10
    loaded = _round_trip(model, x, tmp_path)
    assert loaded.conv2.kernel_size == (5, 5)


def test_seed_4_1_2_kernel_3_to_5_resizes_fc1_and_trains(digits, tmp_path) -> None:
    model = build_model("seed_cnn", digits.input_shape)
    x = torch.from_numpy(digits.train.x[:8])
    record = set_kernel_(model, KernelConfig(layers=("conv1",), kernel_size=5, stride=1, padding="same"), example=x)
    # 8x8 -> conv 5x5 same 8x8 -> pool 4x4 -> conv2 3x3 valid 2x2: fc1 reads 64 * 2 * 2 features instead of 64
    assert model.fc1.in_features == 256
    assert {r.name: r.new_shape for r in record.layers} == {"conv1": (32, 1, 5, 5), "fc1": (128, 256)}
    assert "resampled from a 1x1 to a 2x2 map" in record.notes["fc1"]
    train_(model, digits, TrainConfig(epochs=4, lr=3e-3, batch_size=64))
    assert evaluate(model, digits.test).accuracy > 0.9
    _round_trip(model, torch.from_numpy(digits.test.x[:16]), tmp_path)


def test_smaller_kernel_takes_the_centre_crop_and_stride_shrinks_the_map(tmp_path) -> None:
    model = build_model("seed_cnn_same", SHAPE, kernel_size=5)
    old = model.conv1.weight.detach().clone()
    set_kernel_(model, KernelConfig(layers=("conv1",), kernel_size=3), example=_x())
    assert torch.equal(model.conv1.weight, old[:, :, 1:4, 1:4])
    record = set_kernel_(model, KernelConfig(layers=("conv1",), stride=2, padding="same"), example=_x())
    assert model.conv1.padding == (1, 1) and model.conv1.stride == (2, 2)
    assert model.fc1.in_features == 64  # 8x8 -> 4x4 -> pool 2x2 -> conv2 'same' 2x2 -> pool 1x1
    assert record.layers[-1].old_shape == (128, 256) and record.macs_after < record.macs_before
    _round_trip(model, _x(), tmp_path)


def test_resampled_linear_keeps_the_response_to_a_constant_map() -> None:
    model = build_model("seed_cnn_same", SHAPE)
    model.conv2 = nn.Identity()  # fc1 now reads conv1's map pooled twice: 32 x 2 x 2
    model.fc1 = nn.Linear(32 * 2 * 2, 128)
    x = torch.ones(1, *SHAPE)
    with torch.no_grad():
        model.conv1.weight.zero_()
        model.conv1.bias.fill_(1.0)  # every map is constant
    before = _out(model, x)
    set_kernel_(model, KernelConfig(layers=("conv1",), stride=2, padding="same"), example=x)
    assert model.fc1.in_features == 32  # 8x8 -> stride 2: 4x4 -> pool 2x2 -> pool 1x1
    assert max_abs_diff(_out(model, x), before) < 1e-4


def test_set_kernel_errors_name_the_layer_and_leave_the_model_untouched() -> None:
    model = build_model("seed_cnn", SHAPE)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match="conv2"):  # 8x8 -> 4x4 -> pool 2x2: conv2's 3x3 map is empty
        set_kernel_(model, KernelConfig(layers=("conv1",), kernel_size=5), example=_x())
    with pytest.raises(ConfigError, match="conv1.*empty"):
        set_kernel_(model, KernelConfig(layers=("conv1",), kernel_size=9, padding=0), example=_x())
    with pytest.raises(ConfigError, match="'fc1' is a Linear"):
        set_kernel_(model, KernelConfig(layers=("fc1",), kernel_size=5), example=_x())
    with pytest.raises(ConfigError, match="matches no Conv2d"):
        set_kernel_(model, KernelConfig(layers=("conv9",), kernel_size=5), example=_x())
    with pytest.raises(ConfigError, match="odd kernel"):
        set_kernel_(model, KernelConfig(layers=("conv1",), kernel_size=4, stride=2, padding="same"), example=_x())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert model.conv1.kernel_size == (3, 3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kernel_size": 0}, "KernelConfig.kernel_size"),
        ({"stride": (1, 2, 3)}, "KernelConfig.stride"),
        ({"padding": "full"}, "KernelConfig.padding"),
        ({"padding": -1}, "KernelConfig.padding"),
        ({}, "KernelConfig"),
        ({"layers": (), "kernel_size": 5}, "KernelConfig.layers"),
    ],
)
def test_kernel_config_validates_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        KernelConfig(**{"layers": ("conv1",), **kwargs})


def test_seed_4_2_2_relu_to_tanh_matches_the_tanh_model(tmp_path) -> None:
    model = build_model("seed_mlp", SHAPE)
    record = swap_activation_(model, SwapActivationConfig({"act1": "tanh"}), example=_x())
    assert record.notes == {"act1": "ReLU -> Tanh"} and record.params_after == record.params_before
    reference = build_model("seed_mlp_tanh", SHAPE)
    reference.load_state_dict(model.state_dict())
    assert max_abs_diff(_out(model, _x()), _out(reference, _x())) == 0.0
    assert isinstance(_round_trip(model, _x(), tmp_path).act1, nn.Tanh)


def test_swap_by_type_and_glob_with_a_config(tmp_path) -> None:
    model = build_model("res_cnn", SHAPE)
    record = swap_activation_(model, SwapActivationConfig({nn.ReLU: "gelu"}))
    assert len(record.layers) == 7 and record.macs_before is None
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    swap_activation_(model, SwapActivationConfig({"block*": ActivationConfig("leaky_relu", negative_slope=0.2)}))
    assert model.block1.act1.negative_slope == 0.2 and isinstance(model.stem[2], nn.GELU)
    loaded = _round_trip(model, _x(), tmp_path)
    assert isinstance(loaded.block2.act2, nn.LeakyReLU) and loaded.block2.act2.negative_slope == 0.2


def test_transformer_fused_activation_is_swapped_and_restored(tmp_path) -> None:
    model = build_model("tiny_transformer", SHAPE)
    x = _x()
    reference = _out(model, x)
    record = swap_activation_(model, SwapActivationConfig({"*": "tanh"}), example=x)
    assert sorted(record.notes) == ["encoder.layers.0.activation", "encoder.layers.1.activation"]
    layer = model.encoder.layers[0]
    assert isinstance(layer.activation, nn.Tanh) and layer.activation_relu_or_gelu == 0
    assert max_abs_diff(_out(model, x), reference) > 1e-4
    _round_trip(model, x, tmp_path)
    swap_activation_(model, SwapActivationConfig({nn.Tanh: "gelu"}))
    assert layer.activation_relu_or_gelu == 2
    assert max_abs_diff(_out(model, x), reference) < 1e-5


def test_swap_activation_errors() -> None:
    model = build_model("seed_mlp", SHAPE)
    with pytest.raises(ConfigError, match="'fc1' is a Linear, not an activation"):
        swap_activation_(model, SwapActivationConfig({"fc1": "tanh"}))
    with pytest.raises(ConfigError, match="matches no activation"):
        swap_activation_(model, SwapActivationConfig({"act9": "tanh"}))
    with pytest.raises(ConfigError, match="no Tanh activation"):
        swap_activation_(model, SwapActivationConfig({nn.Tanh: "relu"}))
    with pytest.raises(ConfigError, match="not a swappable activation type"):
        swap_activation_(model, SwapActivationConfig({nn.Linear: "relu"}))
    with pytest.raises(ConfigError, match="ActivationConfig.name"):
        swap_activation_(model, SwapActivationConfig({"act1": "swish"}))
    with pytest.raises(ConfigError, match="ActivationConfig.approximate"):
        ActivationConfig("gelu", approximate="fast")
    assert isinstance(model.act1, nn.ReLU)
