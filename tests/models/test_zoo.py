from __future__ import annotations

import pytest
import torch

from netslim.errors import ConfigError, ModelLoadError
from netslim.models import build_model, list_models, load_model, save_model

NAMES = [e.name for e in list_models()]
SEED_MODELS = {
    "seed_cnn",
    "seed_cnn_same",
    "seed_cnn_k5",
    "seed_cnn_deep",
    "seed_mlp",
    "seed_mlp_64",
    "seed_mlp_tanh",
    "seed_mlp_l2",
    "lenet_300_100",
    "lenet_5",
    "res_cnn",
    "tiny_transformer",
}


def test_zoo_has_every_model_the_foundation_promises() -> None:
    assert set(NAMES) >= SEED_MODELS


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_every_zoo_model_runs_on_digits_and_mnist_sizes(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, shape).eval()
    out = model(torch.rand(4, *shape))
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()


def test_seed_cnn_matches_the_keras_layer_list() -> None:
    model = build_model("seed_cnn", (1, 28, 28))
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (3, 3)), (64, (3, 3))]
    assert model.fc1.in_features == 64 * 5 * 5 and model.fc1.out_features == 128


def test_lenet_parameter_counts_match_deep_compression() -> None:
    assert sum(p.numel() for p in build_model("lenet_5").parameters()) == 431_080
    assert sum(p.numel() for p in build_model("lenet_300_100").parameters()) == 266_610


def test_seed_variants_differ_as_the_seed_says() -> None:
    assert build_model("seed_cnn_k5").conv1.kernel_size == (5, 5)
    assert build_model("seed_cnn_same").conv1.padding == "same"
    assert build_model("seed_cnn_deep").conv3.out_channels == 128
    assert build_model("seed_mlp_64").fc1.out_features == 64
    assert isinstance(build_model("seed_mlp_tanh").act1, torch.nn.Tanh)


def test_res_cnn_has_add_concat_and_depthwise() -> None:
    model = build_model("res_cnn")
    assert model.mix.depthwise.groups == model.mix.depthwise.in_channels > 1


def test_save_load_round_trip_without_pickle(tmp_path) -> None:
    model = build_model("res_cnn", (1, 8, 8)).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(model(x), loaded(x))


def test_load_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="unknown zoo model 'nope'"):
        build_model("nope")
    with pytest.raises(ModelLoadError, match="model.json"):
        load_model(tmp_path)
    with pytest.raises(ConfigError, match="activation"):
        build_model("seed_mlp", activation="swishy")


def test_binary_mlp_is_binaryconnects_architecture(tmp_path) -> None:
    model = build_model("binary_mlp")
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 1024), (1024, 1024), (1024, 1024), (1024, 10)]
    assert all(m.bias is None for m in linears)  # BatchNorm's shift replaces the bias
    names = list(dict(model.named_children()))
    assert all(names[names.index(f"fc{i}") + 1] == f"bn{i}" for i in range(1, 5))
    small = build_model("binary_mlp", (1, 8, 8), hidden=(32, 16), output_norm=False).eval()
    assert small.fc3.bias is not None and not hasattr(small, "bn3")
    save_model(small, tmp_path / "m")
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(small(x), load_model(tmp_path / "m")(x))
