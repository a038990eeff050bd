"""A Rich progress bar that plugs into netslim.train's callback hooks."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from netslim.train import EpochStats


class TrainProgress:
    """Progress bar over optimizer batches; prints one line per epoch with validation accuracy."""

    def __init__(self, console: Console, description: str = "training", quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet,
        )
        self.description = description
        self.task: TaskID | None = None

    def __enter__(self) -> TrainProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def on_train_begin(self, total_steps: int) -> None:
        self.task = self.progress.add_task(self.description, total=total_steps, loss=float("nan"))

    def on_step(self, step: int, loss: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=step, loss=loss)

    def on_epoch(self, stats: EpochStats) -> None:
        if self.quiet:
            return
        val = "" if stats.val_accuracy is None else f"  val acc {stats.val_accuracy:.2%}  val loss {stats.val_loss:.4f}"
        self.progress.console.print(
            f"epoch {stats.epoch:3d}  train loss {stats.train_loss:.4f}{val}  lr {stats.lr:.2e}  {stats.seconds:.1f}s"
        )
