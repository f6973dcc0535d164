"""Paired statistics against hand-worked values, scipy, a normal approximation and a
coverage simulation; per-image terms against every suite's own summary."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from scipy.stats import binomtest

from shiftbench import EvalConfig
from shiftbench.api import evaluate
from shiftbench.data.views import Geometry
from shiftbench.errors import ShiftbenchError
from shiftbench.results.paired import Difference, bootstrap_intervals, mcnemar_exact
from shiftbench.suites import build_suites

from .helpers import LinearProbe, config, wrap


def test_mcnemar_on_a_hand_worked_table() -> None:
    # 2x2 table: both right 50, only A right 1, only B right 8, both wrong 41.
    # Discordant n = 9; P(X <= 1) for Binomial(9, 1/2) = (1 + 9) / 512; two-sided: twice that.
    assert mcnemar_exact(1, 8) == pytest.approx(20 / 512, abs=1e-15)
    assert mcnemar_exact(8, 1) == pytest.approx(20 / 512, abs=1e-15)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0  # the doubled tail is capped at 1
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64, abs=1e-15)


@pytest.mark.parametrize(("better", "worse"), [(3, 17), (120, 80), (2500, 2600), (0, 30)])
def test_mcnemar_matches_scipy_binomial_test(better: int, worse: int) -> None:
    expected = binomtest(better, better + worse, 0.5, alternative="two-sided").pvalue
    # scipy sums every outcome no likelier than the observed one: for p = 1/2 the
    # binomial is symmetric, so that is exactly twice the smaller tail.
    assert mcnemar_exact(better, worse) == pytest.approx(expected, rel=1e-9)


def test_bootstrap_interval_is_the_normal_interval_for_many_images() -> None:
    generator = torch.Generator().manual_seed(1)
    values = (torch.rand(4000, 2, generator=generator) < torch.tensor([0.3, 0.8])).double()
    low, high = bootstrap_intervals(values, resamples=2000, seed=0)
    mean = values.mean(dim=0)
    half = 1.959964 * values.std(dim=0) / math.sqrt(values.shape[0])
    assert torch.allclose(low, mean - half, atol=0.15 * half.max())
    assert torch.allclose(high, mean + half, atol=0.15 * half.max())


def test_bootstrap_is_a_function_of_seed_and_images() -> None:
    values = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    first = bootstrap_intervals(values, 300, seed=4)
    assert all(
        torch.equal(a, b) for a, b in zip(first, bootstrap_intervals(values, 300, 4), strict=True)
    )
    other = bootstrap_intervals(values, 300, seed=5)
    assert not torch.equal(first[0], other[0])
    # a column's interval does not depend on the other columns (same resamples for all)
    alone = bootstrap_intervals(values[:, 1:2], 300, seed=4)
    assert torch.equal(alone[0][0], first[0][1])


def test_paired_bootstrap_covers_the_true_difference() -> None:
    """Simulated paired binary outcomes with a known difference of rates (-0.10): the 95%
    interval of the mean per-image difference covers it in about 95% of experiments."""
    generator = torch.Generator().manual_seed(123)
    experiments, images, covered = 400, 150, 0
    for experiment in range(experiments):
        shared = torch.rand(images, generator=generator)
        noise = torch.rand(images, generator=generator)
        a = (shared < 0.7).double()  # P(a) = 0.7
        b = ((shared < 0.45) | ((shared >= 0.7) & (noise < 0.5))).double()  # 0.45 + 0.15
        low, high = bootstrap_intervals((b - a)[:, None], 500, seed=experiment)
        covered += int(low[0] <= -0.10 <= high[0])
    assert b.mean() != a.mean()  # outcomes are paired and correlated, not identical
    assert 0.91 <= covered / experiments <= 0.98


def test_verdicts_need_an_interval_without_zero_and_a_small_p() -> None:
    def diff(low: float, high: float, p: float | None, higher: bool = True) -> Difference:
        return Difference("clean.top1", "aa4", 70.0, 71.0, 1.0, low, high, p, higher)

    assert diff(0.2, 1.8, 0.01).verdict == "better"
    assert diff(0.2, 1.8, 0.01, higher=False).verdict == "worse"
    assert diff(-0.2, 1.8, 0.01).verdict == "n.s."
    assert diff(0.2, 1.8, 0.2).verdict == "n.s."
    assert diff(0.2, 1.8, None).verdict == "better"


def test_per_image_terms_average_to_every_metric(tmp_path: Path, folder: Path) -> None:
    """For every suite, the mean of each metric's per-image terms is the metric itself."""
    settings = config(
        suites=("clean", "consistency", "diagonal", "circular", "translation", "corruption"),
        corruptions=("gaussian_noise", "contrast", "speckle_noise"),
        severities=(1, 2, 3, 4, 5),
    )
    result = evaluate(wrap(LinearProbe(16, 3), 16), folder, settings)
    suites = build_suites(Geometry(16, 8), settings)
    for suite in suites:
        terms = suite.per_image(suite.own(result.records))
        metrics = [m for m in result.metrics if m.suite == suite.name]
        assert sorted(terms) == sorted(m.name for m in metrics)
        for metric in metrics:
            term = terms[metric.name]
            assert term.values.shape == (len(result.images),)
            assert 100 * float(term.values.mean()) == pytest.approx(metric.value, abs=1e-9)
    rates = {"corruption.error.contrast.3", "consistency.consistency", "translation.worst_top1"}
    terms = {
        f"{s.name}.{k}": v for s in suites for k, v in s.per_image(s.own(result.records)).items()
    }
    assert all(terms[key].rate for key in rates)
    assert not any(terms[key].rate for key in ("corruption.mce", "clean.prob_true"))


def test_saved_config_round_trips() -> None:
    settings = EvalConfig.from_settings(
        suites=("clean", "corruption"), corruptions=("fog",), severities=(2,)
    )
    assert EvalConfig.from_dict(settings.to_dict()) == settings
    with pytest.raises(ShiftbenchError):
        EvalConfig.from_dict({**settings.to_dict(), "batch_size": 0})


def test_a_small_significant_difference_is_shown_with_the_decimals_it_needs() -> None:
    """A spread that falls by 0.003 points with an interval below zero reads "better": its
    cell must not print the interval as [-0.01, -0.00], which looks like it touches zero."""
    from shiftbench.results.comparison import difference_cell

    d = Difference("diagonal.prob_true_spread", "aa3", 0.06, 0.057, -0.0032, -0.006, -0.0008,
                   None, False)  # fmt: skip
    assert difference_cell(d) == "-0.003 [-0.006, -0.001] better"
    wide = Difference("clean.top1", "aa3", 70.0, 71.5, 1.5, -0.2, 3.1, 0.2, True)
    assert difference_cell(wide) == "+1.50 [-0.20, +3.10] p=0.200 n.s."
