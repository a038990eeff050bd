"""The search: an Optuna study over plans (structure x format x export) under a :class:`Budget`, resumable, with any
number of workers on one storage (a journal file in the run directory, or PostgreSQL).

Everything lives in the run directory and is replaced atomically as the search goes::

    RUN/search.json        what is searched: config, data, storage, the space, the machine of the first worker
    RUN/original/          the input model (netslim format), never modified
    RUN/parents/KEY/       fine-tuned pruned models, reused as starting points by later trials
    RUN/trials/NNNN.json   every finished trial's record (the study storage holds the same values)
    RUN/pareto.json        accuracy x latency x size front of the trials measured on this machine
    RUN/best/              the best artifact so far within budget (or, while none is, the least infeasible)
    RUN/artifact/          the final artifact, chosen after the finalists were timed again side by side
    RUN/result.json        the summary: budget met or the misses, the chosen trial, speedups
    RUN/report.html        the same for people: accuracy x latency x size of every trial, the front, sensitivity

A trial builds its structure from the closest fine-tuned parent (pruning further and fine-tuning, distilled from
the original), measures validation accuracy on torch first (a structure already below the accuracy floor is pruned
there, before any export or timing), then quantizes, exports through ``export_bytes`` (parity-checked), times every
engine x threads against the original's fastest runtime side by side, and reports its objectives and constraints.
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from netslim import atomic
from netslim.bench import TimingConfig, compare, environment
from netslim.data import ArrayDataset, Splits, example_batch
from netslim.errors import BudgetNotMetError, ConfigError, ModelLoadError, NetslimError
from netslim.export import ExportConfig, export_bytes, write_artifact
from netslim.models import InputSpec, load_model, save_model
from netslim.models.persist import same_model
from netslim.quant import quantize_
from netslim.quant.cpu import cpu_flags
from netslim.report import REPORT, report_data_from_dir, write_report
from netslim.runtime import (
    BatchPolicy,
    Candidate,
    RuntimeSpec,
    TorchRuntime,
    cosine_fidelity,
    openvino_available,
    outputs_of,
    select_runtime,
    top1_accuracy,
)
from netslim.search.config import Budget, SearchConfig
from netslim.search.space import Plan, Space, build_space, quant_config, simd_width
from netslim.structure import IterativePruneConfig, PruneConfig, analyze_structure, prune_iteratively_
from netslim.structure.prune import nothing_prunable
from netslim.train import evaluate

__all__ = ["SearchResult", "fingerprint", "join", "search"]

Log = Callable[[str], None]
FORMAT = "netslim-search"


@dataclasses.dataclass
class SearchResult:
    run: str
    met: bool
    misses: dict[str, float]
    chosen: dict[str, Any] | None
    trials: int
    front: list[dict[str, Any]]
    artifact: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fingerprint() -> str:
    """This machine for latency purposes: CPU model, cores, the SIMD/int8 ISA and library versions. Latency is only
    compared between trials with the same fingerprint."""
    env = environment()
    isa = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "avx_vnni"})
    text = json.dumps([env["cpu"], env["cores"], env["torch"], env["onnxruntime"], isa])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the run directory -------------------------------------------------------------------------------------------


def _storage(url: str | None, run: Path) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if url is None:
        path = run / "study.journal"
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    if url.startswith(("postgresql://", "postgresql+psycopg2://", "sqlite:///", "mysql://")):
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the heartbeat is "experimental" in optuna's words
                # a worker whose heartbeat stops for grace_period seconds (killed, machine lost) has its running
                # trial failed by the next worker that asks for a trial
                return optuna.storages.RDBStorage(url, heartbeat_interval=10, grace_period=30)
        except Exception as exc:  # sqlalchemy / driver errors: name the URL (without the password) and the cause
            raise ConfigError(f"storage {_safe_url(url)}: cannot connect ({type(exc).__name__}: {exc})") from exc
    raise ConfigError(f"storage {_safe_url(url)}: use postgresql://user@host/db (or sqlite:///file.db)")


def _safe_url(url: str) -> str:
    head, sep, tail = url.partition("@")
    return f"{head.split(':')[0]}://***@{tail}" if sep else url


def _save_splits(splits: Splits, path: Path) -> None:
    arrays = {}
    for part in ("train", "val", "test"):
        ds: ArrayDataset = getattr(splits, part)
        arrays[f"{part}_x"], arrays[f"{part}_y"] = ds.x, ds.y
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _load_splits(path: Path) -> Splits:
    with np.load(path, allow_pickle=False) as data:
        parts = {p: ArrayDataset(data[f"{p}_x"], data[f"{p}_y"], name=f"search/{p}") for p in ("train", "val", "test")}
    return Splits(**parts)


@contextmanager
def _locked(path: Path):  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- one worker's context ----------------------------------------------------------------------------------------


class Context:
    """What every trial of one worker shares: the original model, data, space, the original's timings and the
    runtime specs to time."""

    def __init__(self, run: Path, model: nn.Module, splits: Splits, config: SearchConfig, space: Space, log: Log):
        self.run, self.model, self.splits, self.config, self.space, self.log = run, model, splits, config, space, log
        self.example = example_batch(splits)
        self.fingerprint = fingerprint()
        self.outputs: dict[str, np.ndarray] = {}
        if config.metric == "cosine":  # fidelity to the original's outputs, on the same held-out samples
            torch_rt = TorchRuntime(model)
            self.outputs = {"val": outputs_of(torch_rt, splits.val), "test": outputs_of(torch_rt, splits.test)}
        self.original_val = self.score(model, "val")
        self.floor = config.budget.accuracy_floor(self.original_val)
        self.round_to = config.round_to or simd_width()
        threads = config.threads or os.cpu_count() or 1
        engines = [e for e in config.engines if e != "openvino" or openvino_available()]
        self.specs = [RuntimeSpec(e, t) for e in engines for t in sorted({threads, 1})]
        self.original_onnx, _ = export_bytes(model, self.example, ExportConfig(), what="original")
        self.reference = self._reference()

    def score(self, model: nn.Module | Any, part: str = "val") -> float:
        """The budget's metric of a torch model or an opened runtime on the ``val`` or ``test`` split: top-1
        accuracy, or the mean cosine of its outputs to the original's (``SearchConfig.metric``)."""
        data = self.splits.val if part == "val" else self.splits.test
        runtime = TorchRuntime(model) if isinstance(model, nn.Module) else model
        if self.config.metric == "cosine":
            return cosine_fidelity(outputs_of(runtime, data), self.outputs[part])[0]
        return evaluate(model, data).accuracy if isinstance(model, nn.Module) else top1_accuracy(runtime, data)

    def _reference(self) -> dict[int, tuple[RuntimeSpec, float]]:
        """The original's fastest fp32 runtime at each batch size (its median ms), measured side by side."""
        runtimes = {s.label: (s, s.open(self.original_onnx)) for s in self.specs}
        best: dict[int, tuple[RuntimeSpec, float]] = {}
        for batch in self.config.batch_sizes:
            x = _batch(self.splits, batch)
            fns: dict[str, Callable[[], Any]] = {k: _runner(r, x) for k, (_, r) in runtimes.items()}
            timings = compare(fns, self.config.timing, batch_size=batch)
            label = min(timings, key=lambda k: timings[k].median_ms)
            best[batch] = (runtimes[label][0], timings[label].median_ms)
        return best


