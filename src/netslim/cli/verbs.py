"""CLI verbs over the transform contract: ``prune``, ``quantize``, ``compress``, ``edit``, ``run`` and ``optimize``.

Each takes a model (a zoo name or a saved model directory), builds the technique's config from ``--config FILE.yaml``
or from the flags, applies it through the same call the Python API uses, and writes a saved model directory (or a
``.nsc`` file, or an artifact). ``--json`` prints the records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from netslim.cli.app import (
    MODEL_HELP,
    JsonFlag,
    app,
    check_out,
    check_threads,
    console,
    emit_json,
    err_console,
    parse_batches,
    parse_shape,
)
from netslim.config import Config
from netslim.errors import ConfigError

ModelArg = Annotated[str, typer.Argument(help=MODEL_HELP)]
DataOpt = Annotated[str | None, typer.Option(help="digits | mnist | mnist:DIR | file.npz | image folder | lines.tsv")]
ShapeOpt = Annotated[str | None, typer.Option(help="Input shape without batch, e.g. 1,28,28 (default: the model's).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="A config YAML file; it replaces the flags.")]
OutDir = Annotated[Path, typer.Option(help="The saved model directory to write (netslim format, no pickle).")]


class Inputs:
    """The model, the data (optional) and the example batch a command works on."""

    def __init__(self, model: str, data: str | None, input_shape: str | None, seed: int = 0) -> None:
        import torch

        from netslim.data import example_batch, load_data
        from netslim.models import input_spec, load_any
        from netslim.models.front import hf_tokenizer

        tokenizer = hf_tokenizer(model) if Path(model).is_dir() else None  # a pretrained model's own ids
        self.tokenized = tokenizer is not None and data is not None
        self.splits = load_data(data, seed=seed, tokenizer=tokenizer) if data is not None else None
        shape = parse_shape(input_shape)
        if shape is None and self.splits is not None:
            shape = self.splits.input_shape
        classes = self.splits.num_classes if self.splits is not None else 10
        torch.manual_seed(seed)  # a zoo model is initialised under the seed
        self.model = load_any(model, shape, classes)
        stated = input_spec(self.model) if getattr(self.model, "input_specs", None) else None
        if stated is not None and self.splits is not None and stated.shape != tuple(self.splits.input_shape):
            raise ConfigError(
                f"{model} takes inputs of shape {stated.shape} (without batch); --data {data} has "
                f"{tuple(self.splits.input_shape)}; pass data of the model's shape"
            )
        spec = input_spec(self.model, shape)
        self.input_shape: tuple[int, ...] = tuple(spec.shape)
        self.example = example_batch(self.splits) if self.splits is not None else spec.random(2)
        self.source = model

    def require_data(self, what: str) -> Any:
        if self.splits is None:
            raise ConfigError(f"{what} needs data: pass --data (digits, mnist:DIR, a .npz, an image folder, ...)")
        return self.splits


def _load_yaml_config(path: Path, kind: type[Config]) -> Config:
    import yaml

    try:
        payload = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read a YAML config ({exc})") from exc
    if not isinstance(payload, dict):
        raise ConfigError(f"{path}: expected a mapping of {kind.__name__} fields")
    if "type" not in payload:
        payload = {"type": kind.__name__, "data": payload}
    return Config.from_dict(payload)


def _finish(
    inputs: Inputs,
    records: list[Any],
    out: Path,
    as_json: bool,
    extra: dict[str, Any] | None = None,
    after_save: Any = None,
) -> None:
    from netslim.models import save_model
    from netslim.models.front import tokenizer_files
    from netslim.train import evaluate

    info: dict[str, Any] = {"source": inputs.source, "records": [r.to_dict() for r in records], **(extra or {})}
    if inputs.splits is not None:
        info["test_accuracy"] = float(evaluate(inputs.model, inputs.splits.test).accuracy)
        info["outputs_sha256"] = outputs_digest(inputs.model, inputs.splits.test.x[:64])
    save_model(inputs.model, out, extra=info, files=tokenizer_files(inputs.source))
    if after_save is not None:
        info.update(after_save())
    if as_json:
        emit_json({"out": str(out), **info})
        return
    for record in records:
        console.print(record.summary(), highlight=False)
    if "test_accuracy" in info:
        console.print(f"test accuracy [bold green]{info['test_accuracy']:.2%}[/] on held-out data")
    console.print(f"saved {out}", highlight=False)


def outputs_digest(model: Any, x: Any) -> str:
    """SHA-256 of ``model``'s float32 outputs on ``x`` in eval mode: equal digests are bit-identical outputs."""
    import hashlib

    import numpy as np
    import torch

    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x)))
    return hashlib.sha256(out.detach().float().numpy().tobytes()).hexdigest()


