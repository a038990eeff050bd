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


def outputs_of(runtime: Runtime, data: Any, batch: int = 1024) -> np.ndarray:
    """The outputs of ``runtime`` on every sample of ``data.x`` (in batches of ``batch``), as float64 rows."""
    parts = [runtime.run(np.ascontiguousarray(data.x[s : s + batch])) for s in range(0, len(data), batch)]
    return np.concatenate(parts).reshape(len(data), -1).astype(np.float64)


def cosine_fidelity(outputs: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(mean, min) cosine similarity of the rows of ``outputs`` to the rows of ``reference``: the fidelity measure
    of an embedding model (1.0: the same directions)."""
    a, b = outputs.reshape(len(outputs), -1).astype(np.float64), reference.reshape(len(reference), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
    cos = np.where(norms > 0, cos, 1.0)  # two zero rows agree
    return float(cos.mean()), float(cos.min())
