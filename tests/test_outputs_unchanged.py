"""The files a small fixed run writes are those of the revision before the package was
reorganised (issue 17): metrics.csv, images.csv, every curve file and, for a comparison,
comparison.csv, byte for byte.

tests/fixtures/outputs/ holds those files and the machine they were made on. On a machine
of that kind (the same CPU, torch and numpy) the comparison is byte for byte; elsewhere
float32 arithmetic may round a model's logits differently, so numbers are compared to a
relative 1e-6 and everything else (paths, labels, counts, columns) exactly. To write the
fixtures again, deliberately: `python -m tests.test_outputs_unchanged`.
"""

from __future__ import annotations

import csv
import json
import math
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from shiftbench.cli import app

from .helpers import TINY_RESNET, write_folder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "outputs"
# A conv, a max pool, a strided conv and a linear head on every position, seeded by the
# command: its predictions vary from image to image and shift to shift (a random-init
# test_resnet predicts one class for every image), and the generic rule anti-aliases its pool
# and strided conv. test_resnet goes through timm's rules.
PROBE = """
from torch import nn

def build():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 3),
    )
"""
SMALL = ["small", "--model-file", "{model_file}", "--img-size", "32", "--max-shift", "8", "-j", "0"]
RUNS = {
    "eval": ["eval", *SMALL, "-s", "all,filters", "--seed", "3"],
    "corruption": ["eval", *SMALL, "-s", "clean,corruption",
                   "--corruptions", "gaussian_noise,fog,jpeg_compression", "--severities", "1,4"],
    "compare": ["compare", "small:model_file={model_file}", "--antialias", "0,3", *SMALL[3:],
                "-s", "clean,consistency,diagonal", "--bootstrap", "200"],
    "timm": ["eval", *TINY_RESNET, "-s", "clean,consistency,translation"],
}  # fmt: skip
COMPARED = ("metrics.csv", "images.csv", "comparison.csv")


def machine() -> dict:
    """What decides float32 rounding here: the CPU and the numeric libraries."""
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line for line in cpu.splitlines() if line.startswith("flags")), "")
    name = next((line for line in cpu.splitlines() if line.startswith("model name")), "")
    return {
        "cpu": name.split(":")[-1].strip() or platform.machine(),
        "avx512f": " avx512f" in flags,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
    }


def produce(root: Path) -> dict[str, Path]:
    """Run every fixed run into `root`; the output folder of each."""
    data = write_folder(root / "data", per_class=3, seed=7)
    model_file = root / "arch.py"
    model_file.write_text(PROBE)
    runner = CliRunner()
    outputs = {}
    for name, args in RUNS.items():
        out = root / name
        args = [a.format(model_file=f"{model_file}:build") for a in args]
        done = runner.invoke(app, [*args, "--data", str(data), "--out", str(out)])
        assert done.exit_code == 0, done.output
        outputs[name] = out
    return outputs


def compared_files(out: Path) -> list[Path]:
    """The files of `out` (and its variant folders) that must not change."""
    files = [p for p in out.rglob("*") if p.name in COMPARED or p.name.startswith("curve_")]
    return sorted(p.relative_to(out) for p in files)


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(text.splitlines()))


def _close(expected: str, found: str) -> bool:
    if expected == found:
        return True
    try:
        a, b = float(expected), float(found)
    except ValueError:
        return False
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return produce(tmp_path_factory.mktemp("outputs"))


@pytest.mark.parametrize("run", sorted(RUNS))
def test_outputs_are_those_before_the_reorganisation(outputs: dict[str, Path], run: str) -> None:
    expected_root = FIXTURES / run
    made = machine() == json.loads((FIXTURES / "machine.json").read_text())
    assert compared_files(outputs[run]) == compared_files(expected_root)
    for relative in compared_files(expected_root):
        expected = (expected_root / relative).read_text()
        found = (outputs[run] / relative).read_text()
        if made:
            assert found == expected, f"{run}/{relative} changed"
            continue
        rows, reference = _cells(found), _cells(expected)
        assert len(rows) == len(reference), f"{run}/{relative}: rows"
        for row, ref in zip(rows, reference, strict=True):
            assert len(row) == len(ref) and all(map(_close, ref, row)), (run, relative, row, ref)


def test_the_fixtures_were_made_by_this_module() -> None:
    """The fixture folders hold what `produce` writes, with the machine they were made on."""
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted([*RUNS, "machine.json"])
    assert set(json.loads((FIXTURES / "machine.json").read_text())) == set(machine())


def _write_fixtures() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        made = produce(Path(folder))
        shutil.rmtree(FIXTURES, ignore_errors=True)
        for name, out in made.items():
            for relative in compared_files(out):
                (FIXTURES / name / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(out / relative, FIXTURES / name / relative)
    (FIXTURES / "machine.json").write_text(json.dumps(machine(), indent=1) + "\n")
    print(f"wrote {FIXTURES}", file=sys.stderr)


if __name__ == "__main__":
    _write_fixtures()
