"""Runtimes behind one interface (``run(x: np.ndarray) -> np.ndarray``) and measured runtime selection."""

from netslim.runtime.base import Runtime
from netslim.runtime.ort import OrtRuntime, available_providers
from netslim.runtime.select import Candidate, Measured, Selection, select_runtime
from netslim.runtime.torch_rt import TorchRuntime

__all__ = [
    "Candidate",
    "Measured",
    "OrtRuntime",
    "Runtime",
    "Selection",
    "TorchRuntime",
    "available_providers",
    "select_runtime",
]
