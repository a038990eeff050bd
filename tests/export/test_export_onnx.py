from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from netslim.errors import ConfigError, ExportParityError
from netslim.export import ExportConfig, export_onnx
from netslim.models import build_model, list_models
from netslim.runtime import OrtRuntime


@pytest.mark.parametrize("name", [e.name for e in list_models()])
def test_every_zoo_model_exports_with_parity_and_dynamic_batch(tmp_path, name: str) -> None:
    model = build_model(name, (1, 8, 8)).eval()
    record = export_onnx(model, torch.rand(2, 1, 8, 8), tmp_path / "m.onnx")
    assert record.parity.ok and record.parity.argmax_agreement == 1.0
    assert record.bytes == (tmp_path / "m.onnx").stat().st_size
    x = torch.rand(5, 1, 8, 8)
    got = OrtRuntime(tmp_path / "m.onnx").run(x.numpy())
    with torch.inference_mode():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-4)


def test_a_graph_that_differs_from_torch_raises_and_writes_nothing(tmp_path) -> None:
    class TrainingOnlyBranch(torch.nn.Module):
        """Exports a different graph than it runs: the exporter sees a traced constant."""

        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return self.fc(x) * self.calls

    with pytest.raises(ExportParityError, match="output 'output' differs from torch"):
        export_onnx(TrainingOnlyBranch(), torch.rand(2, 4), tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_export_config_validation() -> None:
    with pytest.raises(ConfigError, match="ExportConfig.opset"):
        ExportConfig(opset=7)
    with pytest.raises(ConfigError, match="ExportConfig.atol"):
        ExportConfig(atol=0)


def test_batch_norm_is_folded_into_the_conv_in_the_optimized_graph(tmp_path) -> None:
    model = build_model("res_cnn", (1, 8, 8)).eval()
    export_onnx(model, torch.rand(1, 1, 8, 8), tmp_path / "m.onnx")
    graph = onnx.load(tmp_path / "m.onnx").graph
    assert not [n for n in graph.node if n.op_type == "BatchNormalization"]