def _runner(runtime: Any, x: np.ndarray) -> Callable[[], Any]:
    return lambda: runtime.run(x)


def _batch(splits: Splits, batch: int) -> np.ndarray:
    x = splits.val.x
    reps = -(-batch // len(x))
    return np.ascontiguousarray(np.concatenate([x] * reps)[:batch])


# --- parents: fine-tuned pruned models, reused ----------------------------------------------------------------------


def _parent(ctx: Context, plan: Plan) -> tuple[nn.Module, float, dict[str, Any]]:
    """The fine-tuned pruned model of ``plan``'s structure: from the cache, or pruned further from the closest
    cached parent (same importance and epochs, every ratio at most the plan's), or from the original."""
    key = hashlib.sha256(plan.structure_key.encode()).hexdigest()[:16]
    home = ctx.run / "parents" / key
    if (home / "model.json").is_file():
        meta = json.loads((home / "parent.json").read_text())
        return load_model(home), float(meta["val_accuracy"]), {"parent": key, "reused": True, **meta}
    base, base_plan = _closest_parent(ctx, plan)
    model = copy.deepcopy(base)
    ratios = {name: r for name, r in plan.stage_ratios}
    start = dict(base_plan.stage_ratios) if base_plan else {}
    start_ratio = base_plan.ratio if base_plan else 0.0
    prune = PruneConfig(
        ratio=_further(start_ratio, plan.ratio),
        importance=plan.importance,
        round_to=ctx.round_to,
        per_layer={name: _further(start.get(name, start_ratio), r) for name, r in ratios.items()},
    )
    steps = (
        ctx.config.prune_steps
        if base_plan is None
        else max(1, round(ctx.config.prune_steps * (plan.ratio - start_ratio) / max(plan.ratio, 1e-9)))
    )
    finetune = ctx.config.finetune.replace(epochs=max(plan.epochs, 1), distill=ctx.config.distill)
    started = time.perf_counter()
    if plan.epochs == 0:
        from netslim.structure import prune_

        record = prune_(model, prune, example=ctx.example, data=ctx.splits)
    else:
        teacher = ctx.model if ctx.config.distill is not None else None
        config = IterativePruneConfig(prune=prune, steps=steps, finetune=finetune)
        record = prune_iteratively_(model, config, example=ctx.example, data=ctx.splits, teacher=teacher)
    val = ctx.score(model, "val")
    meta = {
        "structure": plan.structure_key,
        "plan": plan.to_dict(),
        "from": base_plan.structure_key if base_plan else "original",
        "val_accuracy": val,
        "macs_after": record.macs_after,
        "seconds": time.perf_counter() - started,
    }
    with _locked(ctx.run / "parents" / ".lock"):
        if not (home / "model.json").is_file():
            save_model(model, home)
            atomic.write_json(home / "parent.json", meta)
    return model, val, {"parent": key, "reused": False, **meta}


def _further(done: float, target: float) -> float:
    """The ratio that takes a model already pruned by ``done`` to ``target`` of the original."""
    if target <= done:
        return 0.0
    return min(1.0 - (1.0 - target) / (1.0 - done), 0.95)


def _closest_parent(ctx: Context, plan: Plan) -> tuple[nn.Module, Plan | None]:
    best: tuple[float, Path, Plan] | None = None
    for meta_path in (ctx.run / "parents").glob("*/parent.json"):
        try:
            meta = json.loads(meta_path.read_text())
            other = Plan(**{**meta["plan"], "stage_ratios": tuple(meta["plan"]["stage_ratios"].items())})
        except (OSError, KeyError, TypeError, ValueError):
            continue
        mine, theirs = dict(plan.stage_ratios), dict(other.stage_ratios)
        compatible = (
            other.importance == plan.importance
            and other.epochs == plan.epochs
            and other.ratio <= plan.ratio
            and set(mine) == set(theirs)
            and all(theirs[n] <= mine[n] for n in mine)
            and (meta_path.parent / "model.json").is_file()
        )
        if compatible and (best is None or other.ratio > best[0]):
            best = (other.ratio, meta_path.parent, other)
    if best is None:
        return ctx.model, None
    return load_model(best[1]), best[2]


# --- one trial ---------------------------------------------------------------------------------------------------


def _objectives(ctx: Context, row: dict[str, Any]) -> list[float]:
    values = []
    for objective in ctx.config.objectives:
        if objective == "latency":
            values.append(row["latency_ms"][str(ctx.config.objective_batch)])
        elif objective == "accuracy":
            values.append(row["val_accuracy"])
        else:
            values.append(float(row["bytes"]))
    return values


def _constraints(ctx: Context, row: dict[str, Any]) -> dict[str, float]:
    """How far each limit is missed (<= 0: met), relative to the limit."""
    budget: Budget = ctx.config.budget
    misses = {"accuracy": (ctx.floor - row["val_accuracy"]) / max(ctx.original_val - ctx.floor, 1e-3)}
    if budget.max_latency_ms is not None:
        got = row["latency_ms"][str(budget.latency_batch)]
        misses["latency"] = got / budget.max_latency_ms - 1.0
    if budget.max_bytes is not None:
        misses["size"] = row["bytes"] / budget.max_bytes - 1.0
    return misses


def _trial(ctx: Context, trial: Any) -> list[float]:
    import optuna

    plan = ctx.space.suggest(trial)
    started = time.perf_counter()
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("fingerprint", ctx.fingerprint)
    trial.set_user_attr("plan", plan.to_dict())
    model, parent_val, parent = _parent(ctx, plan)
    trial.set_user_attr("parent", parent)
    # cheap estimate first: a structure already below the floor (with a quarter of the budget as slack, which
    # quantization cannot give back) is not exported or timed
    if parent_val < ctx.floor - 0.25 * max(ctx.original_val - ctx.floor, 1e-3):
        trial.set_user_attr("pruned_because", f"validation {parent_val:.4f} < floor {ctx.floor:.4f} before quantizing")
        ctx.log(f"trial {trial.number}: {plan.label()} stops early (val {parent_val:.2%} < {ctx.floor:.2%})")
        raise optuna.TrialPruned(f"validation accuracy {parent_val:.4f} below the floor {ctx.floor:.4f}")
    qconfig = quant_config(plan, ctx.space, ctx.config)
    export = ExportConfig(quant_format=plan.export, int4_matmul=plan.format == "int4-weight")
    if qconfig is not None:
        model = copy.deepcopy(model)
        quantize_(model, qconfig, data=ctx.splits)
    try:
        data, exported = export_bytes(model, ctx.example, export, what=plan.label())
    except NetslimError as exc:  # a format this model cannot take (e.g. no MatMulNBits-able layer): pruned, said
        trial.set_user_attr("pruned_because", str(exc))
        raise optuna.TrialPruned(str(exc)) from exc
    unchanged = qconfig is None and plan.format != "bf16" and same_model(model, ctx.model)
    runtimes = {}
    specs = ctx.specs
    if plan.format == "bf16":  # the fp32 graph, run by OpenVINO in bf16 (AMX / AVX512-BF16)
        specs = [dataclasses.replace(s, precision="bf16") for s in ctx.specs if s.engine == "openvino"]
    for spec in specs:
        if plan.export == "qoperator" and qconfig is not None and spec.engine != "onnxruntime":
            continue
        try:
            runtimes[spec.label] = (spec, spec.open(data))
        except ModelLoadError as exc:
            ctx.log(f"trial {trial.number}: {spec.label} cannot run {plan.label()} ({exc})")
    if not runtimes:
        raise optuna.TrialPruned("no runtime of this machine runs the exported graph")
    first = next(iter(runtimes.values()))[1]
    val = ctx.score(first, "val")
    latency, engines, speedup = {}, {}, {}
    for batch in ctx.config.batch_sizes:
        x = _batch(ctx.splits, batch)
        ref_spec, _ = ctx.reference[batch]
        reference = ref_spec.open(ctx.original_onnx)
        fns = {k: (lambda r=r, x=x: r.run(x)) for k, (_, r) in runtimes.items()}
        fns["original"] = lambda r=reference, x=x: r.run(x)
        timings = compare(fns, ctx.config.timing, batch_size=batch)
        label = min((k for k in timings if k != "original"), key=lambda k: timings[k].median_ms)
        latency[str(batch)] = timings[label].median_ms
        engines[str(batch)] = runtimes[label][0].to_dict()
        speedup[str(batch)] = timings["original"].median_ms / timings[label].median_ms
        if unchanged and runtimes[label][0] == ref_spec:  # the original itself: equal graphs are equal candidates
            latency[str(batch)], speedup[str(batch)] = timings["original"].median_ms, 1.0
    row = {
        "number": trial.number,
        "plan": plan.to_dict(),
        "label": plan.label(),
        "parent": parent,
        "val_accuracy": val,
        "parent_val_accuracy": parent_val,
        "bytes": len(data),
        "latency_ms": latency,
        "speedup_vs_original": speedup,
        "runtime": engines,
        "export": exported.to_dict(),
        "fingerprint": ctx.fingerprint,
        "unchanged_graph": unchanged,
        "seconds": time.perf_counter() - started,
    }
    misses = _constraints(ctx, row)
    row["misses"] = misses
    row["feasible"] = all(v <= 0 for v in misses.values())
    for name in sorted(misses):  # optuna's constrained samplers (TPE, NSGA-II) read these: <= 0 is feasible
        trial.set_constraint(name, misses[name])
    trial.set_user_attr("row", row)
    _keep(ctx, row, data)
    ctx.log(
        f"trial {trial.number}: {plan.label()} val {val:.2%}, b{ctx.config.objective_batch} "
        f"{latency[str(ctx.config.objective_batch)]:.3f} ms ({speedup[str(ctx.config.objective_batch)]:.2f}x), "
        f"{len(data):,} B{'' if row['feasible'] else ' (misses the budget)'} | {_progress(ctx)}"
    )
    return _objectives(ctx, row)


def _progress(ctx: Context) -> str:
    """Trials done, the best so far and the size of the front (of the trials on disk, this machine's)."""
    rows = _rows_on_disk(ctx)
    mine = [r for r in rows if r.get("fingerprint") == ctx.fingerprint]
    feasible = [r for r in mine if r.get("feasible")]
    best = min(feasible, key=lambda r: _rank(ctx, r)) if feasible else None
    lead = f"best {best['label']}" if best else "none within budget yet"
    return f"{len(rows)} measured, {lead}, front {len(_front(ctx, mine))}"


def _policy(row: dict[str, Any]) -> dict[str, Any]:
    rules = [(int(b), RuntimeSpec(**spec)) for b, spec in sorted(row["runtime"].items(), key=lambda kv: int(kv[0]))]
    return BatchPolicy(tuple(rules)).to_dict()


def _rank(ctx: Context, row: dict[str, Any]) -> tuple[float, ...]:
    """Lower is better: feasible first, then the first objective (accuracy maximised), then total miss."""
    first = _objectives(ctx, row)[0]
    if ctx.config.objectives[0] == "accuracy":
        first = -first
    total_miss = sum(max(v, 0.0) for v in row["misses"].values())
    return (0.0 if row["feasible"] else 1.0, total_miss if not row["feasible"] else first, first)


def _keep(ctx: Context, row: dict[str, Any], onnx_bytes: bytes) -> None:
    """Write the trial's record, and replace RUN/best when this trial ranks better (same machine only)."""
    atomic.write_json(ctx.run / "trials" / f"{row['number']:04d}.json", row)
    with _locked(ctx.run / ".best-choice.lock"):
        current = ctx.run / "best" / "manifest.json"
        if current.is_file():
            best = json.loads(current.read_text()).get("trial", {})
            if best.get("fingerprint") == ctx.fingerprint and _rank(ctx, best) <= _rank(ctx, row):
                return
        _write_best(ctx, row, onnx_bytes, "netslim search (best so far)")


def _write_best(ctx: Context, row: dict[str, Any], onnx_bytes: bytes, source: str) -> None:
    """RUN/best: the trial's graph and runtime policy (the caller holds the choice lock)."""
    manifest = {"trial": row, "budget_met": bool(row.get("feasible", True)), "source": source}
    write_artifact(
        ctx.run / "best",
        onnx_bytes,
        ctx.splits.input_shape,
        manifest=manifest,
        runtime=_policy(row),
        input_dtype=InputSpec.of_data(ctx.splits.val.x).dtype,
    )


# --- the study ---------------------------------------------------------------------------------------------------


def _sampler(config: SearchConfig) -> Any:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=config.seed, population_size=16)
    return optuna.samplers.TPESampler(seed=config.seed, multivariate=True, n_startup_trials=6)


