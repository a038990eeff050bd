"""Runtimes behind one interface (``run(x: np.ndarray) -> np.ndarray``) and measured runtime selection."""

from netslim.runtime.base import Runtime, cosine_fidelity, outputs_of, top1_accuracy
from netslim.runtime.openvino import openvino_available
from netslim.runtime.ort import OrtRuntime, available_providers
from netslim.runtime.select import Candidate, Measured, Selection, select_runtime
from netslim.runtime.spec import BatchPolicy, RuntimeSpec
from netslim.runtime.torch_rt import TorchRuntime

__all__ = [
    "BatchPolicy",
    "Candidate",
    "Measured",
    "OrtRuntime",
    "Runtime",
    "RuntimeSpec",
    "Selection",
    "TorchRuntime",
    "available_providers",
    "cosine_fidelity",
    "openvino_available",
    "outputs_of",
    "select_runtime",
    "top1_accuracy",
]
