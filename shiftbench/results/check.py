"""Regression gates for CI: compare a results.json with a baseline under tolerances."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from ..config import COMPARED_SETTINGS, EvalConfig
from ..errors import ShiftbenchError
from ..stats import format_value
from ..suites import metric_key
from .result import EvalResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Gate:
    """A tolerance: `max-drop` (points the metric may worsen) or `min` (a bound it must
    reach in its good direction: a floor if higher is better, a ceiling if lower is)."""

    metric: str
    kind: str
    value: float
    origin: str | None = None  # the TOML file it came from; None: the command line


@dataclass(frozen=True)
class Verdict:
    """One metric of the current results against the baseline and its gates."""

    key: str
    baseline: float | None
    current: float
    higher_is_better: bool
    gates: tuple[Gate, ...]
    failed: tuple[Gate, ...]

    @property
    def change(self) -> float | None:
        """current - baseline (in the metric's units)."""
        return None if self.baseline is None else self.current - self.baseline

    @property
    def verdict(self) -> str:
        """ok, REGRESSION, or not gated."""
        if not self.gates:
            return "not gated"
        return "REGRESSION" if self.failed else "ok"


def load_results(path: str | Path) -> EvalResult:
    """The result saved at `path`: its folder or its results.json."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        variants = sorted(p.parent.name for p in path.glob("*/results.json"))
        if variants:  # a compare folder: one result per variant
            raise ShiftbenchError(
                f"no results.json at {path}: it holds one per variant; name one of them "
                f"({', '.join(str(path / v) for v in variants[:3])})"
            )
        raise ShiftbenchError(f"no results.json at {path}")
    return EvalResult.load(file, records=False)


Results = EvalResult | dict


def as_result(results: Results) -> EvalResult:
    """An EvalResult, or one read from the content of a results.json (`EvalResult.to_json`,
    or what `api.planned_record` gives)."""
    return results if isinstance(results, EvalResult) else EvalResult.from_json(results)


def parse_gates(kind: str, items: list[str], origin: str | None = None) -> list[Gate]:
    """`NAME=VALUE` options (or entries of the TOML file `origin`) into gates."""
    gates = []
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not math.isfinite(number):
            parameter = "max_drop" if kind == "max-drop" else "minimum"
            raise ShiftbenchError(f"{{{parameter}}} takes NAME=VALUE, got '{item}'", parameter)
        gates.append(Gate(metric_key(name.strip()), kind, number, origin))
    return gates


def config_gates(path: str | Path | None) -> tuple[list[Gate], bool]:
    """Gates and allow-mismatch from `[tool.shiftbench.check]` of `path`, or of
    ./pyproject.toml when no path is given (absent: none)."""
    file = Path(path) if path is not None else Path("pyproject.toml")
    if not file.is_file():
        if path is not None:
            raise ShiftbenchError(f"check configuration not found: {file}")
        return [], False
    try:
        document = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ShiftbenchError(f"{file} is not valid TOML: {exc}") from None
    table = document.get("tool", {}).get("shiftbench", {}).get("check", {})
    gates = []
    for kind in ("max-drop", "min"):
        entries = table.get(kind, {})
        if not isinstance(entries, dict):
            raise ShiftbenchError(f"{file}: [tool.shiftbench.check] {kind} must be a table")
        gates += parse_gates(kind, [f"{k}={v}" for k, v in entries.items()], str(file))
    return gates, bool(table.get("allow-mismatch", False))


def mismatches(current: Results, baseline: Results) -> list[str]:
    """Settings and data that differ between two results (so their numbers do not compare)."""
    current, baseline = as_result(current), as_result(baseline)
    digests = [r.data.get("images_sha256") for r in (baseline, current)]
    # the same images, however chosen (a --limit above the count, a list naming them all)
    same_images = None not in digests and digests[0] == digests[1]
    found = []
    # a setting missing from a result written before it existed had its default behaviour
    default = EvalConfig().to_dict()
    for key in COMPARED_SETTINGS:
        a, b = (r.config.get(key, default[key]) for r in (current, baseline))
        if a != b and not (key == "limit" and same_images):
            found.append(f"config.{key}: {b} -> {a}")
    for key in ("images_found", "images_selected", "classes", "label_map", "geometry"):
        a, b = current.data.get(key), baseline.data.get(key)
        if a != b:
            found.append(f"data.{key}: {b} -> {a}")
    if None not in digests and not same_images:
        found.append("data.images_sha256: the selected images differ (paths or labels)")
    lists = [(r.data.get("image_list") or {}).get("sha256") for r in (baseline, current)]
    if lists[0] != lists[1] and not same_images:
        found.append(f"data.image_list: {lists[0] or 'none'} -> {lists[1] or 'none'}")
    for key in ("input_size", "interpolation", "mean", "std"):
        a = current.model["preprocess"].get(key)
        b = baseline.model["preprocess"].get(key)
        if a != b:
            found.append(f"model.preprocess.{key}: {b} -> {a}")
    if current.suites != baseline.suites:
        common = set(current.suites) & set(baseline.suites)
        found += [
            f"suites.{name}: settings differ"
            for name in sorted(common)
            if current.suites[name] != baseline.suites[name]
        ]
    return found


def refuse_mismatches(differ: list[str]) -> None:
    """Raise, naming the first differences, when two results would not compare."""
    if differ:
        raise ShiftbenchError(
            "results are not comparable ("
            + "; ".join(differ[:4])
            + (f"; +{len(differ) - 4} more" if len(differ) > 4 else "")
            + "): use {allow_mismatch} to compare anyway",
            "allow_mismatch",
        )


def _fails(gate: Gate, current: float, baseline: float | None, higher: bool) -> bool:
    if gate.kind == "min":
        return current < gate.value if higher else current > gate.value
    worse = (baseline - current) if higher else (current - baseline)  # type: ignore[operator]
    return worse > gate.value


def check_baseline(gates: list[Gate], baseline: Results | None) -> None:
    """Raise unless every max-drop gate has its metric in the baseline (which it needs)."""
    before = {m.key for m in as_result(baseline).metrics} if baseline is not None else set()
    for gate in gates:
        if gate.kind == "max-drop" and baseline is None:
            raise ShiftbenchError(
                f"{{max_drop}} {gate.metric} needs {{baseline}}", "max_drop", "baseline"
            )
        if gate.kind == "max-drop" and gate.metric not in before:
            raise ShiftbenchError(f"{gate.metric} is not in the baseline results")


def check(
    current: Results, baseline: Results | None, gates: list[Gate], allow_mismatch: bool = False
) -> list[Verdict]:
    """Verdicts for every metric of `current` (all of them, gated or not).

    Unusable input (a gated metric missing, a max-drop without baseline, different settings
    or data without `allow_mismatch`) raises ShiftbenchError.
    """
    current = as_result(current)
    baseline = as_result(baseline) if baseline is not None else None
    now = {m.key: m for m in current.metrics}
    before = {m.key: m for m in baseline.metrics} if baseline is not None else {}
    check_baseline(gates, baseline)
    for gate in gates:
        if gate.metric not in now:
            raise ShiftbenchError(f"{gate.metric} is not in the current results")
    if baseline is not None and not allow_mismatch:
        refuse_mismatches(mismatches(current, baseline))
    verdicts = []
    for key, metric in now.items():
        value = metric.value
        if value is None:
            continue
        previous = before[key].value if key in before else None
        higher = bool(metric.higher_is_better)
        mine = tuple(g for g in gates if g.metric == key)
        failed = tuple(g for g in mine if _fails(g, value, previous, higher))
        verdicts.append(Verdict(key, previous, value, higher, mine, failed))
    return verdicts


def _gate_text(verdict: Verdict) -> str:
    return ", ".join(f"{g.kind} {g.value:g}" for g in verdict.gates)


def rows(verdicts: list[Verdict]) -> list[list[str]]:
    """metric / baseline / current / change / gate / verdict rows, regressions first."""
    order = sorted(verdicts, key=lambda v: (v.verdict != "REGRESSION", not v.gates, v.key))
    return [
        [
            v.key,
            format_value(v.baseline),
            format_value(v.current),
            format_value(v.change, signed=True),
            _gate_text(v),
            v.verdict,
        ]
        for v in order
    ]


HEADER = ["metric", "baseline", "current", "change", "gate", "verdict"]


def markdown(verdicts: list[Verdict]) -> str:
    """The verdicts as a GitHub-flavoured markdown table with a one-line summary."""
    regressions = [v for v in verdicts if v.verdict == "REGRESSION"]
    gated = [v for v in verdicts if v.gates]
    summary = (
        f"**shiftbench check: {len(regressions)} regression(s)** in {len(gated)} gated metric(s)"
        if regressions
        else f"**shiftbench check: passed** ({len(gated)} gated metric(s))"
    )
    lines = [summary, "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(verdicts)]
    return "\n".join(lines) + "\n"
