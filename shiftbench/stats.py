"""Confidence intervals for rates and means over images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval and the number of trials behind it."""

    value: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in other units (x100 for percent)."""
        return Estimate(self.value * factor, self.low * factor, self.high * factor, self.n)


def wilson_interval(successes: float, trials: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (fractional trial counts allowed)."""
    if trials <= 0:
        return math.nan, math.nan
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def rate(hits: torch.Tensor) -> Estimate:
    """Rate of True in `hits` with a 95% interval.

    `hits` is [images] (one trial per image: Wilson interval) or [images, k] (k trials per
    image, which may be correlated: Wilson interval on the effective sample size
    images*k/deff, with the design effect deff = between-image variance over binomial
    variance, clamped to [1, k]; deff = k when the rate is 0 or 1).
    """
    hits = hits.reshape(hits.shape[0], -1).double()
    images, k = hits.shape
    if images == 0 or k == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = float(hits.mean())
    effective = float(images * k)
    if k > 1:
        binomial = p * (1 - p) / k
        if binomial > 0 and images > 1:
            between = float(hits.mean(dim=1).var(unbiased=True))
            effective /= min(max(between / binomial, 1.0), float(k))
        elif binomial == 0:
            effective = float(images)
    low, high = wilson_interval(p * effective, effective)
    return Estimate(p, low, high, images * k)


def mean(values: torch.Tensor) -> Estimate:
    """Mean with a normal 95% interval over images ([images] or [images, k] averaged per image)."""
    values = values.reshape(values.shape[0], -1).double()
    images, k = values.shape
    if images == 0 or k == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    per_image = values.mean(dim=1)
    centre = float(per_image.mean())
    spread = float(per_image.std(unbiased=True)) if images > 1 else 0.0
    half = Z95 * spread / math.sqrt(images)
    return Estimate(centre, centre - half, centre + half, images * k)


def format_value(value: float | None, signed: bool = False, decimals: int = 2) -> str:
    """A metric as every table shows it: two decimals, a sign when `signed`, "" for None,
    "nan" when not finite, and never "-0.00" for a value that rounds to zero."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return "nan"
    rounded = round(value, decimals) + 0.0  # -0.0 + 0.0 is 0.0
    return f"{rounded:+.{decimals}f}" if signed else f"{rounded:.{decimals}f}"


def interval_decimals(low: float, high: float, most: int = 6) -> int:
    """Decimals (2 or more) at which an interval that excludes zero does not show a bound of
    zero: [-0.0042, -0.0003] is shown as [-0.0042, -0.0003], not as [-0.00, -0.00]."""
    decimals = 2
    while decimals < most and (
        (low > 0 and round(low, decimals) == 0) or (high < 0 and round(high, decimals) == 0)
    ):
        decimals += 1
    return decimals
