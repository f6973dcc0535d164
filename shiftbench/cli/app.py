"""The typer application and how bad input reaches the user: one line, exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from ..console import error, interrupted
from ..errors import Interrupted, ShiftbenchError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Measure the shift (in)variance of image classifiers.",
)


def _version(asked: bool) -> None:
    if asked:
        from .. import __version__

        print(f"shiftbench {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Measure the shift (in)variance of image classifiers."""


# The parameters whose flag is not `--` and the name with dashes.
FLAGS = {"suites": "--suite", "config_file": "--config", "minimum": "--min",
         "markdown_file": "--markdown", "compile_model": "--compile",
         "pretrained=False": "--no-pretrained", "resamples": "--bootstrap"}  # fmt: skip


def flag(parameter: str) -> str:
    """The command line's flag for a parameter of the library (`max_shift` -> `--max-shift`)."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)
NOTHING_WRITTEN = "interrupted: nothing was written"


@contextmanager
def user_errors(**flags: str) -> Iterator[None]:
    """Turn bad input into one line on stderr and exit code 2 (a parameter the message names
    shown as its flag: `flags` gives a command's own, such as train's `filter_sizes` as
    `--antialias`), and Ctrl-C into one line saying what was kept and exit code 130."""
    try:
        yield
    except ShiftbenchError as exc:
        error(exc.naming(lambda parameter: flags.get(parameter) or flag(parameter)))
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        interrupted(str(exc) if isinstance(exc, Interrupted) else NOTHING_WRITTEN)
        raise typer.Exit(INTERRUPTED) from None
