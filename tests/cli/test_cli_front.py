"""The command line's front doors and habits: a Hugging Face directory with its own tokenizer through train, profile
and optimize; --version, -h, --seed; plain YAML configs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from netslim.cli.app import app
from netslim.errors import ConfigError
from netslim.export import load_artifact

runner = CliRunner()
WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "film", "plot", "actor", "story", "the", "a", "was"]


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny BERT sequence classifier saved by transformers with its own word-level tokenizer, and review lines."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    root = tmp_path_factory.mktemp("hf")
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = tokenizers.normalizers.Lowercase()
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
        num_labels=2,
        pad_token_id=0,
    )
    transformers.BertForSequenceClassification(config).save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    rng = random.Random(0)
    lines = []
    for _ in range(300):
        positive = rng.random() < 0.5
        words = rng.sample(["good", "great", "fine"] if positive else ["bad", "awful", "poor"], 2) + rng.sample(
            WORDS, 4
        )
        rng.shuffle(words)
        lines.append(f"{'pos' if positive else 'neg'}\t{' '.join(words)}")
    (root / "reviews.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_a_hugging_face_directory_trains_profiles_and_optimizes_with_its_own_tokenizer(hf_dir, tmp_path) -> None:
    model, data = str(hf_dir / "model"), str(hf_dir / "reviews.tsv")
    profiled = invoke("profile", model, "--no-latency")
    assert profiled["total_macs"] > 0
    trained = invoke("train", model, "--data", data, "--epochs", "6", "--batch-size", "16", "--lr", "0.001")
    assert trained["test"]["accuracy"] >= 0.9  # the model's own token ids: the keywords are learnable
    tuned = tmp_path / "tuned"
    invoke("train", model, "--data", data, "--epochs", "6", "--batch-size", "16", "--lr", "0.001", "--out", str(tuned))
    assert (tuned / "tokenizer.json").is_file()  # the saved model carries the tokenizer to the next command
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["optimize", str(tuned), "--data", data, "--out", str(run), "--max-drop", "0.05", "--trials", "4", "--json"],
    )
    assert result.exit_code in (0, 3), result.output  # 3: nothing met the budget, the best-so-far still written
    artifact = load_artifact(run / "artifact")
    assert artifact.manifest["input_dtype"] == "int64"
    ids = np.array([[2, 5, 11, 3, *([0] * 12)]], dtype=np.int64)
    assert artifact(ids).shape == (1, 2)


def test_version_help_and_seed() -> None:
    from importlib.metadata import version

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.stdout.strip() == f"netslim {version('netslim')}"
    assert runner.invoke(app, ["-h"]).exit_code == 0
    assert runner.invoke(app, ["prune", "-h"]).exit_code == 0
    runs = [invoke("train", "seed_cnn", "--data", "digits", "--epochs", "1", "--seed", "3") for _ in range(2)]
    assert runs[0]["test"]["accuracy"] == runs[1]["test"]["accuracy"]
    losses = [[e["train_loss"] for e in r["train"]["epochs"]] for r in runs]
    assert losses[0] == losses[1]


def test_a_plain_yaml_config_is_taken_and_a_misspelt_field_is_refused(tmp_path) -> None:
    plain, typo = tmp_path / "plain.yaml", tmp_path / "typo.yaml"
    plain.write_text("epochs: 1\nbatch_size: 64\n")
    typo.write_text("epoch: 1\n")
    assert invoke("train", "seed_mlp", "--data", "digits", "--config", str(plain))["train"]
    result = runner.invoke(app, ["train", "seed_mlp", "--data", "digits", "--config", str(typo)])
    assert isinstance(result.exception, ConfigError) and "unknown field(s) ['epoch']" in str(result.exception)