def _open_study(run: Path, config: SearchConfig, *, create: bool) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(config.storage, run)
    directions: list[Any] = ["maximize" if o == "accuracy" else "minimize" for o in config.objectives]
    if create:
        return optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            sampler=_sampler(config),
            directions=directions,
            load_if_exists=True,
        )
    return optuna.load_study(study_name=config.study_name, storage=storage, sampler=_sampler(config))


def _requeue_dead(study: Any, log: Log) -> int:
    """Trials left RUNNING by a killed worker of this machine: marked failed and their plan enqueued again (the
    journal storage has no heartbeat; PostgreSQL's heartbeat does the same for other machines)."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or atomic.pid_alive(int(pid)):
            continue
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # the storage API optuna offers
        study.enqueue_trial(trial.params, skip_if_exists=False)
        count += 1
    if count:
        log(f"{count} trial(s) of a killed worker marked failed and queued again")
    return count


def _optimize(ctx: Context, study: Any, trials: int | None, seconds: float | None) -> None:
    """Run trials one at a time until the study has ``trials`` finished ones (trials queued again after a kill are
    run even past that count, so a resumed study ends with none left waiting) or ``seconds`` have passed."""
    from optuna.trial import TrialState

    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        if trials is not None and done >= trials and not waiting:
            return
        study.optimize(lambda t: _trial(ctx, t), n_trials=1, timeout=left, catch=(NetslimError,))


def _budget_seconds(config: SearchConfig, seconds: float | None) -> float | None:
    return seconds if seconds is not None else config.budget.time_budget_s


def search(
    model: nn.Module,
    splits: Splits,
    config: SearchConfig | None = None,
    *,
    out: str | Path,
    resume: bool = False,
    data_spec: str | None = None,
    log: Log | None = None,
) -> SearchResult:
    """Search for the best deployable variant of ``model`` under ``config.budget``; every result lands in ``out``
    (see the module docstring). ``resume`` continues a killed run in ``out`` (its own config is used); without it,
    ``out`` must not hold another run. Raises BudgetNotMetError after writing the best-so-far artifact when no trial
    meets the budget."""
    say = log or (lambda _m: None)
    run = Path(out)
    started = time.perf_counter()
    meta_path = run / "search.json"
    if resume:
        if not meta_path.is_file():
            raise ConfigError(f"{run}: --resume needs a run directory with search.json; none is there")
        return join(run, log=say, _started=started)
    if meta_path.is_file():
        raise ConfigError(f"{run} already holds a search; continue it with --resume or choose another --out")
    if run.is_file() or (run.is_dir() and any(run.iterdir())):
        atomic.check_output_dir(run)  # a directory of the user's files is refused, never written into
    config = config or SearchConfig()
    run.mkdir(parents=True, exist_ok=True)
    save_model(copy.deepcopy(model).eval(), run / "original")
    if data_spec is None:
        _save_splits(splits, run / "data.npz")
    original = load_model(run / "original")
    say("measuring the space: profile, structure, int8 sensitivity")
    space = build_space(original, splits, config)
    if space.ratios == [0.0] and config.metric != "cosine":
        report = analyze_structure(original, example_batch(splits))
        say(nothing_prunable(type(model).__name__, report) + "; searching formats and runtimes only")
    meta = {
        "format": FORMAT,
        "version": 1,
        "config": config.to_dict(),
        "data": data_spec,
        "space": space.to_dict(),
        "created_by": fingerprint(),
        "environment": environment(),
    }
    atomic.write_json(meta_path, meta)
    ctx = Context(run, original, splits, config, space, say)
    study = _open_study(run, config, create=True)
    for seed in space.seeds():
        study.enqueue_trial(seed, skip_if_exists=True)
    _optimize(ctx, study, config.budget.trials, _budget_seconds(config, None))
    return _finish(ctx, study, started)


def join(run: str | Path, *, trials: int | None = None, seconds: float | None = None, log: Log | None = None,
         _started: float | None = None) -> SearchResult:  # fmt: skip
    """Join (or resume) the search in ``run`` as one more worker: the same study, the same space and data."""
    from netslim.config import Config
    from netslim.data import load_data

    say = log or (lambda _m: None)
    started = _started or time.perf_counter()
    run = Path(run)
    meta_path = run / "search.json"
    if not meta_path.is_file():
        raise ConfigError(f"{run}: not a search run directory (no search.json); start one with netslim optimize")
    try:
        meta = json.loads(meta_path.read_text())
        config = Config.from_dict(meta["config"])
        space = Space(**meta["space"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{meta_path}: not a readable search description ({exc})") from exc
    if not isinstance(config, SearchConfig):
        raise ConfigError(f"{meta_path}: holds a {type(config).__name__}, not a SearchConfig")
    splits = load_data(meta["data"]) if meta.get("data") else _load_splits(run / "data.npz")
    original = load_model(run / "original")
    ctx = Context(run, original, splits, config, space, say)
    study = _open_study(run, config, create=False)
    _requeue_dead(study, say)
    _optimize(ctx, study, trials if trials is not None else config.budget.trials, _budget_seconds(config, seconds))
    return _finish(ctx, study, started)


def _rows(ctx: Context, study: Any) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = trial.user_attrs.get("row")
        if row and row.get("fingerprint") == ctx.fingerprint:
            rows.append(row)
    return rows


def _front(ctx: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy (max) x latency at the objective batch (min) x bytes (min) non-dominated rows."""

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        return (-row["val_accuracy"], row["latency_ms"][str(ctx.config.objective_batch)], float(row["bytes"]))

    front = []
    for row in rows:
        mine = key(row)
        dominated = any(
            all(a <= b for a, b in zip(key(o), mine, strict=True)) and key(o) != mine for o in rows if o is not row
        )
        if not dominated:
            front.append(row)
    return sorted(front, key=lambda r: key(r)[1])


