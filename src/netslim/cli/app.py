"""The ``netslim`` command line. Commands are thin calls into the library; errors become one clear message."""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext as _nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from netslim.errors import NetslimError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Make trained networks smaller and faster, and prove by measurement what accuracy they kept.",
)
# wide tables stay readable when the output is a file or a pipe (Rich would otherwise assume 80 columns)
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    if not all(part.strip().isdigit() for part in parts):
        raise typer.BadParameter(f"expected sizes like 1,28,28, got {text!r}", param_hint="--input-shape")
    shape = tuple(int(part) for part in parts)
    if not shape or len(shape) > 8 or any(s <= 0 or s > 1 << 16 for s in shape):
        raise typer.BadParameter(f"expected positive sizes like 1,28,28, got {text!r}", param_hint="--input-shape")
    return shape


def parse_batches(text: str, flag: str = "--batch") -> list[int]:
    """``"1,256"`` -> [1, 256]; anything but positive integers is a usage error naming the flag."""
    parts = [part.strip() for part in text.split(",")]
    if not parts or not all(part.isdigit() and 0 < int(part) <= 1 << 20 for part in parts):
        raise typer.BadParameter(f"expected positive batch sizes like 1,256, got {text!r}", param_hint=flag)
    return [int(part) for part in parts]


def check_threads(threads: int | None) -> int | None:
    """A thread count above this machine's cores is refused (a typo like 100000 would exhaust memory)."""
    cores = os.cpu_count() or 1
    if threads is not None and threads > 4 * cores:
        raise typer.BadParameter(f"this machine has {cores} cores; got {threads} threads", param_hint="--threads")
    return threads


def check_out(out: Path | None, *sources: str, file: bool = False) -> None:
    """Before any work: the output must not be (or hold, or sit inside) an input, and must be a location netslim may
    write (a new or empty directory, or an earlier netslim output; for ``file``, not a directory)."""
    if out is None:
        return
    from netslim import atomic
    from netslim.errors import OutputError

    target = Path(out).resolve()
    for source in sources:
        path = Path(source)
        if not path.exists():
            continue
        origin = path.resolve()
        if target == origin or origin in target.parents or target in origin.parents:
            raise OutputError(
                f"--out {out} is, holds or sits inside the input {source}; write the output elsewhere (netslim never "
                "overwrites its input)"
            )
    if file:
        if Path(out).is_dir():
            raise OutputError(f"--out {out} is a directory; give a file name (e.g. {Path(out) / 'model.nsc'})")
        atomic.check_writable(out)
        return
    atomic.check_output_dir(out)


def model_input(model: Any, shape: tuple[int, ...] | None = None) -> Any:
    """The input the model takes (:func:`netslim.models.input_spec`: shape, dtype, token range); ``shape`` from
    ``--input-shape`` overrides the shape the model states."""
    from netslim.models import input_spec

    return input_spec(model, shape)


MODEL_HELP = "A zoo name, a netslim or Hugging Face model directory, or a .onnx / .keras file."


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"netslim {version('netslim')}")
        raise typer.Exit()


