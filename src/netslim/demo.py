"""The embedded default job behind ``netslim demo``: no arguments, no network.

Trains the seed's CNN on scikit-learn's bundled digits, measures held-out accuracy, profiles every layer, then runs
the whole optimization path (structured pruning with distilled fine-tuning, int8 quantization, ONNX export, runtimes
timed side by side, selection within the accuracy budget) and writes the deployable artifact.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from netslim import atomic
from netslim.analyze import ModelProfile, profile
from netslim.bench import TimingConfig
from netslim.data import Splits, example_batch, load_digits
from netslim.models import build_model, save_model
from netslim.pipeline import OptimizeConfig, OptimizeResult, optimize
from netslim.pipeline.optimize import Log
from netslim.report import REPORT, report_data_from_demo, write_report
from netslim.structure import analyze_structure
from netslim.train import Callback, Evaluation, TrainConfig, TrainRecord, evaluate, train_

DEMO_TRAINING = TrainConfig(epochs=30, optimizer="adam", lr=3e-3, batch_size=32, schedule="onecycle", seed=0)
DEMO_OPTIMIZE = OptimizeConfig(
    ratios=(0.5, 0.75),
    prune_steps=1,
    # on 1,257 training images plain fine-tuning recovered more than distillation did (measured, 20 epochs)
    finetune=TrainConfig(epochs=20, lr=3e-3, batch_size=32, schedule="onecycle"),
    distill=None,
    max_drop=0.01,  # 1 point: the digits validation split has 270 images, so 0.2 point would be below one image
    batch_sizes=(1, 256),
    objective_batch=256,
    timing=TimingConfig(warmup=10, repeats=50),
    # a 38K-MAC model: engine start-up and per-call overhead decide, ONNX Runtime's is the lowest measured here;
    # benchmarks/accelerate_seed_cnn.py times OpenVINO as well
    engines=("onnxruntime",),
)


@dataclasses.dataclass
class DemoResult:
    model: str
    train: TrainRecord
    test: Evaluation
    profile: ModelProfile
    optimized: OptimizeResult
    profile_after: ModelProfile | None = None  # the chosen structure, profiled like ``profile`` (per-layer latency)
    structure: dict[str, Any] | None = None  # the trained model's dependency groups: what is frozen and why

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": "digits (scikit-learn, embedded)",
            "train": self.train.to_dict(),
            "test": self.test.to_dict(),
            "profile": self.profile.to_dict(),
            "optimize": self.optimized.to_dict(),
            "profile_after": self.profile_after.to_dict() if self.profile_after else None,
            "structure": self.structure,
        }


def run_demo(
    *,
    out: str | Path | None = None,
    training: TrainConfig = DEMO_TRAINING,
    config: OptimizeConfig = DEMO_OPTIMIZE,
    callback: Callback | None = None,
    log: Log | None = None,
) -> DemoResult:
    """Run the demo; with ``out``, write ``model/`` (the trained fp32 model), ``artifact/``, ``result.json`` and
    ``report.html``, all replaced together (a killed run leaves the previous complete output)."""
    if out is not None:
        atomic.check_output_dir(out)  # before minutes of work, not after
    splits = load_digits(seed=training.seed)
    model = build_model("seed_cnn", splits.input_shape, splits.num_classes)
    record = train_(model, splits, training, callback=callback)
    test = evaluate(model, splits.test)
    prof = profile(model, splits.input_shape, batch_size=1, timing=config.timing)
    structure = analyze_structure(model, example_batch(splits)).to_dict()
    if out is None:
        optimized = optimize(model, splits, config, log=log)
        return DemoResult(
            "seed_cnn", record, test, prof, optimized, _chosen_profile(optimized, splits, config), structure
        )
    with atomic.directory(out) as tmp:
        optimized = optimize(model, splits, config, out=tmp / "artifact", log=log)
        optimized.artifact = str(Path(out) / "artifact")
        after = _chosen_profile(optimized, splits, config)
        result = DemoResult("seed_cnn", record, test, prof, optimized, after, structure)
        save_model(model, tmp / "model", extra={"test_accuracy": test.accuracy})
        payload = {**result.to_dict(), "run_id": atomic.RUN_ID}
        atomic.write_json(tmp / "result.json", payload)
        write_report(tmp / REPORT, {**report_data_from_demo(payload), "source": str(out)})
    return result


def _chosen_profile(optimized: OptimizeResult, splits: Splits, config: OptimizeConfig) -> ModelProfile:
    """The chosen structure (fp32, torch eager) profiled like the trained model: per-layer latency after."""
    chosen = next((v for v in optimized.structural if v.name == optimized.chosen_model), optimized.original)
    return profile(chosen.model, splits.input_shape, batch_size=1, timing=config.timing)
