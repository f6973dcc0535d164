"""The `shiftbench` command's entry point, light enough to catch Ctrl-C while the commands
(torch, timm, typer) are still being imported."""

from __future__ import annotations

import sys


def main() -> None:
    """Import the commands and run them; Ctrl-C during the imports is one line and exit 130."""
    try:
        from .cli import run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting: nothing was written\n")
        sys.exit(130)
    run()
