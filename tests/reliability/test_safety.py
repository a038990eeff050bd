"""What a hostile-but-ordinary user hits: bad CLI values and files get one clear error (never a traceback), --out
never deletes what netslim did not write, a killed write leaves the old or the new output whole, NaN never passes
a parity check, a manifest cannot point outside its artifact, a diverging training run saves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from netslim.cli.app import main
from netslim.errors import ExportParityError, ModelLoadError, OutputError
from netslim.export import export_onnx, load_artifact, save_artifact
from netslim.models import build_model, save_model


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["netslim", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def bad_inputs(tmp: Path) -> list[list[str]]:
    (tmp / "notes.txt").write_text("hello")
    (tmp / "model.onnx").write_bytes(b"\x08\x07 not really onnx")
    (tmp / "broken").mkdir()
    (tmp / "broken" / "model.json").write_text("{not json")
    (tmp / "broken" / "weights.pt").write_bytes(b"junk")
    (tmp / "hf").mkdir()
    (tmp / "hf" / "config.json").write_text('{"model_type": "bert"}')
    return [
        ["profile", "seed_cnn", "--input-shape", "28x"],
        ["profile", "seed_cnn", "--input-shape", "1,,8"],
        ["profile", "seed_cnn", "--input-shape", "1,-8,8"],
        ["profile", "seed_cnn", "--threads", "100000"],
        ["bench", "seed_cnn", "--batch", "a,b"],
        ["bench", "seed_cnn", "--batch", "0"],
        ["profile", "no_such_zoo_model"],
        ["profile", str(tmp / "missing")],
        ["profile", str(tmp / "notes.txt")],
        ["profile", str(tmp / "model.onnx")],
        ["profile", str(tmp / "broken")],
        ["profile", str(tmp / "hf")],
        ["bench", str(tmp / "broken")],
        ["train", "seed_mlp", "--data", str(tmp / "missing.npz")],
        ["train", "seed_mlp", "--data", str(tmp / "notes.txt")],
        ["quantize", "seed_mlp", "--out", str(tmp / "q")],
        ["optimize", "seed_mlp", "--data", "digits", "--max-latency", "fast", "--out", str(tmp / "o")],
        ["optimize", "x", "--resume", "--out", str(tmp / "nothing-here")],
        ["worker", str(tmp / "nothing-here")],
        ["run", str(tmp / "notes.txt"), "seed_mlp", "--out", str(tmp / "r")],
        ["export", "seed_cnn", "--out", str(tmp / "notes.txt")],
    ]


def test_every_bad_input_is_one_clear_error_without_a_traceback(tmp_path, monkeypatch, capsys) -> None:
    for args in bad_inputs(tmp_path):
        code, out, err = run_cli(monkeypatch, capsys, *args)
        text = out + err
        assert code == 2, f"{args}: exit {code}\n{text}"
        assert "Traceback" not in text, f"{args}\n{text}"
        assert "error" in text.lower() or "invalid" in text.lower(), f"{args}\n{text}"


def test_json_errors_are_json(tmp_path, monkeypatch, capsys) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "profile", str(tmp_path / "missing"), "--json")
    assert code == 2
    payload = json.loads(out)
    assert payload["exit_code"] == 2 and str(tmp_path / "missing") in payload["error"]


def test_brackets_in_messages_survive(tmp_path, monkeypatch, capsys) -> None:
    folder = tmp_path / "run[final]"
    code, _, err = run_cli(monkeypatch, capsys, "profile", str(folder))
    assert code == 2 and "run[final]" in err


def test_an_unexpected_failure_is_reported_as_a_bug_with_a_log(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NETSLIM_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr("netslim.cli.app.app", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    code, _, err = run_cli(monkeypatch, capsys, "zoo")
    assert code == 70 and "netslim bug" in err and "Traceback" not in err
    (log,) = (tmp_path / "logs").iterdir()
    assert "RuntimeError: boom" in log.read_text()


def test_out_over_a_directory_of_the_users_files_leaves_them_in_place(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = run_cli(monkeypatch, capsys, "export", "seed_cnn", "--input-shape", "1,8,8", "--out", str(out))
    assert code == 2 and "did not write" in err
    assert (out / "thesis.tex").read_text() == "years of work"
    with pytest.raises(OutputError):
        save_model(build_model("seed_mlp", (1, 8, 8)), out)
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_an_output_that_is_the_input_is_refused(tmp_path, monkeypatch, capsys) -> None:
    save_model(build_model("seed_mlp", (1, 8, 8)), tmp_path / "m")
    before = (tmp_path / "m" / "weights.pt").read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "export", str(tmp_path / "m"), "--out", str(tmp_path / "m"))
    assert code == 2 and "input" in err
    assert (tmp_path / "m" / "weights.pt").read_bytes() == before


def test_an_unwritable_out_fails_before_any_work(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "file").write_text("x")
    started = time.perf_counter()
    target = str(tmp_path / "file" / "m")
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "seed_cnn", "--data", "digits", "--epochs", "50", "--out", target
    )
    assert code == 2 and "is a file" in err
    assert time.perf_counter() - started < 5  # no 50 epochs were trained first


def test_outputs_honour_the_umask(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        save_model(build_model("seed_mlp", (1, 8, 8)), tmp_path / "m")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "m" / "weights.pt").stat().st_mode & 0o777 == 0o644


WRITER = textwrap.dedent(
    """
    import sys, torch
    from netslim.export import save_artifact
    from netslim.models import build_model
    out = sys.argv[1]
    models = [build_model(name, (1, 8, 8)) for name in ("seed_mlp", "seed_mlp_64")]
    print("ready", flush=True)
    i = 0
    while True:
        save_artifact(models[i % 2], torch.rand(2, 1, 8, 8), out, manifest={"round": i})
        i += 1
    """
)


def test_a_write_killed_at_any_moment_leaves_the_old_or_the_new_output_whole(tmp_path) -> None:
    out = tmp_path / "artifact"
    save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), out, manifest={"round": -1})
    rng = np.random.default_rng(0)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        artifact = load_artifact(out)  # the SHA-256 of every file matches its manifest: one run's complete output
        marker = json.loads((out / ".netslim-output").read_text())
        assert marker["run_id"] == artifact.manifest["run_id"]
        assert artifact(np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 10)


def test_nan_weights_never_pass_the_parity_check(tmp_path) -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    with torch.no_grad():
        model.fc1.weight[0, 0] = float("nan")
    with pytest.raises(ExportParityError, match="NaN/Inf"):
        export_onnx(model, torch.rand(2, 1, 8, 8), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_manifest_cannot_point_outside_its_artifact_or_at_a_swapped_file(tmp_path) -> None:
    for name in ("a", "b"):
        save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), tmp_path / name)
    manifest_path = tmp_path / "a" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for target in ("../b/model.onnx", str(tmp_path / "b" / "model.onnx")):
        manifest_path.write_text(json.dumps({**manifest, "model_file": target}))
        with pytest.raises(ModelLoadError, match="not a file inside the artifact"):
            load_artifact(tmp_path / "a")
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "a" / "model.onnx").write_bytes((tmp_path / "b" / "model.onnx").read_bytes())  # same shapes
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_artifact(tmp_path / "a")


def test_a_diverging_training_run_stops_with_an_error_and_saves_nothing(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "m"
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "seed_mlp", "--data", "digits", "--lr", "1e30", "--epochs", "2", "--out", str(out)
    )  # fmt: skip
    assert code == 2 and "diverged" in err and "lr" in err
    assert not out.exists()


def test_two_writers_of_one_output_and_stale_temporaries(tmp_path) -> None:
    from netslim import atomic

    out = tmp_path / "out"
    stale = tmp_path / ".out.tmp-999999999-dead"  # left by a killed run (no such process)
    stale.mkdir()
    with atomic.directory(out) as tmp:
        (tmp / "a").write_text("first")
        with pytest.raises(OutputError, match="another netslim run is writing"), atomic.directory(out):
            pass
    assert (out / "a").read_text() == "first" and not stale.exists()
