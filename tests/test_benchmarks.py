"""Every benchmark script runs end to end at toy sizes on the CPU and writes its figures, so a
lent GPU session never finds one broken (the figures themselves are not checked here)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

from shiftbench import load_model
from shiftbench.antialias import AntialiasSpec, BlurPool

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from blur_formulations import FORMULATIONS, formulated  # noqa: E402
from gpu_summary import summary  # noqa: E402

# the names gpu_session.sh gives these scripts' figures, which gpu_summary.py renders
SUMMARISED = {
    "antialias_cost.py": "antialias_cost_toy",
    "blurpool_kernels.py": "blurpool_toy",
    "corruption_speed.py": "corruption_speed",
    "throughput.py": "throughput_toy",
}

TOY_RUNS = {
    "throughput.py": ["--model", "test_resnet", "--img-size", "32", "--max-shift", "8",
                      "--images", "6", "--batch-size", "16", "--workers", "0",
                      "--suites", "clean,all"],
    "antialias_cost.py": ["--models", "tv/resnet18,test_efficientnet", "--img-size", "64",
                          "--batch-size", "2", "--steps", "1", "--formulations"],
    "blurpool_kernels.py": ["--batch", "2", "--channels", "8", "--size", "16", "--steps", "1"],
    "corruption_speed.py": ["--model", "test_resnet", "--batch-size", "2", "--steps", "1"],
    "conversion_sweep.py": ["--models", "test_resnet,test_vit3", "--img-size", "64"],
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(TOY_RUNS))
def test_benchmark_runs_and_writes_json(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / f"{SUMMARISED.get(script, 'figures')}.json"
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    device = [] if script == "conversion_sweep.py" else ["--device", "cpu"]  # CPU-only sweep
    argv = [script, *TOY_RUNS[script], *device, "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    figures = json.loads(out.read_text())
    assert figures
    if script in SUMMARISED:  # gpu_summary.py renders the file as the docs' table
        section, setup = summary(tmp_path), figures["setup"]
        setup = setup if isinstance(setup, str) else json.dumps(setup)
        assert section.startswith(f"## {out.name}\n\n{setup}\n\n| ")
        assert section.count("\n| ") >= len(figures["rows"]) + 1, section
    if script == "blurpool_kernels.py":  # every full formulation computes BlurPool's output
        whole = {row["how"]: row["equal_to_blurpool"] for row in figures["rows"]}
        assert {how for how, same in whole.items() if same} == {
            how for how in whole if " only" not in how
        }
        assert "torch.cat pad, depthwise conv" in whole
    if script == "antialias_cost.py":  # every formulation gives the model BlurPool's logits
        for row in figures["rows"]:
            assert row["blur_alone_ratio"] > 0, row["model"]
            assert set(row["aa4_ratio_by_formulation"]) == set(FORMULATIONS)
            assert all(row["aa4_ratio_by_formulation"].values()), row["model"]
    if script == "conversion_sweep.py":  # test_vit3 cannot take 64 px: it runs at its own
        sizes = {(row["model"], row["size"]) for row in figures["rows"]}
        assert sizes == {("test_resnet", 64), ("test_vit3", 160)}
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


@pytest.mark.parametrize("how", sorted(FORMULATIONS))
@pytest.mark.parametrize("filter_size", [2, 4, 5])
def test_blur_formulations_compute_blurpool_in_a_converted_model(
    how: str, filter_size: int
) -> None:
    """Each formulation replaces every reflect BlurPool of a converted model (torchvision's
    layers and timm's aa_layer subclass alike) and keeps its logits; outside the block the
    layers compute as before."""
    calls = []

    def counted(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
        calls.append(layer)
        return FORMULATIONS[how](layer, x)

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for name in ("tv/resnet18", "test_efficientnet"):
        model = load_model(
            name, pretrained=False, img_size=64, antialias=AntialiasSpec(filter_size=filter_size)
        )
        layers = [m for m in model.module.modules() if isinstance(m, BlurPool)]
        module = model.module.eval().to(memory_format=torch.channels_last)
        with torch.no_grad():
            reference = module(x)
            with formulated(counted):
                formulated_logits = module(x)
            after = module(x)
        assert len(calls) == len(layers) > 0, name
        assert torch.allclose(formulated_logits, reference, rtol=1e-5, atol=1e-5), name
        assert torch.equal(after, reference)
        calls.clear()


def test_blur_alone_runs_each_blur_layer_of_a_forward_pass_on_its_input() -> None:
    """What "blur alone" times: every BlurPool call of one forward pass, once each, on the
    input it got in the model. torchvision ResNet-18 as the released models convert it, at
    64 px: the stem's stride-2 conv (left alone) gives 32 px, MaxPool(2, stride 1) 31 px; then
    each stage's first block blurs its 3x3 path and its shortcut at the stage's input size."""
    from antialias_cost import blur_calls

    from shiftbench.config import EvalConfig
    from shiftbench.run.engine import Forward

    model = load_model("tv/resnet18", pretrained=False, img_size=64, antialias=AntialiasSpec())
    forward = Forward(model.module, model.preprocess, EvalConfig(batch_size=2), torch.device("cpu"))
    outputs = {}
    for name, layer in model.module.named_modules():
        if isinstance(layer, BlurPool):
            layer.register_forward_hook(
                lambda layer, _, out, name=name: outputs.update({name: out})
            )
    calls = blur_calls(forward, 64)
    inside = dict(outputs)  # the outputs of the forward pass (the calls below add their own)
    names = {layer: name for name, layer in model.module.named_modules()}
    shapes = [(names[layer], tuple(x.shape)) for layer, x in calls]
    assert shapes == [
        ("maxpool.1", (2, 64, 31, 31)),
        ("layer2.0.conv2.0", (2, 128, 16, 16)),
        ("layer2.0.downsample.0", (2, 64, 16, 16)),
        ("layer3.0.conv2.0", (2, 256, 8, 8)),
        ("layer3.0.downsample.0", (2, 128, 8, 8)),
        ("layer4.0.conv2.0", (2, 512, 4, 4)),
        ("layer4.0.downsample.0", (2, 256, 4, 4)),
    ]
    with torch.no_grad():
        for layer, x in calls:
            assert torch.equal(layer(x), inside[names[layer]])


def test_gpu_session_script_runs_its_parts_and_bundles_them(tmp_path: Path) -> None:
    """The prepared GPU run, as a dry run on the CPU (SMOKE=1) of two of its parts: each runs
    under its limit, and the archive holds the figures and their summary tables."""
    import os
    import subprocess
    import tarfile

    out = tmp_path / "out"
    env = {**os.environ, "SMOKE": "1", "OUT": str(out), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    script = BENCHMARKS / "gpu_session.sh"
    ran = subprocess.run(["bash", str(script), "corruptions", "nosuch"], cwd=BENCHMARKS.parent,
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    log = (out / "gpu_session.log").read_text()
    assert "== corruptions: exit 0" in log and "== nosuch: no such part" in log
    with tarfile.open(out / "gpu_figures.tar.gz") as archive:
        names = {Path(n).name for n in archive.getnames()}
        summary_text = archive.extractfile("./summary.md").read().decode()
    assert {"corruption_speed.json", "summary.md", "environment.txt"} <= names
    assert summary_text.startswith("## corruption_speed.json")
    assert sorted(p.name for p in out.iterdir()) == ["gpu_figures.tar.gz", "gpu_session.log"]
