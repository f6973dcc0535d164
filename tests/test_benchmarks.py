"""Every benchmark script runs end to end at toy sizes on the CPU and writes its figures, so a
lent GPU session never finds one broken (the figures themselves are not checked here)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

TOY_RUNS = {
    "throughput.py": ["--model", "test_resnet", "--img-size", "32", "--max-shift", "8",
                      "--images", "6", "--batch-size", "16", "--workers", "0",
                      "--suites", "clean,all"],
    "antialias_cost.py": ["--models", "tv/resnet18", "--img-size", "64", "--batch-size", "2",
                          "--steps", "1"],
    "blurpool_kernels.py": ["--batch", "2", "--channels", "8", "--size", "16", "--steps", "1"],
    "corruption_speed.py": ["--model", "test_resnet", "--batch-size", "2", "--steps", "1"],
    "conversion_sweep.py": ["--models", "test_resnet,test_coatnet", "--img-size", "64"],
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(TOY_RUNS))
def test_benchmark_runs_and_writes_json(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "figures.json"
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    device = [] if script == "conversion_sweep.py" else ["--device", "cpu"]  # CPU-only sweep
    argv = [script, *TOY_RUNS[script], *device, "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    figures = json.loads(out.read_text())
    assert figures
    if script == "blurpool_kernels.py":  # every full formulation computes BlurPool's output
        whole = {row["how"]: row["equal_to_blurpool"] for row in figures["rows"]}
        assert {how for how, same in whole.items() if same} == {
            how for how in whole if " only" not in how
        }
        assert "reflect pad by torch.cat, then depthwise conv" in whole
    if script == "conversion_sweep.py":  # test_coatnet cannot take 64 px: it runs at its own
        sizes = {(row["model"], row["size"]) for row in figures["rows"]}
        assert sizes == {("test_resnet", 64), ("test_coatnet", 160)}
        assert all(row["runs"] for row in figures["rows"]) and len(figures["rows"]) == 10
        # filter 1 moves the strides without blurring: timm's aa_layer placement computes the
        # very function of the original; the generic rule does too, but for test_resnet's
        # average-pool shortcuts, which become subsamplings (said as the reason)
        rows = {(r["model"], r["conversion"]): r for r in figures["rows"]}
        assert rows[("test_resnet", "aa1")]["same_function"] is True
        generic = rows[("test_resnet", "aa1+stem")]
        assert generic["same_function"] is False
        assert generic["why"] == "an average pool becomes a subsampling"


def test_corruption_gallery_draws_a_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    out = tmp_path / "sheet.png"
    argv = ["corruption_gallery.py", str(out), "--corruptions", "contrast,fog"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(BENCHMARKS / "corruption_gallery.py"), run_name="__main__")
    with Image.open(out) as sheet:
        assert sheet.size == (130 + 6 * 112, 2 * 112)


def test_listing_memory_measures_both_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "listing.json"
    argv = ["listing_memory.py", "--images", "2000", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(BENCHMARKS / "listing_memory.py"), run_name="__main__")
    figures = json.loads(out.read_text())
    assert [row["form"] for row in figures["rows"]] == ["arrays", "objects"]
