from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from netslim.data import ArrayDataset
from netslim.errors import ConfigError
from netslim.export import ExportConfig, export_onnx
from netslim.export.qdq import output_step
from netslim.models.hf import TokenIdsClassifier
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime
from netslim.runtime.openvino import OvRuntime, openvino_available

transformers = pytest.importorskip("transformers")

VOCAB, TOKENS, PAD = 64, 16, 0


def tiny_bert(attention: str = "sdpa") -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=TOKENS,
        num_labels=3,
        initializer_range=0.2,  # logits well away from zero, so that masking and quantization show
        attn_implementation=attention,
    )
    return transformers.BertForSequenceClassification(config).eval()


def token_ids(n: int, seed: int = 0) -> torch.Tensor:
    """Random ids in 1..VOCAB-1 with a padded tail of 0..5 tokens per sequence."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (n, TOKENS))
    for row, pad in zip(ids, rng.integers(0, 6, n), strict=True):
        row[TOKENS - pad :] = PAD
    return torch.from_numpy(ids)


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the rows of ``a`` and ``b``, averaged (random weights: some logits are near zero)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).mean())


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_wrapper_builds_the_padding_mask_from_the_ids(attention) -> None:
    model = tiny_bert(attention)
    ids = token_ids(6)
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=(ids != PAD).long()).logits
        got = TokenIdsClassifier(model, pad_token_id=PAD)(ids)
        unmasked = TokenIdsClassifier(model)(ids)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(unmasked, expected, atol=1e-4)  # the mask matters for padded sequences


def test_wrapper_rejects_float_inputs_and_bad_pad_ids() -> None:
    with pytest.raises(ConfigError, match="integer token ids"):
        TokenIdsClassifier(tiny_bert())(torch.rand(2, TOKENS))
    with pytest.raises(ConfigError, match="pad_token_id"):
        TokenIdsClassifier(tiny_bert(), pad_token_id=-1)


def test_fp32_export_has_one_int64_input_and_matches_torch(tmp_path) -> None:
    model = TokenIdsClassifier(tiny_bert(), pad_token_id=PAD)
    ids = token_ids(32)
    record = export_onnx(model, ids[:2], tmp_path / "bert.onnx", parity_inputs=ids)
    assert record.parity.ok and record.parity.max_abs_diff < 1e-4
    runtime = OrtRuntime(tmp_path / "bert.onnx")
    assert runtime.session.get_inputs()[0].type == "tensor(int64)"
    with torch.inference_mode():
        expected = model(ids).numpy()
    np.testing.assert_allclose(runtime.run(ids.numpy()), expected, atol=1e-4)


@pytest.fixture(scope="module")
def quantized_export(tmp_path_factory):
    model = TokenIdsClassifier(tiny_bert(), pad_token_id=PAD)
    float_model = copy.deepcopy(model)
    calibration = ArrayDataset(token_ids(128, seed=1).numpy(), np.zeros(128, np.int64), name="ids")
    # reduce_range is on by default on AVX2-only CPUs, where ONNX Runtime's u8 x s8 kernels saturate otherwise
    config = QuantConfig(weights="int8", activations="uint8", batch_size=64)
    record = quantize_(model, config, data=calibration)
    path = tmp_path_factory.mktemp("bert") / "bert_int8.onnx"
    ids = token_ids(64, seed=2)
    # 14 activation quantizers in series: ONNX Runtime's integer kernels round in another order than torch's float
    # simulation, so a code may flip at each of them; a faithful graph agrees within a few output steps, not one
    atol = 4 * output_step(model, ids)
    export = export_onnx(model, ids[:2], path, ExportConfig(atol=atol), parity_inputs=ids)
    return float_model, model, record, export, ids


def test_quantized_export_runs_in_onnxruntime_close_to_fp32(quantized_export) -> None:
    float_model, model, record, export, ids = quantized_export
    assert export.quantized and export.parity.ok
    assert len(record.layers) == 2 * 6 + 2  # q, k, v, attention out, FFN in/out per layer; pooler; classifier
    with torch.inference_mode():
        reference = float_model(ids).numpy()
    got = OrtRuntime(export.path).run(ids.numpy())
    with torch.inference_mode():
        np.testing.assert_allclose(got, model(ids).numpy(), atol=export.parity.atol)  # the simulation
    assert mean_cosine(reference, got) > 0.99


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed (extra: openvino)")
def test_quantized_export_runs_in_openvino_with_integer_fully_connected_layers(quantized_export) -> None:
    float_model, _, _, export, ids = quantized_export
    runtime = OvRuntime(export.path, threads=1)
    assert runtime.precisions().get("FullyConnected") in ("u8", "i8"), runtime.precisions()
    got = runtime.run(ids.numpy())
    np.testing.assert_allclose(got, OrtRuntime(export.path).run(ids.numpy()), atol=export.parity.atol)
    with torch.inference_mode():
        assert mean_cosine(float_model(ids).numpy(), got) > 0.99
