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

import numpy as np
import torch
from torch import nn

from netslim.analyze import profile
from netslim.bench import environment
from netslim.data import ArrayDataset, Splits, calibration_subset
from netslim.errors import ModelLoadError
from netslim.export import ExportConfig, to_onnx_bytes
from netslim.export.canonical import canonical_qdq
from netslim.export.qdq import output_step, qdq_model
from netslim.export.qoperator import qoperator_bytes
from netslim.pipeline.config import OptimizeConfig
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import Candidate, Selection, TorchRuntime, select_runtime
from netslim.runtime.openvino import openvino_available
from netslim.runtime.spec import BatchPolicy, RuntimeSpec
from netslim.structure import PruneConfig, prune_iteratively_
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
    prof = profile(model, splits.input_shape, measure_latency=False)
    return Variant(
        name,
        model,
        prof.total_params,
        prof.total_macs,
        evaluate(model, splits.val).accuracy,
        evaluate(model, splits.test).accuracy,
        record,
    )


def _accuracy(runtime: Any, data: ArrayDataset, batch: int = 1024) -> float:
    hits = 0
    for start in range(0, len(data), batch):
        out = runtime.run(np.ascontiguousarray(data.x[start : start + batch]))
        hits += int((out.argmax(1) == data.y[start : start + batch]).sum())
    return hits / len(data)


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
    example = torch.from_numpy(splits.train.x[:2])
    original = _variant("original", copy.deepcopy(model).eval(), splits, {})
    say(f"original: val {original.val_accuracy:.2%}, {original.macs:,} MACs")
    floor = original.val_accuracy - config.max_drop
    structural: list[Variant] = []
    for ratio in config.ratios:
        candidate = copy.deepcopy(original.model)
        finetune = config.finetune.replace(distill=config.distill) if config.distill else config.finetune
        prune_config = PruneConfig(ratio=ratio, importance=config.importance, round_to=config.round_to)
        steps = _prune_distilled(
            candidate,
            example,
            prune_config,
            config.prune_steps,
            splits,
            finetune,
            original.model if config.distill else None,
        )
        variant = _variant(f"pruned-{ratio:g}", candidate, splits, {"prune": steps})
        say(f"pruned {ratio:.0%}: val {variant.val_accuracy:.2%}, {variant.macs:,} MACs")
        structural.append(variant)
        if variant.val_accuracy < floor:
            break
    passing = [v for v in structural if v.val_accuracy >= floor]
    best = min(passing, key=lambda v: v.macs) if passing else original

    specs = _runtime_specs(config, say)
    # every structural variant within the budget is timed: fewer MACs is not always faster (channel counts that are
    # not multiples of the SIMD width can be slower), so the runtime measurement decides
    onnx_of = {v.name: to_onnx_bytes(v.model, example, ExportConfig()) for v in [original, *passing]}
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
    if config.quant_weights is not None:
        quantized = copy.deepcopy(best.model)
        calib = calibration_subset(splits.train, config.calibration_samples)
        qconfig = QuantConfig(weights=config.quant_weights, activations=config.quant_activations)
        qrecord = quantize_(quantized, qconfig, calibration=calib)
        qbytes = canonical_qdq(
            to_onnx_bytes(qdq_model(quantized), example, ExportConfig(atol=output_step(quantized, example)))
        )
        form = f"w{config.quant_weights}a{config.quant_activations}"
        add(best.name, f"{form}-qdq", quantized, qbytes)
        # the same integers as QLinearConv/QGemm operators: ONNX Runtime only (QGemm is a com.microsoft op); whether
        # it beats the QDQ graph, whose fusion the session optimizer must discover, is measured like the rest
        qop_bytes, qop = qoperator_bytes(qbytes)
        if qop.converted:
            try:
                add(best.name, f"{form}-qoperator", quantized, qop_bytes, engines=("onnxruntime",))
            except ModelLoadError as exc:  # an integer op this ONNX Runtime build lacks: the QDQ graph still runs
                say(f"the QOperator graph does not run here ({exc}); timing the QDQ graph only")
        best.record["quantize"] = {"config": qrecord.config, "layers": [dataclasses.asdict(r) for r in qrecord.layers]}
    say(f"timing {len(candidates)} runtimes at batch {', '.join(map(str, config.batch_sizes))}")
    selection = select_runtime(
        candidates,
        splits.input_shape,
        accuracy=lambda rt: _accuracy(rt, splits.val),
        max_drop=config.max_drop,
        batch_sizes=config.batch_sizes,
        objective_batch=config.objective_batch,
        timing=config.timing,
    )
    test_accuracy = {c.name: _accuracy(c.runtime, splits.test) for c in candidates}
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


def _prune_distilled(
    model: nn.Module,
    example: torch.Tensor,
    prune_config: PruneConfig,
    steps: int,
    splits: Splits,
    finetune: Any,
    teacher: nn.Module | None,
) -> list[dict[str, Any]]:
    if teacher is None:
        record = prune_iteratively_(model, example, prune_config, steps=steps, data=splits, finetune=finetune)
        return [s.to_dict() for s in record.steps]
    from netslim.structure import prune_
    from netslim.structure.iterative import step_ratio
    from netslim.train import train_

    per_step = prune_config.replace(ratio=step_ratio(prune_config.ratio, steps))
    records = []
    for _ in range(steps):
        records.append(prune_(model, example, per_step).to_dict())
        train_(model, splits, finetune, teacher=teacher)
    return records


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
    from netslim.export.artifact import write_artifact

    write_artifact(
        directory,
        onnx_bytes,
        splits.input_shape,
        manifest={"result": result.to_dict()},
        runtime=result.policy,
        files=files,
    )
