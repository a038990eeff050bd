"""OpenVINO on the CPU (the optional ``openvino`` extra): runs netslim's fp32 and QDQ int8 ONNX exports.

OpenVINO reads QDQ graphs as FakeQuantize nodes and runs convolutions and fully connected layers in u8/i8 when the
pattern is canonical (see :mod:`netslim.export.canonical`). Two settings matter on CPUs with AVX-512 BF16 but no
AMX (bf16 is then slow and lossy): netslim always compiles with ``INFERENCE_PRECISION_HINT=f32``, so fp32 graphs
stay fp32 and int8 graphs run integer kernels.

``mode="latency"``: one stream using ``threads`` threads. ``mode="throughput"``: ``streams`` parallel inference
requests (default: one per thread), a batch is split across them and the parts run concurrently — the batch-job
mode; a batch smaller than the number of streams runs on one request.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from netslim.errors import ConfigError, ModelLoadError

PRECISIONS = ("f32", "bf16")
MODES = ("latency", "throughput")


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise ConfigError("the OpenVINO runtime needs the openvino package: pip install 'netslim[openvino]'") from exc
    return openvino


class OvRuntime:
    """An OpenVINO compiled model over an ONNX file or serialized ONNX bytes, with a fixed thread count."""

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        threads: int | None = 1,
        mode: str = "latency",
        streams: int | None = None,
        precision: str = "f32",
        name: str = "openvino",
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"OvRuntime.mode must be one of {MODES}, got {mode!r}")
        if threads is not None and threads < 1:
            raise ConfigError(f"OvRuntime.threads must be >= 1 or None, got {threads}")
        if precision not in PRECISIONS:
            raise ConfigError(f"OvRuntime.precision must be one of {PRECISIONS}, got {precision!r}")
        if streams is not None and streams < 1:
            raise ConfigError(f"OvRuntime.streams must be >= 1 or None, got {streams}")
        ov = _import_openvino()
        what = "the serialized model" if isinstance(model, bytes) else str(model)
        core = ov.Core()
        try:
            if isinstance(model, bytes):
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "model.onnx"
                    path.write_bytes(model)
                    network = core.read_model(str(path))
            else:
                network = core.read_model(str(model))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long messages
            raise ModelLoadError(f"{what}: OpenVINO cannot read it ({exc})") from exc
        if len(network.inputs) != 1:
            raise ModelLoadError(f"{what}: expected a graph with one input, found {len(network.inputs)}")
        self.streams = 1 if mode == "latency" else (streams or threads or 1)
        settings: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY" if mode == "latency" else "THROUGHPUT",
            "NUM_STREAMS": self.streams,
            # f32 unless asked: the CPU plugin otherwise picks bf16 by itself, lossy and slow without AMX/AVX512-BF16
            "INFERENCE_PRECISION_HINT": precision,
        }
        if threads is not None:
            settings["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = core.compile_model(network, "CPU", settings)
        except Exception as exc:
            raise ModelLoadError(f"{what}: OpenVINO cannot compile it for the CPU ({exc})") from exc
        self.name = name
        self.threads = threads
        self.mode = mode
        self.precision = precision
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self._request = self.compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(self.compiled, self.streams) if self.streams > 1 else None

    def precisions(self) -> dict[str, str]:
        """Execution precision per layer type of the compiled model (``{"Convolution": "u8", ...}``): shows which
        layers run integer kernels."""
        found: dict[str, str] = {}
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            kind, precision = info["layerType"].astype(str), info["runtimePrecision"].astype(str)
            if kind not in ("Const", "Input", "Output"):
                found[kind] = precision if kind not in found or found[kind] == precision else "mixed"
        return found

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype.kind == "f" else np.int64)
        if self._queue is None or len(x) < self.streams:
            result = self._request.infer({0: x})
            return [np.array(result[i], copy=True) for i in range(len(self.output_names))]
        parts = np.array_split(x, self.streams)
        outputs: list[list[np.ndarray]] = [[] for _ in parts]

        def done(request: Any, index: int) -> None:
            count = len(self.output_names)
            outputs[index] = [np.array(request.get_output_tensor(i).data, copy=True) for i in range(count)]

        self._queue.set_callback(done)
        for index, part in enumerate(parts):
            self._queue.start_async({0: np.ascontiguousarray(part)}, index)
        self._queue.wait_all()
        return [np.concatenate([out[i] for out in outputs]) for i in range(len(self.output_names))]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_all(x)[0]


def bf16_supported() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16): only there is bf16 worth timing."""
    from netslim.quant.cpu import cpu_flags

    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


__all__ = ["MODES", "PRECISIONS", "OvRuntime", "bf16_supported", "openvino_available"]
