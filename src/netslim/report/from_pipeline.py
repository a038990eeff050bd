"""Report sections from the pipeline's ``OptimizeResult.to_dict()`` (an artifact's ``manifest["result"]``) and from
the demo's ``result.json`` (the same result plus the trained model's profile, the chosen model's profile and the
dependency groups that froze channels)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netslim.report.fields import field, items, mapping, number, settings, text
from netslim.report.machine import environment_rows, policy_rows
from netslim.report.units import count, is_number, ms, percent

NO_LAYER_LATENCY = (
    "the pipeline times whole deployed models, not layers; per-layer latency is measured by netslim demo (before "
    "and after) and netslim profile MODEL"
)


def _form(name: str) -> tuple[str, str]:
    """``"pruned-0.5/fp32/onnxruntime-t1"`` -> ``("pruned-0.5", "fp32")``."""
    parts = name.split("/")
    return parts[0], parts[1] if len(parts) > 1 else "fp32"


def _weight_bytes(name: str, variants: Mapping[str, Any]) -> float | None:
    """fp32: 4 bytes per parameter; a quantized form: the bytes its quantize_ record counts."""
    model, form = _form(name)
    variant = variants.get(model)
    if form == "fp32":
        params = number(variant, "params")
        return None if params is None else 4 * params
    return number(variant, "record", "quantize", "bytes_after")


def candidates(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every runtime candidate the selection timed: validation accuracy and median latency at the objective batch."""
    selection = mapping(result, "selection")
    batch = text(selection, "objective_batch")
    chosen = text(selection, "chosen")
    variants = {text(v, "name"): v for v in [mapping(result, "original"), *items(result, "structural")]}
    rows = []
    for measured in items(selection, "measured"):
        name = text(measured, "name")
        latency, accuracy = number(measured, "timings", batch, "median_ms"), number(measured, "accuracy")
        if latency is None or accuracy is None:
            continue
        if name == chosen:
            status = "chosen"
        elif field(measured, "within_budget") is False:
            status = "rejected"
        else:
            status = "baseline" if field(measured, "baseline") else "within budget"
        rows.append(
            {
                "name": name,
                "accuracy": accuracy,
                "latency_ms": latency,
                "bytes": _weight_bytes(name, variants),
                "status": status,
                "pareto": False,
                "test_accuracy": number(result, "test_accuracy", name),
                "latency_by_batch": {b: number(t, "median_ms") for b, t in mapping(measured, "timings").items()},
            }
        )
    if not rows:
        return None
    return {
        "batch": int(batch) if batch.isdigit() else None,
        "accuracy_of": "validation",
        "rows": rows,
        "front": False,
        "reference": None,
        "note": "no search ran (the fixed pruning ladder): there is no Pareto front; "
        + (text(selection, "reason") or "the fastest candidate within the accuracy budget was chosen"),
    }


