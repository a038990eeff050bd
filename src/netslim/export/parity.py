"""Parity between a torch model and its exported ONNX graph, checked on real inputs before anything is written."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from netslim.errors import ExportParityError


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """How closely the exported graph reproduces the torch model on the checked inputs."""

    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float  # fraction of samples whose top-1 class agrees (classifier outputs)
    samples: int
    worst_output: str
    atol: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.atol

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}


def compare_outputs(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], names: Sequence[str], atol: float
) -> ParityReport:
    """Compare output lists element-wise; the worst output is the one with the largest absolute difference."""
    worst, worst_diff, mean_diffs, agree, samples = names[0], -1.0, [], 1.0, 0
    for name, ref, got in zip(names, reference, candidate, strict=True):
        if ref.shape != got.shape:
            raise ExportParityError(f"output {name!r}: shape {got.shape} after export, {ref.shape} in torch")
        diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        if diff.max(initial=0.0) > worst_diff:
            worst, worst_diff = name, float(diff.max(initial=0.0))
        mean_diffs.append(float(diff.mean()) if diff.size else 0.0)
        if ref.ndim == 2 and name == names[0]:
            agree = float((ref.argmax(1) == got.argmax(1)).mean())
            samples = ref.shape[0]
    return ParityReport(
        max_abs_diff=worst_diff,
        mean_abs_diff=float(np.mean(mean_diffs)),
        argmax_agreement=agree,
        samples=samples,
        worst_output=worst,
        atol=atol,
    )


def torch_outputs(model: torch.nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    with torch.inference_mode():
        out = model(inputs)
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def require_parity(report: ParityReport, what: str) -> None:
    """Raise ExportParityError naming the worst output and its difference when ``report`` is not within atol."""
    if not report.ok:
        raise ExportParityError(
            f"{what}: output {report.worst_output!r} differs from torch by {report.max_abs_diff:.3g} "
            f"(tolerance {report.atol:.3g}; top-1 agreement {report.argmax_agreement:.2%} on {report.samples} "
            "samples). The exported graph is not faithful: check for ops the exporter changes (e.g. in-place "
            "updates, training-only branches) or raise the tolerance for a quantized model."
        )
