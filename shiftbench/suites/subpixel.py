"""Sub-pixel shifts: the centre window moved by fractions of a pixel, as Michaeli, Michaeli &
Soudry ("Alias-Free Convnets", CVPR 2023) evaluate fractional shift invariance.

For every step u of `subpixel_steps`, the window is moved by (a/u, b/u) pixels for all
a, b in 0..u-1 but (0, 0): the single-axis shifts and their combinations (a shift shared by
two steps, 1/2 = 2/4, is one view). Each view is compared with the unshifted window:
consistency (% of views with its top-1), the worst-case accuracy (an image counts only if
the unshifted window and every shifted one are correct) and the mean absolute change (MAC)
of the probability of the unshifted window's top-1 class (their `shift_mac`), for each
interpolation of `subpixel_interp`, with curves over the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from ..data.folders import CanvasBatch
from ..data.subpixel import INTERPOLATIONS, ShiftedViews
from ..data.views import Geometry, centre_views
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
from .options import SuiteOptions, option

Offset = tuple[Fraction, Fraction]


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        return ()


def _interpolations(text: str) -> tuple[str, ...]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    return tuple(dict.fromkeys(names))


def _bad_steps(steps: tuple[int, ...]) -> str | None:
    if not steps or any(not isinstance(u, int) or not 2 <= u <= 16 for u in steps):
        return "takes steps from 2 to 16 (a shift of 1/u px), such as 2,4"
    return None


def _bad_interpolations(names: tuple[str, ...]) -> str | None:
    if not names or any(n not in INTERPOLATIONS for n in names):
        return f"takes {' and/or '.join(INTERPOLATIONS)}, comma-separated"
    return None


@dataclass(frozen=True)
class SubpixelOptions(SuiteOptions):
    """The fractions and the resamplers of the sub-pixel shifts."""

    subpixel_steps: tuple[int, ...] = option(
        (2, 4),
        "subpixel: shifts of k/u px for each step u, e.g. 2,4 (the default: halves and "
        "quarters).",
        parse=_steps, check=_bad_steps,
    )  # fmt: skip
    subpixel_interp: tuple[str, ...] = option(
        ("ideal",),
        "subpixel: ideal (band-limited, circular: the default) and/or bilinear "
        "(border-replicated), comma-separated.",
        parse=_interpolations, check=_bad_interpolations,
    )  # fmt: skip


def offsets(steps: tuple[int, ...]) -> list[Offset]:
    """Every shift (dy, dx) of the grids of `steps`, once, but (0, 0), sorted."""
    found = {(Fraction(a, u), Fraction(b, u)) for u in steps for a in range(u) for b in range(u)}
    return sorted(found - {(Fraction(0), Fraction(0))})


class SubpixelSuite(Suite):
    """Consistency, worst-case accuracy and MAC under fractional shifts of the window."""

    name = "subpixel"
    headline = "consistency.ideal"
    needs_shift = False
    description = "% of sub-pixel shifts (k/u px) of the window with the unshifted top-1; MAC"
    Options = SubpixelOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        chosen: SubpixelOptions = self.options  # type: ignore[assignment]
        self.steps, self.interpolations = chosen.subpixel_steps, chosen.subpixel_interp
        self.offsets = offsets(self.steps)
        # which offsets belong to the grid of each step
        self.grids = {
            u: torch.tensor([(dy * u).denominator == 1 and (dx * u).denominator == 1
                             for dy, dx in self.offsets])
            for u in self.steps
        }  # fmt: skip

    def settings(self) -> dict:
        return {
            "steps": list(self.steps),
            "interpolations": list(self.interpolations),
            "shifts": len(self.offsets),
            "borders": {"ideal": "circular", "bilinear": "replicated"},
        }

    def run(self, batch: CanvasBatch) -> Run:
        count, shifts = len(batch), len(self.offsets)
        device = batch.canvases.device
        windows = centre_views(batch.canvases, self.geometry).materialize(0, count)
        methods = [INTERPOLATIONS.index(n) for n in self.interpolations]
        per_image = 1 + len(methods) * shifts
        slot = torch.arange(count, device=device).repeat_interleave(per_image)
        dy = torch.tensor([0.0] + [float(o[0]) for o in self.offsets] * len(methods))
        dx = torch.tensor([0.0] + [float(o[1]) for o in self.offsets] * len(methods))
        method = torch.tensor([-1] + [m for m in methods for _ in range(shifts)])
        logits = yield ShiftedViews(
            windows, slot, dy.repeat(count).to(device), dx.repeat(count).to(device),
            method.repeat(count).to(device),
        )  # fmt: skip
        probs = logits.float().softmax(dim=1).view(count, per_image, -1)
        top = probs[:, 0].argmax(dim=1)
        pred = probs.argmax(dim=2)
        on_top = probs.gather(2, top[:, None, None].expand(count, per_image, 1)).squeeze(2)
        shape = (count, len(methods), shifts)
        self.keep(
            batch.indices,
            correct0=pred[:, 0] == batch.labels,
            agree=(pred[:, 1:] == top[:, None]).view(shape),
            correct=(pred[:, 1:] == batch.labels[:, None]).view(shape),
            change=(on_top[:, 1:] - on_top[:, :1]).abs().view(shape),
        )

    def _worst(self, records: dict[str, torch.Tensor], i: int, grid: torch.Tensor) -> torch.Tensor:
        return records["correct0"] & records["correct"][:, i][:, grid].all(dim=1)

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        metrics: list[Metric] = []
        curves: list[Curve] = []
        every = torch.ones(len(self.offsets), dtype=torch.bool)
        steps = list(self.steps)
        for i, name in enumerate(self.interpolations):
            agree, correct, change = (records[k][:, i] for k in ("agree", "correct", "change"))
            metrics += [
                percent(self.name, f"consistency.{name}", rate(agree)),
                percent(self.name, f"worst_top1.{name}", rate(self._worst(records, i, every))),
                percent(self.name, f"top1.{name}", rate(correct)),
                percent(self.name, f"mac.{name}", mean(change), False),
            ]
            grids = [self.grids[u] for u in steps]
            curves += [
                percent_curve(self.name, f"consistency.{name}", "step", steps,
                              [rate(agree[:, g]) for g in grids]),
                percent_curve(self.name, f"worst_top1.{name}", "step", steps,
                              [rate(self._worst(records, i, g)) for g in grids]),
                percent_curve(self.name, f"mac.{name}", "step", steps,
                              [mean(change[:, g]) for g in grids], False),
            ]  # fmt: skip
        return metrics, curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        every = torch.ones(len(self.offsets), dtype=torch.bool)
        terms = {}
        for i, name in enumerate(self.interpolations):
            terms |= {
                f"consistency.{name}": per_image_rate(records["agree"][:, i]),
                f"worst_top1.{name}": per_image_rate(self._worst(records, i, every)),
                f"top1.{name}": per_image_rate(records["correct"][:, i]),
                f"mac.{name}": per_image_mean(records["change"][:, i]),
            }
        return terms
