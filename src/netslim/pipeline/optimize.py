"""The whole path: profile -> prune (+ distilled fine-tune) -> quantize -> export -> time runtimes -> select ->
artifact. The input model is never modified; every transform and measurement lands in the result's record."""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from netslim.analyze import profile
from netslim.bench import environment
from netslim.data import Splits, example_batch
from netslim.errors import ModelLoadError
from netslim.export import ExportConfig, export_bytes, write_artifact
from netslim.models import InputSpec
from netslim.models.persist import same_model
from netslim.pipeline.config import OptimizeConfig
from netslim.quant import quantize_
from netslim.runtime import (
    BatchPolicy,
    Candidate,
    RuntimeSpec,
    Selection,
    TorchRuntime,
    openvino_available,
    select_runtime,
    top1_accuracy,
)
from netslim.structure import analyze_structure, prune_iteratively_
from netslim.structure.prune import nothing_prunable
from netslim.train import evaluate

Log = Callable[[str], None]


@dataclasses.dataclass
class Variant:
    """A model the path produced: its name, the torch module, what it costs, and its validation accuracy."""

    name: str
    model: nn.Module
    params: int
    macs: int
    val_accuracy: float
    test_accuracy: float
    record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "macs": self.macs,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "record": self.record,
        }


@dataclasses.dataclass
class OptimizeResult:
    original: Variant
    structural: list[Variant]
    chosen_model: str
    selection: Selection
    test_accuracy: dict[str, float]  # every runtime candidate, held-out test set
    artifact: str | None
    seconds: float
    environment: dict[str, Any]
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)  # engine/threads by batch size (BatchPolicy)
    speedups: dict[int, float] = dataclasses.field(default_factory=dict)  # vs the original's fastest fp32, by batch
    by_batch: dict[int, str] = dataclasses.field(default_factory=dict)  # the candidate the artifact runs, by batch

    @property
    def chosen(self) -> str:
        return self.selection.chosen

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original.to_dict(),
            "structural": [v.to_dict() for v in self.structural],
            "chosen": self.chosen,
            "chosen_model": self.chosen_model,
            "selection": self.selection.to_dict(),
            "test_accuracy": self.test_accuracy,
            "artifact": self.artifact,
            "seconds": self.seconds,
            "environment": self.environment,
            "policy": self.policy,
            "speedups": {str(b): v for b, v in self.speedups.items()},
            "by_batch": {str(b): v for b, v in self.by_batch.items()},
        }


def _variant(name: str, model: nn.Module, splits: Splits, record: dict[str, Any]) -> Variant:
    prof = profile(model, example=example_batch(splits), measure_latency=False)
    return Variant(
        name,
        model,
        prof.total_params,
        prof.total_macs,
        evaluate(model, splits.val).accuracy,
        evaluate(model, splits.test).accuracy,
        record,
    )


