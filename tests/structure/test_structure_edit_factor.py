"""separable_ and decompose_: exact at full rank, Eckart-Young optimal at rank r, fewer MACs where applied, the
timing decision injected (never a wall-clock outcome), errors for bad selectors/configs, and save/load."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import max_abs_diff
from netslim.errors import ConfigError
from netslim.models import build_model, list_models, load_model, save_model
from netslim.structure import DecomposeConfig, SeparableConfig, decompose_, separable_
from netslim.structure.decompose import torch_timer
from netslim.structure.lowrank import ConvMethod, factorise, product
from netslim.structure.separable import separate

SHAPE = (1, 8, 8)


def _x(n: int = 4, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(1))


def _out(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def _round_trip(model: nn.Module, x: torch.Tensor, tmp_path) -> nn.Module:
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert max_abs_diff(_out(loaded, x), _out(model, x)) == 0.0
    return loaded


def _fast(original: nn.Module, factored: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    return 2.0, 1.0


def _slow(original: nn.Module, factored: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    return 1.0, 1.5


def _tail_error(matrix: torch.Tensor, rank: int) -> float:
    """The Eckart-Young optimum: the smallest relative Frobenius error of any rank-``rank`` approximation."""
    s = torch.linalg.svdvals(matrix.double())
    return float(s[rank:].square().sum().sqrt() / s.square().sum().sqrt())


def test_separable_on_seed_cnn_conv2_lowers_macs_and_params(tmp_path) -> None:
    model = build_model("seed_cnn", SHAPE)
    x = _x()
    record = separable_(model, SeparableConfig(layers=("conv2",)), example=x)
    assert model.conv2.depthwise.groups == 32 and model.conv2.pointwise.kernel_size == (1, 1)
    assert record.macs_after < record.macs_before and record.params_after < record.params_before
    (factor,) = record.factors
    assert factor.applied and factor.rank == 1 and 0 < factor.weight_error < 1 and factor.output_mse > 0
    assert record.layers[0].new_shape == (64, 32, 32, 3, 3)
    loaded = _round_trip(model, x, tmp_path)
    assert loaded.conv2.depthwise.groups == 32


def test_separable_fit_is_exact_at_full_rank_and_per_channel_optimal() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    x = _x(2, (4, 9, 9))
    pair, error = separate(conv, rank=9)
    with torch.no_grad():
        assert error < 1e-6 and max_abs_diff(pair(x), conv(x)) < 1e-4
    _, error = separate(conv, rank=2)
    tails = [
        torch.linalg.svdvals(conv.weight.detach()[:, c].reshape(6, 9).double())[2:].square().sum() for c in range(4)
    ]
    assert error == pytest.approx(float(sum(tails).sqrt() / conv.weight.detach().double().norm()), rel=1e-6)


def test_separable_auto_replaces_only_dense_kxk_convs(tmp_path) -> None:
    model = build_model("res_cnn", SHAPE)
    record = separable_(model, SeparableConfig(layers="auto", rank=1), example=_x())
    replaced = {f.name for f in record.factors if f.applied}
    assert replaced == {"stem.0", "block1.conv1", "block1.conv2", "down.0", "block2.conv1", "block2.conv2"}
    assert isinstance(model.mix.depthwise, nn.Conv2d) and isinstance(model.mix.pointwise, nn.Conv2d)
    assert record.macs_after < 0.3 * record.macs_before
    _round_trip(model, _x(), tmp_path)


def test_separable_keeps_layers_whose_error_is_too_large() -> None:
    model = build_model("seed_cnn", SHAPE)
    record = separable_(model, SeparableConfig(layers=("conv2",), max_weight_error=0.1), example=_x())
    assert not record.factors[0].applied and "max_weight_error" in record.factors[0].reason
    assert isinstance(model.conv2, nn.Conv2d) and record.layers == ()


def test_separable_errors() -> None:
    model = build_model("res_cnn", SHAPE)
    with pytest.raises(ConfigError, match="'fc' is a Linear"):
        separable_(model, SeparableConfig(layers=("fc",)), example=_x())
    with pytest.raises(ConfigError, match="mix.pointwise.*1x1"):
        separable_(model, SeparableConfig(layers=("mix.pointwise",)), example=_x())
    with pytest.raises(ConfigError, match="mix.depthwise.*groups=16"):
        separable_(model, SeparableConfig(layers=("mix.depthwise",)), example=_x())
    with pytest.raises(ConfigError, match="SeparableConfig.rank"):
        SeparableConfig(rank=0)
    with pytest.raises(ConfigError, match="SeparableConfig.max_weight_error"):
        SeparableConfig(max_weight_error=2.0)


def test_decompose_lenet_fc1_energy_lowers_macs(tmp_path) -> None:
    model = build_model("lenet_300_100", SHAPE)
    x = _x()
    record = decompose_(model, DecomposeConfig(energy=0.9, layers=("fc1",)), example=x, timer=_fast)
    (factor,) = record.factors
    assert factor.applied and factor.method == "linear_svd" and factor.rank < factor.max_rank == 64
    assert (factor.median_ms_before, factor.median_ms_after, factor.speedup) == (2.0, 1.0, 2.0)
    s = torch.linalg.svdvals(build_model("lenet_300_100", SHAPE).fc1.weight.double())
    assert factor.macs_after < factor.macs_before and record.macs_after < record.macs_before
    assert record.layers[0].new_shape == (300, factor.rank, 64)
    assert float(s[0]) > 0  # the energy rule: the least rank keeping 90% of sum(s^2)
    w = model.fc1[1].weight @ model.fc1[0].weight
    kept = torch.linalg.svdvals(w.double())[: factor.rank].square().sum()
    assert kept >= 0.9 * s.square().sum() - 1e-6
    loaded = _round_trip(model, x, tmp_path)
    assert isinstance(loaded.fc1, nn.Sequential) and loaded.fc1[0].out_features == factor.rank


def test_decompose_is_not_applied_when_measured_slower() -> None:
    model = build_model("lenet_300_100", SHAPE)
    reference = _out(model, _x())
    record = decompose_(model, DecomposeConfig(rank=8, min_speedup=1.2), example=_x(), timer=_slow)
    assert [f.name for f in record.factors] == ["fc1", "fc2", "fc3"]
    assert not any(f.applied for f in record.factors) and record.layers == ()
    assert all("min_speedup 1.2" in f.reason and f.median_ms_after == 1.5 for f in record.factors)
    assert isinstance(model.fc1, nn.Linear) and max_abs_diff(_out(model, _x()), reference) == 0.0


def test_decompose_skips_ranks_that_save_no_macs() -> None:
    model = build_model("seed_mlp", SHAPE)
    calls: list[str] = []
    record = decompose_(
        model, DecomposeConfig(rank=60), example=_x(), timer=lambda a, b, x: calls.append("t") or (2.0, 1.0)
    )
    fc1 = record.factors[0]
    assert not fc1.applied and "saves no MACs" in fc1.reason and fc1.median_ms_before is None
    assert len(calls) == 0  # fc2 at rank 10 (its full rank) saves nothing either: never timed


@pytest.mark.parametrize("conv", [ConvMethod.CHANNEL, ConvMethod.SPATIAL])
def test_full_rank_reproduces_and_rank_r_is_eckart_young_optimal(conv: ConvMethod) -> None:
    layer = nn.Conv2d(6, 8, 3, stride=2, padding=1)
    x = _x(2, (6, 9, 9))
    w = layer.weight.detach()
    matrix = w.reshape(8, -1) if conv is ConvMethod.CHANNEL else w.permute(1, 2, 0, 3).reshape(18, 24)
    full = factorise(layer, min(matrix.shape), conv)
    assert max_abs_diff(full(x), layer(x)) < 1e-4
    low = factorise(layer, 3, conv)
    error = float((product(low, conv) - w.double()).norm() / w.double().norm())
    assert error == pytest.approx(_tail_error(matrix, 3), rel=1e-6)


def test_linear_full_rank_and_eckart_young() -> None:
    layer = nn.Linear(20, 12)
    x = torch.randn(5, 20)
    assert max_abs_diff(factorise(layer, 12)(x), layer(x)) < 1e-4
    low = factorise(layer, 4)
    error = float((product(low) - layer.weight.double()).norm() / layer.weight.double().norm())
    assert error == pytest.approx(_tail_error(layer.weight, 4), rel=1e-6)


def test_decompose_conv_model_without_timing_round_trips(tmp_path) -> None:
    model = build_model("seed_cnn", SHAPE)
    record = decompose_(model, DecomposeConfig(rank=4, conv="spatial", ignore=("fc*",), measure=False), example=_x())
    applied = {f.name: f for f in record.factors if f.applied}
    assert set(applied) == {"conv2"} and applied["conv2"].method == "spatial_svd"
    assert model.conv2[0].kernel_size == (3, 1) and model.conv2[1].kernel_size == (1, 3)
    assert "saves no MACs" in record.notes["conv1"]
    _round_trip(model, _x(), tmp_path)


def test_decompose_skips_transformer_internals_but_not_the_head(tmp_path) -> None:
    model = build_model("tiny_transformer", SHAPE)
    record = decompose_(model, DecomposeConfig(rank=2, measure=False), example=_x())
    assert "fused fast path" in record.notes["encoder.layers.0.linear1"]
    assert "fused fast path" in record.notes["encoder.layers.0.self_attn.out_proj"]
    assert {f.name for f in record.factors if f.applied} == {"embed", "head"}  # patch conv: channel SVD
    _round_trip(model, _x(), tmp_path)


def test_torch_timer_returns_two_medians() -> None:
    timer = torch_timer(DecomposeConfig(warmup=1, repeats=3))
    before, after = timer(nn.Linear(8, 8), factorise(nn.Linear(8, 8), 2), torch.randn(2, 8))
    assert before > 0 and after > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rank": 4, "energy": 0.5}, "DecomposeConfig.rank and DecomposeConfig.energy"),
        ({"rank": 0}, "DecomposeConfig.rank"),
        ({"energy": 0.0}, "DecomposeConfig.energy"),
        ({"conv": "tucker"}, "DecomposeConfig.conv"),
        ({"layers": "fc1"}, "DecomposeConfig.layers"),
        ({"min_speedup": 0}, "DecomposeConfig.min_speedup"),
        ({"runtime": "tvm"}, "DecomposeConfig.runtime"),
        ({"threads": 0}, "DecomposeConfig.threads"),
    ],
)
def test_decompose_config_validates_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        DecomposeConfig(**kwargs)


def test_decompose_selector_errors() -> None:
    model = build_model("seed_mlp", SHAPE)
    with pytest.raises(ConfigError, match="matches no Linear / Conv2d"):
        decompose_(model, DecomposeConfig(layers=("conv*",)), example=_x())
    with pytest.raises(ConfigError, match="'act1' is a ReLU"):
        decompose_(model, DecomposeConfig(layers=("act1",)), example=_x())
    assert DecomposeConfig().energy == 0.9
    assert DecomposeConfig.from_dict(DecomposeConfig(rank=3).to_dict()) == DecomposeConfig(rank=3)


def test_onnxruntime_timer_returns_two_medians() -> None:
    pytest.importorskip("onnxruntime")
    timer = torch_timer(DecomposeConfig(runtime="onnxruntime", warmup=1, repeats=3))
    layer = nn.Conv2d(4, 8, 3, padding=1)
    before, after = timer(layer, factorise(layer, 2), torch.randn(1, 4, 6, 6))
    assert before > 0 and after > 0


@pytest.mark.parametrize("name", [entry.name for entry in list_models()])
def test_every_zoo_model_decomposes_and_round_trips(name: str, tmp_path) -> None:
    model = build_model(name, SHAPE)
    record = decompose_(model, DecomposeConfig(rank=2, measure=False), example=_x())
    assert any(f.applied for f in record.factors) and record.macs_after < record.macs_before
    _round_trip(model, _x(), tmp_path)