def _finish(ctx: Context, study: Any, started: float) -> SearchResult:
    """Time the finalists again side by side with the original, choose, and write the artifact and the summary."""
    rows = _rows(ctx, study)
    front = _front(ctx, rows)
    atomic.write_json(ctx.run / "pareto.json", {"fingerprint": ctx.fingerprint, "front": front})
    feasible = sorted((r for r in rows if r["feasible"]), key=lambda r: _rank(ctx, r))
    finalists = feasible[: max(ctx.config.rescreen, 1)]
    chosen: dict[str, Any]
    misses: dict[str, float] = {}
    if finalists:
        chosen = _rescreen(ctx, finalists)
    else:  # nothing within budget: the least infeasible result, the original itself among them
        original = _original_row(ctx)
        original["misses"] = _constraints(ctx, original)
        original["feasible"] = all(v <= 0 for v in original["misses"].values())
        chosen = min([*rows, original], key=lambda r: _rank(ctx, r))
        misses = {k: v for k, v in chosen["misses"].items() if v > 0}
    artifact = None
    if chosen:
        data = _trial_bytes(ctx, chosen)
        test = ctx.score(RuntimeSpec("onnxruntime", None).open(data), "test")
        chosen = {**chosen, "test_accuracy": test}
        policy, files = _final_policy(ctx, chosen)
        by_file = {name: ctx.score(RuntimeSpec("onnxruntime", None).open(g), "test") for name, g in files.items()}
        write_artifact(
            ctx.run / "artifact",
            data,
            ctx.splits.input_shape,
            files=files,
            input_dtype=InputSpec.of_data(ctx.splits.val.x).dtype,
            manifest={
                "trial": chosen,
                "budget_met": not misses,
                "misses": misses,
                "test_accuracy": test,
                "test_accuracy_by_file": {"model.onnx": test, **by_file},
                "original_test_accuracy": ctx.score(ctx.model, "test"),
                "metric": ctx.config.metric,
                "source": "netslim search",
            },
            runtime=policy,
        )
        artifact = str(ctx.run / "artifact")
    result = SearchResult(
        run=str(ctx.run),
        met=not misses,
        misses=misses,
        chosen=chosen,
        trials=len(study.trials),
        front=front,
        artifact=artifact,
        seconds=time.perf_counter() - started,
    )
    atomic.write_json(ctx.run / "result.json", result.to_dict())
    write_report(ctx.run / REPORT, report_data_from_dir(ctx.run))  # the front, every trial, the choice
    if not result.met:
        what = ", ".join(f"{k} by {v:.1%} of its limit" for k, v in result.misses.items())
        raise BudgetNotMetError(
            f"{ctx.run}: no trial met the budget ({what}); the least infeasible result is in "
            f"{artifact or ctx.run / 'best'} - loosen the budget or give the search more time"
        )
    return result


