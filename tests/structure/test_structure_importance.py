"""Importance scores, depth removal and iterative pruning."""

from __future__ import annotations

import pytest
import torch

from netslim.errors import ConfigError, UnsupportedLayerError
from netslim.models import build_model, load_model, save_model
from netslim.structure import (
    Importance,
    IterativePruneConfig,
    PruneConfig,
    RemoveBlocksConfig,
    analyze_structure,
    group_importance,
    prune_,
    prune_iteratively_,
    remove_blocks_,
)
from netslim.train import TrainConfig, evaluate

X = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def test_l1_and_l2_rank_the_larger_norm_channel_first() -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    with torch.no_grad():
        model.fc1.weight[3] = 1.0
        model.fc1.weight[5] = 0.0
        model.fc2.weight[:, 5] = 0.0
    group = analyze_structure(model, X).group("fc1")
    for kind in (Importance.L1, Importance.L2):
        score = group_importance(model, group, kind)
        assert int(score.argmax()) == 3 and int(score.argmin()) == 5, kind
    assert float(group_importance(model, group, "l1")[3]) == pytest.approx(
        64.0 + float(model.fc2.weight[:, 3].abs().sum())
    )


def test_bn_scale_uses_gamma_and_random_is_seeded() -> None:
    model = build_model("res_cnn", (1, 8, 8))
    with torch.no_grad():
        model.block1.bn1.weight.fill_(1.0)
        model.block1.bn1.weight[2] = 5.0
    group = analyze_structure(model, X).group("block1.conv1")
    assert int(group_importance(model, group, Importance.BN_SCALE).argmax()) == 2
    a, b = (group_importance(model, group, "random", seed=0) for _ in range(2))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, group_importance(model, group, "random", seed=1))


def test_taylor_needs_data_and_uses_it(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    with pytest.raises(ConfigError, match="taylor"):
        prune_(model, PruneConfig(importance="taylor"), example=X)
    record = prune_(model, PruneConfig(ratio=0.5, importance="taylor", taylor_batches=2), example=X, data=digits)
    assert model.fc1.out_features == 64 and record.groups[0].removed


def test_remove_blocks_replaces_a_residual_block_and_round_trips(tmp_path) -> None:
    model = build_model("res_cnn", (1, 8, 8)).eval()
    record = remove_blocks_(model, RemoveBlocksConfig(blocks=("block1",)), example=X)
    assert isinstance(model.block1, torch.nn.Identity)
    assert record.layers[0].params_before > 0 and record.macs_after < record.macs_before
    assert model.netslim_arch.replaced == {"block1": "identity"}
    prune_(model, PruneConfig(ratio=0.5), example=X)  # removal and pruning compose, and both survive save/load
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert isinstance(loaded.block1, torch.nn.Identity)
    torch.testing.assert_close(loaded(X), model(X), rtol=0, atol=0)


def test_remove_blocks_refuses_shape_changing_and_unknown_blocks() -> None:
    model = build_model("res_cnn", (1, 8, 8))
    with pytest.raises(UnsupportedLayerError, match="mix"):
        remove_blocks_(model, RemoveBlocksConfig(blocks=("mix",)), example=X)
    with pytest.raises(ConfigError, match="block9"):
        remove_blocks_(model, RemoveBlocksConfig(blocks=("block9",)), example=X)


def test_prune_iteratively_compounds_to_the_ratio_and_finetunes(digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    record = prune_iteratively_(
        model,
        IterativePruneConfig(prune=PruneConfig(ratio=0.5), steps=2, finetune=TrainConfig(epochs=1, lr=3e-3)),
        example=X,
        data=digits,
    )
    assert len(record.steps) == len(record.finetune) == 2
    assert 60 <= model.fc1.out_features <= 68
    assert evaluate(model, digits.test).accuracy > 0.5


def test_docstring_examples_run() -> None:
    import doctest

    from netslim.structure import depth, graph, prune

    for module in (graph, prune, depth):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
