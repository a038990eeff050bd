"""The embedded default job behind ``netslim demo``: no arguments, no network.

Trains the seed's CNN on scikit-learn's bundled digits, measures held-out accuracy, profiles every layer and times
the model at batch 1 and a large batch. Later stages (prune, quantize, export, select) append their records here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from netslim import atomic
from netslim.analyze import ModelProfile, profile
from netslim.bench import Timing, TimingConfig, environment, time_model
from netslim.data import load_digits
from netslim.models import build_model, save_model
from netslim.train import Callback, Evaluation, TrainConfig, TrainRecord, evaluate, train_

DEMO_TRAINING = TrainConfig(epochs=30, optimizer="adam", lr=3e-3, batch_size=32, schedule="onecycle", seed=0)


@dataclasses.dataclass
class DemoResult:
    model: str
    train: TrainRecord
    test: Evaluation
    profile: ModelProfile
    timings: list[Timing]
    environment: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": "digits (scikit-learn, embedded)",
            "train": self.train.to_dict(),
            "test": self.test.to_dict(),
            "profile": self.profile.to_dict(),
            "timings": [t.to_dict() for t in self.timings],
            "environment": self.environment,
        }


def run_demo(
    *,
    out: str | Path | None = None,
    training: TrainConfig = DEMO_TRAINING,
    callback: Callback | None = None,
    timing: TimingConfig | None = None,
) -> DemoResult:
    """Run the demo; with ``out``, write ``model/`` and ``result.json`` there (atomically)."""
    splits = load_digits(seed=training.seed)
    model = build_model("seed_cnn", splits.input_shape, splits.num_classes)
    record = train_(model, splits, training, callback=callback)
    test = evaluate(model, splits.test)
    timing = timing or TimingConfig(warmup=10, repeats=50)
    prof = profile(model, splits.input_shape, batch_size=1, timing=timing)
    timings = [
        time_model(model, torch.rand(b, *splits.input_shape), timing, name="torch-eager") for b in (1, 256)
    ]
    result = DemoResult("seed_cnn", record, test, prof, timings, environment())
    if out is not None:
        out = Path(out)
        save_model(model, out / "model", extra={"test_accuracy": test.accuracy})
        atomic.write_json(out / "result.json", result.to_dict())
    return result