def _trial_bytes(ctx: Context, row: dict[str, Any]) -> bytes:
    """The ONNX graph of a trial, rebuilt from its parent (the same steps, deterministic) and checked against the
    record's size; the best-so-far file is used when it is that trial."""
    if row["number"] < 0:  # the original model itself
        return ctx.original_onnx
    best = ctx.run / "best" / "manifest.json"
    if best.is_file() and json.loads(best.read_text()).get("trial", {}).get("number") == row["number"]:
        return (ctx.run / "best" / "model.onnx").read_bytes()
    plan = Plan(**{**row["plan"], "stage_ratios": tuple(row["plan"]["stage_ratios"].items())})
    model, _, _ = _parent(ctx, plan)
    qconfig = quant_config(plan, ctx.space, ctx.config)
    if qconfig is not None:
        model = copy.deepcopy(model)
        quantize_(model, qconfig, data=ctx.splits)
    export = ExportConfig(quant_format=plan.export, int4_matmul=plan.format == "int4-weight")
    data, _ = export_bytes(model, ctx.example, export, what=plan.label())
    return data


def _original_row(ctx: Context) -> dict[str, Any]:
    """The original model as a result row (what the search returns when no trial is faster than it)."""
    return {
        "number": -1,
        "label": "original/fp32",
        "plan": None,
        "val_accuracy": ctx.original_val,
        "bytes": len(ctx.original_onnx),
        "latency_ms": {str(b): ms for b, (_, ms) in ctx.reference.items()},
        "speedup_vs_original": {str(b): 1.0 for b in ctx.reference},
        "runtime": {str(b): spec.to_dict() for b, (spec, _) in ctx.reference.items()},
        "fingerprint": ctx.fingerprint,
        "misses": {},
        "feasible": True,
    }


