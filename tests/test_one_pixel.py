"""Azulay & Weiss's one-pixel metrics: P(top-1 change) and the mean absolute change (MAC)
between neighbouring frames, on the diagonal (their crop protocol) and on a black window
(their black-background protocol)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftbench import evaluate
from shiftbench.cli import app
from shiftbench.data.folders import CanvasBatch
from shiftbench.data.views import Geometry
from shiftbench.suites.diagonal import DiagonalSuite, top_change
from shiftbench.suites.embedded import EmbeddedSuite

from .helpers import TINY_RESNET, Blind, LinearProbe, config, wrap, write_folder

runner = CliRunner()

# one image, three frames: the top-1 class changes once (0 -> 1), then stays
PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1]])


def test_the_change_of_the_top_class_probability_of_a_hand_worked_sequence() -> None:
    change = top_change(PROBS.log(), 1)
    assert change[0].tolist() == pytest.approx([0.3, 0.1])  # |0.7 - 0.4|, |0.5 - 0.6|
    suite = DiagonalSuite(Geometry(8, 2), config(suites=("diagonal",)))
    pred = PROBS.argmax(dim=1)[None]
    records = {
        "pred": pred,
        "correct1": pred == 1,
        "correct5": torch.ones_like(pred, dtype=torch.bool),
        "prob_true": PROBS[None, :, 1],
        "prob_wrong": PROBS[None, :, 0],
        "top_change": change,
    }
    values = {m.name: m.value for m in suite.summarise(records)[0]}
    assert values["flip_rate"] == pytest.approx(50.0)
    assert values["mac"] == pytest.approx(20.0)
    assert suite.per_image(records)["mac"].values.tolist() == pytest.approx([0.2])
    del records["top_change"]  # records saved before the MAC was kept still summarise
    assert "mac" not in {m.name for m in suite.summarise(records)[0]}


def _azulay_frames(image: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Their black-background frames (CheckTranslationInvariance.py), transcribed: for c in
    range(centre - 4, centre + 4), the image at (c, c) and at (c + 1, c + 1) on zeros."""
    side = image.shape[-1]
    centre = int((size - side - 1) / 2)
    frames = []
    for c in range(centre - 4, centre + 4):
        for at in (c, c + 1):
            frame = torch.zeros((1, 3, size, size))
            frame[:, :, at : at + side, at : at + side] = image
            frames.append(frame)
    return frames


def test_the_black_background_frames_are_azulay_and_weiss_frames() -> None:
    size = 64
    suite = EmbeddedSuite(Geometry(size, 0), config(suites=("embedded",), embed_scales=(1.3,)))
    canvases = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8)
    batch = CanvasBatch(canvases, torch.tensor([0]), torch.tensor([0]), {}, [])
    run = suite.run(batch)
    views = next(run)
    ours = views.materialize(0, len(views))
    small = views.images[0]
    assert small.shape[-1] == int(size / 1.3) == 49
    theirs = _azulay_frames(small[0], size)
    for k in range(8):  # pair k of theirs is our frames k and k + 1
        assert torch.equal(ours[k : k + 1], theirs[2 * k])
        assert torch.equal(ours[k + 1 : k + 2], theirs[2 * k + 1])


def test_a_blind_model_never_changes_its_mind(folder: Path) -> None:
    result = evaluate(wrap(Blind(3), 32), folder, config(suites=("embedded", "diagonal")))
    values = {m.key: m.value for m in result.metrics}
    for key in ("embedded.flip_rate", "embedded.mac", "diagonal.flip_rate", "diagonal.mac"):
        assert values[key] == 0.0, key
    curve = next(c for c in result.curves if c.key == "embedded.flip_rate")
    assert curve.x == [24, 20, 16]  # int(32 / s) for s = 1.3, 1.6, 1.9


def test_the_embedded_suite_does_not_depend_on_the_batch_size(folder: Path) -> None:
    model = wrap(LinearProbe(16, 3), 16)
    settings = config(suites=("embedded",), embed_scales=(1.6, 1.9), embed_steps=3)
    one = evaluate(model, folder, settings.with_settings(batch_size=1))
    many = evaluate(model, folder, settings.with_settings(batch_size=50))
    for key, value in one.records.items():
        assert torch.equal(value, many.records[key]), key


def test_a_window_without_room_is_one_line(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data")
    args = ["eval", *TINY_RESNET, "--data", str(data), "--suite", "embedded"]
    small = ["--embed-scales", "1.1", "--embed-steps", "8"]  # 29 px in 32 leaves 3 px of room
    result = runner.invoke(app, [*args, *small, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "cannot move a 29 px image 8 px inside a 32 px window" in result.output
    assert "--embed-steps" in result.output


def test_by_default_the_steps_fit_the_room_and_are_recorded(folder: Path) -> None:
    settings = config(suites=("embedded",), embed_scales=(1.1,))  # a 14 px image in 16 px
    result = evaluate(wrap(LinearProbe(16, 3), 16), folder, settings)
    assert result.suites["embedded"]["frames"] == 3  # 2 steps, not Azulay & Weiss's 8
    assert result.suites["embedded"]["positions"] == [[0, 2]]
