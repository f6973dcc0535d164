"""The released ImageNet-C files: a generated miniature tree against naive loops, the clean
reference in the same pass, per-base-image terms, chunks, resume, torchrun and compare."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from shiftbench import ShiftbenchError, evaluate_imagenet_c
from shiftbench.cli import app
from shiftbench.corruptions import ALEXNET_ERRORS, released_images, scan_imagenet_c, score
from shiftbench.results.paired import saved_terms
from shiftbench.results.result import EvalResult
from shiftbench.run.checkpoint import PARTIAL

from .helpers import LinearProbe, config, wrap, write_folder

runner = CliRunner()
RELEASED = {"suites": ("corruption",)}
# TINY_OPTIONS without --max-shift, which the released files fix (224 - input size)
TINY = ["--no-pretrained", "--num-classes", "3", "--img-size", "32", "-j", "0"]


def make_tree(root: Path, corruptions: tuple[str, ...], severities=range(1, 6), size=48) -> Path:
    """A miniature ImageNet-C: <root>/<corruption>/<severity>/class_<k>/img_<i>.png, the same
    six file names (base images) in every set."""
    for i, name in enumerate(corruptions):
        for severity in severities:
            write_folder(
                root / name / str(severity), per_class=2, size=(size, size), seed=10 * i + severity
            )
    return root


def predict(model: torch.nn.Module, pixels: np.ndarray) -> int:
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return int(model(x).argmax())


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
        config(**RELEASED, corruptions=("fog", "contrast")),
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
                    misses.append(predict(model, window) != label)
            wrong.append(np.mean(misses))
            metric = result.metric(f"corruption.error.{name}.{severity}")
            assert metric.value == pytest.approx(100 * np.mean(misses))
        expected = sum(wrong) / sum(ALEXNET_ERRORS[name])
        assert result.metric(f"corruption.ce.{name}").value == pytest.approx(100 * expected)
    ce = [result.metric(f"corruption.ce.{n}").value for n in ("fog", "contrast")]
    assert result.metric("corruption.mce").value == pytest.approx(np.mean(ce))


def test_clean_images_are_made_like_the_corrupted_ones(tmp_path: Path) -> None:
    """The clean reference is Resize(256) + CenterCrop(224) (scaled: 27 and 24 here), then
    the model's centre window; relative mCE uses its error."""
    size, stored = 16, 24
    root = make_tree(tmp_path / "c", ("fog",), size=stored)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(30, 40), seed=5)
    model = LinearProbe(size, 3)
    result = evaluate_imagenet_c(
        wrap(model, size), root, config(**RELEASED), clean_data=clean, stored_size=stored
    )
    hits = []
    for label in range(3):
        for i in range(2):
            image = Image.open(clean / f"class_{label}" / f"img_{i}.png").convert("RGB")
            resized = np.asarray(image.resize((36, 27), Image.BILINEAR))  # shorter side 27
            canvas = resized[2 : 2 + stored, 6 : 6 + stored]  # CenterCrop(24)
            window = canvas[4 : 4 + size, 4 : 4 + size]
            hits.append(predict(model, window) == label)
    assert result.metric("corruption.clean_top1").value == pytest.approx(100 * np.mean(hits))
    errors = {
        "fog": {s: result.metric(f"corruption.error.fog.{s}").value / 100 for s in range(1, 6)}
    }
    expected = score(errors, 1 - np.mean(hits))
    assert result.metric("corruption.relative_ce.fog").value == pytest.approx(
        100 * expected.relative_ce["fog"]
    )
    assert result.data["imagenet_c"]["clean"] == str(clean)


def test_per_base_image_terms_average_to_every_metric(tmp_path: Path) -> None:
    """Terms are per base image (the validation image every corrupted file was made from),
    and their means are the metrics even when a cell lacks a file."""
    root = make_tree(tmp_path / "c", ("fog", "snow"), size=24)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(24, 24))
    (root / "fog" / "3" / "class_1" / "img_0.png").unlink()
    result = evaluate_imagenet_c(
        wrap(LinearProbe(16, 3), 16), root, config(**RELEASED), clean_data=clean, stored_size=24
    )
    saved = EvalResult.from_json(result.to_json(), result.records)  # as read back
    terms = saved_terms(saved)
    assert {len(t.values) for t in terms.values()} == {6}
    values = {m.key: m.value for m in result.metrics}
    assert set(terms) == set(values)
    for key, term in terms.items():
        assert 100 * float(term.values.mean()) == pytest.approx(values[key], abs=1e-9), key


