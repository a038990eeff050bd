"""Attention-head pruning: head groups (Q/K/V rows + out-proj columns per head) on Hugging Face BERT and ViT, the
exactness contract (removing a silenced head leaves outputs unchanged), MACs, save/load, and nn.MultiheadAttention
kept frozen with its reason."""

from __future__ import annotations

import pytest
import torch

from netslim.analyze import profile
from netslim.errors import ConfigError
from netslim.models import build_model, load_model, save_model
from netslim.structure import (
    PruneConfig,
    RemoveChannelsConfig,
    analyze_structure,
    group_importance,
    prune_,
    remove_channels_,
)

pytest.importorskip("transformers", reason="head pruning tests need the hf extra: pip install 'netslim[hf]'")

from zoo.hf_zoo import _TEXT_SMALL, build, logits

# (zoo name, attention module of layer 0, its q, v, out projections relative to it)
ATTENTION = {
    "bert": ("bert.encoder.layer.0.attention.self", "query", "value", "bert.encoder.layer.0.attention.output.dense"),
    "vit": ("vit.layers.0.attention", "q_proj", "v_proj", "vit.layers.0.attention.o_proj"),
}
HEAD_DIM = 8  # hidden 32 / 4 heads in hf_zoo's small configs


def make(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    if name == "bert-eager":  # attention written as matmul + softmax + matmul instead of sdpa
        import transformers

        torch.manual_seed(0)
        config = transformers.BertConfig(**_TEXT_SMALL, attn_implementation="eager")
        return transformers.BertForSequenceClassification(config).eval(), torch.randint(2, 128, (2, 16))
    return build(name)


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return logits(model.eval()(x))


def silence_head(model: torch.nn.Module, name: str, head: int) -> None:
    """Zero head ``head``'s V rows (and bias) and out-proj columns: its contribution is exactly zero."""
    attn, _, v, out = ATTENTION[name.split("-")[0]]
    rows = slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)
    with torch.no_grad():
        value = model.get_submodule(f"{attn}.{v}")
        value.weight[rows] = 0.0
        if value.bias is not None:
            value.bias[rows] = 0.0
        model.get_submodule(out).weight[:, rows] = 0.0


@pytest.mark.parametrize("name", ["bert", "vit"])
def test_head_group_couples_qkv_rows_and_out_columns(name: str) -> None:
    model, x = make(name)
    attn, q, v, out = ATTENTION[name]
    group = analyze_structure(model, x).group(f"{attn}.{q}")
    assert group.is_heads and group.attention == (attn,) and group.head_dim == HEAD_DIM
    assert group.size == 4 and len(group.prunable) == 4
    sides = {(m.module, m.dim.value) for m in group.members}
    assert {(f"{attn}.{q}", "out"), (f"{attn}.{v}", "out"), (out, "in")} <= sides and len(sides) == 4
    assert all(m.channels == tuple(p // HEAD_DIM for p in range(32)) for m in group.members)
    assert f"attention heads of {attn}: Q/K/V rows and out-proj columns per head" in group.explain()


@pytest.mark.parametrize("name", ["bert", "bert-eager", "vit"])
def test_removing_a_silenced_head_leaves_outputs_unchanged(name: str) -> None:
    model, x = make(name)
    attn, q, _, out = ATTENTION[name.split("-")[0]]
    silence_head(model, name, head=1)
    reference = run(model, x)
    # any position of head 1: the whole head
    record = remove_channels_(model, RemoveChannelsConfig(channels={f"{attn}.{q}": [1 * HEAD_DIM]}), example=x)
    assert [(g.before, g.after, g.removed) for g in record.groups] == [(4, 3, (1,))]
    torch.testing.assert_close(run(model, x), reference, rtol=1e-5, atol=1e-5)
    assert model.get_submodule(f"{attn}.{q}").weight.shape == (24, 32)
    assert model.get_submodule(out).weight.shape == (32, 24)
    assert model.get_submodule(attn).num_attention_heads == 3


@pytest.mark.parametrize("name", ["bert", "vit"])
def test_pruning_half_the_heads_lowers_macs_and_round_trips(tmp_path, name: str) -> None:
    model, x = make(name)
    macs_before = profile(model, example=x, measure_latency=False).total_macs
    record = prune_(model, PruneConfig(ratio=0.0, heads=0.5), example=x)
    assert [(g.before, g.after) for g in record.groups] == [(4, 2), (4, 2)]  # heads only: ratio=0 keeps channels
    out = run(model, x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    assert record.macs_after == profile(model, example=x, measure_latency=False).total_macs < macs_before
    attn = ATTENTION[name][0]
    assert model.netslim_arch.heads[attn] == 2
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.get_submodule(attn).num_attention_heads == 2
    torch.testing.assert_close(run(loaded, x), out, rtol=1e-5, atol=1e-5)


def test_head_importance_sums_the_coupled_weights() -> None:
    model, x = make("bert")
    attn, q, v, out = ATTENTION["bert"]
    group = analyze_structure(model, x).group(f"{attn}.{q}")
    rows = slice(2 * HEAD_DIM, 3 * HEAD_DIM)
    expected = sum(
        float(model.get_submodule(f"{attn}.{p}").weight[rows].detach().abs().sum()) for p in ("query", "key", v)
    )
    expected += float(model.get_submodule(out).weight[:, rows].detach().abs().sum())
    assert float(group_importance(model, group, "l1")[2]) == pytest.approx(expected, rel=1e-5)
    silence_head(model, "bert", head=3)
    assert int(group_importance(model, group, "l2").argmin()) == 3


def test_heads_ratio_is_validated_and_zero_keeps_every_head() -> None:
    with pytest.raises(ConfigError, match="PruneConfig.heads"):
        PruneConfig(heads=1.5)
    model, x = make("bert")
    record = prune_(model, PruneConfig(ratio=0.5, heads=0.0, round_to=4), example=x)
    assert all(g.after == g.before for g in record.groups if g.name.endswith("query"))
    assert model.get_submodule(ATTENTION["bert"][0]).num_attention_heads == 4


def test_multihead_attention_heads_are_frozen_with_the_reason() -> None:
    torch.manual_seed(0)
    model, x = build_model("tiny_transformer", (1, 8, 8)).eval(), torch.rand(2, 1, 8, 8)
    group = analyze_structure(model, x).group("encoder.layers.0.self_attn")
    assert group.is_frozen and "requires embed_dim == num_heads * head_dim" in group.explain()
    prune_(model, PruneConfig(ratio=0.5), example=x)
    assert model.encoder.layers[0].self_attn.num_heads == 4 and run(model, x).shape == (2, 10)
