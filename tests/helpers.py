"""Named numeric contracts shared by the tests."""

from __future__ import annotations

import torch


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def mean_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0) -> float:
    """KL(teacher || student) of the temperature-softened softmax outputs, averaged over samples."""
    t = torch.log_softmax(teacher_logits / temperature, dim=1)
    s = torch.log_softmax(student_logits / temperature, dim=1)
    return float((t.exp() * (t - s)).sum(dim=1).mean())
