"""prune_/resize_/remove_channels_: smaller dense models whose forward works, exact when the removed channels
carry nothing, and pruned models that save and load without pickle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netslim.errors import ConfigError
from netslim.models import build_model, list_models, load_model, save_model
from netslim.models.layers import weight_axis
from netslim.structure import (
    Dim,
    PruneConfig,
    RemoveChannelsConfig,
    ResizeConfig,
    analyze_structure,
    prune_,
    remove_channels_,
    resize_,
)

SHAPE = (1, 8, 8)
ZOO = [entry.name for entry in list_models()]


def _x(n: int = 4) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1))


def _randomize_norms(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so that exactness tests are not vacuous."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def _silence(model: nn.Module, example: torch.Tensor, channels: dict[str, list[int]]) -> None:
    """Zero every produced slice (weights, bias, BN affine and mean) of the given output channels."""
    report = analyze_structure(model, example)
    with torch.no_grad():
        for layer, indices in channels.items():
            group = report.group(layer)
            source = next(m for m in group.members if m.module == layer and m.dim is Dim.OUT)
            drop = {source.channels[i] for i in indices}
            for m in group.members:
                if m.dim is not Dim.OUT:
                    continue
                module = model.get_submodule(m.module)
                index = torch.tensor(m.positions(drop), dtype=torch.long)
                module.weight.index_fill_(weight_axis(module, m.dim), index, 0.0)
                for attr in ("bias", "running_mean"):
                    if getattr(module, attr, None) is not None:
                        getattr(module, attr).index_fill_(0, index, 0.0)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_prune_30_percent_shrinks_and_round_trips(name: str, tmp_path) -> None:
    model = build_model(name, SHAPE).eval()
    x = _x()
    reference_shape = model(x).shape
    record = prune_(model, PruneConfig(ratio=0.3), example=x)
    out = model(x)
    assert out.shape == reference_shape
    assert record.macs_after < record.macs_before
    assert record.params_after < record.params_before
    assert record.params_before - record.params_after == sum(r.params_before - r.params_after for r in record.layers)
    assert all(r.new_shape != r.old_shape for r in record.layers)
    loaded = load_model(save_model(model, tmp_path / name))
    torch.testing.assert_close(loaded(x), out, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "channels"),
    [
        ("seed_cnn", {"conv1": [0, 3, 7], "conv2": [2, 10, 63], "fc1": [5, 100]}),
        ("seed_mlp", {"fc1": [0, 1, 64, 127]}),
        ("lenet_300_100", {"fc1": [3, 299], "fc2": [0, 50]}),
        ("res_cnn", {"stem.0": [1, 15], "block1.conv1": [4], "mix.pointwise": [0, 9], "mix.project": [3, 15]}),
        ("res_cnn", {"down.0": [0, 31], "block2.conv1": [7]}),
    ],
)
def test_removing_silent_channels_is_exact(name: str, channels: dict[str, list[int]]) -> None:
    model = build_model(name, SHAPE).eval()
    _randomize_norms(model)
    x = _x()
    _silence(model, x, channels)
    reference = model(x)
    record = remove_channels_(model, RemoveChannelsConfig(channels=channels), example=x)
    assert record.params_after < record.params_before
    torch.testing.assert_close(model(x), reference, rtol=0, atol=1e-5)


def test_res_cnn_concat_removal_slices_both_branches_and_the_consumer() -> None:
    model = build_model("res_cnn", SHAPE).eval()
    remove_channels_(model, RemoveChannelsConfig(channels={"mix.pointwise": [0, 9], "mix.project": [3]}), example=_x())
    assert (model.mix.pointwise.out_channels, model.mix.project.out_channels, model.down[0].in_channels) == (14, 15, 29)
    assert model.mix.bn_a.num_features == 14 and model.mix.bn_b.num_features == 15


def test_residual_coupling_prunes_stem_and_block_together() -> None:
    model = build_model("res_cnn", SHAPE).eval()
    prune_(model, PruneConfig(ratio=0.5), example=_x())
    widths = {model.stem[0].out_channels, model.block1.conv2.out_channels, model.block1.conv1.in_channels}
    widths |= {model.mix.depthwise.out_channels, model.mix.depthwise.groups, model.mix.pointwise.in_channels}
    assert widths == {8}


def test_round_to_yields_multiples_of_8() -> None:
    model = build_model("seed_cnn", SHAPE).eval()
    prune_(model, PruneConfig(ratio=0.3, round_to=8), example=_x())
    widths = [model.conv1.out_channels, model.conv2.out_channels, model.fc1.out_features]
    assert widths == [24, 48, 88]
    assert all(w % 8 == 0 for w in widths)


def test_per_layer_ignore_and_global_scope() -> None:
    model = build_model("seed_cnn", SHAPE).eval()
    prune_(model, PruneConfig(ratio=0.5, per_layer={"conv*": 0.25}, ignore=("fc1",)), example=_x())
    assert (model.conv1.out_channels, model.conv2.out_channels, model.fc1.out_features) == (24, 48, 128)
    model = build_model("seed_cnn", SHAPE).eval()
    record = prune_(model, PruneConfig(ratio=0.5, scope="global"), example=_x())
    removed = sum(g.before - g.after for g in record.groups)
    assert removed == (32 + 64 + 128) // 2
    assert model(_x()).shape == (4, 10)


def test_resize_sets_explicit_widths_and_keeps_the_largest_units() -> None:
    model = build_model("seed_mlp", SHAPE).eval()
    with torch.no_grad():
        model.fc1.weight[7] *= 100.0
    strongest = model.fc1.weight[7].clone()
    record = resize_(model, ResizeConfig(widths={"fc1": 1}), example=_x())
    assert model.fc1.out_features == 1 and model.fc2.in_features == 1
    torch.testing.assert_close(model.fc1.weight[0], strongest)
    assert record.layers[0].name == "fc1" and record.layers[0].new_shape == (1, 64)
    assert model.netslim_arch.shapes["fc1"] == [1, 64]


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_ratio_out_of_range_names_the_field(ratio: float) -> None:
    with pytest.raises(ConfigError, match=r"PruneConfig\.ratio"):
        PruneConfig(ratio=ratio)


@pytest.mark.parametrize(
    ("call", "selector"),
    [
        (lambda m: prune_(m, PruneConfig(per_layer={"nope*": 0.3}), example=_x()), "nope*"),
        (lambda m: prune_(m, PruneConfig(ignore=("conv9",)), example=_x()), "conv9"),
        (lambda m: resize_(m, ResizeConfig(widths={"dense": 3}), example=_x()), "dense"),
    ],
)
def test_selector_matching_nothing_lists_candidates(call, selector: str) -> None:
    with pytest.raises(ConfigError, match="candidate layers: conv1") as info:
        call(build_model("seed_cnn", SHAPE))
    assert repr(selector) in str(info.value)


def test_resize_refuses_frozen_output_and_growth() -> None:
    model = build_model("seed_cnn", SHAPE)
    with pytest.raises(ConfigError, match="model output"):
        resize_(model, ResizeConfig(widths={"fc2": 5}), example=_x())
    with pytest.raises(ConfigError, match="growing"):
        resize_(model, ResizeConfig(widths={"fc1": 500}), example=_x())


def test_config_round_trips_as_data() -> None:
    config = PruneConfig(ratio=0.4, importance="taylor", per_layer={"conv*": 0.2}, ignore=("fc1",), round_to=8)
    assert PruneConfig.from_dict(config.to_dict()) == config
