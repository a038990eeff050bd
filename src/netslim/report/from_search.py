"""Report sections from a search run directory (``netslim optimize``): ``search.json`` (config, space, machine),
``trials/NNNN.json`` (one row per measured trial), ``pareto.json`` (the front), ``result.json`` (the choice, once the
run finished) and ``artifact/manifest.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netslim.report.fields import field, items, mapping, number, read_json, text
from netslim.report.machine import environment_rows, policy_rows
from netslim.report.units import is_number, percent, size

MAX_BARS = 30  # size bars shown; the candidates table lists every trial


def _trials(run: Path) -> list[dict[str, Any]]:
    rows = [read_json(path) for path in sorted((run / "trials").glob("*.json"))]
    return [row for row in rows if isinstance(row, dict) and is_number(row.get("number"))]


def _name(row: dict[str, Any]) -> str:
    number_ = int(row["number"])
    return f"trial {number_}: {text(row, 'label')}" if number_ >= 0 else f"original: {text(row, 'label')}"


def _candidates(
    rows: list[dict[str, Any]], batch: str, chosen: Any, front: set[Any], test: float | None
) -> list[dict[str, Any]]:
    """Candidate rows; ``test``: the chosen trial's test accuracy (measured on its final artifact)."""
    out = []
    for row in rows:
        accuracy, latency = number(row, "val_accuracy"), number(row, "latency_ms", batch)
        if accuracy is None or latency is None:
            continue
        if row["number"] == chosen:
            status = "chosen"
        else:
            status = "within budget" if field(row, "feasible") is not False else "misses budget"
        out.append(
            {
                "name": _name(row),
                "accuracy": accuracy,
                "latency_ms": latency,
                "bytes": number(row, "bytes"),
                "status": status,
                "pareto": row["number"] in front,
                "test_accuracy": number(row, "test_accuracy") or (test if row["number"] == chosen else None),
                "latency_by_batch": {b: number(row, "latency_ms", b) for b in mapping(row, "latency_ms")},
            }
        )
    return out


def _reference(result: Any, batch: str) -> list[Any] | None:
    """The original's fastest fp32 runtime at ``batch``, timed again beside the finalists."""
    measured = [m for m in items(result, "chosen", "rescreen", "measured") if text(m, "name").startswith("original/")]
    times = [t for t in (number(m, "timings", batch, "median_ms") for m in measured) if t is not None]
    return [min(times), "original (fastest fp32 runtime)"] if times else None


