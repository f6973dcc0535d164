"""Worst-case translation attack: an image counts only if every translated view is correct.

Crop mode moves the window inside the canvas (no border appears). Pad mode translates the
centre window with a black border, as Engstrom et al. (ICML 2019) do, translation only.
Grid offsets are k * step for |k| <= radius / step on each axis; views are asked for ring by
ring (L-infinity radius 0, step, 2*step, ...), and an image already broken at a smaller radius
needs no further views. One pass gives the worst-case accuracy at every radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.folders import CanvasBatch
from ..data.views import Geometry, crop_views, translate_views
from ..errors import ShiftbenchError
from ..stats import rate
from .base import (
    Curve,
    Metric,
    PerImage,
    Run,
    Settings,
    Suite,
    per_image_rate,
    percent,
    percent_curve,
)
from .options import SuiteOptions, option

# Engstrom et al. translate ImageNet images by up to 24 px at 224: 10.7% of the side.
PAD_ATTACK_FRACTION = 0.107
ATTACK_MODES = ("crop", "pad")


@dataclass(frozen=True)
class TranslationOptions(SuiteOptions):
    """The attack's kind and grid. Its resolved radius and step are compared by check (the
    suite's settings), so these are not compared as given."""

    attack_mode: str = option(
        "crop",
        "translation: crop (inside the canvas, the default) or pad (black border).",
        compared=False, choices=ATTACK_MODES,
    )  # fmt: skip
    attack_radius: int | None = option(
        None, "Largest translation in px (default: M/2; pad mode: 0.107*S).",
        compared=False, minimum=0,
    )  # fmt: skip
    attack_step: int | None = option(
        None,
        "Grid step in px (default: crop mode 4, or the radius's largest divisor below 4; pad "
        "mode radius/2).",
        compared=False, minimum=1,
    )  # fmt: skip


def default_crop_step(radius: int) -> int:
    """The largest step of at most 4 px that divides the radius (1 for radius 0)."""
    return max(d for d in range(1, min(4, max(radius, 1)) + 1) if radius % d == 0)


def ring_offsets(radius: int, step: int) -> list[torch.Tensor]:
    """Grid offsets (dy, dx) grouped by L-infinity ring: ring k holds max(|ky|, |kx|) == k."""
    reach = radius // step
    rings = []
    for k in range(reach + 1):
        points = [
            (ky * step, kx * step)
            for ky in range(-k, k + 1)
            for kx in range(-k, k + 1)
            if max(abs(ky), abs(kx)) == k
        ]
        rings.append(torch.tensor(points, dtype=torch.long).view(-1, 2))
    return rings


class TranslationSuite(Suite):
    """Worst-case top-1 over a grid of translations, as a curve over the attack radius."""

    name = "translation"
    headline = "worst_top1"
    needs_shift = False
    description = "% of images correct under every translation on the grid (worst case)"

    Options = TranslationOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        chosen: TranslationOptions = self.options  # type: ignore[assignment]
        self.mode = chosen.attack_mode
        if self.mode == "crop":
            radius = chosen.attack_radius
            radius = geometry.max_shift // 2 if radius is None else radius
            room = min(geometry.centre, geometry.max_shift - geometry.centre)
            if radius > room:
                raise ShiftbenchError(
                    f"crop-mode attacks stay inside the canvas: {{attack_radius}} at most {room} "
                    f"with {{max_shift}} {geometry.max_shift} (or use {{attack_mode}} pad)",
                    "attack_radius", "max_shift", "attack_mode",
                )  # fmt: skip
            step = default_crop_step(radius) if chosen.attack_step is None else chosen.attack_step
        else:
            radius = (
                round(PAD_ATTACK_FRACTION * geometry.size)
                if chosen.attack_radius is None
                else chosen.attack_radius
            )
            step = max(1, radius // 2) if chosen.attack_step is None else chosen.attack_step
        if radius % step:
            raise ShiftbenchError(
                f"{{attack_radius}} ({radius}) must be a multiple of {{attack_step}} ({step})",
                "attack_radius", "attack_step",
            )  # fmt: skip
        self.radius, self.step = radius, step
        self.rings = ring_offsets(radius, step)

    def settings(self) -> dict:
        return {
            "mode": self.mode,
            "radius": self.radius,
            "step": self.step,
            "grid_per_axis": 2 * (self.radius // self.step) + 1,
            "max_views_per_image": sum(len(r) for r in self.rings),
        }

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        device = batch.canvases.device
        size, centre = self.geometry.size, self.geometry.centre
        alive = torch.ones(count, dtype=torch.bool, device=device)
        views_used = torch.zeros(count, dtype=torch.long, device=device)
        robust = []
        for ring in self.rings:
            survivors = alive.nonzero().squeeze(1)
            if survivors.numel():
                ring = ring.to(device)
                slot = survivors.repeat_interleave(len(ring))
                dy, dx = ring[:, 0].repeat(len(survivors)), ring[:, 1].repeat(len(survivors))
                base = torch.full_like(slot, centre)
                if self.mode == "crop":
                    views = crop_views(batch.canvases, slot, base + dy, base + dx, size)
                else:
                    views = translate_views(batch.canvases, slot, base, base, dy, dx, size)
                logits = yield views
                hits = logits.argmax(dim=1) == batch.labels[slot]
                alive[survivors] = hits.view(len(survivors), len(ring)).all(dim=1)
                views_used[survivors] += len(ring)
            robust.append(alive.clone())
        self.keep(batch.indices, robust=torch.stack(robust, dim=1), views=views_used)

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        robust = records["robust"]
        radii = [k * self.step for k in range(robust.shape[1])]
        return [percent(self.name, "worst_top1", rate(robust[:, -1]))], [
            percent_curve(self.name, "worst_top1", "radius", radii, [rate(c) for c in robust.T])
        ]

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        return {"worst_top1": per_image_rate(records["robust"][:, -1])}
