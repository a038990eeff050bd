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
    nonfinite: int = 0  # NaN/Inf values in either output: never parity, whatever the other numbers say

    @property
    def ok(self) -> bool:
        return self.nonfinite == 0 and self.max_abs_diff <= self.atol

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}


def compare_outputs(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], names: Sequence[str], atol: float
) -> ParityReport:
    """Compare output lists element-wise; the worst output is the one with the largest absolute difference."""
    worst, worst_diff, mean_diffs, agree, samples, nonfinite = names[0], 0.0, [], 1.0, 0, 0
    for name, ref, got in zip(names, reference, candidate, strict=True):
        if ref.shape != got.shape:
            raise ExportParityError(f"output {name!r}: shape {got.shape} after export, {ref.shape} in torch")
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        bad = int((~np.isfinite(ref64)).sum() + (~np.isfinite(got64)).sum())
        diff = np.abs(ref64 - got64)
        diff[~np.isfinite(diff)] = np.inf  # NaN compares false with everything: count it as the worst difference
        if bad and nonfinite == 0:
            worst = name
        nonfinite += bad
        if not nonfinite and diff.max(initial=0.0) > worst_diff:
            worst, worst_diff = name, float(diff.max(initial=0.0))
        elif bad:
            worst_diff = float("inf")
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
        nonfinite=nonfinite,
    )


def torch_outputs(model: torch.nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    with torch.inference_mode():
        out = model(inputs)
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def require_parity(report: ParityReport, what: str) -> None:
    """Raise ExportParityError naming the worst output and its difference when ``report`` is not within atol."""
    if report.nonfinite:
        raise ExportParityError(
            f"{what}: output {report.worst_output!r} holds {report.nonfinite} NaN/Inf values on the parity inputs "
            "(torch or the exported graph); a model with non-finite weights or outputs cannot be checked, so it is "
            "not exported. Check the weights (a diverged training run) and the inputs."
        )
    if not report.ok:
        raise ExportParityError(
            f"{what}: output {report.worst_output!r} differs from torch by {report.max_abs_diff:.3g} "
            f"(tolerance {report.atol:.3g}; top-1 agreement {report.argmax_agreement:.2%} on {report.samples} "
            "samples). The exported graph is not faithful: check for ops the exporter changes (e.g. in-place "
            "updates, training-only branches) or raise the tolerance for a quantized model."
        )
