"""ImageNet-P's FP and T5D against a transcription of its test.py; the sequences against
its make_imagenet_p.py (brightness exactly, noise in distribution); the suite end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch
from scipy.stats import rankdata
from typer.testing import CliRunner

from shiftbench import evaluate
from shiftbench.cli import app
from shiftbench.corruptions.perturbations import frame, frame_pairs, top5_distance

from .helpers import TINY_RESNET, Blind, LinearProbe, config, wrap, write_folder

runner = CliRunner()


def _test_py(logits: np.ndarray, noise: bool, difficulty: int) -> tuple[float, float]:
    """flip_prob and ranking_dist(mode='top5') of ImageNet-P/test.py, transcribed."""
    cum_sum_top5 = np.cumsum(np.asarray([0] + [1] * 5 + [0] * (logits.shape[2] - 6)))

    def dist(sigma: np.ndarray) -> float:
        return np.sum(np.abs(cum_sum_top5[:5] - cum_sum_top5[sigma - 1][:5]))

    step = 1 if noise else difficulty
    fp = t5d = 0.0
    for video in logits:
        preds = video.argmax(1)
        ranks = [rankdata(-f, method="ordinal").astype(np.int64) for f in video]
        flips, dists = [], []
        for i in range(step):
            prev, perm1 = preds[i], ranks[i]
            inverse = np.argsort(perm1)
            for pred, perm2 in zip(preds[i::step][1:], ranks[i::step][1:], strict=True):
                flips.append(int(prev != pred))
                dists.append(dist(perm2[inverse]))
                if not noise:
                    prev, inverse = pred, np.argsort(perm2)
        fp += np.mean(flips) / len(logits)
        t5d += np.mean(dists) / len(logits)
    return fp, t5d


def _ours(logits: torch.Tensor, name: str, difficulty: int) -> tuple[float, float]:
    earlier, later = frame_pairs(name, logits.shape[1], difficulty)
    pred = logits.argmax(dim=2)
    flips = (pred[:, earlier] != pred[:, later]).double().mean()
    dists = torch.stack(
        [top5_distance(logits[:, a], logits[:, b]) for a, b in zip(earlier, later, strict=True)]
    )
    return float(flips), float(dists.double().mean())


@pytest.mark.parametrize(("name", "difficulty"), [("shot_noise", 1), ("brightness", 1),
                                                  ("brightness", 2), ("rotate", 3)])  # fmt: skip
def test_fp_and_t5d_are_those_of_test_py(name: str, difficulty: int) -> None:
    generator = torch.Generator().manual_seed(difficulty)
    # 3 videos of 11 frames over 12 classes, coarse logits so that ranks tie often
    logits = torch.randint(0, 4, (3, 11, 12), generator=generator).float()
    expected = _test_py(logits.numpy(), "noise" in name, difficulty)
    assert _ours(logits, name, difficulty) == pytest.approx(expected)


def test_a_hand_worked_sequence() -> None:
    # three frames, six classes: top-1 0, 0, then 1
    logits = torch.tensor([[[4.0, 3, 2, 1, 0, -1], [4, 2, 3, 1, 0, -1], [3, 4, 2, 1, 0, -1]]])
    fp, t5d = _ours(logits, "brightness", 1)
    assert fp == pytest.approx(0.5)  # one flip in two steps
    # step 1 swaps ranks 1 and 2 (0-based): 1 + 1; step 2 lifts class 1 from rank 2 to the
    # top: class 0 moves 1, class 2 (rank 1) moves 1, class 1 moves 2
    assert t5d == pytest.approx((2 + 4) / 2)
    noise_fp, _ = _ours(logits, "gaussian_noise", 1)
    assert noise_fp == pytest.approx(0.5)  # against frame 0: frame 2 flips, frame 1 not


def _crop() -> torch.Tensor:
    image = skimage.data.astronaut()[100:164, 150:214]  # a 64 x 64 photograph crop
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def test_brightness_frames_are_make_imagenet_p_brightness() -> None:
    x = _crop()
    for index in (0, 7, 15, 30):
        ours = frame("brightness", index, x, 1, [])
        hsv = skimage.color.rgb2hsv(x[0].permute(1, 2, 0).numpy() / 255.0)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + (index - 15) * 2 / 100.0, 0, 1)
        theirs = np.uint8(skimage.color.hsv2rgb(hsv) * 255)
        assert np.array_equal(ours[0].permute(1, 2, 0).numpy(), theirs), index  # bit for bit


def test_noise_frames_follow_their_distributions() -> None:
    grey = torch.full((1, 3, 64, 64), 128, dtype=torch.uint8)
    generators = [torch.Generator().manual_seed(0)]
    assert torch.equal(frame("gaussian_noise", 0, grey, 1, generators), grey)  # frame 0
    for difficulty, std in ((1, 0.03), (3, 0.08)):
        noisy = frame("gaussian_noise", 5, grey, difficulty, generators).double() / 255
        assert float(noisy.std()) == pytest.approx(std, rel=0.05)
    shot = frame("shot_noise", 3, grey, 1, generators).double() / 255
    level = 128 / 255
    assert float(shot.mean()) == pytest.approx(level - 0.5 / 255, abs=2e-3)  # truncation
    assert float(shot.var()) == pytest.approx(level / 300, rel=0.1)


def test_the_suite_end_to_end(folder: Path) -> None:
    blind = evaluate(wrap(Blind(3), 16), folder, config(suites=("perturbation",)))
    assert {m.key: m.value for m in blind.metrics}["perturbation.mean_fp"] == 0.0
    model = wrap(LinearProbe(16, 3), 16)
    settings = config(suites=("perturbation",), perturbations=("shot_noise",), difficulty=2)
    one = evaluate(model, folder, settings.with_settings(batch_size=1))
    many = evaluate(model, folder, settings.with_settings(batch_size=40, workers=2))
    for key, value in one.records.items():
        assert torch.equal(value, many.records[key]), key
    assert one.records["perturbation.flips.shot_noise"].shape == (12, 30)


def test_perturbations_not_made_yet_are_refused(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "d")
    args = ["eval", *TINY_RESNET, "--data", str(data), "--suite", "perturbation",
            "--perturbations", "translate", "--out", str(tmp_path / "o")]  # fmt: skip
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "translate, not made on the fly yet" in refused.output
