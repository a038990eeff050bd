"""The transform contract: one registry, one Record, recipes as data, and quantized models that save and load."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import netslim
from netslim.compress import SparsityConfig
from netslim.data import calibration_subset
from netslim.errors import ConfigError
from netslim.export import ExportConfig
from netslim.models import build_model, load_model, save_model
from netslim.pipeline import OptimizeConfig
from netslim.quant import QATConfig, QuantConfig
from netslim.structure import IterativePruneConfig, PruneConfig, SwapActivationConfig
from netslim.train import DistillConfig, TrainConfig
from netslim.transform import Recipe, Record, apply_, apply_recipe, registered


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_technique_is_registered_under_its_verb() -> None:
    verbs = registered()
    expected = {
        "PruneConfig": "prune_",
        "ResizeConfig": "resize_",
        "IterativePruneConfig": "prune_iteratively_",
        "RemoveBlocksConfig": "remove_blocks_",
        "KernelConfig": "set_kernel_",
        "SwapActivationConfig": "swap_activation_",
        "SeparableConfig": "separable_",
        "DecomposeConfig": "decompose_",
        "QuantConfig": "quantize_",
        "QATConfig": "qat_",
        "SparsityConfig": "sparsify_",
        "SharingConfig": "share_weights_",
        "DeepCompressionConfig": "deep_compress_",
        "TrainConfig": "finetune_",
    }
    assert expected.items() <= verbs.items()
    for verb in set(expected.values()):
        assert callable(getattr(netslim, verb)), verb  # every verb is public at the top level


def test_apply_dispatches_to_the_same_handler_as_the_verb(digits) -> None:
    a = build_model("seed_cnn", digits.input_shape)
    b = copy.deepcopy(a)
    example = torch.from_numpy(digits.train.x[:2])
    direct = netslim.prune_(a, PruneConfig(ratio=0.5), example=example)
    through = apply_(b, PruneConfig(ratio=0.5), example=example)
    assert isinstance(direct, Record) and direct.to_dict() == through.to_dict()
    assert _same_state(a, b)
    assert direct.macs_after < direct.macs_before and direct["conv1"].change == "pruned"
    json.dumps(direct.to_dict())  # one to_dict, JSON-ready


def test_apply_refuses_what_is_not_a_technique() -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    with pytest.raises(ConfigError, match="no transform is registered for ExportConfig"):
        apply_(model, ExportConfig())
    with pytest.raises(ConfigError, match="expects a netslim Config"):
        apply_(model, {"ratio": 0.5})  # type: ignore[arg-type]


def test_structural_verbs_take_the_example_from_data_and_say_when_neither_is_given(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    record = netslim.prune_(model, PruneConfig(ratio=0.25), data=digits)
    assert record.params_after < record.params_before
    with pytest.raises(ConfigError, match="needs an example input"):
        netslim.prune_(build_model("seed_mlp", digits.input_shape), PruneConfig(ratio=0.25))


RECIPE = """
steps:
  - prune: {ratio: 0.5, importance: taylor, per_layer: {fc1: 0.25}}
  - finetune: {epochs: 2, lr: 0.003, batch_size: 64, distill: {temperature: 4.0, alpha: 0.7}}
  - quantize: {weights: int8, activations: uint8, calibration_samples: 128, reduce_range: false}