def test_chunks_resume_and_batches_change_no_record(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2), size=24)
    model = wrap(LinearProbe(16, 3), 16)
    whole = evaluate_imagenet_c(model, root, config(**RELEASED), stored_size=24)
    out = tmp_path / "out"
    chunked = config(**RELEASED, chunk_size=4, batch_size=3)
    first = evaluate_imagenet_c(model, root, chunked, stored_size=24, checkpoint=out)
    chunks = sorted((out / PARTIAL).glob("chunk-*"))
    assert len(chunks) == 3
    chunks[1].unlink()
    again = evaluate_imagenet_c(model, root, chunked, stored_size=24, checkpoint=out, resume=True)
    assert again.timing["resumed_images"] == 8
    for result in (first, again):
        assert result.records.keys() == whole.records.keys()
        assert all(torch.equal(result.records[k], whole.records[k]) for k in whole.records)


def _eval_args(root: Path, clean: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval", "test_resnet", *TINY, "--suite", "corruption", "--imagenet-c", str(root),
        "--data", str(clean), "--out", str(out), "--device", "cpu", *extra,
    ]  # fmt: skip


def test_cli_corruption_from_disk_with_clean_data(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("gaussian_noise", "saturate"), size=40)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(40, 40))
    out = tmp_path / "out"
    result = runner.invoke(app, _eval_args(root, clean, out))
    assert result.exit_code == 0, result.output
    # 17 corruptions absent: 14 of the benchmark, 3 extras; the mCE is gaussian_noise's CE
    assert "ImageNet-C sets not found: shot_noise, impulse_noise," in result.stderr
    assert "extra corruption sets not found, not in extra_error: speckle_noise," in result.stderr
    assert "mCE and mean error over 1 of the 15 benchmark corruptions" in result.stderr
    meta = json.loads((out / "results.json").read_text())
    keys = {m["key"] for m in meta["metrics"]}
    assert {
        "corruption.clean_top1",
        "corruption.mce",
        "corruption.relative_mce",
        "corruption.extra_error",
    } <= keys
    assert "corruption.ce.saturate" in keys and "corruption.error.gaussian_noise.5" in keys
    assert meta["data"]["imagenet_c"]["mce_over"] == ["gaussian_noise"]
    assert meta["data"]["images_evaluated"] == 66  # 6 clean + 2 x 5 x 6 corrupted
    assert (out / "curve_corruption.error.gaussian_noise.csv").exists()


def test_two_processes_give_the_one_process_results(tmp_path: Path) -> None:
    """torchrun with 2 gloo processes on the CPU: the same metrics.csv and records."""
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2), size=40)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(40, 40))
    one, two = tmp_path / "one", tmp_path / "two"
    done = runner.invoke(app, _eval_args(root, clean, one, "--chunk-size", "4"))
    assert done.exit_code == 0, done.output
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc-per-node", "2", "-m", "shiftbench",
              *_eval_args(root, clean, two, "--chunk-size", "4")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ran = subprocess.run(launch, capture_output=True, text=True, timeout=240, env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (two / "metrics.csv").read_text() == (one / "metrics.csv").read_text()
    a, b = load_file(str(one / "records.safetensors")), load_file(str(two / "records.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    saved = json.loads((two / "results.json").read_text())
    assert saved["timing"]["processes"] == 2
    assert "--imagenet-c" in saved["environment"]["command"]  # what to run again


def test_compare_on_the_released_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), size=40)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(40, 40))
    out = tmp_path / "cmp"
    done = runner.invoke(
        app,
        ["compare", "test_resnet", "--antialias", "0,3", *TINY, "--suite", "corruption",
         "--imagenet-c", str(root), "--data", str(clean), "--bootstrap", "200", "--out", str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with open(out / "comparison.csv") as handle:
        rows = {r["metric"]: r for r in csv.DictReader(handle)}
    assert {"corruption.clean_top1", "corruption.ce.fog", "corruption.error.fog.3"} <= set(rows)
    before = (out / "comparison.csv").read_text()
    (out / "comparison.csv").unlink()
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "comparison.csv").read_text() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--suite", "corruption,consistency", "--imagenet-c", "."], "runs alone"),
        (["--suite", "clean,corruption", "--imagenet-c", "."], "runs alone"),
        (
            ["--suite", "corruption", "--imagenet-c", ".", "--corruptions", "rain"],
            "unknown corruption",
        ),
        (["--suite", "corruption", "--imagenet-c", ".", "--severities", "6"], "1..5"),
        (["--suite", "corruption", "--imagenet-c", "EMPTY"], "no ImageNet-C images"),
        (["--imagenet-c", "."], "--imagenet-c is read by the corruption suite"),
        (["-s", "corruption", "--imagenet-c", ".", "--max-shift", "8"], "no effect with the"),
        (["-s", "corruption", "--imagenet-c", ".", "--jpeg-like-release"], "made on the fly"),
        (["-s", "corruption", "--imagenet-c", ".", "--canvas", "pad"], "read as they were stored"),
        (  # without --data no image is resized
            ["-s", "corruption", "--imagenet-c", ".", "--interpolation", "bicubic", "NO_DATA"],
            "used at their stored size, never resized; it applies only to the clean images",
        ),
    ],
)
def test_cli_corruption_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    extra = [str(tmp_path / "empty") if e == "EMPTY" else e for e in extra]
    data = write_folder(tmp_path / "data")
    args = ["eval", "test_resnet", "--no-pretrained", "--num-classes", "3", "--data", str(data)]
    if "NO_DATA" in extra:
        extra.remove("NO_DATA")
        args = args[:-2]
    result = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_model_larger_than_the_stored_images_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ("fog",), severities=(1,))
    with pytest.raises(ShiftbenchError, match="takes 300 px but ImageNet-C images are 224 px"):
        evaluate_imagenet_c(wrap(LinearProbe(300, 3), 300), root, config(**RELEASED))


