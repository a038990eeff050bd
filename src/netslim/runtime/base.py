"""The runtime interface every backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runtime(Protocol):
    """Anything that runs a model on a numpy batch: ONNX Runtime, OpenVINO, torch eager or torch.compile."""

    name: str
    threads: int | None

    def run(self, x: np.ndarray) -> np.ndarray: ...
