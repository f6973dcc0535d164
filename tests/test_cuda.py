"""CUDA paths: same records as the CPU, AMP with channels-last, torch.compile (GPU only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shiftbench import evaluate, load_model
from shiftbench.suites import parse_suite_names

from .helpers import LinearProbe, config, wrap, write_folder

ALL_SHIFT = parse_suite_names("all")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_records_equal_cpu_records(tmp_path: Path) -> None:
    root = write_folder(tmp_path, per_class=6)
    model = LinearProbe(16, 3)
    cfg = dict(suites=ALL_SHIFT, attack_radius=4, attack_step=2, workers=2)
    cpu = evaluate(wrap(model, 16), root, config(device="cpu", **cfg))
    gpu = evaluate(wrap(model, 16), root, config(device="cuda", **cfg))
    assert gpu.environment["device"].startswith("cuda")
    numerics = gpu.environment["numerics"]
    assert numerics["cudnn_allow_tf32"] == torch.backends.cudnn.allow_tf32
    assert numerics["cudnn"] == torch.backends.cudnn.version() and not numerics["cudnn_benchmark"]
    for key, value in cpu.records.items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(gpu.records[key], value)
        else:
            assert torch.equal(gpu.records[key], value), key


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_channels_last_on_cuda(tmp_path: Path, amp: str) -> None:
    root = write_folder(tmp_path, per_class=4)
    model = load_model("test_resnet", pretrained=False, num_classes=3, img_size=32)
    plain = evaluate(model, root, config(device="cuda", suites=ALL_SHIFT))
    fast = evaluate(
        model, root, config(device="cuda", suites=ALL_SHIFT, amp=amp, channels_last=True)
    )
    agree = (fast.records["diagonal.pred"] == plain.records["diagonal.pred"]).float().mean()
    assert agree > 0.9


def test_compile_on_cuda_matches_eager(tmp_path: Path) -> None:
    root = write_folder(tmp_path, per_class=4)
    model = load_model("test_resnet", pretrained=False, num_classes=3, img_size=32)
    eager = evaluate(model, root, config(device="cuda", suites=("clean", "consistency")))
    compiled = evaluate(
        model, root, config(device="cuda", suites=("clean", "consistency"), compile=True)
    )
    agree = (compiled.records["consistency.pred"] == eager.records["consistency.pred"]).float()
    assert agree.mean() > 0.9


@pytest.mark.parametrize("spec", ["aa4", "aps"])
def test_antialiased_models_on_cuda_with_amp_and_channels_last(tmp_path: Path, spec: str) -> None:
    from shiftbench.antialias import AntialiasSpec

    root = write_folder(tmp_path, per_class=4)
    conversion = AntialiasSpec(filter_size=4) if spec == "aa4" else AntialiasSpec("aps", 1)
    model = load_model(
        "tv/resnet18", pretrained=False, num_classes=3, img_size=64, antialias=conversion
    )
    cpu = evaluate(model, root, config(device="cpu", suites=ALL_SHIFT))
    fast = evaluate(
        model,
        root,
        config(device="cuda", suites=ALL_SHIFT, amp="bf16", channels_last=True),
    )
    assert [m.key for m in fast.metrics] == [m.key for m in cpu.metrics]
    agree = (fast.records["diagonal.pred"] == cpu.records["diagonal.pred"]).float().mean()
    assert agree > 0.9


def test_every_corruption_runs_on_cuda_like_on_the_cpu() -> None:
    from shiftbench.corruptions import FUNCTIONS, RANDOM, corrupt

    x = torch.randint(0, 256, (3, 3, 224, 224), dtype=torch.uint8)
    for name in FUNCTIONS:
        generators = None
        if name in RANDOM:
            generators = [torch.Generator("cuda").manual_seed(i) for i in range(3)]
        gpu = corrupt(x.cuda(), name, 3, generators)
        assert gpu.device.type == "cuda" and gpu.shape == (3, 3, 224, 224), name
        if name not in RANDOM:  # deterministic: the same image on both devices
            cpu = corrupt(x, name, 3)
            difference = (gpu.cpu() - cpu).abs().mean().item()
            assert difference < 1.5 / 255, f"{name}: {difference * 255:.2f}/255"


def test_corruption_suite_on_cuda_matches_cpu_predictions(tmp_path: Path) -> None:
    root = write_folder(tmp_path, per_class=3)
    model = wrap(LinearProbe(16, 3), 16)
    cfg = dict(suites=("corruption",), corruptions=("contrast", "zoom_blur"), severities=(1, 5))
    cpu = evaluate(model, root, config(device="cpu", **cfg))
    gpu = evaluate(model, root, config(device="cuda", **cfg))
    agree = (cpu.records["corruption.pred"] == gpu.records["corruption.pred"]).float().mean()
    assert agree > 0.95
