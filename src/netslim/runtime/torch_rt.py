"""Reference runtimes: torch eager and torch.compile, behind the same ``run(np.ndarray)`` interface."""

from __future__ import annotations

import numpy as np
import torch

from netslim.bench.timing import torch_threads


class TorchRuntime:
    """Runs a torch module in eval mode under inference_mode; ``compile=True`` wraps it in torch.compile."""

    def __init__(
        self, model: torch.nn.Module, *, threads: int | None = 1, compile: bool = False, device: str = "cpu"
    ) -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.threads = threads
        self.name = "torch-compile" if compile else "torch-eager"
        self._fn = torch.compile(self.model) if compile else self.model

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch_threads(self.threads), torch.inference_mode():
            out = self._fn(torch.from_numpy(x).to(self.device))
        return out.cpu().numpy()
