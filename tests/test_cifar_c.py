"""The released CIFAR-10-C arrays as the corruption suite's data: read, scored against a naive
loop, and refused with one line when their labels or shapes are wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from shiftbench import ShiftbenchError, evaluate
from shiftbench.cli import app
from shiftbench.corruptions.arrays import released_arrays

from .helpers import LinearProbe, config, wrap

runner = CliRunner()
PER = 4  # test images per severity (CIFAR-10-C has 10,000)


def make_arrays(root: Path, names: tuple[str, ...] = ("fog", "snow"), side: int = 16) -> Path:
    """A CIFAR-10-C-shaped tree: `<name>.npy` of 5 x PER uint8 images, labels.npy."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(root / "labels.npy", np.tile(rng.integers(0, 3, PER), 5).astype(np.uint8))
    for name in names:
        images = rng.integers(0, 256, (5 * PER, side, side, 3), dtype=np.uint8)
        np.save(root / f"{name}.npy", images)
    return root


def test_the_errors_are_a_naive_count_over_the_stored_images(tmp_path: Path) -> None:
    root = make_arrays(tmp_path / "c")
    probe = LinearProbe(16, 3)
    result = evaluate(wrap(probe, 16), released_arrays(root, 3), config(suites=("corruption",)))
    values = {m.key: m.value for m in result.metrics}
    labels = np.load(root / "labels.npy").astype(np.int64)
    for name in ("fog", "snow"):
        images = torch.from_numpy(np.load(root / f"{name}.npy")).permute(0, 3, 1, 2) / 255.0
        with torch.no_grad():
            wrong = (probe(images).argmax(dim=1) != torch.from_numpy(labels)).view(5, PER)
        for severity in range(1, 6):
            expected = 100 * float(wrong[severity - 1].double().mean())
            assert values[f"corruption.error.{name}.{severity}"] == pytest.approx(expected)
    # no AlexNet normaliser for CIFAR: neither CE nor mCE
    assert not [k for k in values if ".ce." in k or k.endswith("mce")]
    assert result.data["kind"] == "cifar_c" and result.data["cifar_c"]["found"] == ["snow", "fog"]


def test_a_limit_keeps_the_same_test_images_in_every_set(tmp_path: Path) -> None:
    images = released_arrays(make_arrays(tmp_path / "c"), 3, limit=2)
    assert len(images.items) == 2 * 5 * 2
    assert set(images.base.tolist()) == {0, 2}  # evenly spread, the same in every set


def test_bad_arrays_are_clear_errors(tmp_path: Path) -> None:
    root = make_arrays(tmp_path / "c")
    with pytest.raises(ShiftbenchError, match="holds label 2 but the model has 2 outputs"):
        released_arrays(root, 2)
    np.save(root / "snow.npy", np.zeros((5 * PER, 16, 12, 3), dtype=np.uint8))
    with pytest.raises(ShiftbenchError, match=r"snow.npy holds uint8 \(20, 16, 12, 3\)"):
        released_arrays(root, 3)
    np.save(root / "labels.npy", np.zeros(7, dtype=np.uint8))
    with pytest.raises(ShiftbenchError, match="five severities"):
        released_arrays(root, 3)
    with pytest.raises(ShiftbenchError, match=r"no labels\.npy"):
        released_arrays(tmp_path, 3)


def test_the_cli_reads_the_arrays(tmp_path: Path) -> None:
    root = make_arrays(tmp_path / "c", side=32)
    args = ["eval", "test_resnet", "--no-pretrained", "--num-classes", "3", "--img-size", "32",
            "-j", "0", "--suite", "corruption", "--cifar-c", str(root)]  # fmt: skip
    done = runner.invoke(app, [*args, "--corruptions", "fog", "--out", str(tmp_path / "o")])
    assert done.exit_code == 0, done.output
    assert "error.fog.5" in done.stdout and "mce" not in done.stdout
    for extra, message in [
        (["--max-shift", "4"], "--max-shift has no effect with the released CIFAR-C arrays"),
        (["--data", str(tmp_path)], "--data with --cifar-c"),
        (["--imagenet-c", str(tmp_path)], "--imagenet-c and --cifar-c are read by separate"),
        (["--suite", "clean,corruption"], "runs alone"),
    ]:
        refused = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "x")])
        assert refused.exit_code == 2 and message in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1
