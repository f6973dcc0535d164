"""Corruption errors (CE), mCE and their relative forms, against AlexNet's errors.

CE_c = sum_s E(c, s) / sum_s E_AlexNet(c, s); mCE = mean of CE_c over the 15 benchmark
corruptions. Relative CE_c = sum_s (E(c, s) - E_clean) / sum_s (E_AlexNet(c, s) -
E_AlexNet_clean). The plain mean error over the benchmark corruptions and severities is
what RobustBench reports (as 100 minus it, its ImageNet-C accuracy). Errors are fractions;
sums run over the severities measured, and only corruptions with all five severities enter
the means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .tables import ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, BENCHMARK, EXTRA, SEVERITIES


def corruption_error(errors: dict[int, float], name: str) -> float:
    """CE of one corruption from its errors by severity (fractions)."""
    alexnet = ALEXNET_ERRORS[name]
    return sum(errors.values()) / sum(alexnet[s - 1] for s in errors)


def relative_corruption_error(errors: dict[int, float], name: str, clean_error: float) -> float:
    """Relative CE of one corruption: degradation from clean, over AlexNet's degradation."""
    alexnet = ALEXNET_ERRORS[name]
    ours = sum(e - clean_error for e in errors.values())
    return ours / sum(alexnet[s - 1] - ALEXNET_CLEAN_ERROR for s in errors)


@dataclass
class CorruptionScores:
    """CE and relative CE per corruption, the means, and what was left out of them."""

    ce: dict[str, float] = field(default_factory=dict)
    relative_ce: dict[str, float] = field(default_factory=dict)
    mce: float | None = None
    relative_mce: float | None = None
    mean_error: float | None = None
    extra_mean_error: float | None = None
    incomplete: list[str] = field(default_factory=list)


def score(
    errors: dict[str, dict[int, float]], clean_error: float | None = None
) -> CorruptionScores:
    """CE, mCE (over complete benchmark corruptions), relative forms when the clean error is
    known, and the plain mean errors over the complete benchmark and extra corruptions."""
    scores = CorruptionScores()
    for name, by_severity in errors.items():
        if set(by_severity) != set(SEVERITIES):
            scores.incomplete.append(name)
            continue
        scores.ce[name] = corruption_error(by_severity, name)
        if clean_error is not None:
            scores.relative_ce[name] = relative_corruption_error(by_severity, name, clean_error)
    benchmark = [n for n in BENCHMARK if n in scores.ce]
    if benchmark:
        scores.mce = sum(scores.ce[n] for n in benchmark) / len(benchmark)
        scores.mean_error = _mean_error(errors, benchmark)
        if clean_error is not None:
            scores.relative_mce = sum(scores.relative_ce[n] for n in benchmark) / len(benchmark)
    extra = [n for n in EXTRA if n in scores.ce]
    if extra:
        scores.extra_mean_error = _mean_error(errors, extra)
    return scores


def coverage_warning(complete: Iterable[str]) -> str | None:
    """What a user must hear when the means will not be the benchmark's: None when all 15
    benchmark corruptions are measured at all five severities (`complete`)."""
    complete = set(complete)
    covered = [n for n in BENCHMARK if n in complete]
    if len(covered) == len(BENCHMARK):
        return None
    if not covered:
        return "no mCE: no benchmark corruption is measured at all five severities"
    absent = [n for n in BENCHMARK if n not in complete]
    return (
        f"mCE and mean error over {len(covered)} of the 15 benchmark corruptions (without "
        f"{', '.join(absent)}): not comparable with the published mCE"
    )


def _mean_error(errors: dict[str, dict[int, float]], names: list[str]) -> float:
    """The mean of E(c, s) over corruptions `names` and their five severities."""
    return sum(sum(errors[n].values()) / len(SEVERITIES) for n in names) / len(names)
