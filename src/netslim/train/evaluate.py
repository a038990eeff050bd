"""Evaluation on held-out data: accuracy, mean loss, and logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from netslim.data import ArrayDataset


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # fraction in [0, 1]
    loss: float
    samples: int

    def to_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "loss": self.loss, "samples": self.samples}


@torch.inference_mode()
def predict(model: nn.Module, data: ArrayDataset, batch_size: int = 1024) -> torch.Tensor:
    """Logits for every sample of ``data``, in order (model put in eval mode, then restored)."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x) for x, _ in data.batches(batch_size)])
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, data: ArrayDataset, batch_size: int = 1024) -> Evaluation:
    """Accuracy and cross-entropy of ``model`` on ``data``."""
    logits = predict(model, data, batch_size)
    labels = torch.from_numpy(data.y).long()
    return Evaluation(
        accuracy=float((logits.argmax(dim=1) == labels).float().mean()),
        loss=float(F.cross_entropy(logits, labels)),
        samples=len(labels),
    )
