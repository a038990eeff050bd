"""Two `netslim worker` processes on one study in a real PostgreSQL server; kill -9 of one mid-trial loses no
finished trial, and `--resume` finishes the study. The server is started here from the PostgreSQL binaries
(.ci/run installs them); without them the test skips, unless NETSLIM_REQUIRE_POSTGRES=1 (CI) makes that a failure."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netslim.models import build_model, save_model
from netslim.train import TrainConfig, train_


def _binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres():
    bindir = _binaries()
    if bindir is None:
        if os.environ.get("NETSLIM_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs them")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="netslim-pg-"))  # outside pytest's 0700 tree: the server user reads it
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and there is no 'postgres' user to run the server as")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "netslim")
        yield f"postgresql://postgres@127.0.0.1:{port}/netslim"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _netslim(*args: str) -> list[str]:
    return [sys.executable, "-m", "netslim", *args]


def _finished(run: Path) -> dict[int, dict]:
    return {int(p.stem): json.loads(p.read_text()) for p in (run / "trials").glob("*.json")}


def test_two_workers_on_postgres_survive_a_kill_and_resume_finishes(tmp_path, postgres, digits) -> None:
    import optuna

    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=10, lr=3e-3, batch_size=32))
    save_model(model, tmp_path / "cnn")
    run = tmp_path / "run"
    total = 8
    first = subprocess.Popen(
        _netslim("optimize", str(tmp_path / "cnn"), "--data", "digits", "--max-drop", "5", "--batch", "1,32",
                 "--trials", str(total), "--storage", postgres, "--out", str(run)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (run / "search.json").is_file() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    assert (run / "search.json").is_file(), "the first worker never created the run"
    second = subprocess.Popen(
        _netslim("worker", str(run), "--trials", str(total)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip

    def running_in_second() -> list:
        study = optuna.load_study(study_name="netslim", storage=postgres)
        return [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                if str(t.user_attrs.get("worker", "")).endswith(f":{second.pid}")]  # fmt: skip

    while time.monotonic() < deadline and second.poll() is None:
        if len(_finished(run)) >= 3 and running_in_second():
            break
        time.sleep(0.1)
    assert second.poll() is None, "the second worker ended before it could be killed mid-trial"
    os.killpg(second.pid, signal.SIGKILL)  # the second worker dies mid-trial
    second.wait()
    killed = [t.number for t in running_in_second()]
    assert killed, "no trial of the second worker was running when it was killed"
    before = _finished(run)
    assert len(before) >= 3
    first.wait(timeout=600)
    resumed = subprocess.run(_netslim("optimize", "x", "--resume", "--out", str(run), "--json"), capture_output=True,
                             text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _finished(run)
    for number, row in before.items():
        assert after[number] == row  # no finished trial was lost or changed
    study = optuna.load_study(study_name="netslim", storage=postgres)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") >= total
    assert "RUNNING" not in states and "WAITING" not in states
    for number in killed:  # the trial the kill interrupted was failed, and its plan was run again
        lost = study.trials[number]
        assert lost.state.name == "FAIL"
        assert any(t.params == lost.params and t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    workers = {t.user_attrs.get("worker") for t in study.trials if t.user_attrs.get("worker")}
    assert len(workers) >= 2  # both workers ran trials of the one study
    assert json.loads((run / "result.json").read_text())["met"] is True
