"""Which Optuna sampler the search should use: TPE with constraints against NSGA-II with constraints, at equal trial
counts, on the seed CNN trained on the bundled digits (small enough for several seeds on 2 cores). For each sampler
and seed: the best feasible latency at the objective batch after 8, 16 and 24 trials (lower is better; latency is
measured side by side with the original in every trial, so the ratio to the original is the comparable number).

Usage: python benchmarks/search_sampler.py [TRIALS]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import cpu_name, write_results
from netslim.bench import TimingConfig
from netslim.data import load_digits
from netslim.models import build_model
from netslim.search import Budget, SearchConfig, search
from netslim.train import TrainConfig, train_

SEEDS = (0, 1, 2)


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    splits = load_digits()
    torch.manual_seed(0)
    model = build_model("seed_cnn", splits.input_shape)
    train_(model, splits, TrainConfig(epochs=15, lr=3e-3, batch_size=32))
    results: dict[str, list[list[float]]] = {}
    for sampler in ("tpe", "nsga2"):
        results[sampler] = []
        for seed in SEEDS:
            config = SearchConfig(
                budget=Budget(max_drop=0.02, trials=trials, time_budget_s=1800),
                batch_sizes=(1, 64),
                objective_batch=64,
                engines=("onnxruntime",),
                finetune=TrainConfig(epochs=2, lr=3e-3, batch_size=32),
                epochs=(1, 2, 4),
                sampler=sampler,
                seed=seed,
                timing=TimingConfig(warmup=3, repeats=15),
                rescreen=1,
            )
            run = Path(tempfile.mkdtemp()) / "search"
            search(model, splits, config, out=run)
            rows = sorted(
                (json.loads(p.read_text()) for p in (run / "trials").glob("*.json")), key=lambda r: r["number"]
            )
            best, curve = float("inf"), []
            for number in range(trials):
                row = next((r for r in rows if r["number"] == number), None)
                if row is not None and row["feasible"]:
                    best = min(best, 1.0 / row["speedup_vs_original"]["64"])  # latency relative to the original
                curve.append(best)
            results[sampler].append(curve)
            print(sampler, seed, [f"{c:.3f}" for c in curve[7::8]])
    marks = [m for m in (8, 16, 24, trials) if m <= trials]
    marks = sorted(set(marks))
    table = [
        f"Seed CNN on the bundled digits, budget 2 points, {trials} trials per run, seeds {SEEDS}: best feasible "
        f"latency at batch 64 relative to the original's fastest runtime (lower is better), mean (min-max) over seeds; "
        f"CPU: {cpu_name()}",
        "",
        "| sampler | " + " | ".join(f"after {m} trials" for m in marks) + " |",
        "|---|" + "---|" * len(marks),
    ]
    for sampler, curves in results.items():
        cells = []
        for m in marks:
            values = np.array([c[m - 1] for c in curves])
            cells.append(f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})")
        table.append(f"| {sampler} | " + " | ".join(cells) + " |")
    write_results("search_sampler", {"trials": trials, "seeds": SEEDS, "curves": results}, table)


if __name__ == "__main__":
    main()
