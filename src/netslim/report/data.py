"""What a report shows, as one plain dict built from the records netslim writes. Every key is optional; a section
whose value is missing or empty is shown as the sentence ``absent[section]`` (why it is absent)::

    title, subtitle, source, run_id   text
    facts          [(label, value)]   the headline numbers
    candidates     {batch, accuracy_of, front, note, reference: [ms, label] | None,
                    rows: [{name, accuracy (fraction), latency_ms, bytes, status, pareto, test_accuracy,
                            latency_by_batch}]}          status: chosen | baseline | within budget | rejected |
                                                         misses budget
    sizes          {of, rows: [{name, bytes, chosen}]}
    layers         {before, after, batch, threads, rows: [{name, before_ms, after_ms, missing}]}
    sensitivity    {of, unit, flag, rows: [{name, value, flag}]}
    frozen         [{layer, what, why}]
    transforms     [{candidate, verb, settings, layers, params: [before, after], macs: [...], bytes: [...]}]
    environment    [(name, value)]
    absent         {section: reason}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netslim.errors import DataError
from netslim.report.fields import field, items, mapping, number, read_json, text
from netslim.report.from_pipeline import from_demo, from_optimize
from netslim.report.from_search import from_search
from netslim.report.machine import policy_rows
from netslim.report.units import ms, percent, size

EXPORTED = "this artifact was exported directly (netslim export / a recipe): no candidates were compared"


def _artifact_facts(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    export = mapping(manifest, "export")
    out = [("artifact files", ", ".join(mapping(manifest, "files")) or text(manifest, "model_file"))]
    shape = [str(s) for s in items(manifest, "input_shape") if isinstance(s, int)]
    if shape:
        out.append(("input", f"(batch, {', '.join(shape)}) {text(manifest, 'input_dtype') or 'float32'}"))
    if export:
        parity = mapping(export, "parity")
        out.append(("ONNX", f"{size(number(export, 'bytes'))}, opset {text(export, 'opset')}"))
        if parity:
            out.append(
                (
                    "parity with torch",
                    f"max abs diff {number(parity, 'max_abs_diff') or 0:.2e}, top-1 agreement "
                    f"{percent(number(parity, 'argmax_agreement'), 1)}",
                )
            )
    if text(manifest, "source"):
        out.append(("source", text(manifest, "source")))
    return out


def _from_trial(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """An artifact holding one search trial (``RUN/best``, ``RUN/artifact``)."""
    trial = mapping(manifest, "trial")
    facts = [("trial", f"{text(trial, 'number')}: {text(trial, 'label')}")]
    facts.append(("validation accuracy", percent(number(trial, "val_accuracy"))))
    for batch in mapping(trial, "latency_ms"):
        speedup = number(trial, "speedup_vs_original", batch)
        times = f" ({speedup:.2f}× the original)" if speedup else ""
        facts.append((f"latency at batch {batch}", ms(number(trial, "latency_ms", batch)) + times))
    if number(manifest, "test_accuracy") is not None:
        facts.append(
            (
                "test accuracy",
                f"{percent(number(manifest, 'test_accuracy'))} (original "
                f"{percent(number(manifest, 'original_test_accuracy'))})",
            )
        )
    one = "this artifact holds one trial of a search; the run's report.html (in the run directory) compares them all"
    return {
        "facts": facts,
        "environment": [("machine fingerprint", text(trial, "fingerprint"))] if text(trial, "fingerprint") else [],
        "absent": {"candidates": one, "sizes": one, "sensitivity": one, "frozen": one, "transforms": one},
    }


def report_data_from_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The report data of an artifact's ``manifest.json`` (pipeline result, search trial, or plain export)."""
    result = mapping(manifest, "result")
    if result:
        data = from_optimize(result)
        data["title"] = f"artifact: {text(result, 'chosen') or 'optimized model'}"
        data["subtitle"] = "netslim pipeline: prune, quantize, export, time, select"
    elif mapping(manifest, "trial"):
        data = _from_trial(manifest)
        data["title"] = f"artifact: {text(manifest, 'trial', 'label')}"
        data["subtitle"] = text(manifest, "source") or "netslim search"
        data["environment"] += policy_rows(mapping(manifest, "runtime"))
    else:
        export = mapping(manifest, "export")
        data = {
            "title": f"artifact: {text(manifest, 'source') or 'exported model'}",
            "subtitle": "exported ONNX model" + (" (quantized)" if field(export, "quantized") else ""),
            "facts": [],
            "environment": policy_rows(mapping(manifest, "runtime")),
            "absent": {
                "candidates": EXPORTED,
                "sizes": EXPORTED,
                "sensitivity": "no quantization was measured when this artifact was written",
                "frozen": "no transform was applied when this artifact was written",
                "transforms": "no transform was applied when this artifact was written",
            },
        }
    data.setdefault("absent", {})
    data["absent"].setdefault("layers", "an artifact records whole-model timings only; netslim profile measures layers")
    data["absent"].setdefault("environment", "this artifact records no machine: it was exported, not measured")
    data["facts"] = data.get("facts", []) + _artifact_facts(manifest)
    data["run_id"] = text(manifest, "run_id")
    return data


def _load(path: Path) -> Any:
    value = read_json(path)
    if not isinstance(value, dict):
        raise DataError(
            f"{path}: not a JSON object netslim wrote (missing, unreadable or damaged); rewrite it with "
            "the command that made it"
        )
    return value


def report_data_from_dir(directory: str | Path) -> dict[str, Any]:
    """The report data of a directory netslim wrote: a search run (``search.json``), a demo (``result.json``), an
    artifact (``manifest.json``), or a directory holding ``artifact/``."""
    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; give a directory written by netslim demo, optimize or export")
    if (path / "search.json").is_file() or (path / "pareto.json").is_file():
        data = from_search(path)
    elif (path / "result.json").is_file():
        result = _load(path / "result.json")
        if not mapping(result, "optimize"):
            raise DataError(f"{path / 'result.json'}: not a demo result (no 'optimize' record)")
        data = from_demo(result)
        data["run_id"] = text(result, "run_id")
    elif (path / "manifest.json").is_file():
        data = report_data_from_manifest(_load(path / "manifest.json"))
    elif (path / "artifact" / "manifest.json").is_file():
        data = report_data_from_manifest(_load(path / "artifact" / "manifest.json"))
    else:
        raise DataError(
            f"{path}: holds no netslim record (looked for search.json, result.json, manifest.json, "
            "artifact/manifest.json); give a directory written by netslim demo, optimize or export"
        )
    data["source"] = str(path)
    return data
