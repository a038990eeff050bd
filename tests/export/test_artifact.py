from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from netslim.errors import ExportParityError, ModelLoadError
from netslim.export import load_artifact, save_artifact
from netslim.models import build_model


def test_artifact_round_trip_matches_torch(tmp_path) -> None:
    model = build_model("res_cnn", (1, 8, 8)).eval()
    record = save_artifact(model, torch.rand(2, 1, 8, 8), tmp_path / "a", manifest={"note": "test"}, threads=1)
    artifact = load_artifact(tmp_path / "a")
    x = np.random.default_rng(1).random((3, 1, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        np.testing.assert_allclose(artifact(x), model(torch.from_numpy(x)).numpy(), atol=1e-4)
    assert artifact.manifest["note"] == "test" and artifact.manifest["runtime"]["threads"] == 1
    assert record.bytes == (tmp_path / "a" / "model.onnx").stat().st_size


def test_artifact_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="no manifest.json"):
        load_artifact(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ModelLoadError, match="manifest.json: format"):
        load_artifact(tmp_path)
    save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(1, 1, 8, 8), tmp_path / "b")
    with pytest.raises(ModelLoadError, match="expects input"):
        load_artifact(tmp_path / "b")(np.zeros((1, 1, 9, 9), np.float32))


def test_a_failed_export_leaves_no_artifact(tmp_path) -> None:
    class Unexportable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(x.numpy() * 2)

    with pytest.raises(ExportParityError, match="Unexportable"):
        save_artifact(Unexportable(), torch.rand(1, 3), tmp_path / "c")
    assert not (tmp_path / "c").exists()