@app.callback(context_settings={"help_option_names": ["-h", "--help"]})
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Make trained networks smaller and faster, and prove by measurement what accuracy they kept."""


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to write the trained model, the artifact and result.json.")] = Path(
        "netslim-demo"
    ),
    as_json: JsonFlag = False,
) -> None:
    """Run the embedded default end to end (no arguments, no network): train, profile, optimize, select, export.

    Example: netslim demo
    """
    check_out(out)
    from netslim.cli.progress import TrainProgress
    from netslim.cli.render import optimize_table, profile_table
    from netslim.demo import run_demo

    with TrainProgress(err_console, "seed_cnn on digits", quiet=as_json) as bar:
        result = run_demo(out=out, callback=bar, log=None if as_json else lambda m: err_console.print(f"  {m}"))
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(
        f"[bold]seed_cnn[/] trained on the embedded digits: test accuracy "
        f"[bold green]{result.test.accuracy:.2%}[/] on {result.test.samples} held-out samples"
    )
    console.print(profile_table(result.profile, "seed_cnn profile"))
    for line in result.profile.summary():
        console.print(f"  bottleneck: {line}")
    console.print(optimize_table(result.optimized, "before / after (held-out test accuracy, measured latency)"))
    opt = result.optimized
    console.print(
        f"chosen: [bold]{opt.chosen}[/], {opt.selection.speedup:.2f}x the fastest fp32 runtime of the original "
        f"({opt.selection.reference}) at batch {opt.selection.objective_batch}; {opt.selection.reason}"
    )
    console.print(
        f"wrote {out / 'artifact'} (model.onnx + manifest.json), {out / 'model'}, {out / 'result.json'} and "
        f"{out / 'report.html'} (open it in a browser)"
    )


@app.command("profile")
def profile_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)],
    input_shape: Annotated[str | None, typer.Option(help="Input shape without batch, e.g. 1,28,28.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 1,
    latency: Annotated[bool, typer.Option(help="Measure per-layer latency.")] = True,
    threads: Annotated[int | None, typer.Option(min=1, help="Thread count for timing.")] = None,
    repeats: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Per-layer parameters, MACs, activation memory and measured latency, with the bottlenecks ranked.

    Example: netslim profile seed_cnn --input-shape 1,28,28 --batch-size 32
    """
    from netslim.analyze import profile
    from netslim.bench import TimingConfig
    from netslim.cli.render import profile_table
    from netslim.models import load_any

    check_threads(threads)
    parsed = parse_shape(input_shape)
    net = load_any(model, parsed)
    spec = model_input(net, parsed)
    with err_console.status(f"profiling {model}", spinner="dots") if not as_json else _nullcontext():
        result = profile(
            net,
            spec.shape,
            example=spec.random(batch_size),
            measure_latency=latency,
            timing=TimingConfig(warmup=max(3, repeats // 5), repeats=repeats, threads=threads),
        )
    if as_json:
        emit_json({"model": model, **result.to_dict()})
        return
    console.print(profile_table(result, model))
    for line in result.summary():
        console.print(f"  bottleneck: {line}")


@app.command()
def train(
    model: Annotated[str, typer.Argument(help=MODEL_HELP + " Fine-tuned when it holds weights.")],
    data: Annotated[
        str, typer.Option(help="digits | mnist | mnist:DIR | file.npz | image folder | lines.tsv")
    ] = "digits",
    optimizer: Annotated[str, typer.Option(help="gd | sgd | momentum | nesterov | rmsprop | adam | adamw")] = "adam",
    lr: Annotated[float | None, typer.Option(help="Learning rate (default depends on the optimizer).")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    schedule: Annotated[str, typer.Option(help="constant | step | cosine | onecycle")] = "constant",
    l1: float = 0.0,
    l2: Annotated[float | None, typer.Option(help="L2 penalty (default: the zoo model's hint, else 0).")] = None,
    group_lasso: float = 0.0,
    patience: Annotated[int | None, typer.Option(help="Early stopping after this many epochs without gain.")] = None,
    seed: int = 0,
    config: Annotated[Path | None, typer.Option(help="A TrainConfig YAML file; flags are ignored when given.")] = None,
    out: Annotated[Path | None, typer.Option(help="Save the trained model here (netslim format, no pickle).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train or fine-tune a model and report held-out test accuracy.

    Example: netslim train seed_cnn --data mnist:../shared/data/mnist --epochs 3 --out runs/cnn
    """
    check_out(out, model)
    import torch

    from netslim.cli.progress import TrainProgress
    from netslim.data import load_data
    from netslim.models import load_any, save_model, zoo_entry
    from netslim.models.front import hf_tokenizer, tokenizer_files
    from netslim.models.zoo import list_models
    from netslim.train import TrainConfig, evaluate, train_

    splits = load_data(data, seed=seed, tokenizer=hf_tokenizer(model) if Path(model).is_dir() else None)
    torch.manual_seed(seed)  # a zoo model is initialised under the seed: the same flags give the same model
    net = load_any(model, splits.input_shape, splits.num_classes)
    hints = zoo_entry(model).train_hints if model in {e.name for e in list_models()} else {}
    if config is not None:
        cfg = TrainConfig.from_yaml(config)
    else:
        cfg = TrainConfig(
            epochs=epochs,
            optimizer=optimizer,
            lr=lr,
            batch_size=batch_size,
            schedule=schedule,
            l1=l1,
            l2=hints.get("l2", 0.0) if l2 is None else l2,
            regularize_layers=hints.get("regularize_layers", ()) if l2 is None else (),
            group_lasso=group_lasso,
            patience=patience,
            seed=seed,
        )
    with TrainProgress(err_console, f"{model} on {data}", quiet=as_json) as bar:
        record = train_(net, splits, cfg, callback=bar)
    test = evaluate(net, splits.test)
    if out is not None:
        save_model(net, out, extra={"test_accuracy": test.accuracy, "data": data}, files=tokenizer_files(model))
    if as_json:
        emit_json({"model": model, "data": data, "train": record.to_dict(), "test": test.to_dict()})
        return
    console.print(
        f"test accuracy [bold green]{test.accuracy:.2%}[/] on {test.samples} held-out samples "
        f"(best epoch {record.best_epoch})"
    )
    if out is not None:
        console.print(f"saved {out}")


@app.command("export")
def export_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)],
    out: Annotated[Path, typer.Option(help="The artifact directory to write (model.onnx + manifest.json).")],
    input_shape: Annotated[str | None, typer.Option(help="Input shape without batch, e.g. 1,28,28.")] = None,
    opset: int = 17,
    atol: Annotated[float, typer.Option(help="Largest output difference accepted against torch.")] = 1e-4,
    quant_format: Annotated[
        str, typer.Option(help="qdq | qoperator: how a quantized model's integer layers are written.")
    ] = "qdq",
    as_json: JsonFlag = False,
) -> None:
    """Export to an ONNX artifact, checked against torch on real inputs before it is written.

    Example: netslim export runs/cnn --out runs/cnn-artifact
    """
    check_out(out, model)
    from netslim.export import ExportConfig, save_artifact
    from netslim.models import load_any

    parsed = parse_shape(input_shape)
    net = load_any(model, parsed)
    record = save_artifact(
        net,
        model_input(net, parsed).random(2),
        out,
        config=ExportConfig(opset=opset, atol=atol, quant_format=quant_format),
        manifest={"source": model},
    )
    if as_json:
        emit_json(record.to_dict())
        return
    console.print(
        f"wrote {out} ({record.bytes:,} bytes of ONNX); parity: max abs diff "
        f"{record.parity.max_abs_diff:.2e}, top-1 agreement {record.parity.argmax_agreement:.0%}"
    )


@app.command("bench")
def bench_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP + " Or an artifact directory.")],
    input_shape: Annotated[str | None, typer.Option(help="Input shape without batch, e.g. 1,28,28.")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma separated.")] = "1,256",
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    repeats: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Time torch eager against ONNX Runtime (or an artifact) side by side: medians of warmed runs with spread.

    Example: netslim bench seed_cnn --input-shape 1,28,28 --batch 1,256 --threads 2
    """
    from netslim.bench import TimingConfig, compare
    from netslim.cli.render import timing_table
    from netslim.export import load_artifact, to_onnx_bytes
    from netslim.export.onnx import ExportConfig
    from netslim.models import InputSpec, load_any
    from netslim.runtime import OrtRuntime, TorchRuntime

    batches = parse_batches(batch)
    check_threads(threads)
    runners: dict[str, object]
    if (Path(model) / "manifest.json").is_file():
        artifact = load_artifact(model, threads=threads)
        spec = InputSpec(artifact.input_shape, str(artifact.manifest.get("input_dtype", "float32")), 2)
        runners = {"artifact": artifact}
    else:
        parsed = parse_shape(input_shape)
        net = load_any(model, parsed).eval()
        spec = model_input(net, parsed)
        onnx_bytes = to_onnx_bytes(net, spec.random(1), ExportConfig())
        runners = {
            "torch-eager": TorchRuntime(net, threads=threads),
            "onnxruntime": OrtRuntime(onnx_bytes, threads=threads),
        }
    timings = []
    config = TimingConfig(warmup=max(3, repeats // 5), repeats=repeats, threads=threads)
    with err_console.status("timing", spinner="dots") if not as_json else _nullcontext():
        for b in batches:
            x = spec.random_numpy(b)
            fns = {name: (lambda r=r, x=x: r(x) if callable(r) else r.run(x)) for name, r in runners.items()}
            timings += list(compare(fns, config, batch_size=b).values())
    if as_json:
        emit_json([t.to_dict() for t in timings])
        return
    console.print(timing_table(timings, f"{model}: side by side"))


@app.command()
def zoo(as_json: JsonFlag = False) -> None:
    """List the built-in models."""
    from rich.table import Table

    from netslim.models import list_models

    entries = list_models()
    if as_json:
        emit_json(
            [
                {"name": e.name, "source": e.source, "defaults": e.defaults, "train_hints": e.train_hints}
                for e in entries
            ]
        )
        return
    table = Table(title="netslim zoo")
    table.add_column("name")
    table.add_column("source")
    for e in entries:
        table.add_row(e.name, e.source)
    console.print(table)


@app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="A directory netslim wrote: demo, optimize run or artifact.")],
    out: Annotated[Path | None, typer.Option(help="The .html file to write (default: DIRECTORY/report.html).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """(Re)write report.html: accuracy vs latency vs size of every candidate (the Pareto front of a search),
    per-layer latency before/after, sensitivity, what was left unchanged and why, the machine. One self-contained
    file: it opens offline.

    Example: netslim report runs/s --out runs/s.html
    """
    from netslim import atomic
    from netslim.errors import OutputError
    from netslim.report import REPORT, report_data_from_dir, write_report

    target = out or directory / REPORT
    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"--out {out}: give a file name ending in .html (e.g. {out.with_suffix('.html').name})")
    check_out(out, file=True)
    atomic.check_writable(target)
    path = write_report(target, report_data_from_dir(directory))
    if as_json:
        emit_json({"report": str(path), "source": str(directory), "bytes": path.stat().st_size})
        return
    console.print(f"wrote {path} (self-contained: open it in any browser, offline)", highlight=False)


from netslim.cli import verbs  # noqa: E402, F401 - registers prune, quantize, compress, edit, run, optimize


def main() -> None:
    """The console entry point: a NetslimError is one clear line (JSON with ``--json``) and exit code 2; anything
    else is a netslim bug, reported in one line that names the log file holding the traceback (exit code 70)."""
    as_json = "--json" in sys.argv[1:]
    try:
        app()
    except NetslimError as exc:
        _fail(str(exc), type(exc).__name__, 2, as_json)
    except KeyboardInterrupt:
        _fail(
            "interrupted; outputs are written atomically, so nothing half-written was left", "Interrupted", 130, as_json
        )
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: a bug is reported with its log, never a bare traceback
        log = _crash_log(exc)
        _fail(
            f"internal error ({type(exc).__name__}: {exc}); this is a netslim bug - the traceback is in {log}",
            "InternalError",
            70,
            as_json,
        )


def _fail(message: str, kind: str, code: int, as_json: bool) -> None:
    from rich.markup import escape

    if as_json:
        emit_json({"error": message, "kind": kind, "exit_code": code})
    else:
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise SystemExit(code) from None


def _crash_log(exc: BaseException) -> str:
    import tempfile
    import time
    import traceback

    directory = Path(os.environ.get("NETSLIM_LOG_DIR") or Path(tempfile.gettempdir()) / "netslim-logs")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(f"netslim {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        return "(no log: the log directory is not writable; set NETSLIM_LOG_DIR)"
