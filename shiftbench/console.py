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

from .run.engine import Progress as ProgressCallback

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


# In a log (stderr not a terminal) a progress line is printed at every tenth of the work and
# at least this often: rich's bars would show nothing there until the end.
LOG_EVERY_S = 30.0


class LogLines:
    """Progress as plain, labelled lines for a log or a pipe (`| tee`, CI): one at every
    tenth of the work and at least every `LOG_EVERY_S` seconds, with the count, the share
    done, the rate and the time left."""

    def __init__(self, description: str, unit: str, total: int | None = None) -> None:
        self.description, self.unit, self.total = description, unit, total
        self.started = self.last = time.perf_counter()
        self.tenth = 0

    def update(self, done: int, total: int | None = None, extra: str = "") -> None:
        """`done` of `total` steps so far; `extra` (", 3.1 views/s") follows the rate."""
        self.total = total if total is not None else self.total
        now = time.perf_counter()
        tenth = 10 * done // self.total if self.total else 0
        if tenth <= self.tenth and now - self.last < LOG_EVERY_S:
            return
        self.tenth, self.last = max(tenth, self.tenth), now
        rate = done / max(now - self.started, 1e-9)
        of = f"/{self.total} {self.unit} ({100 * done // self.total}%)" if self.total else ""
        left = ""
        if self.total and rate > 0 and done < self.total:
            left = f", {(self.total - done) / rate:.0f} s left"
        line = f"{self.description}: {done}{of or ' ' + self.unit}, {rate:.1f} {self.unit}/s"
        stderr.print(escape(line + extra + left), highlight=False)


def _logged() -> bool:
    """Whether progress goes to a log as lines (stderr is not a terminal) on this rank."""
    return not _quiet() and not stderr.is_terminal


@contextmanager
def count_bar(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar over steps whose number is known once work starts, with their
    rate in `unit`/s (plain lines in a log); yields `update(done, total)`."""
    if _logged():
        yield LogLines(description, unit).update
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.1f} " + unit + "/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, disable=_quiet()) as bar:
        task = bar.add_task(description, total=None, rate=0.0)
        started = time.perf_counter()

        def update(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


@contextmanager
def progress_bar(total_images: int, description: str) -> Iterator[ProgressCallback]:
    """A rich progress bar over images, showing images/s and views/s (plain lines in a log);
    yields the callback."""
    done = {"images": 0, "views": 0}
    started = time.perf_counter()
    if _logged():
        lines = LogLines(description, "images", total_images)

        def log(images: int, views: int) -> None:
            done["images"] += images
            done["views"] += views
            rate = done["views"] / max(time.perf_counter() - started, 1e-9)
            lines.update(done["images"], extra=f", {rate:.1f} views/s")

        yield log
        return
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
    model's last loss (plain lines in a log); yields `update(images, losses)`."""
    done = {"images": 0}
    started = time.perf_counter()

    def losses_text(losses: dict[str, float]) -> str:
        return " ".join(f"{name} {loss:.3f}" for name, loss in losses.items())

    if _logged():
        lines = LogLines("training", "images", total_images)

        def log(images: int, losses: dict[str, float]) -> None:
            done["images"] += images
            lines.update(done["images"], extra=f", loss {losses_text(losses)}")

        yield log
        return
    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[image_rate]:>8.1f} img/s"),
        TextColumn("loss {task.fields[losses]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task("training", total=total_images, image_rate=0.0, losses="")

        def update(images: int, losses: dict[str, float]) -> None:
            done["images"] += images
            elapsed = max(time.perf_counter() - started, 1e-9)
            text = losses_text(losses)
            bar.update(task, advance=images, image_rate=done["images"] / elapsed, losses=text)

        yield update
