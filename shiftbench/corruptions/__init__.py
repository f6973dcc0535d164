"""ImageNet-C corruptions: names and AlexNet constants, CE/mCE scores, the released files, and
the corruptions themselves as batched torch operations (`corrupt`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ShiftbenchError
from . import blur, digital, noise, weather
from .disk import (
    CorruptedSets,
    ReleasedSet,
    parse_corruptions,
    parse_severities,
    released_images,
    scan_imagenet_c,
)
from .generators import Generators
from .scores import CorruptionScores, coverage_warning, score
from .tables import ALEXNET_ERRORS, ALL, BENCHMARK, DESCRIPTIONS, EXTRA, GROUPS, SEVERITIES

__all__ = [
    "ALEXNET_ERRORS",
    "ALL",
    "BENCHMARK",
    "DESCRIPTIONS",
    "EXTRA",
    "FUNCTIONS",
    "GROUPS",
    "MIN_SIZE",
    "RANDOM",
    "SEVERITIES",
    "CorruptedSets",
    "CorruptionScores",
    "ReleasedSet",
    "corrupt",
    "coverage_warning",
    "parse_corruptions",
    "parse_severities",
    "released_images",
    "scan_imagenet_c",
    "score",
]


Corruption = Callable[[torch.Tensor, int, Generators], torch.Tensor]
RANDOM = frozenset(
    {
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "speckle_noise",
        "fog",
        "frost",
        "elastic_transform",
        "glass_blur",
        "motion_blur",
        "snow",
        "spatter",
    }
)

FUNCTIONS: dict[str, Corruption] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "speckle_noise": noise.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "defocus_blur": blur.defocus_blur,
    "zoom_blur": blur.zoom_blur,
    "brightness": weather.brightness,
    "fog": weather.fog,
    "frost": weather.frost,
    "snow": weather.snow,
    "spatter": weather.spatter,
    "contrast": digital.contrast,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "saturate": digital.saturate,
}


MIN_SIZE = 16  # below it the blur and glass kernels outgrow the image


def corrupt(
    images: torch.Tensor, name: str, severity: int, generator: Generators = None
) -> torch.Tensor:
    """One ImageNet-C corruption of a batch: `images` [N, 3, H, W], uint8 or float in [0, 1],
    square, on any device; returns float in [0, 1] on the same device. Random corruptions
    draw from `generator` (on the images' device), or from one generator per image when given
    a list, so that each image's result depends on its own generator only."""
    if name not in ALL:
        raise ShiftbenchError(f"unknown corruption '{name}'; choose from {', '.join(ALL)}")
    if severity not in SEVERITIES:
        raise ShiftbenchError(f"severity must be 1..5, got {severity}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[-1] != images.shape[-2]:
        raise ShiftbenchError(
            f"corrupt takes square [N, 3, H, W] images, got {tuple(images.shape)}"
        )
    if images.shape[-1] < MIN_SIZE:
        raise ShiftbenchError(
            f"corruptions need images of at least {MIN_SIZE} px (defocus_blur's largest disk "
            f"alone spans 21), got {images.shape[-1]}"
        )
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return FUNCTIONS[name](x, severity, generator)
