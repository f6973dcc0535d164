"""Regression gates on saved results: what `shiftbench check` and `eval --baseline` run."""

from __future__ import annotations

import os
from pathlib import Path

from rich.table import Table

from ..console import stderr, stdout
from ..errors import ShiftbenchError
from ..results.check import HEADER, check, markdown, rows
from ..results.gating import Gating


def gate(current: dict, gating: Gating) -> int:
    """Run the regression gates, print and write the verdicts; 0 when all hold, else 1."""
    verdicts = check(current, gating.baseline, gating.gates, gating.allow_mismatch)
    markdown_file = gating.markdown_file
    table = Table(title="shiftbench check", title_justify="left")
    for column in HEADER:
        justify = "left" if column in ("metric", "gate") else "right"
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows(verdicts):
        style = "bold red" if row[-1] == "REGRESSION" else None
        table.add_row(*row, style=style)
    stdout.print(table)
    text = markdown(verdicts)
    targets = [markdown_file] if markdown_file is not None else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    for target in targets:
        try:
            with open(target, "a" if target != markdown_file else "w") as handle:
                handle.write(text)
        except OSError as exc:
            raise ShiftbenchError(f"cannot write {target}: {exc.strerror or exc}") from None
    failed = [v for v in verdicts if v.verdict == "REGRESSION"]
    if failed:
        stderr.print(f"[bold red]regression:[/bold red] {', '.join(v.key for v in failed)}")
        return 1
    return 0
