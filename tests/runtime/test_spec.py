from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from netslim.errors import ConfigError, ModelLoadError
from netslim.export.artifact import load_artifact, save_artifact, write_artifact
from netslim.export.onnx import ExportConfig, to_onnx_bytes
from netslim.models import build_model
from netslim.runtime.spec import BatchPolicy, RuntimeSpec


def test_policy_round_trips_and_dispatches_by_batch_size(tmp_path) -> None:
    model = build_model("seed_mlp", (1, 8, 8)).eval()
    policy = BatchPolicy(((1, RuntimeSpec("onnxruntime", 1)), (256, RuntimeSpec("onnxruntime", 2))))
    assert BatchPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
    save_artifact(model, torch.rand(1, 1, 8, 8), tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    manifest["runtime"] = policy.to_dict()
    (tmp_path / "a" / "manifest.json").write_text(json.dumps(manifest))
    artifact = load_artifact(tmp_path / "a")
    assert artifact.runtime.pick(1).threads == 1
    assert artifact.runtime.pick(7).threads == 2
    assert artifact.runtime.pick(1000).threads == 2  # above every bound: the last rule
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(artifact(x), model(torch.from_numpy(x)).numpy(), atol=1e-4)
    assert load_artifact(tmp_path / "a", threads=1).runtime.pick(7).threads == 1  # the caller's threads win


def test_version_one_manifests_still_load(tmp_path) -> None:
    save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(1, 1, 8, 8), tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    manifest["runtime"] = {"name": "onnxruntime", "threads": 1}
    (tmp_path / "a" / "manifest.json").write_text(json.dumps(manifest))
    assert load_artifact(tmp_path / "a").runtime.pick(1).threads == 1


def test_bad_runtime_fields_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="engine"):
        RuntimeSpec("tensorflow")
    with pytest.raises(ConfigError, match="increasing"):
        BatchPolicy(((8, RuntimeSpec()), (1, RuntimeSpec())))
    save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(1, 1, 8, 8), tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    manifest["runtime"] = {"engine": "onnxruntime", "thread": 2}
    (tmp_path / "a" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="manifest.json: runtime: unknown fields"):
        load_artifact(tmp_path / "a")


def test_a_rule_may_run_another_file_of_the_artifact(tmp_path) -> None:
    # e.g. the int8 graph at batch 256 and an fp32 one at batch 1: each rule opens its own file
    small, large = build_model("seed_mlp", (1, 8, 8)).eval(), build_model("seed_mlp_64", (1, 8, 8)).eval()
    example = torch.rand(1, 1, 8, 8)
    policy = BatchPolicy(
        ((1, RuntimeSpec("onnxruntime", 1, file="model-small.onnx")), (256, RuntimeSpec("onnxruntime", 2)))
    )
    assert policy.files == ["model-small.onnx"] and "model-small.onnx" in policy.rules[0][1].label
    write_artifact(
        tmp_path / "a",
        to_onnx_bytes(large, example, ExportConfig()),
        (1, 8, 8),
        runtime=policy.to_dict(),
        files={"model-small.onnx": to_onnx_bytes(small, example, ExportConfig())},
    )
    artifact = load_artifact(tmp_path / "a")
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(artifact(x[:1]), small(torch.from_numpy(x[:1])).numpy(), atol=1e-4)
        np.testing.assert_allclose(artifact(x), large(torch.from_numpy(x)).numpy(), atol=1e-4)
    (tmp_path / "a" / "model-small.onnx").unlink()
    with pytest.raises(ModelLoadError, match="model-small.onnx: missing"):
        load_artifact(tmp_path / "a")
    with pytest.raises(ConfigError, match="bare file name"):
        RuntimeSpec(file="../evil.onnx")
    with pytest.raises(ConfigError, match="not bytes"):
        policy.open(b"onnx bytes")
    with pytest.raises(ConfigError, match="bare file name"):
        write_artifact(tmp_path / "b", b"", (1, 8, 8), files={"sub/model.onnx": b""})
    assert not (tmp_path / "b").exists()  # nothing half-written
