"""The README's Python quick start, its command-line walk-through and its recipe run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netslim.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str, language: str) -> str:
    text = README.read_text()
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block after {after!r} in README.md"
    return match.group(1)


def test_the_python_quick_start_runs_as_written(tmp_path, monkeypatch, capsys) -> None:
    code = _block("<!-- quickstart -->", "python")
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README quick start", "exec"), scope)
    records, before, after = (
        scope["records"],
        *(scope["netslim"].evaluate(m, scope["splits"].test).accuracy for m in (scope["teacher"], scope["model"])),
    )
    assert [r.verb for r in records] == ["prune_", "finetune_", "quantize_"]
    assert records[0].macs_after < 0.4 * records[0].macs_before and records[2].bytes_after < records[2].bytes_before / 3
    assert before > 0.9 and after > before - 0.05  # half the channels and int8, within 5 points on 270 test images
    assert (tmp_path / "cnn-int8.onnx").is_file()
    assert "prune_" in capsys.readouterr().out


def test_the_command_line_walk_through_and_recipe_run_as_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    lines = [ln for ln in _block("For example, on the bundled digits", "bash").splitlines() if ln.strip()]
    Path("recipe.yaml").write_text(_block("A recipe (", "yaml"))
    text = README.read_text()
    recipe_cmd = re.search(r"`(netslim run [^`]+)`", text[text.index("A recipe (") :])
    assert recipe_cmd, "the README names the netslim run command of its recipe"
    for line in [*lines, recipe_cmd.group(1)]:
        args = shlex.split(line)
        assert args[0] == "netslim"
        result = runner.invoke(app, args[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    assert Path("runs/artifact/model.onnx").is_file() and Path("runs/recipe/artifact/model.onnx").is_file()


@pytest.mark.parametrize(
    "command", ["prune", "quantize", "compress", "edit", "run", "optimize", "worker", "export", "bench"]
)
def test_every_verb_in_the_readme_table_exists(command: str) -> None:
    assert f"`netslim {command} " in README.read_text()
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
