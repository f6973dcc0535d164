"""Terminal output: notes and warnings on stderr, progress bars with rates. Under torchrun
only rank 0 speaks (errors excepted), so nothing is printed once per process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .engine import Progress as ProgressCallback

stderr = Console(stderr=True, soft_wrap=True)
stdout = Console()


def _quiet() -> bool:
    return os.environ.get("RANK", "0") != "0"


def note(message: str) -> None:
    """An informational line on stderr."""
    if not _quiet():
        stderr.print(f"[dim]{escape(message)}[/dim]", highlight=False)


def warn(message: str) -> None:
    """A warning line on stderr."""
    if not _quiet():
        stderr.print(f"[bold yellow]warning:[/bold yellow] {escape(message)}", highlight=False)


def error(message: str) -> None:
    """The one line of an error on stderr, from every rank. Messages are printed as written:
    a path such as `val/[2019]/a.jpg` or a `[tool.shiftbench.check]` table is not markup."""
    stderr.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)


def interrupted(message: str) -> None:
    """The one line of an interrupted run on stderr (from rank 0 only: every torchrun process
    gets the signal)."""
    if not _quiet():
        stderr.print(escape(message), highlight=False)


@contextmanager
def count_bar(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar over steps whose number is known once work starts, with their
    rate in `unit`/s, on a terminal only (a log gets no line of it); yields
    `update(done, total)`."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.1f} " + unit + "/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, disable=_quiet() or not stderr.is_terminal) as bar:
        task = bar.add_task(description, total=None, rate=0.0)
        started = time.perf_counter()

        def update(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


@contextmanager
def progress_bar(total_images: int, description: str) -> Iterator[ProgressCallback]:
    """A rich progress bar over images, showing images/s and views/s; yields the callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[image_rate]:>8.1f} img/s"),
        TextColumn("{task.fields[view_rate]:>9.1f} views/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task(description, total=total_images, image_rate=0.0, view_rate=0.0)
        started = time.perf_counter()
        done = {"images": 0, "views": 0}

        def update(images: int, views: int) -> None:
            done["images"] += images
            done["views"] += views
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.update(
                task,
                advance=images,
                image_rate=done["images"] / elapsed,
                view_rate=done["views"] / elapsed,
            )

        yield update


TrainingCallback = Callable[[int, dict[str, float]], None]


@contextmanager
def training_bar(total_images: int) -> Iterator[TrainingCallback]:
    """A rich progress bar over training images (all epochs), showing images/s and each
    model's last loss; yields `update(images, losses)`."""
    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[image_rate]:>8.1f} img/s"),
        TextColumn("{task.fields[losses]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task("training", total=total_images, image_rate=0.0, losses="")
        started = time.perf_counter()
        done = {"images": 0}

        def update(images: int, losses: dict[str, float]) -> None:
            done["images"] += images
            elapsed = max(time.perf_counter() - started, 1e-9)
            text = " ".join(f"{name} {loss:.3f}" for name, loss in losses.items())
            bar.update(task, advance=images, image_rate=done["images"] / elapsed, losses=text)

        yield update
