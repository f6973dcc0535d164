"""The `shiftbench` command: parses options, calls the Python API, renders the results."""

from __future__ import annotations

import sys

import typer

from ..console import error, stderr
from ..distributed import shutdown
from . import evaluate, experiments, gates, tools  # noqa: F401  (each registers commands)
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: usage errors and Ctrl-C become one line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        stderr.print(
            "interrupted: no result files were written; finished chunks stay in the output "
            "folder, and --resume OUT continues from them"
        )
        code = 130
    except Exception as exc:
        # click's usage errors (vendored by recent typer) carry their message and exit code
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        error(exc.format_message())
        code = exc.exit_code
    finally:
        shutdown()
    sys.exit(code if isinstance(code, int) else 0)
