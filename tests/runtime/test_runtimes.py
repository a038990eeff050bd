from __future__ import annotations

import numpy as np
import pytest
import torch

from netslim.errors import ConfigError, ModelLoadError
from netslim.export import export_onnx
from netslim.models import build_model
from netslim.runtime import OrtRuntime, TorchRuntime, available_providers


def test_ort_and_torch_runtimes_agree(tmp_path) -> None:
    model = build_model("seed_cnn", (1, 28, 28)).eval()
    export_onnx(model, torch.rand(1, 1, 28, 28), tmp_path / "m.onnx")
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    ort_rt, eager = OrtRuntime(tmp_path / "m.onnx", threads=1), TorchRuntime(model, threads=1)
    np.testing.assert_allclose(ort_rt.run(x), eager.run(x), atol=1e-4)
    assert ort_rt.providers == ["CPUExecutionProvider"]


def test_gpu_providers_fail_clearly_without_a_gpu(tmp_path) -> None:
    if any(p in available_providers() for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")):
        pytest.skip("this onnxruntime build has a GPU provider")
    export_onnx(build_model("seed_mlp", (1, 8, 8)), torch.rand(1, 1, 8, 8), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        OrtRuntime(tmp_path / "m.onnx", providers="gpu")


def test_a_corrupt_onnx_file_is_one_clear_error(tmp_path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        OrtRuntime(tmp_path / "bad.onnx")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_torch_cuda_runtime_matches_cpu() -> None:
    model = build_model("seed_cnn", (1, 28, 28)).eval()
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    cpu = TorchRuntime(model, threads=1).run(x)
    gpu = TorchRuntime(build_model("seed_cnn", (1, 28, 28)).eval(), device="cuda")
    gpu.model.load_state_dict(model.state_dict())
    np.testing.assert_allclose(gpu.run(x), cpu, atol=1e-4)
