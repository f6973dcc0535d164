"""How images are prepared for a model: input size, resize filter, normalisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ShiftbenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Input size of shiftbench's own sb/ networks (CIFAR-10 sized).
SMALL_INPUT = 32
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class Preprocess:
    """How images are prepared for a model: square input size, resize filter and normalisation.

    `reference_resize` is the shorter-side resize the weights were published with (timm's
    `input_size / crop_pct`, torchvision's `resize_size`; None at another input size than
    theirs); it is recorded for the reader, while shiftbench itself always resizes to the
    canvas (input size + max shift, the paper's protocol).
    """

    input_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reference_resize: int | None = None


def check_preprocess(
    img_size: int | None,
    interpolation: str | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> None:
    """Refuse preprocessing overrides that would feed the model garbage (NaN, infinities)."""
    if img_size is not None and img_size < 1:
        raise ShiftbenchError(f"{{img_size}} must be >= 1, got {img_size}", "img_size")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ShiftbenchError(
            f"unknown interpolation '{interpolation}'; choose from {', '.join(INTERPOLATIONS)}"
        )
    if mean is not None and not all(math.isfinite(v) for v in mean):
        given = ",".join(map(str, mean))
        raise ShiftbenchError(f"{{mean}} must be finite numbers, got {given}", "mean")
    if std is not None and not all(math.isfinite(v) and v > 0 for v in std):
        given = ",".join(map(str, std))
        raise ShiftbenchError(f"{{std}} must be finite numbers > 0, got {given}", "std")
