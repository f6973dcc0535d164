"""The typer application and how bad input reaches the user: one line, exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from ..console import error
from ..errors import ShiftbenchError

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


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input into one line on stderr and exit code 2."""
    try:
        yield
    except ShiftbenchError as exc:
        error(str(exc))
        raise typer.Exit(2) from None
