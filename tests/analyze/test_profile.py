from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from netslim.analyze import profile
from netslim.errors import ConfigError
from netslim.models import build_model


def seed_cnn_macs_by_hand(batch: int) -> int:
    conv1 = 26 * 26 * 32 * (1 * 3 * 3)  # 28x28 -> 26x26 (valid), 32 filters of 1x3x3
    conv2 = 11 * 11 * 64 * (32 * 3 * 3)  # pool -> 13x13 -> 11x11, 64 filters of 32x3x3
    fc1 = (64 * 5 * 5) * 128  # pool -> 5x5, flatten 1600 -> 128
    fc2 = 128 * 10
    return batch * (conv1 + conv2 + fc1 + fc2)


@pytest.mark.parametrize("batch", [1, 4])
def test_seed_cnn_macs_equal_the_hand_computation_and_torch_flop_counter(batch: int) -> None:
    model = build_model("seed_cnn", (1, 28, 28))
    result = profile(model, (1, 28, 28), batch_size=batch, measure_latency=False)
    assert result.total_macs == seed_cnn_macs_by_hand(batch) == 2_631_040 * batch
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.rand(batch, 1, 28, 28))
    assert 2 * result.total_macs == counter.get_total_flops()
    assert result.layer("conv2").macs == batch * 11 * 11 * 64 * 32 * 9


def test_profile_rows_have_params_shapes_memory_and_latency() -> None:
    model = build_model("seed_cnn", (1, 28, 28))
    result = profile(model, (1, 28, 28), batch_size=2)
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert sum(layer.params for layer in result.layers) == result.total_params
    conv1 = result.layer("conv1")
    assert conv1.output_shape == (2, 32, 26, 26)
    assert conv1.activation_bytes == 2 * 32 * 26 * 26 * 4
    assert all(layer.latency_ms is not None and layer.latency_ms > 0 for layer in result.layers)
    assert result.latency_ms is not None and result.latency_ms > 0


def test_bottleneck_summary_names_layers_with_shares() -> None:
    result = profile(build_model("seed_cnn", (1, 28, 28)), (1, 28, 28), measure_latency=False)
    top = result.bottlenecks(1)[0]
    assert top[0].name == "conv2" and top[1] == pytest.approx(2_230_272 / 2_631_040)
    assert result.summary(1)[0].startswith("conv2: 85% of MACs")


def test_depthwise_and_attention_macs() -> None:
    res = profile(build_model("res_cnn", (1, 8, 8)), (1, 8, 8), measure_latency=False)
    assert res.layer("mix.depthwise").macs == 16 * 8 * 8 * 9  # one 3x3 filter per channel
    vit = profile(build_model("tiny_transformer", (1, 8, 8)), (1, 8, 8), measure_latency=False)
    attn = vit.layer("encoder.layers.0.self_attn")
    tokens, dim = 16, 64
    assert attn.macs == 4 * tokens * dim * dim + 2 * tokens * tokens * dim


def test_functional_matmuls_are_not_lost() -> None:
    class Inline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(16, 8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w

    result = profile(Inline(), (4, 16), measure_latency=False)
    assert result.total_macs == 4 * 16 * 8


def test_profile_does_not_change_the_model() -> None:
    model = build_model("res_cnn", (1, 8, 8)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    profile(model, (1, 8, 8), batch_size=2)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_profile_takes_the_shape_the_model_states_and_needs_one_otherwise() -> None:
    assert (
        profile(build_model("seed_mlp", (1, 8, 8)), measure_latency=False).total_macs
        == profile(build_model("seed_mlp", (1, 8, 8)), (1, 8, 8), measure_latency=False).total_macs
    )
    with pytest.raises(ConfigError, match="input shape"):
        profile(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)))


def test_profile_feeds_token_ids_to_a_token_model() -> None:
    transformers = pytest.importorskip("transformers")
    from netslim.models import TokenIdsClassifier

    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2
    )
    model = TokenIdsClassifier(transformers.BertForSequenceClassification(config), pad_token_id=0)
    result = profile(model, measure_latency=False)  # float torch.rand would raise inside the wrapper
    assert result.total_macs > 0
