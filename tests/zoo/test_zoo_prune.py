"""The zoo test: prune 30% of every prunable group of real architectures (Hugging Face models built offline from
configs with random weights, and netslim's own zoo): the forward pass keeps working with the same output shape,
MACs go down, and the pruned model survives save/load with equal outputs."""

from __future__ import annotations

import pytest
import torch

from netslim.analyze import profile
from netslim.models import build_model, list_models, load_model, save_model
from netslim.structure import PruneConfig, analyze_structure, prune_

pytest.importorskip("transformers", reason="the zoo test needs the hf extra: pip install 'netslim[hf]'")

from hf_zoo import HF_MODELS, build, logits

# Known gaps, kept visible: strict xfails turn into failures the day they start passing.
KNOWN_GAPS = {
    "hf:convnextv2": "GRN (global response norm) and its channels-first layer norm are not modelled: all frozen",
    "hf:bit": "weight-standardized convs compute their weight in forward(); such convs are not recognised yet",
    "hf:gpt2": "transformers' Conv1D (GPT-2's addmm with an (in, out) weight) is not recognised as a linear layer yet",
}
CASES = [
    pytest.param(case, marks=pytest.mark.xfail(reason=KNOWN_GAPS[case], strict=True)) if case in KNOWN_GAPS else case
    for case in [f"hf:{name}" for name in HF_MODELS] + [f"netslim:{e.name}" for e in list_models()]
]


def make(case: str) -> tuple[torch.nn.Module, torch.Tensor]:
    kind, name = case.split(":")
    if kind == "hf":
        return build(name)
    torch.manual_seed(0)
    return build_model(name, (1, 8, 8)).eval(), torch.rand(2, 1, 8, 8)


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return logits(model.eval()(x))


@pytest.mark.parametrize("case", CASES)
def test_prune_30_percent_keeps_forward_lowers_macs_and_round_trips(tmp_path, case: str) -> None:
    model, x = make(case)
    before_shape = run(model, x).shape
    macs_before = profile(model, example=x, measure_latency=False).total_macs
    report = analyze_structure(model, x)
    assert report.prunable, f"{case}: nothing prunable\n{report.explain()}"
    prune_(model, PruneConfig(ratio=0.3), example=x)
    out = run(model, x)
    assert out.shape == before_shape and torch.isfinite(out).all()
    assert profile(model, example=x, measure_latency=False).total_macs < macs_before
    save_model(model, tmp_path / "m")
    torch.testing.assert_close(run(load_model(tmp_path / "m"), x), out, rtol=1e-5, atol=1e-5)