export: {quant_format: qoperator}
seed: 3
"""


def test_a_recipe_is_data_and_round_trips_through_yaml(tmp_path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    recipe = Recipe.from_yaml(path)
    assert [type(s).__name__ for s in recipe.steps] == ["PruneConfig", "TrainConfig", "QuantConfig"]
    assert recipe.steps[1].distill == DistillConfig(temperature=4.0, alpha=0.7)
    assert recipe.export == ExportConfig(quant_format="qoperator") and recipe.seed == 3
    again = Recipe.from_yaml(recipe.save(tmp_path / "again.yaml"))
    assert again == recipe
    assert Recipe.from_dict(recipe.to_dict()) == recipe


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("steps: [{shrink: {ratio: 0.5}}]", "unknown verb 'shrink'"),
        ("steps: [{prune: {ratio: 1.5}}]", r"PruneConfig.ratio must be in"),
        ("steps: [{prune: {ratoi: 0.5}}]", r"unknown field\(s\) \['ratoi'\]"),
        ("stepz: []", r"unknown recipe field\(s\) \['stepz'\]"),
        ("steps: [{quantize: {weights: int9}}]", "int9"),
    ],
)
def test_a_bad_recipe_names_the_step_and_field(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        Recipe.from_yaml(path)


def test_applying_a_recipe_twice_gives_identical_models(digits) -> None:
    recipe = Recipe.from_mapping(__import__("yaml").safe_load(RECIPE))
    base = build_model("seed_cnn", digits.input_shape)
    runs = []
    for _ in range(2):
        model = copy.deepcopy(base)
        records = apply_recipe(model, recipe, data=digits, teacher=copy.deepcopy(base).eval())
        runs.append(model)
    assert [r.verb for r in records] == ["prune_", "finetune_", "quantize_"]
    assert records[0]["fc1"].new_shape[0] == 96  # per-layer ratio 0.25 of 128 units
    assert _same_state(*runs)
    x = torch.from_numpy(digits.test.x[:16])
    assert torch.equal(runs[0](x), runs[1](x))


@pytest.mark.parametrize("bias_correction", [False, True])
def test_a_quantized_model_saves_and_loads_with_equal_outputs(tmp_path, digits, bias_correction: bool) -> None:
    model = build_model("res_cnn", digits.input_shape)  # BatchNorm after bias-free convs: folded by equalize
    netslim.train_(model, digits, TrainConfig(epochs=1, batch_size=64))
    config = QuantConfig(weights="int4", activations="uint8", equalize=True, bias_correction=bias_correction)
    record = netslim.quantize_(model, config, data=calibration_subset(digits.train, 128))
    assert record.folded and record.bytes_after < record.bytes_before
    x = torch.from_numpy(digits.test.x[:32])
    before = model.eval()(x)
    save_model(model, tmp_path / "q")
    loaded = load_model(tmp_path / "q")
    assert torch.equal(loaded(x), before)
    assert _same_state(model, loaded)


def test_a_qat_model_with_learned_steps_saves_and_loads_with_equal_outputs(tmp_path, digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    config = QATConfig(weights="ternary", activations="uint8", train=TrainConfig(epochs=1, lr=3e-3))
    record = netslim.qat_(model, config, data=digits)
    assert record.accuracy > 0.3 and record.train.epochs
    x = torch.from_numpy(digits.test.x[:32])
    before = model.eval()(x)
    save_model(model, tmp_path / "qat")
    assert torch.equal(load_model(tmp_path / "qat")(x), before)


def test_edits_of_every_kind_save_and_load_bit_identical(tmp_path, digits) -> None:
    model = build_model("seed_cnn", digits.input_shape)
    example = torch.from_numpy(digits.train.x[:2])
    netslim.prune_(model, PruneConfig(ratio=0.25), example=example)
    netslim.swap_activation_(model, SwapActivationConfig({"type:ReLU": "gelu"}), example=example)
    netslim.quantize_(model, QuantConfig(weights="int8", activations=None))
    x = torch.from_numpy(digits.test.x[:8])
    before = model.eval()(x)
    save_model(model, tmp_path / "m")
    assert torch.equal(load_model(tmp_path / "m")(x), before)


def test_iterative_pruning_with_taylor_per_layer_ratios_and_distillation(digits) -> None:
    model = build_model("seed_cnn", digits.input_shape)
    netslim.train_(model, digits, TrainConfig(epochs=2, batch_size=64))
    config = IterativePruneConfig(
        prune=PruneConfig(ratio=0.5, importance="taylor", per_layer={"conv1": 0.25}),
        steps=2,
        finetune=TrainConfig(epochs=1, batch_size=64, distill=DistillConfig()),
    )
    record = netslim.prune_iteratively_(model, config, data=digits)
    assert record.distilled and len(record.steps) == 2
    # each step removes 1 - sqrt(1 - r): the per-layer ratio compounds like the global one
    assert model.conv1.out_channels == 24  # 32 * 0.75 after two compounding steps
    assert model.conv2.out_channels == 32  # 64 * 0.5
    assert record.params_after < record.params_before


def test_optimize_config_reaches_every_quant_field_and_validates_pruning_early() -> None:
    config = OptimizeConfig(
        importance="taylor",
        per_layer={"conv1": 0.25},
        quant=QuantConfig(weights="int4", granularity="per_group:16", activations=None, skip=("fc2",)),
    )
    assert config.pruning(0.5).prune.per_layer == {"conv1": 0.25}
    assert config.pruning(0.5).finetune.distill == config.distill
    assert OptimizeConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="importance"):
        OptimizeConfig(importance="magic")


def test_deep_compression_and_sparsity_follow_the_contract(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    record = netslim.sparsify_(model, SparsityConfig(sparsity=0.8), data=digits)
    assert 0.19 < record.density < 0.21 and record["fc1"].change == "sparsified"
