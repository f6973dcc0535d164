"""ImageNet-C scores against the published figures and hand-worked values, and the released-
files path on a generated miniature tree against a naive loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from shiftbench import ShiftbenchError
from shiftbench.cli import app
from shiftbench.corruptions import (
    ALEXNET_ERRORS,
    BENCHMARK,
    coverage_warning,
    parse_corruptions,
    parse_severities,
    score,
)
from shiftbench.data.views import Geometry
from shiftbench.suites.corruption import CorruptionSuite

from .helpers import LinearProbe, config, wrap, write_folder

runner = CliRunner()

# Published CE (x100) of torchvision ResNet-50 (top-1 76.13) on the released files: mCE 76.7
RESNET50_CE = {
    "gaussian_noise": 79.77, "shot_noise": 81.58, "impulse_noise": 82.58,
    "defocus_blur": 74.71, "glass_blur": 88.61, "motion_blur": 78.03, "zoom_blur": 79.86,
    "snow": 77.83, "frost": 74.84, "fog": 66.11, "brightness": 56.64,
    "contrast": 71.43, "elastic_transform": 84.75, "pixelate": 76.92, "jpeg_compression": 76.82,
}  # fmt: skip


def test_published_resnet50_mce() -> None:
    errors = {
        name: {s: ce / 100 * ALEXNET_ERRORS[name][s - 1] for s in range(1, 6)}
        for name, ce in RESNET50_CE.items()
    }
    scores = score(errors)
    assert set(scores.ce) == set(BENCHMARK)
    for name, ce in RESNET50_CE.items():
        assert 100 * scores.ce[name] == pytest.approx(ce)
    assert round(100 * scores.mce, 1) == 76.7
    assert scores.relative_mce is None and scores.extra_mean_error is None


def test_a_mean_over_fewer_than_15_corruptions_is_announced() -> None:
    assert coverage_warning(BENCHMARK) is None
    assert coverage_warning((*BENCHMARK, "saturate")) is None
    fourteen = coverage_warning(BENCHMARK[1:])
    assert fourteen is not None and "over 14 of the 15" in fourteen
    assert "(without gaussian_noise)" in fourteen
    assert coverage_warning(("saturate",)) == (
        "no mCE: no benchmark corruption is measured at all five severities"
    )
    window = Geometry(224, 32)  # Resize(256) + CenterCrop(224): how the released files began
    every = CorruptionSuite(window, config(suites=("corruption",)))
    assert every.warnings() == []
    other_base = "ImageNet-C's were made from Resize(256) + CenterCrop(224)"
    (unshifted,) = CorruptionSuite(Geometry(224, 0), config(suites=("corruption",))).warnings()
    assert unshifted.startswith("the corrupted images are Resize(224) + CenterCrop(224)")
    assert other_base in unshifted
    padded = CorruptionSuite(window, config(suites=("corruption",), canvas="pad")).warnings()
    assert len(padded) == 1 and "Resize(224) + CenterCrop(224) of each image" in padded[0]
    with pytest.raises(ShiftbenchError, match="need a model input of at least 16 px, got 8"):
        CorruptionSuite(Geometry(8, 0), config(suites=("corruption",)))
    small = CorruptionSuite(Geometry(32, 0), config(suites=("corruption",))).warnings()
    assert small == [
        "corruptions are made at 32 px with ImageNet-C's parameters, which are defined at 224 px"
        " and not rescaled (blur radii, pixelation, weather layers): errors, CE and mCE are not "
        "comparable with published ImageNet-C (or CIFAR-10-C) figures"
    ]
    two = CorruptionSuite(window, config(suites=("corruption",), corruptions=("fog", "snow")))
    assert "over 2 of the 15 benchmark corruptions (without gaussian_noise," in two.warnings()[0]
    some = CorruptionSuite(window, config(suites=("corruption",), severities=(3, 5)))
    assert some.warnings() == [coverage_warning(())]


def test_relative_ce_hand_worked() -> None:
    # errors .5 .6 .7 .8 .9 for fog, clean error .2:
    # (.3 + .4 + .5 + .6 + .7) / sum(alexnet_fog - .4348)
    errors = {"fog": dict(zip(range(1, 6), (0.5, 0.6, 0.7, 0.8, 0.9), strict=True))}
    scores = score(errors, clean_error=0.2)
    alexnet = (0.67474, 0.76050, 0.84378, 0.87260, 0.94500)
    assert scores.relative_ce["fog"] == pytest.approx(2.5 / sum(a - 0.4348 for a in alexnet))
    assert scores.ce["fog"] == pytest.approx(3.5 / sum(alexnet))
    assert scores.mce == pytest.approx(scores.ce["fog"])


def test_incomplete_corruptions_are_left_out_and_extras_kept_apart() -> None:
    errors = {
        "snow": {1: 0.5, 2: 0.6},
        "contrast": dict.fromkeys(range(1, 6), 0.4),
        "saturate": dict.fromkeys(range(1, 6), 0.3),
    }
    scores = score(errors)
    assert scores.incomplete == ["snow"] and "snow" not in scores.ce
    assert scores.mce == pytest.approx(scores.ce["contrast"])  # saturate is not in mCE
    assert scores.extra_mean_error == pytest.approx(0.3)
    assert scores.mean_error == pytest.approx(0.4)  # contrast alone: snow is incomplete


def test_mean_error_is_the_plain_mean_over_corruptions_and_severities() -> None:
    # RobustBench's ImageNet-C accuracy is 100 minus this mean
    errors = {
        "fog": dict(zip(range(1, 6), (0.1, 0.2, 0.3, 0.4, 0.5), strict=True)),
        "contrast": dict(zip(range(1, 6), (0.2, 0.2, 0.2, 0.2, 0.7), strict=True)),
    }
    assert score(errors).mean_error == pytest.approx((1.5 + 1.5) / 10)


def test_parsing_names_and_severities() -> None:
    assert parse_corruptions("noise,fog") == (
        "gaussian_noise", "shot_noise", "impulse_noise", "fog",
    )  # fmt: skip
    assert len(parse_corruptions("benchmark")) == 15 and len(parse_corruptions(None)) == 19
    assert parse_severities("5,3") == (3, 5)
    with pytest.raises(ShiftbenchError, match="unknown corruption 'rain'"):
        parse_corruptions("rain")
    with pytest.raises(ShiftbenchError, match=r"1\.\.5"):
        parse_severities("0,6")


def test_on_the_fly_suite_matches_a_naive_loop(tmp_path: Path) -> None:
    from shiftbench import (
        corrupt,  # the public name
        evaluate,
    )
    from shiftbench.data.folders import load_canvas
    from shiftbench.data.views import Geometry
    from shiftbench.suites import SUITES

    root = write_folder(tmp_path, classes=5, per_class=2, size=(30, 36))
    model = LinearProbe(16, 5)
    cfg = config(
        suites=("corruption",),
        corruptions=("gaussian_noise", "contrast", "pixelate"),
        severities=(1, 4),
        batch_size=7,
    )
    result = evaluate(wrap(model, 16), root, cfg)
    suite = SUITES["corruption"](Geometry(16, 8), cfg)
    assert suite.plan[0] == ("clean", 0) and len(suite.plan) == 7
    c = Geometry(16, 8).centre
    expected = []
    for item in sorted(scan_items(root)):
        index, path, label = item
        window = load_canvas(root / path, 24, "bilinear")[None, :, c : c + 16, c : c + 16]
        seeds = suite.draws(index).tolist()
        row = []
        for block, (name, severity) in enumerate(suite.plan):
            if name == "clean":
                x = window.float() / 255
            else:
                generator = [torch.Generator().manual_seed(seeds[block])]
                x = corrupt(window, name, severity, generator)
            with torch.no_grad():
                row.append(int(model(x).argmax()) == label)
        expected.append(row)
    assert result.records["corruption.correct"].tolist() == expected
    errors = 1 - np.array(expected)[:, 1:].mean(axis=0)
    first = result.metric("corruption.error.gaussian_noise.1").value
    assert first == pytest.approx(100 * errors[0])
    assert result.metric("corruption.clean_top1").value == pytest.approx(
        100 * np.mean(np.array(expected)[:, 0])
    )


def scan_items(root: Path) -> list[tuple[int, str, int]]:
    from shiftbench import scan_image_folder

    return [(i.index, i.path, i.label) for i in scan_image_folder(root, 5).items]


def test_on_the_fly_results_do_not_depend_on_batching(tmp_path: Path) -> None:
    from shiftbench import evaluate

    root = write_folder(tmp_path, per_class=3)
    model = wrap(LinearProbe(16, 3), 16)
    common = {"suites": ("corruption",), "corruptions": ("shot_noise", "impulse_noise")}
    a = evaluate(model, root, config(**common, severities=(2,), batch_size=1))
    b = evaluate(model, root, config(**common, severities=(2,), batch_size=64, workers=2))
    assert torch.equal(a.records["corruption.pred"], b.records["corruption.pred"])


def test_release_step_equals_pil_jpeg_85() -> None:
    from io import BytesIO

    from shiftbench.suites.corruption import like_release

    x = torch.rand(2, 3, 32, 32)
    ours = like_release(x)
    for i in range(2):
        pixels = np.uint8(x[i].permute(1, 2, 0).numpy() * 255)
        buffer = BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85, optimize=True)
        expected = np.asarray(Image.open(buffer), dtype=np.float64) / 255
        np.testing.assert_allclose(ours[i].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_cli_on_the_fly(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    args = [
        "eval", "test_resnet", "--no-pretrained", "--num-classes", "3", "--img-size", "32",
        "--max-shift", "8", "-j", "0", "--data", str(data), "--suite", "corruption",
        "--corruptions", "contrast,brightness", "--jpeg-like-release", "--out", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "results.json").read_text())
    keys = {m["key"] for m in meta["metrics"]}
    assert {"corruption.mce", "corruption.relative_mce", "corruption.ce.contrast"} <= keys
    assert meta["suites"]["corruption"]["jpeg_like_release"] is True
    assert "mCE and mean error over 2 of the 15 benchmark corruptions (without" in result.stderr
    unknown = runner.invoke(app, [*args[:-5], "--corruptions", "rain", "--out", str(out)])
    assert unknown.exit_code == 2 and "unknown corruption 'rain'" in unknown.stderr
