"""The `shiftbench` command: parses options, calls the Python API, renders the results."""

from __future__ import annotations

import os
import sys

import typer

from ..console import error, interrupted, stderr
from ..run.distributed import shutdown
from . import evaluate, experiments, gates, tools  # noqa: F401  (each registers commands)
from .app import INTERRUPTED, NOTHING_WRITTEN, app

__all__ = ["app", "run"]

# Set to show the traceback of an unexpected error instead of its one line.
TRACEBACK = "SHIFTBENCH_TRACEBACK"


def run() -> None:
    """Run the command line: usage errors, Ctrl-C and unexpected errors each become one line
    and an exit code (2, 130, 2), never a traceback; 1 stays `check`'s "regression"."""
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        interrupted(NOTHING_WRITTEN)
        code = INTERRUPTED
    except Exception as exc:
        # click's usage errors (vendored by recent typer) carry their message and exit code
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            error(exc.format_message())
            code = exc.exit_code
        elif os.environ.get(TRACEBACK):
            raise
        else:
            error(
                f"internal error, a bug in shiftbench: {type(exc).__name__}: {exc}".splitlines()[0]
                + f" (set {TRACEBACK}=1 to see where; please report it with the command line)"
            )
            code = 2
    finally:
        shutdown()
    stderr.file.flush()
    sys.exit(code if isinstance(code, int) else 0)
