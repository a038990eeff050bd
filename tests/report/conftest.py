"""Real outputs to report on, written once per test session by small, fast runs of the real writers: a demo
directory (``run_demo``) and a search run directory (``search``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from netslim.bench import TimingConfig
from netslim.demo import run_demo
from netslim.models import build_model
from netslim.pipeline import OptimizeConfig
from netslim.search import Budget, SearchConfig, search
from netslim.train import TrainConfig, train_

TIMING = TimingConfig(warmup=2, repeats=8)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """``netslim demo``'s output with a shorter training and one pruning ratio (about 5 s)."""
    out = tmp_path_factory.mktemp("report") / "demo"
    run_demo(
        out=out,
        training=TrainConfig(epochs=8, optimizer="adam", lr=3e-3, batch_size=32, schedule="onecycle", seed=0),
        config=OptimizeConfig(
            ratios=(0.5,),
            prune_steps=1,
            finetune=TrainConfig(epochs=2, lr=3e-3, batch_size=32, schedule="onecycle"),
            distill=None,
            max_drop=0.05,
            batch_sizes=(1, 32),
            objective_batch=32,
            timing=TIMING,
            engines=("onnxruntime",),
            threads=1,
        ),
    )
    return out


@pytest.fixture(scope="session")
def search_dir(tmp_path_factory, digits) -> Path:
    """A finished search run directory: three trials on a briefly trained seed CNN (about 6 s)."""
    torch.manual_seed(0)
    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=4, lr=3e-3, batch_size=32))
    run = tmp_path_factory.mktemp("report") / "run"
    config = SearchConfig(
        budget=Budget(max_drop=0.1, trials=3, time_budget_s=120),
        batch_sizes=(1, 32),
        objective_batch=32,
        epochs=(1,),
        prune_steps=1,
        engines=("onnxruntime",),
        threads=1,
        finetune=TrainConfig(epochs=1, lr=3e-3, batch_size=32),
        calibration_samples=128,
        rescreen=1,
        timing=TIMING,
    )
    search(model, digits, config, out=run)
    return run
