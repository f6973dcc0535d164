"""Test helpers: generated image folders and tiny models with known behaviour."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from shiftbench import EvalConfig, LoadedModel, wrap_module
from shiftbench.config import DEFAULT_SUITES

# A random-init timm test_resnet with a 3-class head at 32 px, one process: fast CLI runs.
TINY_OPTIONS = ["--no-pretrained", "--num-classes", "3", "--img-size", "32", "--max-shift", "8"]
TINY_OPTIONS += ["-j", "0"]
TINY_RESNET = ["test_resnet", *TINY_OPTIONS]

ZERO = (0.0, 0.0, 0.0)
ONE = (1.0, 1.0, 1.0)


def write_folder(
    root: Path,
    classes: int = 3,
    per_class: int = 4,
    size: tuple[int, int] = (30, 40),
    seed: int = 0,
    constant: bool = False,
) -> Path:
    """Random RGB images (or constant ones) of `size` (h, w), `per_class` in each class folder."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            if constant:
                pixels = np.full((*size, 3), rng.integers(0, 256, 3), dtype=np.uint8)
            else:
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"img_{i}.png")
    return root


class LinearProbe(nn.Module):
    """A fixed random linear map of every pixel: any change of the view can change its output."""

    def __init__(self, size: int, classes: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(classes, 3 * size * size, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1).double() - 0.5) @ self.weight.double().T


class Blind(nn.Module):
    """Ignores its input: the same logits for every view."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.register_buffer("logits", torch.linspace(0, 1, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1).clone()


class PixelReader(nn.Module):
    """Two classes: 1 when the red value of window pixel (row, col) is above one half."""

    def __init__(self, row: int, col: int) -> None:
        super().__init__()
        self.row, self.col = row, col

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0, self.row, self.col]
        return torch.stack([torch.full_like(red, 0.5), red], dim=1)


def wrap(module: nn.Module, size: int, name: str = "tiny") -> LoadedModel:
    """A LoadedModel that sees raw pixels in 0..1 (mean 0, std 1)."""
    return wrap_module(module, name, size, mean=ZERO, std=ONE)


def config(**overrides: object) -> EvalConfig:
    """A small, single-process, CPU EvalConfig for tests (3 consistency passes when the
    consistency suite runs: its setting is refused without it)."""
    base: dict = {"max_shift": 8, "batch_size": 16, "workers": 0, "device": "cpu"}
    base.update(overrides)
    if "consistency" in base.get("suites", DEFAULT_SUITES):
        base.setdefault("shift_passes", 3)
    return EvalConfig.from_settings(**base)


# A small random conv net (seeded by shiftbench before it is built), slowed down by
# SLOW_FORWARD seconds per forward pass so that a run can be killed midway; with
# BUILD_MARKER set, building it creates that file and then waits (a model still loading).
SLOW_MODEL_FILE = textwrap.dedent(
    """
    import os, time
    from torch import nn

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
            )

        def forward(self, x):
            time.sleep(float(os.environ.get("SLOW_FORWARD", "0")))
            return self.net(x)

    def build():
        if os.environ.get("BUILD_MARKER"):
            open(os.environ["BUILD_MARKER"], "w").close()
            time.sleep(60)
        return Slow()
    """
)


def slow_args(model_file: str, data: Path, out: Path, *extra: str) -> list[str]:
    """`eval` of the SLOW_MODEL_FILE network (`model_file`: FILE.py:build) on `data`."""
    return [
        "eval", "small", "--model-file", model_file, "--img-size", "32", "--max-shift", "8",
        "--data", str(data), "--out", str(out), "-j", "0", "--device", "cpu", *extra,
    ]  # fmt: skip
