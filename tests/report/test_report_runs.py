"""Reports written with real outputs: the demo directory, its artifact, a search run, a plain export; the values
shown are the records' own; ``netslim report`` rewrites any of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from netslim.cli.app import main
from netslim.errors import DataError
from netslim.export import load_artifact, save_artifact
from netslim.models import build_model
from netslim.report import REPORT, report_data_from_dir


def plots(page: str) -> set[str]:
    return set(re.findall(r'<figure data-plot="([\w-]+)"', page))


def absent(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-absent="([\w-]+)">Not shown: ([^<]+)</p>', page))


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["netslim", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_the_demo_writes_a_report_with_every_plot_from_its_records(demo_dir: Path) -> None:
    page = (demo_dir / REPORT).read_text()
    assert plots(page) == {"candidates", "size", "layer-latency", "sensitivity"}, absent(page)
    result = json.loads((demo_dir / "result.json").read_text())
    data = report_data_from_dir(demo_dir)
    selection = result["optimize"]["selection"]
    rows = {r["name"]: r for r in data["candidates"]["rows"]}
    assert set(rows) == {m["name"] for m in selection["measured"]}
    for measured in selection["measured"]:  # the plotted values are the measured ones
        assert rows[measured["name"]]["latency_ms"] == measured["timings"]["32"]["median_ms"]
        assert rows[measured["name"]]["accuracy"] == measured["accuracy"]
    assert [r["name"] for r in data["candidates"]["rows"] if r["status"] == "chosen"] == [selection["chosen"]]
    layers = [row["name"] for row in data["layers"]["rows"]]
    assert layers == [layer["name"] for layer in result["profile"]["layers"]]
    assert all(row["after_ms"] is not None for row in data["layers"]["rows"])  # pruning keeps every layer here
    variants = [result["optimize"]["original"], *result["optimize"]["structural"]]
    quantized = [v for v in variants if "quantize" in v["record"]]
    assert quantized and {r["name"] for r in data["sensitivity"]["rows"]} == {
        row["name"] for row in quantized[0]["record"]["quantize"]["layers"]
    }
    assert any("model output" in row["why"] for row in data["frozen"])  # the head's channels are frozen
    assert len(data["transforms"]) == sum(len(v["record"]) for v in result["optimize"]["structural"])
    assert dict(data["environment"])["CPU"] == result["optimize"]["environment"]["cpu"]
    assert "no search ran" in page  # a ladder has no Pareto front, and says so


def test_an_artifact_carries_its_report_and_still_loads(demo_dir: Path) -> None:
    artifact = demo_dir / "artifact"
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert (artifact / REPORT).is_file() and REPORT not in manifest["files"]  # informational, not hashed
    page = (artifact / REPORT).read_text()
    assert {"candidates", "size", "sensitivity"} <= plots(page)
    assert "per-layer latency" in absent(page)["layer-latency"]
    (artifact / REPORT).write_text("edited by hand")  # a changed report does not make the artifact unloadable
    assert load_artifact(artifact)(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_a_plain_export_says_what_it_does_not_have(tmp_path: Path) -> None:
    save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), tmp_path / "a", manifest={"source": "x"})
    page = (tmp_path / "a" / REPORT).read_text()
    assert plots(page) == set()
    missing = absent(page)
    assert "exported directly" in missing["candidates"] and "no transform" in missing["transforms"]
    assert "parity with torch" in page and "model.onnx" in page


def test_a_search_run_reports_every_trial_and_its_pareto_front(search_dir: Path) -> None:
    page = (search_dir / REPORT).read_text()
    assert {"candidates", "size", "sensitivity"} <= plots(page), absent(page)
    assert "a search times each trial" in absent(page)["layer-latency"]
    trials = [json.loads(p.read_text()) for p in (search_dir / "trials").glob("*.json")]
    front = {row["number"] for row in json.loads((search_dir / "pareto.json").read_text())["front"]}
    result = json.loads((search_dir / "result.json").read_text())
    data = report_data_from_dir(search_dir)
    rows = data["candidates"]["rows"]
    assert len(rows) == len(trials) + (result["chosen"]["number"] < 0)
    assert {int(r["name"].split(":")[0].split()[-1]) for r in rows if r["pareto"]} == front
    by_name = {r["name"]: r for r in rows}
    for trial in trials:
        row = by_name[f"trial {trial['number']}: {trial['label']}"]
        assert (row["latency_ms"], row["bytes"]) == (trial["latency_ms"]["32"], trial["bytes"])
    if front:
        assert "front-line" in page or len(front) == 1


def test_netslim_report_rewrites_a_report_and_fails_in_one_line(tmp_path, demo_dir, monkeypatch, capsys) -> None:
    out = tmp_path / "copy.html"
    code, stdout, _ = run_cli(monkeypatch, capsys, "report", str(demo_dir), "--out", str(out), "--json")
    assert code == 0 and json.loads(stdout)["report"] == str(out)
    assert plots(out.read_text()) == plots((demo_dir / REPORT).read_text())
    (tmp_path / "other").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "report", str(tmp_path / "other"))
    assert code == 2 and err.count("error:") == 1 and "holds no netslim record" in " ".join(err.split())
    code, _, err = run_cli(monkeypatch, capsys, "report", str(demo_dir), "--out", str(tmp_path / "r.json"))
    assert code == 2 and ".html" in err
    with pytest.raises(DataError, match="not a directory"):
        report_data_from_dir(tmp_path / "missing")
