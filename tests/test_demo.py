"""The demo and training: the paper's effect at a reduced size, caching, checkpoints."""

from __future__ import annotations

import json
import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import shiftbench.experiments.demo as demo
from shiftbench.cli import app
from shiftbench.data.synthetic import generate_images
from shiftbench.experiments.demo import DemoConfig, run_demo
from shiftbench.experiments.train import TrainConfig, augment, build_twins, cifar10
from shiftbench.results.result import EvalResult

runner = CliRunner()
SMALL = {"filter_sizes": (3,), "epochs": 10, "train_per_class": 50, "test_per_class": 20}


def _metric(variant: EvalResult, key: str) -> float:
    return next(m.value for m in variant.metrics if m.key == key)


def test_reduced_demo_shows_the_effect_and_caches(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    variants, differences = run_demo(DemoConfig(**SMALL), tmp_path / "out", "cpu", False)
    base, blurred = variants
    assert [v.label for v in variants] == ["baseline", "aa3"]
    # the paper's effect, with these fixed seeds: the anti-aliased twin is more consistent
    # and flips less along the diagonal, and its learned filters are smoother
    assert _metric(blurred, "consistency.consistency") > _metric(base, "consistency.consistency")
    assert _metric(blurred, "diagonal.flip_rate") < _metric(base, "diagonal.flip_rate")
    assert _metric(blurred, "filters.tv") < _metric(base, "filters.tv")
    assert {d.key for d in differences} >= {"consistency.consistency", "translation.worst_top1"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "plot_filters_tv.png" in report and "Paired differences" in report
    assert "Rates and errors in percent; filters.tv is a ratio, with 95% intervals." in report
    # a second run takes images and models from the cache: no training, same numbers
    monkeypatch.setattr(demo, "train_twins", lambda *a, **k: pytest.fail("trained again"))
    again, _ = run_demo(DemoConfig(**SMALL), tmp_path / "out2", "cpu", False)
    assert [v.metrics for v in again] == [v.metrics for v in variants]
    cached = list((tmp_path / "cache" / "shiftbench" / "demo").iterdir())
    assert len(cached) == 1 and (cached[0] / "models" / "train.json").is_file()


def test_demo_cli(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    small = {**SMALL, "epochs": 1, "train_per_class": 4, "test_per_class": 2}
    monkeypatch.setattr("shiftbench.cli.experiments.DemoConfig", partial(DemoConfig, **small))
    done = runner.invoke(app, ["demo", "--out", str(tmp_path / "out"), "--device", "cpu",
                               "--filter-sizes", "3", "--epochs", "1"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "differences to the first variant" in done.output
    assert (tmp_path / "out" / "report.md").is_file()
    bad = runner.invoke(app, ["demo", "--filter-sizes", "9", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "filter sizes" in bad.output


def test_synthetic_cli_writes_images_or_one_error_line(tmp_path: Path) -> None:
    made = runner.invoke(app, ["synthetic", str(tmp_path / "s"), "--classes", "2",
                               "--per-class", "2", "--size", "16"])  # fmt: skip
    assert made.exit_code == 0 and len(list((tmp_path / "s").rglob("*.png"))) == 4
    (tmp_path / "a_file").write_text("x")
    blocked = runner.invoke(app, ["synthetic", str(tmp_path / "a_file" / "s")])
    assert blocked.exit_code == 2 and "Traceback" not in blocked.output
    assert blocked.stderr.startswith(f"error: cannot write images to {tmp_path / 'a_file' / 's'}")


def test_twins_start_equal_and_see_the_same_augmented_batches() -> None:
    twins = build_twins(TrainConfig(arch="demo", filter_sizes=(0, 3, 5)), 10)
    base = twins[0].module.state_dict()
    for twin in twins[1:]:
        state = twin.module.state_dict()
        shared = [k for k in base if k in state]
        assert len(shared) == len(base)  # conversion only adds the blur filters
        assert all(torch.equal(base[k], state[k]) for k in shared)
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(2, 3, 4, 4)
    first = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(first, augment(images, torch.Generator().manual_seed(0)))
    assert first.shape == images.shape
    # every output is a window of the zero-padded image, possibly mirrored
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for out, source in zip(first, padded, strict=True):
        windows = [source[:, t : t + 4, s : s + 4] for t in range(9) for s in range(9)]
        assert any(torch.equal(out, w) or torch.equal(out, w.flip(-1)) for w in windows)


def test_train_cli_writes_checkpoints_that_compare_loads(tmp_path: Path) -> None:
    generate_images(tmp_path / "train", classes=3, per_class=6, size=40, seed=0)
    generate_images(tmp_path / "val", classes=3, per_class=3, size=40, seed=1)
    out = tmp_path / "run"
    args = ["train", "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"),
            "--arch", "demo", "--antialias", "0,3", "--epochs", "2", "-b", "8",
            "--device", "cpu", "--out", str(out)]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    record = json.loads((out / "train.json").read_text())
    assert [h["epoch"] for h in record["models"]["aa3"]["history"]] == [1, 2]
    assert "val_top1" in record["models"]["baseline"]["history"][-1]
    assert "--max-shift 8 --canvas pad" in done.output  # the command it prints
    compare = runner.invoke(app, ["compare", "--config", str(out / "models.toml"), "--data",
                                  str(tmp_path / "val"), "--max-shift", "8", "--canvas", "pad",
                                  "-j", "0", "-s", "clean,filters", "--out",
                                  str(tmp_path / "cmp")])  # fmt: skip
    assert compare.exit_code == 0, compare.output
    saved = json.loads((tmp_path / "cmp" / "aa3" / "results.json").read_text())
    assert saved["model"]["antialias"]["weights"] == "anti-aliased"  # loaded after conversion
    # the padded canvas's centre window is the image as training scored it: the same top-1
    for label in ("baseline", "aa3"):
        scored = json.loads((tmp_path / "cmp" / label / "results.json").read_text())
        clean = next(m for m in scored["metrics"] if m["key"] == "clean.top1")
        trained = record["models"][label]["history"][-1]["val_top1"]
        assert clean["value"] == pytest.approx(trained), label
    missing = runner.invoke(app, ["train", "--dataset", "cifar10", "--data", str(tmp_path),
                                  "--out", str(tmp_path / "c")])  # fmt: skip
    assert missing.exit_code == 2 and "no CIFAR-10" in missing.output
    assert not (tmp_path / "c").exists()  # bad input leaves no folder behind
    # published whole: no staging folder or partial file left beside the results
    published = [".shiftbench-files.json", "aa3.safetensors", "baseline.safetensors",
                 "models.toml", "train.json"]  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == published


def _fake_cifar(root: Path) -> tuple[np.ndarray, list[int]]:
    """CIFAR-10's file layout (pickled batches of [N, 3072] uint8 rows, CHW order) with a few
    random images; the real files' MD5 checks are what the test bypasses."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (12, 3072), dtype=np.uint8)
    labels = [i % 10 for i in range(12)]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": labels}, handle)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]  # fmt: skip
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": names}, handle)
    return rows, labels


def test_cifar10_layout_becomes_images_and_an_eval_folder(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.cifar as cifar

    rows, labels = _fake_cifar(tmp_path / "cifar")
    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    pixels, targets, classes = cifar10(tmp_path / "cifar", train=False)
    assert pixels.shape == (12, 3, 32, 32) and pixels.dtype == torch.uint8
    assert torch.equal(pixels[3].flatten(), torch.from_numpy(rows[3]))  # CHW kept
    assert targets.tolist() == labels and classes[9] == "truck"
    out = tmp_path / "run"
    done = runner.invoke(app, ["train", "--dataset", "cifar10", "--data", str(tmp_path / "cifar"),
                               "--arch", "demo", "--antialias", "0,2", "--epochs", "1", "-b", "6",
                               "--device", "cpu", "--out", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    exported = sorted((out / "test-images").rglob("*.png"))
    assert len(exported) == 12 and exported[0].parent.name == "00_airplane"
    with Image.open(out / "test-images" / "03_cat" / "00000.png") as image:
        assert np.array_equal(np.asarray(image), pixels[3].permute(1, 2, 0).numpy())


def test_the_cache_key_follows_the_code_that_trains_and_torch(monkeypatch) -> None:
    """A cache made by other training code or another torch is not reused."""
    key = DemoConfig().key()
    assert demo.code_digest(demo.TRAINING_CODE) != demo.code_digest(["run/engine.py"])
    monkeypatch.setattr(demo, "code_digest", lambda parts: "other code")
    assert DemoConfig().key() != key
    monkeypatch.undo()
    monkeypatch.setattr(demo.torch, "__version__", "0.0")
    assert DemoConfig().key() != key


def test_the_demo_runs_on_its_threads_and_gives_them_back(tmp_path: Path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(demo, "_run_demo", lambda *a: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(demo.THREADS + 1)
    try:
        run_demo(DemoConfig(), tmp_path, "cpu", False)
        assert seen == [demo.THREADS] and torch.get_num_threads() == demo.THREADS + 1
    finally:
        torch.set_num_threads(before)
