"""A sentence encoder (token ids in, pooled embedding out) searched under a cosine-fidelity budget from Python."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netslim.bench import TimingConfig
from netslim.data import ArrayDataset, split
from netslim.errors import ConfigError
from netslim.export import load_artifact
from netslim.models import TokenIdsEncoder
from netslim.runtime import cosine_fidelity
from netslim.search import Budget, SearchConfig, search
from netslim.train import TrainConfig

transformers = pytest.importorskip("transformers")


def test_an_encoder_is_searched_under_a_cosine_budget_and_its_artifact_keeps_the_fidelity(tmp_path) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=32,
        pad_token_id=0,
    )
    encoder = TokenIdsEncoder(transformers.BertModel(config), pad_token_id=0).eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 64, (240, 24))
    for row, pad in zip(ids, rng.integers(0, 8, len(ids)), strict=True):
        row[len(row) - pad :] = 0
    splits = split(ArrayDataset(ids, np.zeros(len(ids), np.int64), name="sentences"), seed=0)
    search_config = SearchConfig(
        budget=Budget(max_drop=0.01, trials=4, time_budget_s=300),
        metric="cosine",
        batch_sizes=(1, 16),
        objective_batch=16,
        engines=("onnxruntime",),
        finetune=TrainConfig(epochs=1, batch_size=32),
        calibration_samples=64,
        rescreen=2,
        timing=TimingConfig(warmup=2, repeats=6),
    )
    result = search(encoder, splits, search_config, out=tmp_path / "run")
    assert result.artifact is not None
    artifact = load_artifact(tmp_path / "run" / "artifact")
    assert artifact.manifest["input_dtype"] == "int64" and artifact.manifest["metric"] == "cosine"
    with torch.no_grad():
        reference = encoder(torch.from_numpy(splits.test.x)).numpy()
    mean, _ = cosine_fidelity(artifact(splits.test.x), reference)
    assert mean >= 0.99 - 0.005  # the validation budget holds on held-out test sentences (small slack)
    assert abs(mean - artifact.manifest["test_accuracy"]) < 1e-4  # the manifest states the measured fidelity
    import json

    rows = [json.loads(p.read_text()) for p in (tmp_path / "run" / "trials").glob("*.json")]
    assert rows and all(r["plan"]["ratio"] == 0.0 for r in rows)  # no label-trained structure under a cosine budget
    assert result.chosen is not None and result.chosen["val_accuracy"] >= 0.99


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ConfigError, match="SearchConfig.metric"):
        SearchConfig(metric="bleu")
