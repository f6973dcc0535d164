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
    parse_corruptions,
    parse_severities,
    scan_imagenet_c,
    score,
)
from shiftbench.imagenet_c import evaluate_imagenet_c

from .helpers import LinearProbe, config, wrap, write_folder

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


def make_tree(root: Path, corruptions: tuple[str, ...], severities=range(1, 6), size=48) -> Path:
    """A miniature ImageNet-C: <root>/<corruption>/<severity>/class_<k>/img_<i>.png."""
    for i, name in enumerate(corruptions):
        for severity in severities:
            write_folder(
                root / name / str(severity), per_class=2, size=(size, size), seed=10 * i + severity
            )
    return root


def test_scan_reports_missing_and_empty_sets(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ("fog",), severities=(1, 2))
    (root / "fog" / "3").mkdir()
    (root / "not_a_corruption").mkdir()
    sets = scan_imagenet_c(root, ("fog", "snow"), (1, 2, 3))
    assert sorted(sets.sets) == [("fog", 1), ("fog", 2)]
    assert sets.missing == ["fog/3 (empty)", "snow"]
    assert sets.ignored == ["not_a_corruption"]
    with pytest.raises(ShiftbenchError, match="no ImageNet-C images"):
        scan_imagenet_c(root, ("snow",))
    with pytest.raises(ShiftbenchError, match="not a folder"):
        scan_imagenet_c(tmp_path / "nowhere")


def test_errors_and_ce_match_a_naive_loop(tmp_path: Path) -> None:
    size, stored = 16, 48
    root = make_tree(tmp_path / "c", ("fog", "contrast"), size=stored)
    model = LinearProbe(size, 3)
    # the model input is smaller than the stored images: centre crop, never resize
    result = evaluate_imagenet_c(
        wrap(model, size),
        root,
        config(corruptions=("fog", "contrast")),
        stored_size=stored,
    )
    top = (stored - size) // 2
    for name in ("fog", "contrast"):
        wrong = []
        for severity in range(1, 6):
            folder = root / name / str(severity)
            misses = []
            for label, cls in enumerate(sorted(p.name for p in folder.iterdir())):
                for file in sorted((folder / cls).iterdir()):
                    pixels = np.asarray(Image.open(file).convert("RGB"))
                    window = pixels[top : top + size, top : top + size]
                    x = torch.from_numpy(window.copy()).permute(2, 0, 1)[None].float() / 255
                    with torch.no_grad():
                        misses.append(int(model(x).argmax()) != label)
            wrong.append(np.mean(misses))
            metric = result.metric(f"corruption.error.{name}.{severity}")
            assert metric.value == pytest.approx(100 * np.mean(misses))
        expected = sum(wrong) / sum(ALEXNET_ERRORS[name])
        assert result.metric(f"corruption.ce.{name}").value == pytest.approx(100 * expected)
    ce = [result.metric(f"corruption.ce.{n}").value for n in ("fog", "contrast")]
    assert result.metric("corruption.mce").value == pytest.approx(np.mean(ce))


runner = CliRunner()


def test_cli_corruption_from_disk_with_clean_data(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("gaussian_noise", "saturate"), size=40)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(40, 40))
    out = tmp_path / "out"
    args = [
        "eval", "test_resnet", "--no-pretrained", "--num-classes", "3", "--img-size", "32",
        "--suite", "corruption", "--imagenet-c", str(root), "--data", str(clean),
        "--severities", "1,2,3,4,5", "-j", "0", "--out", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "not found, left out of the means" in result.stderr  # 17 corruptions absent
    meta = json.loads((out / "results.json").read_text())
    keys = {m["key"] for m in meta["metrics"]}
    assert {
        "clean.top1",
        "corruption.mce",
        "corruption.relative_mce",
        "corruption.extra_error",
    } <= keys
    assert "corruption.ce.saturate" in keys and "corruption.error.gaussian_noise.5" in keys
    assert meta["data"]["imagenet_c"]["mce_over"] == ["gaussian_noise"]
    assert (out / "curve_corruption.error.gaussian_noise.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--suite", "corruption,consistency", "--imagenet-c", "."], "runs alone"),
        (
            ["--suite", "corruption", "--imagenet-c", ".", "--corruptions", "rain"],
            "unknown corruption",
        ),
        (["--suite", "corruption", "--imagenet-c", ".", "--severities", "6"], "1..5"),
        (["--suite", "corruption", "--imagenet-c", "EMPTY"], "no ImageNet-C images"),
        (["--imagenet-c", "."], "read by --suite corruption"),
    ],
)
def test_cli_corruption_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    extra = [str(tmp_path / "empty") if e == "EMPTY" else e for e in extra]
    data = write_folder(tmp_path / "data")
    args = ["eval", "test_resnet", "--no-pretrained", "--num-classes", "3", "--data", str(data)]
    result = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_model_larger_than_the_stored_images_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ("fog",), severities=(1,))
    with pytest.raises(ShiftbenchError, match="takes 300 px but ImageNet-C images are 224 px"):
        evaluate_imagenet_c(wrap(LinearProbe(300, 3), 300), root, config())


def test_on_the_fly_suite_matches_a_naive_loop(tmp_path: Path) -> None:
    from shiftbench import evaluate
    from shiftbench.corruptions import corrupt
    from shiftbench.data import load_canvas
    from shiftbench.suites import SUITES
    from shiftbench.views import Geometry

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
    unknown = runner.invoke(app, [*args[:-5], "--corruptions", "rain", "--out", str(out)])
    assert unknown.exit_code == 2 and "unknown corruption 'rain'" in unknown.stderr


def test_released_files_results_of_two_models_are_comparable(tmp_path: Path) -> None:
    from shiftbench.check import mismatches

    root = make_tree(tmp_path, ("fog",), size=24)
    runs = [
        evaluate_imagenet_c(wrap(LinearProbe(16, 3, seed=s), 16), root, config(), stored_size=24)
        for s in (0, 1)
    ]
    assert mismatches(runs[0].to_json(), runs[1].to_json()) == []
