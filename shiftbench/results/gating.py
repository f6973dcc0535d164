"""The regression gates a run is checked against, read before it starts: what
`shiftbench check` and `eval --baseline` apply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ShiftbenchError
from .check import (
    Gate,
    check_baseline,
    config_gates,
    load_results,
    mismatches,
    parse_gates,
    refuse_mismatches,
)
from .result import EvalResult


@dataclass(frozen=True)
class Gating:
    """The gates to apply, read and checked before anything is evaluated."""

    gates: list[Gate]
    baseline: EvalResult | None
    allow_mismatch: bool
    markdown_file: Path | None

    def suites(self) -> set[str]:
        """The suites whose metrics the gates read."""
        return {g.metric.split(".")[0] for g in self.gates}

    def compares_before(self) -> bool:
        """Whether the run must be compared with the baseline before it is made."""
        return self.baseline is not None and not self.allow_mismatch

    def check_planned(self, planned: EvalResult) -> None:
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
        raise ShiftbenchError(
            "no gate: give {max_drop} / {minimum} or a [tool.shiftbench.check] table",
            "max_drop", "minimum",
        )  # fmt: skip
    previous = load_results(baseline) if baseline is not None else None
    check_baseline(gates, previous)
    return Gating(gates, previous, allow_mismatch or configured_allow, markdown_file)


def gating_for_run(
    suites: tuple[str, ...],
    baseline: Path | None = None,
    max_drop: list[str] | None = None,
    minimum: list[str] | None = None,
    check_config: Path | None = None,
    allow_mismatch: bool = False,
    markdown_file: Path | None = None,
) -> Gating | None:
    """The gates a run of `suites` is checked against after it ends (None without any), read
    now: a missing gate, an unreadable baseline or a gate on a suite that will not run is
    found before hours of evaluation, not after."""
    if baseline is None and not max_drop and not minimum and check_config is None:
        if allow_mismatch or markdown_file is not None:
            raise ShiftbenchError(
                "{allow_mismatch} and {markdown_file} apply to gates: add {baseline}, "
                "{max_drop}, {minimum} or {check_config}",
                "allow_mismatch", "markdown_file", "baseline", "max_drop", "minimum",
                "check_config",
            )  # fmt: skip
        return None
    gating = read_gating(baseline, max_drop, minimum, check_config, allow_mismatch, markdown_file)
    unselected = sorted(gating.suites() - set(suites))
    if unselected:
        configured = [g for g in gating.gates if g.origin and g.metric.split(".")[0] in unselected]
        where = (
            f": the gate on {configured[0].metric} comes from [tool.shiftbench.check] in "
            f"{configured[0].origin}"
            if configured
            else ""
        )
        raise ShiftbenchError(
            f"a gate reads the {', '.join(unselected)} suite, which is not selected "
            f"({{suites}}){where}", "suites",
        )  # fmt: skip
    return gating
