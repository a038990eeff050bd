"""ONNX Runtime sessions: CPU by default; CUDA / TensorRT execution providers when the installed build has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netslim.errors import ConfigError, ModelLoadError

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OrtRuntime:
    """An ONNX Runtime inference session over a file or serialized model, with a fixed thread count.

    ``providers``: None is CPU; ``"gpu"`` picks TensorRT/CUDA when present (ConfigError otherwise); or a list.
    ``spin``: let idle intra-op threads busy-wait (ONNX Runtime's default; off here, see below).
    """

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        threads: int | None = 1,
        providers: str | list[str] | None = None,
        name: str = "onnxruntime",
        spin: bool = False,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # weight-only int8/int4 (DequantizeLinear -> MatMul, which ORT rewrites to MatMulNBits): compute in fp32, as
        # the model does; ORT's default accuracy level 4 quantizes the activations on the fly and drifts
        options.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "1")
        # idle intra-op threads spin by default: with several sessions in one process (an artifact's per-batch
        # runtimes, side-by-side timing) a spinning session takes cores from the running one (measured on 2 cores:
        # 24.5 ms instead of 13.6 ms at batch 256). ``spin=True`` trades that for ~25% lower batch-1 latency with
        # several threads when the session runs alone.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        chosen = self._providers(providers)
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, sess_options=options, providers=chosen)
        except Exception as exc:  # ORT raises its own exception types: report the file
            what = "the serialized model" if isinstance(model, bytes) else str(model)
            raise ModelLoadError(f"{what}: ONNX Runtime cannot load it ({exc})") from exc
        self.name = name
        self.threads = threads
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            what = "the serialized model" if isinstance(model, bytes) else str(model)
            raise ModelLoadError(f"{what}: expected a graph with one input, found {len(inputs)}")
        self.input_name = inputs[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @staticmethod
    def _providers(providers: str | list[str] | None) -> list[str]:
        available = available_providers()
        if providers is None:
            return ["CPUExecutionProvider"]
        if providers == "gpu":
            gpu = [p for p in GPU_PROVIDERS if p in available]
            if not gpu:
                raise ConfigError(
                    f"providers='gpu' but this onnxruntime build has only {available}; "
                    "install onnxruntime-gpu on a machine with CUDA"
                )
            return [*gpu, "CPUExecutionProvider"]
        missing = [p for p in providers if p not in available]
        if missing:
            raise ConfigError(f"execution providers {missing} are not available; available: {available}")
        return list(providers)

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(None, {self.input_name: x}))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(self.output_names[:1], {self.input_name: x})[0]
