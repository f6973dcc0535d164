"""Paired statistics of variants evaluated on the same images, shifts and noise.

Every metric is a mean over images of per-image terms (`Suite.per_image`), so the difference
between two variants is the mean of per-image differences. Its 95% interval is a percentile
bootstrap over images (the same resamples for every metric and variant, drawn from the seed).
Rates of binary trials also get McNemar's exact test: images where the variant does better
against images where it does worse, a binomial(n, 1/2) test. With one trial per image (top-1)
that is McNemar's test on the discordant pairs; with several (consistency's pairs, the
diagonal's offsets) it is the exact sign test on per-image rates, which keeps images, not
correlated trials, as the independent unit. A difference is significant when its interval
excludes zero and, where the test applies, p < 0.05.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..config import EvalConfig
from ..data.views import Geometry
from ..errors import ShiftbenchError
from ..suites import Metric, build_suites, needs_images
from ..suites.base import PerImage, image_generator
from .check import mismatches
from .result import EvalResult, data_kind

ALPHA = 0.05
DEFAULT_RESAMPLES = 2000
# Resamples drawn at once: [chunk, images] counts stay small in memory.
CHUNK = 100
# Settings that may differ between paired variants: they change how, not what, is measured.
UNPAIRED_OK = ("config.amp", "model.preprocess.mean", "model.preprocess.std")


def mcnemar_exact(better: int, worse: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: twice the smaller tail
    of binomial(better + worse, 1/2), at most 1 (1 when there is no discordant pair)."""
    n = better + worse
    if n == 0:
        return 1.0
    k = torch.arange(min(better, worse) + 1, dtype=torch.float64)
    log_pmf = math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1) - n * math.log(2.0)
    return min(1.0, 2.0 * float(torch.logsumexp(log_pmf, dim=0).exp()))


def bootstrap_intervals(
    values: torch.Tensor, resamples: int, seed: int, level: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile intervals of the mean of each column of `values` [images, metrics] when
    images are resampled with replacement; resamples depend only on `seed` and the image
    count, so every call with the same images resamples them identically."""
    images = values.shape[0]
    generator = image_generator(seed, "bootstrap", images)
    columns = values.double()
    means = []
    for start in range(0, resamples, CHUNK):
        rows = min(CHUNK, resamples - start)
        picks = torch.randint(0, images, (rows, images), generator=generator)
        counts = torch.zeros(rows, images, dtype=torch.float64)
        counts.scatter_add_(1, picks, torch.ones(rows, images, dtype=torch.float64))
        means.append(counts @ columns / images)
    stacked = torch.cat(means)
    tail = (1.0 - level) / 2.0
    bounds = torch.tensor([tail, 1.0 - tail], dtype=torch.float64)
    low, high = torch.quantile(stacked, bounds, dim=0)
    return low, high


@dataclass(frozen=True)
class Difference:
    """One metric of one variant against the first variant, in the metric's units."""

    key: str
    variant: str
    baseline: float
    value: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float | None
    higher_is_better: bool

    @property
    def significant(self) -> bool:
        """The interval excludes zero and, where McNemar's test applies, p < 0.05."""
        excludes_zero = self.ci_low > 0 or self.ci_high < 0
        return excludes_zero and (self.p_value is None or self.p_value < ALPHA)

    @property
    def verdict(self) -> str:
        """better, worse (significantly, in the metric's good direction) or n.s."""
        if not self.significant:
            return "n.s."
        return "better" if (self.difference > 0) == self.higher_is_better else "worse"

    def to_dict(self) -> dict:
        """JSON-ready, with the verdict."""
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict}


def saved_terms(saved: EvalResult) -> dict[str, PerImage]:
    """Per-image terms of every image-suite metric of a result with its `records`,
    recomputed by the suites named in its settings."""
    config = EvalConfig.from_dict(saved.config)
    if not needs_images(config.suites):
        return {}
    records = saved.records
    geometry = saved.data.get("geometry", {})
    if not records or "max_shift" not in geometry:
        raise ShiftbenchError(
            f"{saved.folder or 'these results'}: no per-image records of the image "
            "suites, so no paired statistics"
        )
    window = Geometry(geometry["input_size"], geometry["max_shift"])
    suites = build_suites(window, config, kind=data_kind(saved.data))
    terms = {}
    for suite in suites:
        own = suite.per_image(suite.own(records))
        terms |= {f"{suite.name}.{name}": term for name, term in own.items()}
    return terms


def check_paired(variants: list[EvalResult]) -> None:
    """Refuse variants that did not see the same images with the same settings."""
    first = variants[0]
    for other in variants[1:]:
        differ = [m for m in mismatches(other, first) if not m.startswith(UNPAIRED_OK)]
        if first.data.get("root") != other.data.get("root"):
            differ.append(f"data.root: {first.data.get('root')} -> {other.data.get('root')}")
        index = [v.records.get("index") for v in (first, other)]
        same_images = (index[0] is None and index[1] is None) or (
            index[0] is not None and index[1] is not None and torch.equal(*index)
        )
        if differ or not same_images:
            what = "; ".join(differ) or "the evaluated images differ"
            raise ShiftbenchError(f"{other.folder or other.variant} is not paired: {what}")


def paired_differences(
    variants: list[EvalResult], resamples: int = DEFAULT_RESAMPLES, seed: int | None = None
) -> list[Difference]:
    """Every metric of variants 2..n against variant 1 (saved results with records, all
    evaluated on the same images), with bootstrap intervals and McNemar's test.
    `seed` defaults to the evaluation seed."""
    if len(variants) < 2:
        raise ShiftbenchError("paired statistics need at least two variants")
    if resamples < 1:
        raise ShiftbenchError("{resamples} must be >= 1", "resamples")
    check_paired(variants)
    seed = variants[0].config["seed"] if seed is None else seed
    reference = saved_terms(variants[0])
    rows: list[tuple[str, Metric, str]] = []
    columns: list[torch.Tensor] = []
    tests: list[float | None] = []
    for variant in variants[1:]:
        values = {m.key: m for m in variant.metrics}
        for key, term in saved_terms(variant).items():
            if key not in reference or key not in values:
                continue
            delta = term.values - reference[key].values
            columns.append(delta)
            rows.append((key, values[key], variant.label or variant.variant))
            better, worse = int((delta > 0).sum()), int((delta < 0).sum())
            tests.append(mcnemar_exact(better, worse) if term.rate else None)
    if not columns:
        return []
    low, high = bootstrap_intervals(torch.stack(columns, dim=1), resamples, seed)
    first = {m.key: m for m in variants[0].metrics}
    return [
        Difference(
            key=key,
            variant=label,
            baseline=first[key].value,
            value=metric.value,
            difference=metric.value - first[key].value,
            ci_low=100.0 * float(lo),
            ci_high=100.0 * float(hi),
            p_value=p,
            higher_is_better=metric.higher_is_better,
        )
        for (key, metric, label), lo, hi, p in zip(rows, low, high, tests, strict=True)
    ]
