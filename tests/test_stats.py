"""Intervals against hand-worked values and a coverage simulation."""

from __future__ import annotations

import math

import pytest
import torch

from shiftbench.stats import Z95, mean, rate, wilson_interval


def test_wilson_hand_worked() -> None:
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10),
    # half-width z * sqrt(.016 + z^2/400) / (1 + z^2/10)
    z2 = Z95**2
    centre = (0.8 + z2 / 20) / (1 + z2 / 10)
    half = Z95 * math.sqrt(0.8 * 0.2 / 10 + z2 / 400) / (1 + z2 / 10)
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_rate_single_trial_is_wilson() -> None:
    hits = torch.tensor([True] * 8 + [False] * 2)
    estimate = rate(hits)
    assert estimate.value == pytest.approx(0.8) and estimate.n == 10
    assert (estimate.low, estimate.high) == pytest.approx(wilson_interval(8, 10))


def test_rate_identical_trials_count_images_not_trials() -> None:
    # five identical trials per image carry the information of one: n_eff = images
    per_image = torch.tensor([True] * 8 + [False] * 2)
    estimate = rate(per_image[:, None].expand(10, 5))
    assert estimate.n == 50
    assert (estimate.low, estimate.high) == pytest.approx(wilson_interval(8, 10))


def test_rate_independent_trials_use_all_trials() -> None:
    generator = torch.Generator().manual_seed(0)
    hits = torch.rand(4000, 5, generator=generator) < 0.7
    estimate = rate(hits)
    narrow = wilson_interval(float(hits.sum()), 20000)
    assert estimate.high - estimate.low == pytest.approx(narrow[1] - narrow[0], rel=0.1)


def test_rate_interval_covers_truth_in_simulation() -> None:
    generator = torch.Generator().manual_seed(1)
    covered = 0
    for _ in range(400):
        # correlated trials: each image has its own agreement probability
        p_image = torch.rand(200, 1, generator=generator) * 0.4 + 0.55
        hits = torch.rand(200, 5, generator=generator) < p_image
        e = rate(hits)
        covered += e.low <= 0.75 <= e.high
    assert 0.92 <= covered / 400 <= 0.98


def test_mean_interval() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    e = mean(values)
    half = Z95 * values.std().item() / 2
    assert (e.value, e.low, e.high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))


def test_values_are_shown_with_two_decimals_and_no_negative_zero() -> None:
    from shiftbench.stats import format_value

    assert format_value(-1e-17) == "0.00" and format_value(-1e-17, signed=True) == "+0.00"
    assert format_value(-0.004) == "0.00" and format_value(-0.006) == "-0.01"
    assert format_value(12.345678) == "12.35" and format_value(1.5, signed=True) == "+1.50"
    assert format_value(None) == "" and format_value(float("nan")) == "nan"
    assert format_value(-0.00042, signed=True, decimals=4) == "-0.0004"


def test_an_interval_that_excludes_zero_never_shows_a_zero_bound() -> None:
    from shiftbench.stats import interval_decimals

    assert interval_decimals(-1.5, 2.0) == 2  # contains zero: two decimals
    assert interval_decimals(-0.5, -0.004) == 3  # -0.00 would contradict "better"
    assert interval_decimals(0.00042, 0.3) == 4
    assert interval_decimals(-0.0042, 0.0) == 2  # touches zero: not significant anyway
    assert interval_decimals(1e-12, 1.0) == 6  # capped
