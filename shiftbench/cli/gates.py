"""Regression gates on saved results: what `shiftbench check` and `eval --baseline` run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from ..console import stderr, stdout
from ..errors import ShiftbenchError
from ..results.check import (
    HEADER,
    Gate,
    check,
    check_baseline,
    config_gates,
    load_results,
    markdown,
    mismatches,
    parse_gates,
    refuse_mismatches,
    rows,
)


@dataclass(frozen=True)
class Gating:
    """The gates to apply, read and checked before anything is evaluated."""

    gates: list[Gate]
    baseline: dict | None
    allow_mismatch: bool
    markdown_file: Path | None

    def suites(self) -> set[str]:
        """The suites whose metrics the gates read."""
        return {g.metric.split(".")[0] for g in self.gates}

    def compares_before(self) -> bool:
        """Whether the run must be compared with the baseline before it is made."""
        return self.baseline is not None and not self.allow_mismatch

    def check_planned(self, planned: dict) -> None:
        """Refuse, before the run, a baseline whose settings, model preprocessing or data
        differ from the run's (`api.planned_record`), unless mismatches are allowed."""
        if self.baseline is not None and not self.allow_mismatch:
            refuse_mismatches(mismatches(planned, self.baseline))


def read_gating(
    baseline: Path | None,
    max_drop: list[str] | None,
    minimum: list[str] | None,
    config: Path | None,
    allow_mismatch: bool,
    markdown_file: Path | None,
) -> Gating:
    """The gates of the options and the TOML table, and the baseline they compare with; an
    error when there is no gate or the baseline cannot be read."""
    gates, configured_allow = config_gates(config)
    gates += parse_gates("max-drop", max_drop or []) + parse_gates("min", minimum or [])
    if not gates:
        raise ShiftbenchError("no gate: give --max-drop / --min or a [tool.shiftbench.check] table")
    previous = load_results(baseline) if baseline is not None else None
    check_baseline(gates, previous)
    return Gating(gates, previous, allow_mismatch or configured_allow, markdown_file)


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
