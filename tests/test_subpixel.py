"""Sub-pixel shifts: the band-limited shift against torch.roll, analytic sinusoids and a
transcription of Alias-Free Convnets' construction; the suite against an exactly invariant
model, a hand-worked record and batch-size independence."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from shiftbench import evaluate
from shiftbench.cli import app
from shiftbench.data.subpixel import bilinear_shift, ideal_shift
from shiftbench.data.views import Geometry
from shiftbench.suites.subpixel import SubpixelSuite, offsets

from .helpers import TINY_RESNET, LinearProbe, config, wrap

runner = CliRunner()


def _full(value: float, count: int = 2) -> torch.Tensor:
    return torch.full((count,), value)


@pytest.mark.parametrize("size", [15, 16])
@pytest.mark.parametrize("u", [2, 3, 4])
def test_a_shift_by_u_over_u_is_torch_roll(size: int, u: int) -> None:
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(u))
    for k in (u, -u, 2 * u):
        shifted = ideal_shift(x, _full(k / u), _full(-k / u))
        expected = torch.roll(x, (k // u, -k // u), dims=(2, 3))
        assert torch.allclose(shifted, expected, atol=1e-6)


def _waves(n: torch.Tensor, size: int, dy: float, dx: float) -> torch.Tensor:
    """A band-limited image: low-frequency sinusoids along each axis and both."""
    rows, cols = (n - dy)[:, None], (n - dx)[None, :]
    return (
        torch.sin(2 * math.pi * 3 * rows / size + 0.3)
        + 0.5 * torch.cos(2 * math.pi * 5 * cols / size)
        + 0.25 * torch.sin(2 * math.pi * (2 * rows + 1 * cols) / size)
    )


@pytest.mark.parametrize(("dy", "dx"), [(0.5, 0.0), (0.25, 0.75), (1 / 3, -2 / 3)])
def test_a_fractional_shift_of_sinusoids_is_the_analytic_shift(dy: float, dx: float) -> None:
    size = 16
    n = torch.arange(size, dtype=torch.float64)
    image = _waves(n, size, 0.0, 0.0).float().expand(1, 3, size, size)
    shifted = ideal_shift(image, torch.tensor([dy]), torch.tensor([dx]))
    assert torch.allclose(shifted[0, 0], _waves(n, size, dy, dx).float(), atol=1e-5)


def test_two_half_pixel_shifts_are_one_whole_pixel() -> None:
    # an odd side has no Nyquist frequency: exact for any image
    odd = torch.rand(2, 3, 15, 15, generator=torch.Generator().manual_seed(0))
    twice = ideal_shift(ideal_shift(odd, _full(0.5), _full(-0.5)), _full(0.5), _full(-0.5))
    assert torch.allclose(twice, torch.roll(odd, (1, -1), dims=(2, 3)), atol=1e-6)
    # an even side: exact for images without energy at the Nyquist frequency (cos(pi/2) = 0)
    n = torch.arange(16, dtype=torch.float64)
    even = _waves(n, 16, 0.0, 0.0).float().expand(2, 3, 16, 16)
    twice = ideal_shift(ideal_shift(even, _full(0.5), _full(0.5)), _full(0.5), _full(0.5))
    assert torch.allclose(twice, torch.roll(even, (1, 1), dims=(2, 3)), atol=1e-5)


def _afc_subpixel_shift(x: torch.Tensor, up: int, sx: int, sy: int) -> torch.Tensor:
    """Alias-Free Convnets' `subpixel_shift` (models/ideal_lpf.py), transcribed: upsample by
    zero insertion and an ideal reconstruction filter, roll by (-sx, -sy), subsample."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h, 1, w, 1)
    x = nn.functional.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    n = x.shape[-1]
    low, high = int((n * (1 / up)) // 2), int(n - int((n * (1 / up)) // 2))
    rect = torch.ones(n)
    rect[low + 1 : high] = 0
    if n % 4 == 0:
        rect[low], rect[high] = 0.5, 0.5
    rect_2d = (rect[:, None] * rect[None, :])[:, : n // 2 + 1]
    up_image = torch.fft.irfft2(torch.fft.rfft2(x) * rect_2d, s=(n, n)) * up**2
    return torch.roll(up_image, shifts=(-sx, -sy), dims=(2, 3))[:, :, ::up, ::up]


@pytest.mark.parametrize(("up", "sx", "sy"), [(2, 1, 1), (4, 1, 3), (4, 2, 0), (3, 2, 1)])
def test_the_ideal_shift_is_alias_free_convnets_subpixel_shift(up: int, sx: int, sy: int) -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(up + sx))
    theirs = _afc_subpixel_shift(x.double(), up, sx, sy).float()
    assert torch.allclose(ideal_shift(x, _full(-sx / up), _full(-sy / up)), theirs, atol=1e-5)


def test_bilinear_shifts_interpolate_neighbours_and_repeat_the_border() -> None:
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    moved = bilinear_shift(x, torch.tensor([1.0, 0.0, 0.5]), torch.tensor([0.0, -1.0, 0.0]))
    assert torch.allclose(moved[0, :, 1:], x[0, :, :-1]) and torch.equal(moved[0, :, 0], x[0, :, 0])
    assert torch.allclose(moved[1, :, :, :-1], x[1, :, :, 1:])
    assert torch.allclose(moved[1, :, :, -1], x[1, :, :, -1])
    assert torch.allclose(moved[2, :, 1:], (x[2, :, 1:] + x[2, :, :-1]) / 2, atol=1e-6)


def test_the_grid_holds_every_fraction_once() -> None:
    assert len(offsets((2,))) == 3 and len(offsets((2, 4))) == 15  # halves are quarters too
    assert len(offsets((3, 4))) == 8 + 15
    assert (Fraction(1, 2), Fraction(0)) in offsets((2,))


class MeanColour(nn.Module):
    """Logits from the mean of each channel: exactly invariant to circular band-limited
    shifts (they keep every channel's mean)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[4.0, -2, 1], [-3, 5, 0], [1, 1, -6]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(2, 3)))


def _metrics(result: object) -> dict[str, float]:
    return {m.key: m.value for m in result.metrics}  # type: ignore[attr-defined]


def test_a_model_of_the_mean_colour_is_invariant_under_ideal_shifts(folder: Path) -> None:
    settings = config(suites=("subpixel",), subpixel_interp=("ideal", "bilinear"))
    result = evaluate(wrap(MeanColour(), 16), folder, settings)
    values = _metrics(result)
    assert values["subpixel.consistency.ideal"] == 100.0
    assert values["subpixel.mac.ideal"] == pytest.approx(0.0, abs=1e-4)
    assert values["subpixel.worst_top1.ideal"] == values["subpixel.top1.ideal"]
    # bilinear resampling with a replicated border changes the mean: not exactly invariant
    assert values["subpixel.mac.bilinear"] > 1e-3
    curve = next(c for c in result.curves if c.key == "subpixel.consistency.ideal")
    assert curve.x == [2, 4] and curve.value == [100.0, 100.0]


def test_the_metrics_of_a_hand_worked_record() -> None:
    """Two images, steps 2 (three shifts), ideal only."""
    suite = SubpixelSuite(Geometry(8, 0), config(suites=("subpixel",), subpixel_steps=(2,)))
    records = {
        "correct0": torch.tensor([True, False]),
        "agree": torch.tensor([[[True, False, True]], [[True, True, True]]]),
        "correct": torch.tensor([[[True, False, True]], [[False, False, False]]]),
        "change": torch.tensor([[[0.1, 0.5, 0.0]], [[0.0, 0.0, 0.3]]]),
    }
    metrics, curves = suite.summarise(records)
    values = {m.name: m.value for m in metrics}
    assert values["consistency.ideal"] == pytest.approx(100 * 5 / 6)
    assert values["worst_top1.ideal"] == 0.0  # image 0 fails one shift, image 1 unshifted
    assert values["top1.ideal"] == pytest.approx(100 * 2 / 6)
    assert values["mac.ideal"] == pytest.approx(100 * 0.9 / 6)
    terms = suite.per_image(records)
    assert terms["consistency.ideal"].values.tolist() == pytest.approx([2 / 3, 1.0])
    assert [c.name for c in curves] == ["consistency.ideal", "worst_top1.ideal", "mac.ideal"]


def test_the_suite_does_not_depend_on_the_batch_size(folder: Path) -> None:
    model = wrap(LinearProbe(16, 3), 16)
    settings = config(suites=("subpixel",), subpixel_interp=("ideal", "bilinear"))
    one = evaluate(model, folder, settings.with_settings(batch_size=1))
    many = evaluate(model, folder, settings.with_settings(batch_size=64))
    for key, value in one.records.items():
        assert torch.equal(value, many.records[key]), key


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--subpixel-steps", "1"], "--subpixel-steps takes steps from 2 to 16"),
        (["--subpixel-interp", "cubic"], "--subpixel-interp takes ideal and/or bilinear"),
        (["--suite", "clean", "--subpixel-steps", "2"], "read by the subpixel suite"),
    ],
)
def test_bad_subpixel_options_are_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    args = ["eval", *TINY_RESNET, "--data", str(tmp_path), "--suite", "subpixel", *extra]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
