"""The budgeted search on the bundled digits: artifacts, front and trial records on disk, budgets nothing meets,
resuming a killed run without losing a finished trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from netslim.bench import TimingConfig
from netslim.cli.app import app
from netslim.errors import BudgetNotMetError, ConfigError
from netslim.export import load_artifact
from netslim.models import build_model, save_model
from netslim.search import Budget, SearchConfig, parse_bytes, parse_duration, parse_latency, search
from netslim.train import TrainConfig, train_

FAST = dict(
    batch_sizes=(1, 32),
    objective_batch=32,
    epochs=(1,),
    prune_steps=1,
    engines=("onnxruntime",),
    finetune=TrainConfig(epochs=1, lr=3e-3, batch_size=32),
    calibration_samples=128,
    rescreen=2,
    timing=TimingConfig(warmup=2, repeats=8),
)


@pytest.fixture(scope="module")
def trained(digits):
    torch.manual_seed(0)
    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=12, lr=3e-3, batch_size=32))
    return model


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("search") / "cnn"
    save_model(trained, path)
    return path


def _trial_files(run: Path) -> dict[int, dict]:
    return {int(p.stem): json.loads(p.read_text()) for p in (run / "trials").glob("*.json")}


def test_a_search_writes_the_artifact_the_front_and_every_trial(tmp_path, digits, trained) -> None:
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    config = SearchConfig(budget=Budget(max_drop=0.03, trials=5, time_budget_s=300), **FAST)
    result = search(trained, digits, config, out=tmp_path / "run")
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())  # the input is untouched
    assert result.met and result.artifact
    run = tmp_path / "run"
    for name in ("search.json", "pareto.json", "result.json", "best/model.onnx", "artifact/manifest.json"):
        assert (run / name).exists(), name
    files = _trial_files(run)
    assert files and all(row["fingerprint"] == files[min(files)]["fingerprint"] for row in files.values())
    front = json.loads((run / "pareto.json").read_text())["front"]
    assert 1 <= len(front) <= len(files)
    manifest = json.loads((run / "artifact" / "manifest.json").read_text())
    assert manifest["budget_met"] is True
    chosen = result.chosen
    assert chosen is not None and chosen["val_accuracy"] >= manifest["trial"]["val_accuracy"] - 1e-12
    # never slower than the original's fastest fp32 runtime, as measured when the finalists were timed again
    rescreen = chosen["rescreen"]
    assert rescreen["speedup"] >= 1.0
    artifact = load_artifact(run / "artifact")
    logits = artifact(digits.test.x)
    assert float((logits.argmax(1) == digits.test.y).mean()) == pytest.approx(manifest["test_accuracy"], abs=1e-9)


def test_a_budget_nothing_meets_still_leaves_a_loadable_artifact_and_names_the_misses(tmp_path, digits, trained):
    config = SearchConfig(budget=Budget(max_drop=0.05, max_bytes=1_000, trials=3, time_budget_s=300), **FAST)
    with pytest.raises(BudgetNotMetError, match="size by"):
        search(trained, digits, config, out=tmp_path / "run")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["met"] is False and result["misses"]["size"] > 0
    manifest = json.loads((tmp_path / "run" / "artifact" / "manifest.json").read_text())
    assert manifest["budget_met"] is False
    assert load_artifact(tmp_path / "run" / "artifact")(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_the_cli_exits_3_when_the_budget_is_not_met(tmp_path, saved) -> None:
    args = ["optimize", str(saved), "--data", "digits", "--max-size", "1KB", "--trials", "2", "--batch", "1,32"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 3, result.output
    payload = json.loads(result.stdout)
    assert payload["met"] is False and "size" in payload["misses"]


def test_an_existing_run_is_never_overwritten_and_resume_needs_one(tmp_path, digits, trained) -> None:
    config = SearchConfig(budget=Budget(max_drop=0.05, trials=1, time_budget_s=120), **FAST)
    search(trained, digits, config, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a search"):
        search(trained, digits, config, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="--resume needs a run directory"):
        search(trained, digits, config, out=tmp_path / "other", resume=True)


def test_a_killed_run_resumes_without_losing_a_finished_trial(tmp_path, saved) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "netslim", "optimize", str(saved), "--data", "digits", "--max-drop", "5"]
    cmd += ["--trials", "6", "--batch", "1,32", "--out", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(_trial_files(run)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-way: two trials on disk, the next one running
    proc.wait()
    finished = _trial_files(run)
    assert len(finished) >= 2, "the search did not get two trials done before the kill"
    resumed = CliRunner().invoke(app, ["optimize", "x", "--resume", "--out", str(run), "--json"])
    assert resumed.exit_code == 0, resumed.output
    after = _trial_files(run)
    for number, row in finished.items():  # every trial finished before the kill is still there, unchanged
        assert after[number] == row
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="netslim", storage=JournalStorage(JournalFileBackend(str(run / "study.journal")))
    )
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") >= 6
    assert "RUNNING" not in states and "WAITING" not in states  # the killed trial was failed, queued and run again
    assert (run / "artifact" / "model.onnx").is_file()


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_latency, "2ms@1", (2.0, 1)),
        (parse_latency, "500us@8", (0.5, 8)),
        (parse_latency, "1.5ms", (1.5, 1)),
        (parse_bytes, "1MB", 1_000_000),
        (parse_bytes, "512KiB", 524_288),
        (parse_duration, "20m", 1200.0),
        (parse_duration, "90s", 90.0),
    ],
)
def test_budget_flags_parse(parse, text: str, expected) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text"), [(parse_latency, "2 lightyears"), (parse_bytes, "-3MB"), (parse_duration, "0m")]
)
def test_bad_budget_flags_are_one_clear_error(parse, text: str) -> None:
    with pytest.raises(ConfigError):
        parse(text)