def sizes(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Weight bytes of every model form the pipeline built (runtimes of one form share its bytes)."""
    table = candidates(result)
    chosen = text(result, "selection", "chosen")
    rows: dict[str, dict[str, Any]] = {}
    for row in (table or {}).get("rows", []):
        model, form = _form(row["name"])
        key = f"{model} {form}"
        if key not in rows and is_number(row["bytes"]):
            rows[key] = {"name": key, "bytes": row["bytes"], "chosen": _form(chosen) == (model, form)}
    if not rows:
        return None
    return {
        "of": "weight bytes as the records count them: 4 per fp32 parameter; a quantized form, its quantize_ "
        "record's bytes after (int8 weights, scales, float biases)",
        "rows": list(rows.values()),
    }


def transforms(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per Record of every candidate model."""
    rows = []
    for variant in items(result, "structural"):
        for record in mapping(variant, "record").values():
            rows.append(
                {
                    "candidate": text(variant, "name"),
                    "verb": text(record, "verb"),
                    "settings": settings(field(record, "config")),
                    "layers": len(items(record, "layers")),
                    "params": [field(record, "params_before"), field(record, "params_after")],
                    "macs": [field(record, "macs_before"), field(record, "macs_after")],
                    "bytes": [field(record, "bytes_before"), field(record, "bytes_after")],
                }
            )
    return rows


def frozen_from_records(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """Layers a record says it left unchanged (``change == "kept"`` or a note), and the skip / ignore globs."""
    rows = []
    for variant in items(result, "structural"):
        where = text(variant, "name")
        for record in mapping(variant, "record").values():
            verb = text(record, "verb")
            for layer in items(record, "layers"):
                if text(layer, "change") == "kept" or text(layer, "note"):
                    rows.append(
                        {
                            "layer": text(layer, "name"),
                            "what": f"{text(layer, 'change')} by {verb} ({where})",
                            "why": text(layer, "note") or "the verb kept it unchanged",
                        }
                    )
            for key, what in (("skip", "left in float by"), ("ignore", "left unpruned by")):
                for glob in items(record, "config", "data", key):
                    rows.append({"layer": str(glob), "what": f"{what} {verb} ({where})", "why": f"named in {key}"})
    return rows


def sensitivity(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per-layer int8 SQNR from the first quantize_ record that measured it."""
    for variant in items(result, "structural"):
        record = mapping(variant, "record", "quantize")
        rows = [
            {"name": text(layer, "name"), "value": number(layer, "detail", "sqnr_db"), "flag": False}
            for layer in items(record, "layers")
            if number(layer, "detail", "sqnr_db") is not None
        ]
        if rows:
            return {
                "of": f"output SQNR of each layer quantized to {text(record, 'config', 'data', 'weights') or 'int'} "
                f"in {text(variant, 'name')} (quantize_ record; higher is closer to float)",
                "unit": "dB",
                "rows": rows,
                "flag": "",
            }
    return None


def facts(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    selection = mapping(result, "selection")
    chosen = text(selection, "chosen")
    variants = {text(v, "name"): v for v in [mapping(result, "original"), *items(result, "structural")]}
    model = variants.get(_form(chosen)[0], {})
    out = [("chosen", chosen)]
    if is_number(selection.get("speedup")):
        out.append(
            (
                f"speed-up at batch {text(selection, 'objective_batch')}",
                f"{selection['speedup']:.2f}× vs {text(selection, 'reference')}",
            )
        )
    for batch, value in mapping(result, "speedups").items():
        if batch != text(selection, "objective_batch") and is_number(value):
            out.append((f"speed-up at batch {batch}", f"{value:.2f}×"))
    original_test = number(result, "original", "test_accuracy")
    out.append(
        ("test accuracy", f"{percent(number(result, 'test_accuracy', chosen))} (original {percent(original_test)})")
    )
    out.append(("MACs", f"{count(field(result, 'original', 'macs'))} → {count(field(model, 'macs'))}"))
    out.append(("parameters", f"{count(field(result, 'original', 'params'))} → {count(field(model, 'params'))}"))
    return out


def from_optimize(result: Mapping[str, Any]) -> dict[str, Any]:
    """The report data of one ``OptimizeResult.to_dict()``."""
    environment = mapping(result, "environment")
    return {
        "facts": facts(result),
        "candidates": candidates(result),
        "sizes": sizes(result),
        "layers": None,
        "sensitivity": sensitivity(result),
        "frozen": frozen_from_records(result),
        "transforms": transforms(result),
        "environment": environment_rows(environment) + policy_rows(mapping(result, "policy")),
        "absent": {
            "candidates": "the selection's record holds no timed candidate",
            "layers": NO_LAYER_LATENCY,
            "sensitivity": "no candidate was quantized (the accuracy budget stopped the ladder before int8, or the "
            "configuration has no quantization step), so no per-layer int8 error was measured",
            "frozen": "no record names a layer it left unchanged, and no dependency analysis was stored",
        },
    }


def _layers(before: Mapping[str, Any], after: Mapping[str, Any], chosen: str) -> dict[str, Any] | None:
    after_ms = {text(layer, "name"): number(layer, "latency_ms") for layer in items(after, "layers")}
    rows = [
        {
            "name": text(layer, "name"),
            "before_ms": number(layer, "latency_ms"),
            "after_ms": after_ms.get(text(layer, "name")),
            "missing": "not measured" if text(layer, "name") in after_ms else "removed",
        }
        for layer in items(before, "layers")
        if number(layer, "latency_ms") is not None
    ]
    if not rows or not after:
        return None
    return {
        "before": f"trained model ({ms(number(before, 'latency_ms'))} whole)",
        "after": f"{chosen} ({ms(number(after, 'latency_ms'))} whole)",
        "batch": field(before, "batch_size"),
        "threads": field(before, "threads"),
        "rows": rows,
    }


def from_demo(result: Mapping[str, Any]) -> dict[str, Any]:
    """The report data of the demo's ``result.json``."""
    optimized = mapping(result, "optimize")
    data = from_optimize(optimized)
    chosen = text(optimized, "chosen_model")
    data["layers"] = _layers(mapping(result, "profile"), mapping(result, "profile_after"), chosen)
    if data["layers"] is None:
        data["absent"]["layers"] = (
            "this result.json holds no profile of the chosen model (written by an older netslim); run netslim demo "
            "again to measure per-layer latency after optimization"
        )
    data["frozen"] = frozen_groups(mapping(result, "structure")) + data["frozen"]
    data["title"] = f"{text(result, 'model')} on {text(result, 'dataset')}"
    data["subtitle"] = "netslim demo: train, profile, prune, quantize, export, time, select"
    train = mapping(result, "train")
    data["facts"].insert(
        0,
        (
            "trained",
            f"{len(items(train, 'epochs'))} epochs, test accuracy {percent(number(result, 'test', 'accuracy'))}",
        ),
    )
    return data


def frozen_groups(structure: Mapping[str, Any]) -> list[dict[str, str]]:
    """Channel groups the dependency analysis froze (``StructureReport.to_dict()``), with its reasons."""
    rows = []
    for group in items(structure, "groups"):
        reasons = [str(r) for r in items(group, "frozen")]
        if not reasons:
            continue
        members = ", ".join(f"{text(m, 'module')}.{text(m, 'dim')}" for m in items(group, "members"))
        size, prunable = number(group, "size"), number(group, "prunable")
        kept = f"{count((size or 0) - (prunable or 0))} of {count(size)} channels" if size is not None else "channels"
        rows.append({"layer": members or text(group, "name"), "what": f"{kept} frozen", "why": "; ".join(reasons)})
    return rows
