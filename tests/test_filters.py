"""Filter smoothness (normalised total variation) against hand-worked filters."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from shiftbench.cli import app
from shiftbench.suites.filters import FiltersSuite, filter_tv, spatial_convs

runner = CliRunner()


def tv(rows: list[list[float]]) -> float:
    return float(filter_tv(torch.tensor(rows)[None, None])[0])


def test_hand_worked_filters() -> None:
    assert tv([[1, 2], [3, 4]]) == pytest.approx(6 / 10)  # (2 across + 4 down) / 10
    assert tv([[5, 5, 5], [5, 5, 5], [5, 5, 5]]) == 0.0
    assert tv([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) == pytest.approx(1.0)
    board = [[(-1) ** (i + j) for j in range(3)] for i in range(3)]
    assert tv(board) == pytest.approx(8 / 3)
    assert filter_tv(torch.zeros(2, 1, 3, 3)).numel() == 0  # undefined: dropped


def test_checkerboards_are_the_roughest_equal_magnitude_filters() -> None:
    patterns = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=9))).view(-1, 1, 3, 3)
    values = filter_tv(patterns)
    best = patterns[values == values.max()]
    assert len(best) == 2 and values.max() == pytest.approx(8 / 3)
    assert torch.equal(best[0], -best[1])
    board = best[0, 0]
    assert (board[:, 1:] * board[:, :-1] < 0).all() and (board[1:] * board[:-1] < 0).all()


def test_random_filters_have_the_expected_tv() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(512, 64, 3, 3, generator=generator)
    expected = 2 * 3 * 2 * math.sqrt(2) / 9  # 12 neighbour pairs, E|a-b| = sqrt(2) E|a|
    assert float(filter_tv(weight).mean()) == pytest.approx(expected, rel=0.01)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3)
        self.mix = nn.Conv2d(16, 16, 1)  # 1x1: no spatial neighbours, not counted
        self.body = nn.Conv2d(16, 32, 5, stride=2)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.mix(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


def test_a_blurred_twin_is_smoother_and_layers_are_reported() -> None:
    torch.manual_seed(0)
    rough = Net()
    smooth = Net()
    smooth.load_state_dict(rough.state_dict())
    blur = torch.tensor([1.0, 2.0, 1.0])
    kernel = (torch.outer(blur, blur) / 16)[None, None]
    with torch.no_grad():
        for _, weight in spatial_convs(smooth):
            flat = weight.view(-1, 1, *weight.shape[-2:])
            flat.copy_(F.conv2d(F.pad(flat, (1, 1, 1, 1), mode="replicate"), kernel))
    metrics, curves, settings = FiltersSuite().measure(rough)
    smooth_metrics, _, _ = FiltersSuite().measure(smooth)
    assert settings == {"layers": ["stem", "body"], "filters": [48, 512]}
    assert smooth_metrics[0].value < 0.7 * metrics[0].value
    assert metrics[0].higher_is_better is False and metrics[0].n == 560
    assert curves[0].x == [0, 1] and len(curves[0].value) == 2
    per_filter = torch.cat([filter_tv(w) for _, w in spatial_convs(rough)])
    assert metrics[0].value == pytest.approx(float(per_filter.mean()))


def test_filters_suite_needs_no_data(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = runner.invoke(app, ["eval", "test_resnet", "--no-pretrained", "-s", "filters",
                               "--out", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "filters" in (out / "metrics.csv").read_text()
    args = ["eval", "test_resnet", "--no-pretrained", "-s", "filters", "--data", str(tmp_path)]
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "reads no images" in refused.output
