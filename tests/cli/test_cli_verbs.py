"""Every technique from the command line, on the bundled digits, end to end: train -> prune -> quantize -> export ->
bench of the saved outputs; recipes from YAML give the same model as in Python."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from netslim.cli.app import app
from netslim.cli.verbs import outputs_digest
from netslim.data import load_digits
from netslim.export import load_artifact
from netslim.models import load_model
from netslim.transform import Recipe, apply_recipe

runner = CliRunner()


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cli") / "cnn"
    invoke("train", "seed_cnn", "--data", "digits", "--epochs", "12", "--lr", "0.003", "--out", str(out))
    return str(out)


def test_prune_quantize_export_bench_of_the_saved_outputs(tmp_path, trained) -> None:
    pruned, quantized, artifact = tmp_path / "pruned", tmp_path / "int8", tmp_path / "artifact"
    p = invoke(
        "prune", trained, "--data", "digits", "--ratio", "0.5", "--steps", "2", "--epochs", "2", "--out", str(pruned)
    )
    record = p["records"][0]
    assert record["verb"] == "prune_iteratively_" and record["macs_after"] < 0.4 * record["macs_before"]
    assert p["test_accuracy"] > 0.8
    q = invoke("quantize", str(pruned), "--data", "digits", "--out", str(quantized))
    assert (
        q["records"][0]["verb"] == "quantize_" and q["records"][0]["bytes_after"] < q["records"][0]["bytes_before"] / 3
    )
    assert q["test_accuracy"] > p["test_accuracy"] - 0.03
    # the quantized model saved by `netslim quantize` reloads with outputs equal to before saving: the command
    # hashed the in-memory model's outputs on the first 64 test images before it saved
    digits = load_digits()
    reloaded = load_model(quantized)
    assert outputs_digest(reloaded, digits.test.x[:64]) == q["outputs_sha256"]
    x = torch.from_numpy(digits.test.x)
    accuracy = float((reloaded(x).argmax(1).numpy() == digits.test.y).mean())
    assert accuracy == pytest.approx(q["test_accuracy"], abs=1e-6)
    e = invoke("export", str(quantized), "--out", str(artifact), "--quant-format", "qoperator")
    assert e["quantized"] is True and e["qoperator"]["qlinear_conv"] and e["parity"]["ok"] is True
    runner_ = load_artifact(artifact)
    agree = float((runner_(digits.test.x).argmax(1) == reloaded(x).argmax(1).numpy()).mean())
    assert agree >= 0.99
    timed = invoke("bench", str(artifact), "--batch", "1,16", "--repeats", "3")
    assert [t["batch_size"] for t in timed] == [1, 16]


def test_qat_from_the_cli_saves_a_model_that_reloads_equal(tmp_path, trained) -> None:
    out = tmp_path / "w4"
    payload = invoke(
        "quantize", trained, "--data", "digits", "--qat", "--weights", "int4", "--activations", "uint8",
        "--epochs", "1", "--out", str(out),
    )  # fmt: skip
    assert payload["records"][0]["verb"] == "qat_"
    assert outputs_digest(load_model(out), load_digits().test.x[:64]) == payload["outputs_sha256"]


def test_edit_applies_the_seed_edits_and_saves(tmp_path) -> None:
    out = tmp_path / "edited"
    payload = invoke(
        "edit", "seed_cnn", "--input-shape", "1,8,8", "--kernel", "conv1=5", "--activation", "type:ReLU=tanh",
        "--separable", "conv2", "--out", str(out),
    )  # fmt: skip
    verbs = [r["verb"] for r in payload["records"]]
    assert verbs == ["set_kernel_", "swap_activation_", "separable_"]
    model = load_model(out)
    assert model.conv1.kernel_size == (5, 5) and type(model.act1).__name__ == "Tanh"
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_compress_writes_an_nsc_file(tmp_path) -> None:
    from netslim.compress import load_compressed

    out = tmp_path / "mlp.nsc"
    payload = invoke(
        "compress", "seed_mlp", "--data", "digits", "--sparsity", "0.8", "--epochs", "1", "--out", str(out)
    )
    assert payload["bytes"] == out.stat().st_size
    assert payload["record"]["bytes_after"] == payload["bytes"] < payload["record"]["bytes_before"] / 8
    assert load_compressed(out)(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_deep_compress_leaves_the_model_equal_to_its_file(tmp_path, digits) -> None:
    from netslim.compress import DeepCompressionConfig, SparsityConfig, deep_compress_, load_compressed, save_compressed
    from netslim.models import build_model
    from netslim.train import TrainConfig

    model = build_model("seed_mlp", digits.input_shape)
    config = DeepCompressionConfig(sparsity=SparsityConfig(sparsity=0.8), prune_finetune=TrainConfig(epochs=1))
    record = deep_compress_(model, config, data=digits)
    assert save_compressed(model, tmp_path / "m.nsc", config.encode) == record.bytes_after
    x = torch.from_numpy(digits.test.x[:32])
    assert torch.equal(model(x), load_compressed(tmp_path / "m.nsc")(x))


RECIPE = {
    "steps": [
        {"prune": {"ratio": 0.5, "importance": "l2"}},
        {"finetune": {"epochs": 2, "lr": 0.003, "batch_size": 64, "distill": {"temperature": 4.0}}},
        {"quantize": {"weights": "int8", "activations": "uint8", "calibration_samples": 128, "reduce_range": False}},
    ],
    "export": {"quant_format": "qdq"},
    "seed": 7,
}


def test_run_of_a_yaml_recipe_equals_the_same_recipe_in_python(tmp_path, trained) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "run"
    payload = invoke("run", str(path), trained, "--data", "digits", "--out", str(out))
    assert [r["verb"] for r in payload["records"]] == ["prune_", "finetune_", "quantize_"]
    assert (out / "artifact" / "model.onnx").is_file() and payload["export"]["parity"]["ok"]
    from_cli = load_model(out)

    model = load_model(trained)
    apply_recipe(model, Recipe.from_yaml(path), data=load_digits(), teacher=copy.deepcopy(model).eval())
    a, b = model.state_dict(), from_cli.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_optimize_from_the_cli_searches_on_a_small_budget(tmp_path, trained) -> None:
    config = tmp_path / "search.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "budget": {"max_drop": 0.05, "trials": 3, "time_budget_s": 300},
                "batch_sizes": [1, 32],
                "objective_batch": 32,
                "epochs": [1],
                "prune_steps": 1,
                "engines": ["onnxruntime"],
                "finetune": {"epochs": 1, "lr": 0.003, "batch_size": 32},
                "timing": {"warmup": 2, "repeats": 5},
            }
        )
    )
    out = tmp_path / "run"
    payload = invoke("optimize", trained, "--data", "digits", "--config", str(config), "--out", str(out))
    assert payload["met"] is True and payload["trials"] >= 3
    artifact = load_artifact(out / "artifact")
    assert artifact(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)


def test_optimize_ladder_runs_the_fixed_pipeline(tmp_path, trained) -> None:
    config = tmp_path / "ladder.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ratios": [0.5],
                "prune_steps": 1,
                "finetune": {"epochs": 2, "lr": 0.003, "batch_size": 32},
                "max_drop": 0.03,
                "batch_sizes": [1, 32],
                "objective_batch": 32,
                "threads": 1,
                "engines": ["onnxruntime"],
                "timing": {"warmup": 2, "repeats": 5},
            }
        )
    )
    out = tmp_path / "artifact"
    payload = invoke("optimize", trained, "--data", "digits", "--ladder", "--config", str(config), "--out", str(out))
    assert payload["selection"]["speedup"] >= 1.0
    assert load_artifact(out)(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)


def test_verbs_without_the_data_they_need_say_so(tmp_path) -> None:
    result = runner.invoke(app, ["quantize", "seed_cnn", "--out", str(tmp_path / "q")])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception) and "--data" in str(result.exception)
