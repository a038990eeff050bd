"""The runtime interface every backend implements."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Runtime(Protocol):
    """Anything that runs a model on a numpy batch: ONNX Runtime, OpenVINO, torch eager or torch.compile."""

    name: str
    threads: int | None

    def run(self, x: np.ndarray) -> np.ndarray: ...


def top1_accuracy(runtime: Runtime, data: Any, batch: int = 1024) -> float:
    """Top-1 accuracy of ``runtime`` on a labelled dataset (``data.x``, ``data.y``), in batches of ``batch``."""
    hits = 0
    for start in range(0, len(data), batch):
        out = runtime.run(np.ascontiguousarray(data.x[start : start + batch]))
        hits += int((out.argmax(1) == data.y[start : start + batch]).sum())
    return hits / len(data)
