from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from netslim.cli.app import app, main

runner = CliRunner()


def test_demo_trains_profiles_and_reports_test_accuracy(tmp_path) -> None:
    result = runner.invoke(app, ["demo", "--json", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["test"]["accuracy"] >= 0.95
    assert payload["profile"]["total_macs"] > 0 and payload["profile"]["bottlenecks"]
    selection = payload["optimize"]["selection"]
    assert all(set(m["timings"]) == {"1", "256"} for m in selection["measured"])
    assert selection["speedup"] >= 1.0  # never slower than the original's fastest fp32 runtime
    assert (tmp_path / "run" / "model" / "weights.pt").is_file()
    assert (tmp_path / "run" / "artifact" / "model.onnx").is_file()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["model"] == "seed_cnn"


def test_profile_command_table_and_json() -> None:
    table = runner.invoke(app, ["profile", "seed_cnn", "--input-shape", "1,28,28", "--repeats", "3"])
    assert table.exit_code == 0, table.output
    assert "conv2" in table.stdout and "bottleneck" in table.stdout
    as_json = runner.invoke(app, ["profile", "seed_cnn", "--input-shape", "1,28,28", "--no-latency", "--json"])
    assert json.loads(as_json.stdout)["total_macs"] == 2_631_040


def test_train_command_saves_a_model_that_profile_loads(tmp_path) -> None:
    out = tmp_path / "mlp"
    result = runner.invoke(
        app, ["train", "seed_mlp", "--data", "digits", "--epochs", "10", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test"]["accuracy"] > 0.85
    again = runner.invoke(app, ["profile", str(out), "--no-latency", "--json"])
    assert json.loads(again.stdout)["input_shape"] == [1, 8, 8]


def test_errors_are_one_clear_message(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.argv", ["netslim", "train", "seed_mlp", "--data", str(tmp_path / "missing.npz")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing.npz" in err and "Traceback" not in err


def test_zoo_lists_models() -> None:
    result = runner.invoke(app, ["zoo", "--json"])
    assert "seed_cnn" in {e["name"] for e in json.loads(result.stdout)}


def test_export_writes_an_artifact_that_bench_and_load_artifact_run(tmp_path) -> None:
    import numpy as np

    from netslim import load_artifact

    out = tmp_path / "artifact"
    result = runner.invoke(app, ["export", "seed_cnn", "--input-shape", "1,8,8", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parity"]["ok"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input_shape"] == [1, 8, 8] and manifest["source"] == "seed_cnn"
    assert load_artifact(out)(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)
    timed = runner.invoke(app, ["bench", str(out), "--batch", "1,4", "--repeats", "3", "--json"])
    assert [t["batch_size"] for t in json.loads(timed.stdout)] == [1, 4]
    side = runner.invoke(app, ["bench", "seed_mlp", "--input-shape", "1,8,8", "--batch", "2", "--repeats", "3"])
    assert side.exit_code == 0 and "torch-eager" in side.stdout and "onnxruntime" in side.stdout


def test_export_names_an_unknown_quant_format(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "a"
    argv = ["netslim", "export", "seed_cnn", "--input-shape", "1,8,8", "--out", str(out), "--quant-format", "qlin"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "quant_format" in err and "Traceback" not in err
    assert not out.exists()