def _sizes(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    shown = [r for r in rows if is_number(r["bytes"])]
    if not shown:
        return None
    first = [r for r in shown if r["status"] == "chosen" or r["pareto"]]
    rest = sorted((r for r in shown if r not in first), key=lambda r: r["bytes"])
    picked = sorted((first + rest)[:MAX_BARS], key=lambda r: r["bytes"])
    note = f" (the {MAX_BARS} shown: the chosen one, the front, then the smallest)" if len(shown) > MAX_BARS else ""
    return {
        "of": f"size of each trial's deployed ONNX file{note}",
        "rows": [
            {"name": r["name"].split(":")[0], "bytes": r["bytes"], "chosen": r["status"] == "chosen"} for r in picked
        ],
    }


def _sensitivity(space: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    sqnr = {name: value for name, value in mapping(space, "sqnr_db").items() if is_number(value)}
    if not sqnr:
        return None, []
    mixed = "int8-mixed" in items(space, "formats")
    sensitive = {str(n) for n in items(space, "sensitive")} if mixed else set()
    weakest = min(sqnr, key=lambda n: sqnr[n])
    frozen = [
        {
            "layer": name,
            "what": "kept fp32 in the int8-mixed format",
            "why": f"the search measured its int8 output SQNR at {sqnr[name]:.1f} dB, "
            + ("the lowest of the model" if name == weakest else "under the sensitivity threshold"),
        }
        for name in sqnr
        if name in sensitive
    ]
    chart = {
        "of": "output SQNR of each layer of the original model quantized to int8, measured when the search built its "
        "space (higher is closer to float)",
        "unit": "dB",
        "rows": [{"name": name, "value": value, "flag": name in sensitive} for name, value in sqnr.items()],
        "flag": "kept fp32 by the int8-mixed format" if sensitive else "",
    }
    return chart, frozen


def _facts(
    rows: list[dict[str, Any]], mine: list[dict[str, Any]], front: set[Any], result: Any, manifest: Any, batch: str
) -> list[tuple[str, str]]:
    out = [("trials", f"{len(rows)} measured, {len(mine)} on this run's machine, {len(front)} on the Pareto front")]
    if not isinstance(result, dict):
        return [*out, ("status", "no result.json yet: the search is running or was stopped before it finished")]
    chosen = mapping(result, "chosen")
    misses = mapping(result, "misses")
    met = "met" if field(result, "met") else "not met: " + ", ".join(f"{k} by {v:.1%}" for k, v in misses.items())
    out.append(("budget", met))
    if chosen:
        out.append(("chosen", _name(chosen) if is_number(chosen.get("number")) else text(chosen, "label")))
        speedup = number(chosen, "rescreen", "speedup")
        if speedup is not None:
            out.append((f"speed-up at batch {batch}", f"{speedup:.2f}× vs the original's fastest fp32 runtime"))
        test, original = number(manifest, "test_accuracy"), number(manifest, "original_test_accuracy")
        if test is not None:
            out.append(("test accuracy", f"{percent(test)} (original {percent(original)})"))
        out.append(("size", size(number(chosen, "bytes"))))
    if number(result, "seconds") is not None:
        out.append(("search time", f"{number(result, 'seconds'):.0f} s"))
    return out


def from_search(run: Path) -> dict[str, Any]:
    """The report data of a search run directory."""
    meta, result, pareto = (
        read_json(run / "search.json"),
        read_json(run / "result.json"),
        read_json(run / "pareto.json"),
    )
    manifest = read_json(run / "artifact" / "manifest.json")
    config = mapping(meta, "config", "data")
    batch = text(config, "objective_batch") or next(iter(mapping(result, "chosen", "latency_ms")), "")
    fingerprint = text(pareto, "fingerprint") or text(meta, "created_by")
    rows = _trials(run)
    mine = [r for r in rows if not fingerprint or text(r, "fingerprint") == fingerprint]
    front = {field(r, "number") for r in items(pareto, "front")}
    chosen_row = mapping(result, "chosen")
    chosen = chosen_row.get("number")
    if is_number(chosen) and chosen < 0:  # the original itself was the least infeasible result
        mine = [*mine, chosen_row]
    table = _candidates(mine, batch, chosen, front, number(chosen_row, "test_accuracy"))
    other = len(rows) - len([r for r in mine if r.get("number", -1) >= 0])
    sensitivity, frozen = _sensitivity(mapping(meta, "space"))
    environment = environment_rows(mapping(meta, "environment"))
    environment += [("machine fingerprint", fingerprint)] if fingerprint else []
    environment += policy_rows(mapping(manifest, "runtime"))
    return {
        "title": f"search: {run.resolve().name}",
        "subtitle": "netslim optimize: pruning structure × format × export × runtime under a budget",
        "facts": _facts(rows, mine, front, result, manifest, batch),
        "candidates": {
            "batch": int(batch) if batch.isdigit() else None,
            "accuracy_of": "validation",
            "rows": table,
            "front": bool(front),
            "reference": _reference(result, batch),
            "note": f"{len(front)} trials on the Pareto front of accuracy × latency at batch {batch} × size"
            + (f"; {other} trials measured on another machine are not shown" if other else ""),
        }
        if table
        else None,
        "sizes": _sizes(table),
        "layers": None,
        "sensitivity": sensitivity,
        "frozen": frozen,
        "transforms": [],
        "environment": environment,
        "absent": {
            "candidates": "no trial of this run has been measured on this machine yet",
            "layers": "a search times each trial's whole deployed graph, not its layers; per-layer latency is "
            "measured by netslim profile MODEL (a fine-tuned parent in RUN/parents/ is such a model)",
            "sensitivity": "search.json holds no int8 sensitivity (the space was built without quantized formats)",
            "frozen": "no layer was kept out of a format: the space has no int8-mixed format",
            "transforms": "a search records each trial's plan (the candidates table names it) rather than per-verb "
            "records; its fine-tuned parents are saved in RUN/parents/",
            "environment": "search.json records no machine",
        },
    }
