"""The front door: Hugging Face directories and objects, graph specs, input specs, and refusals with one message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import netslim
from netslim.errors import ConfigError, ModelLoadError, UnsupportedLayerError
from netslim.models import InputSpec, as_model, input_spec, load_any, load_model, save_model
from netslim.models.graphnet import GraphNet
from netslim.models.persist import same_model
from netslim.runtime import Candidate, OrtRuntime, select_runtime

transformers = pytest.importorskip("transformers")

VOCAB = 40


def bert_config(**extra: object) -> object:
    return transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        pad_token_id=0,
        **extra,
    )


def test_a_hugging_face_classifier_directory_loads_as_a_token_model_and_saves(tmp_path) -> None:
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(bert_config(num_labels=3)).eval()
    hf.save_pretrained(tmp_path / "hf")
    model = load_any(str(tmp_path / "hf"))
    assert type(model).__name__ == "TokenIdsClassifier"
    spec = input_spec(model)
    assert spec.dtype == "int64" and spec.high == VOCAB and spec.shape == (24,)
    ids = spec.random(3)
    torch.testing.assert_close(model(ids), hf(input_ids=ids, attention_mask=(ids != 0).long()).logits)
    netslim.prune_(model, netslim.PruneConfig(ratio=0.5), example=ids)
    save_model(model, tmp_path / "saved")
    assert torch.equal(load_model(tmp_path / "saved")(ids), model(ids))


def test_a_hugging_face_encoder_becomes_a_pooled_embedding_model(tmp_path) -> None:
    torch.manual_seed(0)
    encoder = transformers.BertModel(bert_config()).eval()
    model = as_model(encoder)
    assert type(model).__name__ == "TokenIdsEncoder"
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    out = model(ids)
    hidden = encoder(input_ids=ids[:1, :3]).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(out[:1], hidden, atol=1e-5, rtol=1e-5)  # padding is left out of the mean
    save_model(model, tmp_path / "enc")
    assert torch.equal(load_model(tmp_path / "enc")(ids), out)


def test_profile_and_selection_feed_int64_ids_to_token_models() -> None:
    torch.manual_seed(0)
    model = as_model(transformers.BertForSequenceClassification(bert_config(num_labels=2)).eval())
    assert netslim.profile(model, measure_latency=False).total_macs > 0
    spec = InputSpec((12,), "int64", VOCAB)
    onnx_bytes, _ = netslim.export.export_bytes(model, spec.random(2), netslim.ExportConfig())
    runtime = OrtRuntime(onnx_bytes, threads=1)
    selection = select_runtime(
        [Candidate("ort", runtime, True)], spec, batch_sizes=(1, 4), timing=netslim.bench.TimingConfig(1, 3)
    )
    assert selection.chosen == "ort"


def test_files_netslim_never_unpickles_are_refused_by_name(tmp_path) -> None:
    for name in ("model.pt", "weights.pth", "model.pkl"):
        (tmp_path / name).write_bytes(b"\x80\x04not really")
        with pytest.raises(ModelLoadError, match="does not unpickle"):
            load_any(str(tmp_path / name))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="neither model.json"):
        load_any(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="not a model netslim takes"):
        as_model(42)


def linear_graph() -> dict:
    return {
        "inputs": [{"name": "x", "shape": [1, 8, 8]}],
        "nodes": [
            {"name": "flat", "op": "flatten", "inputs": ["x"]},
            {
                "name": "fc",
                "op": "module",
                "inputs": ["flat"],
                "module": {"type": "Linear", "in_features": 64, "out_features": 10},
            },
        ],
        "outputs": ["fc"],
    }


def test_a_graph_spec_saves_and_loads_bit_identically(tmp_path) -> None:
    model = GraphNet(linear_graph())
    x = torch.rand(3, 1, 8, 8)
    save_model(model, tmp_path / "g")
    loaded = load_model(tmp_path / "g")
    assert torch.equal(loaded(x), model(x)) and same_model(loaded, model)
    assert input_spec(loaded).shape == (1, 8, 8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["nodes"][1].update(inputs=["nowhere"]), "no earlier node"),
        (lambda s: s["nodes"][0].update(op="teleport"), "unknown op 'teleport'"),
        (lambda s: s["nodes"][1]["module"].update(type="LSTM"), "known layer types"),
        (lambda s: s.update(outputs=["ghost"]), "not defined"),
        (lambda s: s["inputs"][0].update(shape=[0]), "positive sizes"),
    ],
)
def test_a_malformed_graph_is_one_error_naming_the_node(change, message) -> None:
    spec = linear_graph()
    change(spec)
    with pytest.raises(ModelLoadError, match=message):
        GraphNet(spec)


def test_a_model_with_nothing_prunable_says_which_layers_and_why_before_any_work() -> None:
    model = GraphNet(linear_graph())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnsupportedLayerError, match=r"nothing in GraphNet can be pruned.*fc"):
        netslim.prune_(model, netslim.PruneConfig(ratio=0.5), example=torch.rand(2, 1, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    netslim.prune_(model, netslim.PruneConfig(ratio=0.0), example=torch.rand(2, 1, 8, 8))  # nothing asked: fine


def test_an_unchanged_structure_is_never_a_pipeline_candidate(digits) -> None:
    from netslim.pipeline import OptimizeConfig, optimize

    model = GraphNet(linear_graph())
    said: list[str] = []
    result = optimize(
        model,
        digits,
        OptimizeConfig(ratios=(0.5,), batch_sizes=(1, 8), objective_batch=8, quant=None, threads=1),
        log=said.append,
    )
    assert any("nothing in GraphNet can be pruned" in line for line in said)
    assert result.structural == []
    assert all(m.name.startswith("original/") for m in result.selection.measured)
    assert result.chosen.startswith("original/")


def test_input_specs_of_data() -> None:
    assert InputSpec.of_data(np.zeros((4, 1, 8, 8), np.float32)) == InputSpec((1, 8, 8))
    ints = InputSpec.of_data(np.array([[1, 2, 9]]))
    assert ints.dtype == "int64" and ints.high == 10 and ints.random_numpy(5).max() < 10
    with pytest.raises(ConfigError, match="does not state its input shape"):
        input_spec(torch.nn.Linear(3, 2))


def test_a_keras_model_in_memory_is_converted_not_passed_through() -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert type(as_model(model)).__name__ == "GraphNet"