def _rescreen(ctx: Context, finalists: list[dict[str, Any]]) -> dict[str, Any]:
    """The finalists (on every runtime their trials measured fastest at some batch size) and the original timed
    again side by side (select_runtime: never slower than the original's fastest fp32 runtime). Returns the chosen
    row (the fastest at the objective batch) with ``by_batch``: the fastest candidate at every batch size, which
    may be another finalist or the original (the artifact then holds one graph per such choice)."""
    candidates = [Candidate(f"original/{spec.label}", spec.open(ctx.original_onnx), True) for spec in ctx.specs]
    by_name: dict[str, tuple[dict[str, Any], RuntimeSpec]] = {
        f"original/{spec.label}": (_original_row(ctx), spec) for spec in ctx.specs
    }
    for row in finalists:
        data = _trial_bytes(ctx, row)
        specs = {json.dumps(s, sort_keys=True): s for s in row["runtime"].values()}
        for spec_dict in specs.values():
            spec = RuntimeSpec(**spec_dict)
            name = f"trial-{row['number']}/{spec.label}"
            candidates.append(Candidate(name, spec.open(data)))
            by_name[name] = (row, spec)
    selection = select_runtime(
        candidates,
        InputSpec.of_data(ctx.splits.val.x),
        batch_sizes=ctx.config.batch_sizes,
        objective_batch=ctx.config.objective_batch,
        timing=TimingConfig(warmup=ctx.config.timing.warmup, repeats=ctx.config.timing.repeats * 2),
    )
    ctx.log(f"finalists timed again: {selection.chosen} ({selection.speedup:.2f}x the original)")
    measured = {m.name: m for m in selection.measured}
    by_batch = {}
    for batch in ctx.config.batch_sizes:
        if batch == ctx.config.objective_batch:
            name = selection.chosen
        else:
            name = min(measured, key=lambda n: _median(measured[n], batch))
        row, spec = by_name[name]
        by_batch[str(batch)] = {"candidate": name, "number": row["number"], "spec": spec.to_dict()}
    chosen, _ = by_name[selection.chosen]
    chosen = {**chosen, "rescreen": selection.to_dict(), "by_batch": by_batch}
    if chosen["number"] >= 0:
        with _locked(ctx.run / ".best-choice.lock"):
            _write_best(ctx, chosen, _trial_bytes(ctx, chosen), "netslim search (rescreened)")
    return chosen


def _median(measured: Any, batch: int) -> float:
    return float(measured.timings[batch].median_ms)


def _final_policy(ctx: Context, chosen: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The artifact's runtime policy and its extra graphs: per batch size the candidate measured fastest there."""
    by_batch = chosen.get("by_batch")
    if not by_batch:
        return _policy(chosen), {}
    rows = {row["number"]: row for row in _rows_on_disk(ctx)}
    rows[-1] = _original_row(ctx)
    files: dict[str, bytes] = {}
    rules = []
    for batch, pick in sorted(by_batch.items(), key=lambda kv: int(kv[0])):
        spec = RuntimeSpec(**pick["spec"])
        if pick["number"] != chosen["number"]:
            file = "model-original.onnx" if pick["number"] < 0 else f"model-trial-{pick['number']}.onnx"
            if file not in files:
                files[file] = _trial_bytes(ctx, rows[pick["number"]])
            spec = dataclasses.replace(spec, file=file)
        rules.append((int(batch), spec))
    return BatchPolicy(tuple(rules)).to_dict(), files


def _rows_on_disk(ctx: Context) -> list[dict[str, Any]]:
    rows = []
    for path in (ctx.run / "trials").glob("*.json"):
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return rows