def test_listing_keeps_the_same_base_images_under_limit(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ("fog", "snow"), severities=(1,), size=24)
    images = released_images(root, 3, ("fog", "snow"), (1,), limit=4)
    assert [i.path for i in images.items[:4]] == [
        "fog/1/class_0/img_0.png", "fog/1/class_0/img_1.png",
        "fog/1/class_1/img_1.png", "fog/1/class_2/img_0.png",
    ]  # fmt: skip
    assert images.base[:4].tolist() == images.base[4:].tolist()
    assert images.cell.tolist() == [46] * 4 + [36] * 4  # fog 1 and snow 1


def test_released_files_results_of_two_models_are_comparable(tmp_path: Path) -> None:
    from shiftbench.results.check import mismatches

    root = make_tree(tmp_path, ("fog",), size=24)
    runs = [
        evaluate_imagenet_c(
            wrap(LinearProbe(16, 3, seed=s), 16), root, config(**RELEASED), stored_size=24
        )
        for s in (0, 1)
    ]
    assert mismatches(runs[0].to_json(), runs[1].to_json()) == []


def test_an_unreadable_set_is_an_error_not_a_gap_in_the_means(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2), size=24)
    for file in (root / "fog" / "2").rglob("*.png"):
        file.write_bytes(b"not a png")
    with pytest.raises(ShiftbenchError, match="none of the images of fog/2 could be read"):
        evaluate_imagenet_c(wrap(LinearProbe(16, 3), 16), root, config(**RELEASED), stored_size=24)


def test_an_image_list_keeps_the_same_images_in_every_set(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2), size=40)
    clean = write_folder(tmp_path / "clean", per_class=2, size=(40, 40))
    listing = tmp_path / "ids.txt"
    listing.write_text("class_0/img_1.png\nclass_2/img_0.png\n")
    out = tmp_path / "out"
    done = runner.invoke(app, _eval_args(root, clean, out, "--image-list", str(listing)))
    assert done.exit_code == 0, done.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["data"]["images_evaluated"] == 6  # 2 listed images x (clean + 2 sets)
    assert saved["config"]["image_list"] == str(listing)
    whole = tmp_path / "whole"
    assert runner.invoke(app, _eval_args(root, clean, whole)).exit_code == 0
    mixed = runner.invoke(app, ["check", str(out), "--baseline", str(whole),
                                "--max-drop", "corruption.error.fog.1=1"])  # fmt: skip
    assert mixed.exit_code == 2 and "data.image_list" in mixed.output


def test_an_unreadable_file_is_skipped_counted_and_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2), size=24)
    (root / "fog" / "1" / "class_1" / "img_0.png").write_bytes(b"not a png")
    result = evaluate_imagenet_c(
        wrap(LinearProbe(16, 3), 16), root, config(**RELEASED), stored_size=24
    )
    assert [path for path, _ in result.skipped] == ["fog/1/class_1/img_0.png"]
    assert result.data["images_evaluated"] == 11
    assert result.metric("corruption.error.fog.1").n == 5


def test_a_set_with_fewer_images_is_reported(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", ("fog",), severities=(1, 2, 3), size=24)
    (root / "fog" / "2" / "class_0" / "img_1.png").unlink()
    heard: list[tuple[int, int]] = []
    images = released_images(root, 3, ("fog",), (1, 2, 3), progress=lambda *p: heard.append(p))
    assert heard == [(0, 3), (1, 3), (2, 3), (3, 3)]  # folders listed, of all
    assert images.images_per_set() == {"fog/1": 6, "fog/2": 5, "fog/3": 6}
    sizes, coverage = images.warnings()
    assert "sets differ in size: most hold 6 images, fog/2 5" in sizes
    assert coverage == "no mCE: no benchmark corruption is measured at all five severities"
    assert images.describe()["imagenet_c"]["images_per_set"]["fog/2"] == 5
