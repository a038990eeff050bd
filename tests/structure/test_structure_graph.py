"""Dependency groups on exported graphs: coupling through residual adds, concat offsets, flatten blocks, and
freezing (with reasons) wherever the channel mapping is unknown."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netslim.errors import TraceError
from netslim.models import build_model
from netslim.structure import Dim, analyze_structure

X = torch.zeros(2, 1, 8, 8)


def _members(group) -> set[tuple[str, str]]:
    return {(m.module, m.dim.value) for m in group.members}


def test_seed_cnn_groups_and_flatten_block_mapping() -> None:
    report = analyze_structure(build_model("seed_cnn", (1, 8, 8)), X)
    assert [g.name for g in report.prunable] == ["conv1", "conv2", "fc1"]
    conv2 = report.group("conv2")
    assert _members(conv2) == {("conv2", "out"), ("fc1", "in")}
    fc1_in = next(m for m in conv2.members if m.module == "fc1")
    # 8x8 -> conv 6x6 -> pool 3x3 -> conv 'same' 3x3 -> pool 1x1: one feature per channel; check the block rule
    assert fc1_in.channels == tuple(range(64))
    frozen = report.group("fc2")
    assert frozen.is_frozen and "model output" in frozen.explain()


def test_flatten_maps_each_channel_to_a_contiguous_block() -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    report = analyze_structure(model, torch.zeros(2, 1, 4, 4))
    member = next(m for m in report.group("0").members if m.module == "3")
    assert member.channels == tuple(c for c in range(3) for _ in range(16))
    assert "16 positions per channel" in report.group("0").explain()


def test_res_cnn_residual_add_couples_block1_with_the_stem() -> None:
    report = analyze_structure(build_model("res_cnn", (1, 8, 8)), X)
    stem = report.group("stem.0")
    assert {("stem.0", "out"), ("block1.conv2", "out"), ("block1.bn2", "out"), ("mix.depthwise", "out")} <= _members(
        stem
    )
    assert ("block1.conv1", "in") in _members(stem)
    text = stem.explain()
    assert "`add` in block1 couples stem.0 channels and block1.conv2 channels" in text
    assert "depthwise" in text


def test_res_cnn_concat_offsets() -> None:
    report = analyze_structure(build_model("res_cnn", (1, 8, 8)), X)
    cat = report.group("mix.pointwise")
    by_member = {(m.module, m.dim): m.channels for m in cat.members}
    assert by_member[("mix.pointwise", Dim.OUT)] == tuple(range(16))
    assert by_member[("mix.project", Dim.OUT)] == tuple(range(16, 32))
    assert by_member[("down.0", Dim.IN)] == tuple(range(32))
    assert "mix.pointwise channels -> [0:16], mix.project channels -> [16:32]" in cat.explain()


def test_tiny_transformer_ffn_is_prunable_and_attention_is_frozen() -> None:
    report = analyze_structure(build_model("tiny_transformer", (1, 8, 8)), X)
    names = [g.name for g in report.prunable]
    assert names == ["encoder.layers.0.linear1", "encoder.layers.1.linear1"]
    assert _members(report.group("encoder.layers.0.linear1")) == {
        ("encoder.layers.0.linear1", "out"),
        ("encoder.layers.0.linear2", "in"),
    }
    assert report.group("embed").is_frozen


class _MatmulMixer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)  # (B, T, 6)
        mixed = h.permute(0, 2, 1) @ h  # (B, 6, 6): mixes fc1's channels with each other
        return self.fc2(mixed.mean(dim=1))


class _ChannelSplitView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 6), nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x).view(x.shape[0], 2, 3)).flatten(1)


@pytest.mark.parametrize(
    ("model", "example", "why"),
    [
        (_MatmulMixer(), torch.zeros(2, 4, 8), "`matmul`"),
        (_ChannelSplitView(), torch.zeros(2, 8), "reshapes the channel axis"),
    ],
)
def test_unknown_channel_mixing_freezes_instead_of_crashing(model: nn.Module, example, why: str) -> None:
    report = analyze_structure(model, example)
    group = report.group("fc1")
    assert group.is_frozen
    assert why in group.explain()


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent Python control flow
            return self.fc(x)
        return -self.fc(x)


def test_untraceable_model_raises_trace_error_naming_the_class() -> None:
    with pytest.raises(TraceError, match="_Branchy"):
        analyze_structure(_Branchy(), torch.ones(2, 4))


class _OddLayers(nn.Module):
    """GroupNorm (4 groups), a transposed conv, and a grouped conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.gn = nn.GroupNorm(4, 8)
        self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
        self.grouped = nn.Conv2d(6, 6, 3, padding=1, groups=3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.grouped(self.up(torch.relu(self.gn(self.conv(x)))))
        return self.head(self.pool(x).flatten(1))


def test_group_norm_transposed_and_grouped_convs() -> None:
    report = analyze_structure(_OddLayers(), torch.zeros(2, 1, 4, 4))
    conv = report.group("conv")
    assert conv.multiple_of == 4 and ("up", "in") in _members(conv)
    assert report.group("up").is_frozen and "grouped conv (groups=3)" in report.group("up").explain()
    assert report.group("grouped").is_frozen  # per-group pruning of grouped convs is not implemented yet
