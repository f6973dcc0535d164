"""The paired comparison table: every variant's value and its difference to the first, with
the difference's 95% bootstrap interval, McNemar p-value and verdict (see `paired`)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..stats import format_value, interval_decimals
from .paired import Difference
from .result import EvalResult

CSV_COLUMNS = [
    "metric",
    "variant",
    "reference",
    "reference_value",
    "value",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
    "verdict",
    "higher_is_better",
]


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def difference_cell(d: Difference) -> str:
    """`+1.23 [+0.40, +2.05] p=0.004 better`; `n.s.` when not significant."""
    decimals = interval_decimals(d.ci_low, d.ci_high)
    low, high, difference = (
        format_value(v, True, decimals) for v in (d.ci_low, d.ci_high, d.difference)
    )
    return " ".join(x for x in (difference, f"[{low}, {high}]", _p(d.p_value), d.verdict) if x)


def paired_rows(
    variants: list[EvalResult], differences: list[Difference]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: metric, direction, the first variant's value, then for every other
    variant its value and its difference to the first."""
    first = variants[0]
    header = ["metric", "better", first.label]
    for v in variants[1:]:
        header += [v.label, f"{v.label} - {first.label}"]
    found = {(d.variant, d.key): d for d in differences}
    by_key = [{m.key: m for m in v.metrics} for v in variants[1:]]
    rows = []
    for metric in first.metrics:
        key = metric.key
        row = [
            key,
            "higher" if metric.higher_is_better else "lower",
            format_value(metric.value),
        ]
        for v, metrics in zip(variants[1:], by_key, strict=True):
            d = found.get((v.label, key))
            value = metrics[key].value if key in metrics else None
            row += [format_value(value), difference_cell(d) if d is not None else ""]
        rows.append(row)
    return header, rows


def paired_table(variants: list[EvalResult], differences: list[Difference]) -> Table:
    """The paired comparison as a rich table; significant differences in colour."""
    header, rows = paired_rows(variants, differences)
    table = Table(
        title="shiftbench compare (differences to the first variant)", title_justify="left"
    )
    for column in header:
        justify = "left" if column in ("metric", "better") else "right"
        table.add_column(escape(column), justify=justify, overflow="fold")
    for row in rows:
        styled = []
        for cell in row:
            if cell.endswith(" better"):
                cell = f"[green]{cell}[/green]"
            elif cell.endswith(" worse"):
                cell = f"[red]{cell}[/red]"
            elif cell.endswith(" n.s."):
                cell = f"[dim]{cell}[/dim]"
            styled.append(cell)
        table.add_row(*styled)
    return table


def headline_rows(
    variants: list[EvalResult], differences: list[Difference], keys: list[str]
) -> list[tuple[str, str, list[tuple[str, Difference | None]]]]:
    """For each of `keys` the first variant has: the metric, its direction, and each
    variant's formatted value with its difference to the first (None for the first, and
    where no paired difference exists, as for the filters suite)."""
    found = {(d.variant, d.key): d for d in differences}
    by_key = [{m.key: m for m in v.metrics} for v in variants]
    rows = []
    for key in keys:
        values = [metrics.get(key) for metrics in by_key]
        if values[0] is None:
            continue
        cells = [
            (
                format_value(metric.value) if metric is not None else "",
                found.get((v.label, key)) if position else None,
            )
            for position, (v, metric) in enumerate(zip(variants, values, strict=True))
        ]
        rows.append((key, "higher" if values[0].higher_is_better else "lower", cells))
    return rows


def headline_table(
    variants: list[EvalResult], differences: list[Difference], keys: list[str]
) -> Table:
    """A narrow table of chosen metrics: each variant's value and its difference to the
    first, starred when significant (intervals and p-values: the full table, report.md)."""
    table = Table(
        title="differences to the first variant",
        title_justify="left",
        caption="* significant: 95% paired interval excludes 0 (and McNemar p < 0.05)",
    )
    table.add_column("metric", overflow="fold")
    table.add_column("better")
    for v in variants:
        table.add_column(escape(v.label), justify="right", no_wrap=True)
    for key, better, cells in headline_rows(variants, differences, keys):
        row = [key, better]
        for value, d in cells:
            if d is not None:
                colour = {"better": "green", "worse": "red"}.get(d.verdict, "dim")
                star = "*" if d.significant else " "
                value += f" [{colour}]{format_value(d.difference, True)}{star}[/{colour}]"
            row.append(value)
        table.add_row(*row)
    return table


def headline_markdown(
    variants: list[EvalResult], differences: list[Difference], keys: list[str]
) -> list[str]:
    """`headline_table` as markdown lines, differences in brackets: `95.75 (+4.00*)`."""
    lines = ["| metric | better | " + " | ".join(v.label for v in variants) + " |"]
    lines.append("|---|---|" + "---:|" * len(variants))
    for key, better, cells in headline_rows(variants, differences, keys):
        shown = []
        for value, d in cells:
            star = "*" if d is not None and d.significant else ""
            shown.append(value + (f" ({format_value(d.difference, True)}{star})" if d else ""))
        lines.append(f"| {key} | {better} | " + " | ".join(shown) + " |")
    return lines


def paired_markdown(
    variants: list[EvalResult], differences: list[Difference], resamples: int
) -> list[str]:
    """Report lines: the paired table in GitHub-flavoured markdown, with how to read it."""
    header, rows = paired_rows(variants, differences)
    lines = [
        "## Paired differences",
        "",
        f"Differences to {variants[0].label} in percentage points, with 95% intervals from "
        f"a paired bootstrap over images ({resamples} resamples) and McNemar's exact test for "
        "rates; n.s. = not significant (interval includes 0, or p >= 0.05).",
        "",
        "| " + " | ".join(header) + " |",
        "|---|---|" + "---:|" * (len(header) - 2),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def comparison_csv(differences: list[Difference], reference: str) -> str:
    """One row per metric and variant against the reference (the first variant)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in differences:
        writer.writerow(
            [
                d.key, d.variant, reference, d.baseline, d.value, d.difference, d.ci_low,
                d.ci_high, "" if d.p_value is None else d.p_value, d.significant, d.verdict,
                d.higher_is_better,
            ]
        )  # fmt: skip
    return buffer.getvalue()


def comparison_document(
    variants: list[EvalResult], differences: list[Difference] | None, resamples: int, out: Path
) -> dict:
    """comparison.json: the variant folders in order (relative to `out`), the bootstrap
    settings and every difference."""
    return {
        "variants": [os.path.relpath(v.folder, out) for v in variants],  # type: ignore[arg-type]
        "labels": [v.label for v in variants],
        "reference": variants[0].label,
        "bootstrap": {"resamples": resamples, "seed": variants[0].config["seed"]},
        "differences": None if differences is None else [d.to_dict() for d in differences],
    }
