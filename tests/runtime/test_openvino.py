from __future__ import annotations

import numpy as np
import pytest
import torch

from netslim.errors import ConfigError, ModelLoadError
from netslim.export import export_onnx
from netslim.models import build_model
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime
from netslim.runtime.openvino import OvRuntime, openvino_available

pytestmark = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed (extra: openvino)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits):
    directory = tmp_path_factory.mktemp("ov")
    model = build_model("seed_cnn", digits.input_shape).eval()
    example = torch.from_numpy(digits.train.x[:4])
    export_onnx(model, example, directory / "fp32.onnx")
    quantized = build_model("seed_cnn", digits.input_shape).eval()
    quantized.load_state_dict(model.state_dict())
    quantize_(quantized, QuantConfig(activations="uint8"), data=digits.train.subset(range(128)))
    export_onnx(quantized, example, directory / "int8.onnx")
    return directory


def test_openvino_fp32_matches_onnxruntime(exported, digits) -> None:
    x = np.ascontiguousarray(digits.test.x[:64])
    ov_out = OvRuntime(exported / "fp32.onnx", threads=1).run(x)
    np.testing.assert_allclose(ov_out, OrtRuntime(exported / "fp32.onnx").run(x), atol=1e-4)


def test_openvino_runs_the_canonical_qdq_graph_in_integers(exported, digits) -> None:
    runtime = OvRuntime(exported / "int8.onnx", threads=1)
    precisions = runtime.precisions()
    assert precisions.get("Convolution") in ("u8", "i8"), precisions
    x = np.ascontiguousarray(digits.test.x[:200])
    reference = OrtRuntime(exported / "fp32.onnx").run(x)
    assert (runtime.run(x).argmax(1) == reference.argmax(1)).mean() >= 0.97


def test_throughput_mode_splits_a_batch_and_keeps_its_order(exported, digits) -> None:
    x = np.ascontiguousarray(digits.test.x[:37])
    latency = OvRuntime(exported / "fp32.onnx", threads=1).run(x)
    throughput = OvRuntime(exported / "fp32.onnx", threads=2, mode="throughput")
    assert throughput.streams == 2
    np.testing.assert_allclose(throughput.run(x), latency, atol=1e-5)
    np.testing.assert_allclose(throughput.run(x[:1]), latency[:1], atol=1e-5)


def test_openvino_errors_name_the_file_and_field(tmp_path, exported) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        OvRuntime(tmp_path / "bad.onnx")
    with pytest.raises(ConfigError, match="mode"):
        OvRuntime(exported / "fp32.onnx", mode="fast")