def _apply(inputs: Inputs, configs: list[Config], as_json: bool, teacher: Any = None) -> list[Any]:
    from netslim.transform import apply_

    records = []
    for config in configs:
        label = type(config).__name__
        with err_console.status(f"{label} on {inputs.source}", spinner="dots") if not as_json else _quiet():
            records.append(apply_(inputs.model, config, example=inputs.example, data=inputs.splits, teacher=teacher))
    return records


def _quiet() -> Any:
    from contextlib import nullcontext

    return nullcontext()


@app.command()
def prune(
    model: ModelArg,
    out: OutDir,
    data: DataOpt = None,
    input_shape: ShapeOpt = None,
    ratio: Annotated[float, typer.Option(help="Fraction of the channels of every prunable group to remove.")] = 0.5,
    importance: Annotated[str, typer.Option(help="l1 | l2 | bn_scale | taylor | random")] = "l1",
    scope: Annotated[str, typer.Option(help="uniform | global")] = "uniform",
    round_to: Annotated[int | None, typer.Option(min=1, help="Keep channel counts multiples of this.")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Prune in this many compounding steps.")] = 1,
    epochs: Annotated[int, typer.Option(min=0, help="Fine-tune epochs after each step (0: none; needs --data).")] = 0,
    distill: Annotated[bool, typer.Option(help="Distil the fine-tune from the model before pruning.")] = True,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove channels, neurons and heads: a genuinely smaller dense model, saved to --out.

    Example: netslim prune runs/cnn --data digits --ratio 0.5 --steps 2 --epochs 3 --out runs/cnn-pruned
    """
    check_out(out, model)
    from netslim.structure import IterativePruneConfig, PruneConfig
    from netslim.train import DistillConfig, TrainConfig

    inputs = Inputs(model, data, input_shape)
    if config is not None:
        step: Config = _load_yaml_config(config, PruneConfig)
    else:
        prune_config = PruneConfig(ratio=ratio, importance=importance, scope=scope, round_to=round_to)
        step = prune_config
        if epochs > 0 or steps > 1:
            finetune = TrainConfig(epochs=max(epochs, 1), distill=DistillConfig() if distill else None)
            step = IterativePruneConfig(prune=prune_config, steps=steps, finetune=finetune)
    if isinstance(step, IterativePruneConfig) or getattr(step, "importance", None) == "taylor":
        inputs.require_data(f"{type(step).__name__}")
    _finish(inputs, _apply(inputs, [step], as_json), out, as_json)


@app.command()
def quantize(
    model: ModelArg,
    out: OutDir,
    data: DataOpt = None,
    input_shape: ShapeOpt = None,
    weights: Annotated[str, typer.Option(help="int8 | int4 | int2 | ternary | binary | uint8 ...")] = "int8",
    activations: Annotated[str, typer.Option(help="uint8 | int8 | int4 | none (weight-only)")] = "uint8",
    granularity: Annotated[str, typer.Option(help="per_tensor | per_channel | per_group:N")] = "per_channel",
    observer: Annotated[str, typer.Option(help="minmax | moving_average | percentile | mse | entropy")] = "minmax",
    qat: Annotated[bool, typer.Option("--qat", help="Quantization-aware training instead of post-training.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="QAT epochs.")] = 3,
    lr: Annotated[float | None, typer.Option(help="QAT learning rate.")] = None,
    calibration_samples: Annotated[int, typer.Option(min=1)] = 512,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Quantize (int8 post-training with calibration, or QAT down to int4/ternary/binary), saved to --out.

    Example: netslim quantize runs/cnn --data digits --weights int8 --activations uint8 --out runs/cnn-int8
    """
    check_out(out, model)
    from netslim.quant import QATConfig, QuantConfig
    from netslim.train import TrainConfig

    inputs = Inputs(model, data, input_shape)
    acts = None if activations.lower() in ("none", "") else activations
    step: Config
    if config is not None:
        step = _load_yaml_config(config, QATConfig if qat else QuantConfig)
    elif qat:
        step = QATConfig(
            weights=weights,
            activations=acts,
            granularity=granularity,
            observer=observer,
            calibration_samples=calibration_samples,
            train=TrainConfig(epochs=epochs, lr=lr),
        )
    else:
        step = QuantConfig(
            weights=weights,
            activations=acts,
            granularity=granularity,
            observer=observer,
            calibration_samples=calibration_samples,
        )
    if isinstance(step, QATConfig) or getattr(step, "activations", None) is not None:
        inputs.require_data(type(step).__name__)
    _finish(inputs, _apply(inputs, [step], as_json), out, as_json)


@app.command()
def compress(
    model: ModelArg,
    out: Annotated[Path, typer.Option(help="The .nsc file to write (Deep Compression's single file).")],
    data: DataOpt = "digits",
    sparsity: Annotated[float, typer.Option(help="Fraction of every conv/linear weight to prune.")] = 0.9,
    conv_bits: Annotated[int, typer.Option(min=1, max=8)] = 8,
    linear_bits: Annotated[int, typer.Option(min=1, max=8)] = 5,
    epochs: Annotated[int, typer.Option(min=0, help="Retraining epochs after pruning and after sharing.")] = 2,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Deep Compression: prune + retrain, k-means weight sharing + centroid fine-tune, Huffman coding -> .nsc.

    Example: netslim compress runs/lenet --data mnist --sparsity 0.92 --out runs/lenet.nsc
    """
    check_out(out, model, file=True)
    from netslim.compress import DeepCompressionConfig, SharingConfig, SparsityConfig, save_compressed
    from netslim.train import TrainConfig

    inputs = Inputs(model, data, None)
    inputs.require_data("compress")
    if config is not None:
        step: Any = _load_yaml_config(config, DeepCompressionConfig)
    else:
        retrain = TrainConfig(epochs=epochs, lr=1e-3) if epochs else None
        step = DeepCompressionConfig(
            sparsity=SparsityConfig(sparsity=sparsity),
            prune_finetune=retrain,  # type: ignore[arg-type]
            sharing=SharingConfig(conv_bits=conv_bits, linear_bits=linear_bits),
            share_finetune=TrainConfig(epochs=epochs, lr=1e-4) if epochs else None,
        )
    (record,) = _apply(inputs, [step], as_json)
    written = save_compressed(inputs.model, out, step.encode)
    payload = {"out": str(out), "bytes": written, "record": record.to_dict()}
    if as_json:
        emit_json(payload)
        return
    for line in record.report.table():
        console.print(line, highlight=False)
    console.print(f"wrote {out} ({written:,} bytes; load it with netslim.load_compressed)", highlight=False)


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        layer, sep, arg = value.partition("=")
        if not layer:
            raise ConfigError(f"{flag} expects LAYER=VALUE (e.g. conv1=5), got {value!r}")
        pairs.append((layer, arg if sep else ""))
    return pairs


@app.command()
def edit(
    model: ModelArg,
    out: OutDir,
    data: DataOpt = None,
    input_shape: ShapeOpt = None,
    kernel: Annotated[list[str], typer.Option(help="LAYER=K: a conv's new kernel size (padding 'same').")] = [],  # noqa: B006
    stride: Annotated[list[str], typer.Option(help="LAYER=S: a conv's new stride.")] = [],  # noqa: B006
    activation: Annotated[list[str], typer.Option(help="SELECTOR=NAME: e.g. act1=tanh or 'type:ReLU=gelu'.")] = [],  # noqa: B006
    separable: Annotated[list[str], typer.Option(help="LAYER or 'auto': depthwise + pointwise replacement.")] = [],  # noqa: B006
    low_rank: Annotated[
        list[str], typer.Option(help="LAYER[=RANK]: low-rank factorization (timed, kept if faster).")
    ] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """The seed's structural edits: kernel size / stride, activation swaps, depthwise-separable and low-rank layers.

    Example: netslim edit seed_mlp --activation act1=tanh --low-rank fc1=16 --input-shape 1,8,8 --out runs/mlp-edit
    """
    check_out(out, model)
    from netslim.structure import DecomposeConfig, KernelConfig, SeparableConfig, SwapActivationConfig

    inputs = Inputs(model, data, input_shape)
    steps: list[Config] = []
    for layer, value in _pairs(kernel, "--kernel"):
        steps.append(KernelConfig(layers=(layer,), kernel_size=_int(value, "--kernel"), padding="same"))
    for layer, value in _pairs(stride, "--stride"):
        steps.append(KernelConfig(layers=(layer,), stride=_int(value, "--stride")))
    if activation:
        mapping = {sel: name for sel, name in _pairs(activation, "--activation")}
        steps.append(SwapActivationConfig(mapping))  # type: ignore[arg-type]
    if separable:
        steps.append(SeparableConfig(layers="auto" if separable == ["auto"] else tuple(separable)))
    for layer, value in _pairs(low_rank, "--low-rank"):
        steps.append(DecomposeConfig(layers=(layer,), rank=_int(value, "--low-rank") if value else None))
    if not steps:
        raise ConfigError(
            "netslim edit: give at least one of --kernel, --stride, --activation, --separable, --low-rank"
        )
    _finish(inputs, _apply(inputs, steps, as_json), out, as_json)


def _int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{flag} expects LAYER=INTEGER, got the value {text!r}") from None
    if value < 1:
        raise ConfigError(f"{flag} expects a positive integer, got {value}")
    return value


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file: steps (one {verb: fields} each) and export.")],
    model: ModelArg,
    out: OutDir,
    data: DataOpt = None,
    input_shape: ShapeOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply a recipe (prune -> fine-tune -> quantize ...) to a model; with an export section, also write the
    ONNX artifact to OUT/artifact. The same recipe in Python (netslim.apply_recipe) gives the same model.

    Example: netslim run recipe.yaml runs/cnn --data digits --out runs/cnn-recipe
    """
    check_out(out, model, str(recipe))
    import copy

    from netslim.transform import Recipe, apply_recipe

    plan = Recipe.from_yaml(recipe)
    inputs = Inputs(model, data, input_shape)
    teacher = copy.deepcopy(inputs.model).eval()

    def show(i: int, step: Config) -> None:
        if not as_json:
            err_console.print(f"  step {i + 1}/{len(plan.steps)}: {type(step).__name__}", highlight=False)

    records = apply_recipe(
        inputs.model, plan, example=inputs.example, data=inputs.splits, teacher=teacher, on_step=show
    )

    def export() -> dict[str, Any]:
        from netslim.export import save_artifact

        if plan.export is None:
            return {}
        exported = save_artifact(inputs.model, inputs.example, out / "artifact", config=plan.export)  # type: ignore[arg-type]
        return {"export": exported.to_dict()}

    _finish(inputs, records, out, as_json, {"recipe": plan.to_dict()}, after_save=export)


@app.command()
def optimize(
    model: ModelArg,
    out: Annotated[Path, typer.Option(help="The run directory: artifact/, best/, pareto.json, trials/, result.json.")],
    data: DataOpt = None,
    max_drop: Annotated[float | None, typer.Option(help="Largest validation accuracy drop, in points.")] = 0.2,
    max_drop_relative: Annotated[float | None, typer.Option(help="Largest drop as a percent of the accuracy.")] = None,
    max_latency: Annotated[str | None, typer.Option(help="Latency limit at a batch size: 2ms@1.")] = None,
    max_size: Annotated[str | None, typer.Option(help="Largest deployed file: 1MB, 300KB, 250000.")] = None,
    objective: Annotated[list[str], typer.Option(help="latency | accuracy | size; repeat for several.")] = ["latency"],  # noqa: B006
    time_budget: Annotated[str | None, typer.Option(help="Wall-clock budget of the search: 15m, 90s, 1h.")] = "15m",
    trials: Annotated[int | None, typer.Option(min=1, help="Stop after this many finished trials.")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes to time; the last is the latency objective's.")] = "1,256",
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL, e.g. postgresql://user@host/db.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out (after a kill).")] = False,
    ladder: Annotated[bool, typer.Option("--ladder", help="The fixed pruning ladder instead of a search.")] = False,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Search for the fastest (or smallest, or most accurate) deployable model under a budget; the artifact that
    meets it lands in OUT/artifact. A budget nothing meets still writes the least infeasible one and exits with 3.

    Example: netslim optimize runs/cnn --data mnist --max-drop 0.2 --max-latency 2ms@1 --time-budget 15m --out runs/s
    """
    check_threads(threads)
    if ladder:
        _ladder(model, data, out, max_drop, batch, threads, config, as_json)
        return
    from netslim.errors import BudgetNotMetError
    from netslim.search import Budget, SearchConfig, join, parse_bytes, parse_duration, parse_latency, search

    log = None if as_json else (lambda m: err_console.print(f"  {m}", highlight=False))
    try:
        if resume:
            result = join(out, trials=trials, seconds=parse_duration(time_budget) if time_budget else None, log=log)
        else:
            check_out(out, model)
            inputs = Inputs(model, data, None)
            splits = inputs.require_data("optimize")
            if config is not None:
                cfg: Any = _load_yaml_config(config, SearchConfig)
                if storage is not None:
                    cfg = cfg.replace(storage=storage)
            else:
                latency, latency_batch = parse_latency(max_latency) if max_latency else (None, 1)
                sizes = parse_batches(batch)
                if latency is not None and latency_batch not in sizes:
                    sizes = sorted({*sizes, latency_batch})
                budget = Budget(
                    max_drop=None if max_drop is None else max_drop / 100.0,
                    max_drop_relative=None if max_drop_relative is None else max_drop_relative / 100.0,
                    max_latency_ms=latency,
                    latency_batch=latency_batch,
                    max_bytes=parse_bytes(max_size) if max_size else None,
                    time_budget_s=parse_duration(time_budget) if time_budget else None,
                    trials=trials,
                )
                cfg = SearchConfig(
                    budget=budget,
                    objectives=tuple(objective),
                    batch_sizes=tuple(sizes),
                    objective_batch=parse_batches(batch)[-1],
                    threads=threads,
                    storage=storage,
                )
            # data tokenized by the model's own tokenizer travels as arrays (RUN/data.npz), not as a spec to re-read
            spec = None if inputs.tokenized else data
            result = search(inputs.model, splits, cfg, out=out, data_spec=spec, log=log)
    except BudgetNotMetError as exc:
        _budget_not_met(exc, out, as_json)
    _report_search(result, as_json)


def _budget_not_met(exc: Exception, run: Path, as_json: bool) -> NoReturn:
    """A search whose budget nothing met: the message with the misses (the run's summary with --json), exit 3."""
    if as_json:
        emit_json({"met": False, "error": str(exc), **_search_summary(run)})
    else:
        err_console.print(f"[bold yellow]budget not met:[/] {exc}", highlight=False)
    raise typer.Exit(3)


def _report_search(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    _print_search(result)


def _search_summary(out: Path) -> dict[str, Any]:
    import json

    path = Path(out) / "result.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _print_search(result: Any) -> None:
    from rich.table import Table

    chosen = result.chosen or {}
    table = Table(title=f"netslim search: {result.trials} trials, Pareto front of {len(result.front)}")
    for column in ("", "val acc", "test acc", "bytes", *(f"b{b} ms" for b in chosen.get("latency_ms", {})), "speedup"):
        table.add_column(column)
    speed = chosen.get("speedup_vs_original", {})
    table.add_row(
        str(chosen.get("label", "?")),
        f"{chosen.get('val_accuracy', float('nan')):.2%}",
        f"{chosen.get('test_accuracy', float('nan')):.2%}",
        f"{chosen.get('bytes', 0):,}",
        *(f"{ms:.4f}" for ms in chosen.get("latency_ms", {}).values()),
        " / ".join(f"{v:.2f}x" for v in speed.values()),
    )
    console.print(table)
    console.print(f"wrote {result.artifact} (budget met); every trial is in {result.run}/trials", highlight=False)


@app.command()
def worker(
    run: Annotated[Path, typer.Argument(help="A run directory written by netslim optimize (its search.json).")],
    trials: Annotated[int | None, typer.Option(min=1, help="Stop at this many finished trials.")] = None,
    time_budget: Annotated[str | None, typer.Option(help="This worker's wall-clock budget: 10m, 1h.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Join a running search as one more worker (same study and storage; on several machines with PostgreSQL).

    Example: netslim worker runs/s --time-budget 15m
    """
    from netslim.errors import BudgetNotMetError
    from netslim.search import join, parse_duration

    log = None if as_json else (lambda m: err_console.print(f"  {m}", highlight=False))
    try:
        result = join(run, trials=trials, seconds=parse_duration(time_budget) if time_budget else None, log=log)
    except BudgetNotMetError as exc:
        _budget_not_met(exc, run, as_json)
    _report_search(result, as_json)


def _ladder(
    model: str, data: str | None, out: Path, max_drop: float | None, batch: str, threads: int | None,
    config: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """The fixed ladder (pipeline.optimize): prune at increasing ratios, quantize the most pruned, select."""
    from netslim.cli.render import optimize_table
    from netslim.pipeline import OptimizeConfig
    from netslim.pipeline import optimize as run_optimize

    if config is not None:
        cfg: Any = _load_yaml_config(config, OptimizeConfig)
    else:
        sizes = parse_batches(batch)
        cfg = OptimizeConfig(
            max_drop=(0.2 if max_drop is None else max_drop) / 100.0,
            batch_sizes=tuple(sizes),
            objective_batch=sizes[-1],
            threads=threads,
        )
    inputs = Inputs(model, data, None)
    log = None if as_json else (lambda m: err_console.print(f"  {m}", highlight=False))
    result = run_optimize(inputs.model, inputs.require_data("optimize"), cfg, out=out, log=log)
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(optimize_table(result, "before / after (held-out test accuracy, measured latency)"))
    console.print(f"chosen: {result.chosen}, {result.selection.speedup:.2f}x; wrote {out}", highlight=False)