def optimize(
    model: nn.Module,
    splits: Splits,
    config: OptimizeConfig | None = None,
    *,
    out: str | Path | None = None,
    log: Log | None = None,
) -> OptimizeResult:
    """Find the fastest deployable variant of ``model`` within the accuracy budget; with ``out``, write the
    artifact (``model.onnx`` + ``manifest.json`` with the whole record) there."""
    config = config or OptimizeConfig()
    say = log or (lambda _msg: None)
    start = time.perf_counter()
    example = example_batch(splits)
    original = _variant("original", copy.deepcopy(model).eval(), splits, {})
    say(f"original: val {original.val_accuracy:.2%}, {original.macs:,} MACs")
    floor = original.val_accuracy - config.max_drop
    structural: list[Variant] = []
    report = analyze_structure(original.model, example)
    if not report.prunable:  # said before any work: only quantization and runtimes remain as candidates
        say(nothing_prunable(type(model).__name__, report))
    for ratio in config.ratios if report.prunable else ():
        candidate = copy.deepcopy(original.model)
        teacher = original.model if config.distill is not None else None
        record = prune_iteratively_(candidate, config.pruning(ratio), example=example, data=splits, teacher=teacher)
        if same_model(candidate, original.model):  # equal graphs are equal candidates: never timed as a speedup
            say(f"pruned {ratio:.0%}: the structure did not change; not a candidate")
            continue
        variant = _variant(f"pruned-{ratio:g}", candidate, splits, {"prune": record.to_dict()})
        say(f"pruned {ratio:.0%}: val {variant.val_accuracy:.2%}, {variant.macs:,} MACs")
        structural.append(variant)
        if variant.val_accuracy < floor:
            break
    passing = [v for v in structural if v.val_accuracy >= floor]
    best = min(passing, key=lambda v: v.macs) if passing else original

    specs = _runtime_specs(config, say)
    # every structural variant within the budget is timed: fewer MACs is not always faster (channel counts that are
    # not multiples of the SIMD width can be slower), so the runtime measurement decides
    onnx_of = {v.name: export_bytes(v.model, example, ExportConfig(), what=v.name)[0] for v in [original, *passing]}
    candidates = [Candidate("original/fp32/torch-eager", TorchRuntime(original.model, threads=config.threads), True)]
    models: dict[str, tuple[nn.Module, bytes, RuntimeSpec | None]] = {
        candidates[0].name: (original.model, onnx_of[original.name], None)
    }

    def add(
        variant: str, form: str, module: nn.Module, data: bytes, baseline: bool = False, engines: tuple[str, ...] = ()
    ) -> None:
        for spec in specs:
            if engines and spec.engine not in engines:
                continue
            name = f"{variant}/{form}/{spec.label}"
            candidates.append(Candidate(name, spec.open(data), baseline))
            models[name] = (module, data, spec)

    add(original.name, "fp32", original.model, onnx_of[original.name], baseline=True)
    for variant in passing:
        add(variant.name, "fp32", variant.model, onnx_of[variant.name])
    if config.quant is not None:
        quantized = copy.deepcopy(best.model)
        qrecord = quantize_(quantized, config.quant, data=splits)
        form = f"w{config.quant.weights}a{config.quant.activations}"
        qbytes, _ = export_bytes(quantized, example, ExportConfig(), what=f"{best.name}/{form}-qdq")
        add(best.name, f"{form}-qdq", quantized, qbytes)
        # the same integers as QLinearConv/QGemm operators: ONNX Runtime only (QGemm is a com.microsoft op); whether
        # it beats the QDQ graph, whose fusion the session optimizer must discover, is measured like the rest
        qop_bytes, qop = export_bytes(
            quantized, example, ExportConfig(quant_format="qoperator"), what=f"{best.name}/{form}-qoperator"
        )
        if qop.qoperator is not None and qop.qoperator.converted:
            try:
                add(best.name, f"{form}-qoperator", quantized, qop_bytes, engines=("onnxruntime",))
            except ModelLoadError as exc:  # an integer op this ONNX Runtime build lacks: the QDQ graph still runs
                say(f"the QOperator graph does not run here ({exc}); timing the QDQ graph only")
        best.record["quantize"] = qrecord.to_dict()
    say(f"timing {len(candidates)} runtimes at batch {', '.join(map(str, config.batch_sizes))}")
    selection = select_runtime(
        candidates,
        InputSpec.of_data(splits.val.x),
        accuracy=lambda rt: top1_accuracy(rt, splits.val),
        max_drop=config.max_drop,
        batch_sizes=config.batch_sizes,
        objective_batch=config.objective_batch,
        timing=config.timing,
    )
    test_accuracy = {c.name: top1_accuracy(c.runtime, splits.test) for c in candidates}
    policy, speedups, files, by_batch = _batch_policy(selection, models, config.batch_sizes)
    say(
        f"chosen: {selection.chosen} ({selection.speedup:.2f}x the fastest fp32 original runtime); by batch size: "
        + ", ".join(f"b{b} {by_batch[b]} {speedups[b]:.2f}x" for b in config.batch_sizes)
    )
    result = OptimizeResult(
        original,
        structural,
        selection.chosen.split("/")[0],
        selection,
        test_accuracy,
        None,
        time.perf_counter() - start,
        environment(),
        policy.to_dict(),
        speedups,
        by_batch,
    )
    if out is not None:
        _write_artifact(Path(out), models[selection.chosen][1], splits, result, files)
        result.artifact = str(out)
    return result


def _runtime_specs(config: OptimizeConfig, say: Log) -> list[RuntimeSpec]:
    """Every engine x thread count to time: the configured threads and one thread (no synchronisation: often the
    fastest for one sample)."""
    threads = [config.threads] if config.threads == 1 else [config.threads, 1]
    engines = list(config.engines)
    if "openvino" in engines and not openvino_available():
        say("openvino is not installed (pip install 'netslim[openvino]'): timing ONNX Runtime only")
        engines.remove("openvino")
    return [RuntimeSpec(engine, t) for engine in engines for t in threads]


def _batch_policy(
    selection: Selection, models: dict[str, tuple[nn.Module, bytes, RuntimeSpec | None]], batch_sizes: tuple[int, ...]
) -> tuple[BatchPolicy, dict[int, float], dict[str, bytes], dict[int, str]]:
    """At each measured batch size, the fastest runtime within the budget (any model file: a quantized graph may win
    at batch 256 and lose at batch 1 to an fp32 one), and its speedup over the fastest fp32 runtime of the original
    at that batch size. Files other than the chosen one are returned by name, for the artifact, and the candidate
    picked at each batch size by name."""
    chosen_bytes = models[selection.chosen][1]
    eligible = [m for m in selection.measured if m.within_budget]
    baselines = [m for m in selection.measured if m.baseline]
    rules, speedups, files, names = [], {}, {}, {}
    for batch in sorted(batch_sizes):
        fastest = min(eligible, key=lambda m: m.timings[batch].median_ms)
        if batch == selection.objective_batch:  # the selection's own choice (the same runtime, ties included)
            fastest = next(m for m in selection.measured if m.name == selection.chosen)
        _, data, spec = models[fastest.name]
        if spec is None:  # torch eager of the original: the artifact runs the same graph on ONNX Runtime
            spec = RuntimeSpec("onnxruntime", None)
        if data is not chosen_bytes:
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", fastest.name.rsplit("/", 1)[0].replace("/", "-"))
            files[f"model-{stem}.onnx"] = data
            spec = dataclasses.replace(spec, file=f"model-{stem}.onnx")
        rules.append((batch, spec))
        names[batch] = fastest.name
        reference = min(m.timings[batch].median_ms for m in baselines)
        speedups[batch] = reference / fastest.timings[batch].median_ms
    return BatchPolicy(tuple(rules)), speedups, files, names


def _write_artifact(
    directory: Path, onnx_bytes: bytes, splits: Splits, result: OptimizeResult, files: dict[str, bytes]
) -> None:
    write_artifact(
        directory,
        onnx_bytes,
        splits.input_shape,
        manifest={"result": result.to_dict()},
        runtime=result.policy,
        files=files,
        input_dtype=InputSpec.of_data(splits.val.x).dtype,
    )
