"""Azulay & Weiss's black-background protocol ("Why do deep convolutional networks generalize
so poorly to small image transformations?", JMLR 2019, code AzulEye/CNN-Failures): the image,
downscaled, on a black window, moved one pixel per axis at a time.

For each scale s of `embed_scales` the centre window is resized to int(S / s) px (224 / 1.3 =
172, 140 and 117 at 224, their three sizes) and pasted at (c, c), c = centre - k/2 .. centre
+ k/2 for k = `embed_steps` (their 8; by default fewer where the window leaves less room),
centre = int((S - side - 1) / 2) as in their code
(moved inward where a small window leaves no room for that).
Between neighbouring frames: P(top-1 change) and the mean absolute change (MAC) of the
probability of the earlier frame's top-1 class; and the top-1 accuracy over the frames.
Where shiftbench differs: they resize the whole image to the square (their
`RandomResizedCenterCrop(int(224 / s), scale=(1, 1))`), shiftbench the centre window of its
canvas (Resize(S + M) + CenterCrop(S)), with bilinear antialiased resizing on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.folders import CanvasBatch
from ..data.views import EmbeddedViews, Geometry, centre_views, unit_range
from ..errors import ShiftbenchError
from ..stats import mean, rate
from .base import (
    Curve,
    Metric,
    PerImage,
    Run,
    Settings,
    Suite,
    per_image_mean,
    per_image_rate,
    percent,
    percent_curve,
)
from .diagonal import top_change
from .options import SuiteOptions, option

AZULAY_STEPS = 8  # their range(centre - 4, centre + 4): 8 pairs of neighbouring frames


def _scales(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        return ()


def _bad_scales(scales: tuple[float, ...]) -> str | None:
    if not scales or any(not 1.0 < s <= 8.0 for s in scales) or len(set(scales)) < len(scales):
        return "takes distinct factors above 1 and up to 8, such as 1.3,1.6,1.9"
    return None


@dataclass(frozen=True)
class EmbeddedOptions(SuiteOptions):
    """How small the image is on its black window, and how far it moves."""

    embed_scales: tuple[float, ...] = option(
        (1.3, 1.6, 1.9),
        "embedded: the image is S/s px on the black window, for each factor s (default "
        "1.3,1.6,1.9, Azulay & Weiss's).",
        parse=_scales, check=_bad_scales,
    )  # fmt: skip
    embed_steps: int | None = option(
        None,
        "embedded: one-pixel steps along the diagonal (default 8, as theirs, or fewer where "
        "the window leaves less room).",
        minimum=1,
    )


class EmbeddedSuite(Suite):
    """P(top-1 change), MAC and accuracy of a downscaled image moved on a black window."""

    name = "embedded"
    headline = "flip_rate"
    needs_shift = False
    description = "image downscaled on a black window, moved 1 px at a time: P(top-1 change), MAC"
    Options = EmbeddedOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        chosen: EmbeddedOptions = self.options  # type: ignore[assignment]
        size = geometry.size
        self.sides = [int(size / s) for s in chosen.embed_scales]
        room = size - max(self.sides)
        self.steps = min(AZULAY_STEPS, room) if chosen.embed_steps is None else chosen.embed_steps
        # centred as in their code; moved inward where the window leaves no room for that
        self.starts = [
            max(0, min(int((size - side - 1) / 2) - self.steps // 2, size - side - self.steps))
            for side in self.sides
        ]
        for side in self.sides:
            if side < 1 or self.steps < 1 or size - side < self.steps:
                raise ShiftbenchError(
                    f"the embedded suite cannot move a {side} px image {self.steps} px inside "
                    f"a {size} px window: use smaller {{embed_steps}} or larger {{embed_scales}}",
                    "embed_steps", "embed_scales",
                )  # fmt: skip
        self.scales = chosen.embed_scales

    def settings(self) -> dict:
        return {
            "scales": list(self.scales),
            "sides": self.sides,
            "positions": [[s, s + self.steps] for s in self.starts],
            "frames": self.steps + 1,
        }

    def run(self, batch: CanvasBatch) -> Run:
        count, frames = len(batch), self.steps + 1
        device = batch.canvases.device
        windows = unit_range(centre_views(batch.canvases, self.geometry).materialize(0, count))
        small = [
            F.interpolate(windows, size=(side, side), mode="bilinear", antialias=True).clamp(0, 1)
            for side in self.sides
        ]
        per_image = len(self.sides) * frames
        slot = torch.arange(count, device=device).repeat_interleave(per_image)
        scale = torch.arange(len(self.sides), device=device).repeat_interleave(frames)
        position = torch.cat([torch.arange(s, s + frames, device=device) for s in self.starts])
        views = EmbeddedViews(small, self.geometry.size, slot, scale.repeat(count),
                              position.repeat(count))  # fmt: skip
        logits = yield views
        pred = logits.argmax(dim=1).view(count, len(self.sides), frames)
        self.keep(
            batch.indices,
            pred=pred,
            correct=pred == batch.labels[:, None, None],
            top_change=top_change(logits, count * len(self.sides)).view(count, len(self.sides), -1),
        )

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        pred, correct, change = records["pred"], records["correct"], records["top_change"]
        flips = pred[..., 1:] != pred[..., :-1]
        metrics = [
            percent(self.name, "flip_rate", rate(flips), False),
            percent(self.name, "mac", mean(change), False),
            percent(self.name, "top1", rate(correct)),
        ]
        sides, scales = self.sides, range(len(self.sides))
        curves = [
            percent_curve(self.name, "flip_rate", "side", sides,
                          [rate(flips[:, j]) for j in scales], False),
            percent_curve(self.name, "mac", "side", sides,
                          [mean(change[:, j]) for j in scales], False),
            percent_curve(self.name, "top1", "side", sides,
                          [rate(correct[:, j]) for j in scales]),
        ]  # fmt: skip
        return metrics, curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        pred = records["pred"]
        return {
            "flip_rate": per_image_rate(pred[..., 1:] != pred[..., :-1]),
            "mac": per_image_mean(records["top_change"]),
            "top1": per_image_rate(records["correct"]),
        }
