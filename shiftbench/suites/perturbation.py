"""ImageNet-P's stability metrics (Hendrycks & Dietterich, ICLR 2019) on perturbation
sequences made from each image's centre window: the flip probability (FP: how often the
top-1 changes between the frames `ImageNet-P/test.py` compares) and the top-5 distance
(T5D: how far the top-5 ranking moves), per perturbation, each image's sequence one video.

FP and T5D are raw, as test.py prints them. The paper's mFR and mT5D divide each by
AlexNet's, which are not published as figures (the paper does not print them); they are not
computed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..corruptions.perturbations import (
    FRAMES,
    ON_THE_FLY,
    PERTURBATIONS,
    frame,
    frame_pairs,
    top5_distance,
)
from ..data.folders import CanvasBatch
from ..data.views import BlockViews, Geometry, centre_views
from ..stats import mean
from .base import Curve, Metric, PerImage, Run, Settings, Suite, per_image_mean, percent
from .options import SuiteOptions, option


def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def _bad_names(names: tuple[str, ...]) -> str | None:
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown or not names:
        known = ", ".join(PERTURBATIONS)
        return f"names unknown perturbations ({', '.join(unknown)}); ImageNet-P has {known}"
    later = [n for n in names if n not in ON_THE_FLY]
    if later:
        return (
            f"names {', '.join(later)}, not made on the fly yet (the geometric ones warp the "
            f"whole image); made here: {', '.join(ON_THE_FLY)}"
        )
    return None


@dataclass(frozen=True)
class PerturbationOptions(SuiteOptions):
    """Which ImageNet-P sequences, at which difficulty."""

    perturbations: tuple[str, ...] = option(
        ON_THE_FLY,
        "perturbation: ImageNet-P sequences, comma-separated (default: "
        + ",".join(ON_THE_FLY) + ", those made on the fly).",
        parse=_names, check=_bad_names,
    )  # fmt: skip
    difficulty: int = option(
        1,
        "perturbation: ImageNet-P's difficulty 1..3 (noise: the noise level; the others: "
        "frames d apart are compared).",
        minimum=1, check=lambda d: None if d <= 3 else "must be 1, 2 or 3",
    )  # fmt: skip


class SequenceViews(BlockViews):
    """Uint8 windows [B, 3, S, S] as the frames of `plan` [(perturbation, frame index)],
    block after block; `seeds[i][block]` seeds image i's noise in that frame."""

    def __init__(
        self, windows: torch.Tensor, plan: list[tuple[str, int]], seeds: list[list[int]],
        difficulty: int,
    ) -> None:  # fmt: skip
        super().__init__(windows, len(plan))
        self.plan, self.seeds, self.difficulty = plan, seeds, difficulty

    def block(self, block: int, first: int, last: int) -> torch.Tensor:
        name, index = self.plan[block]
        device = self.windows.device
        generators = [
            torch.Generator(device=device).manual_seed(self.seeds[i][block])
            for i in range(first, last)
        ]
        return frame(name, index, self.windows[first:last], self.difficulty, generators)


class PerturbationSuite(Suite):
    """FP and T5D of each ImageNet-P perturbation sequence, raw as test.py prints them."""

    name = "perturbation"
    headline = "mean_fp"
    needs_shift = False
    description = "ImageNet-P flip probability and top-5 distance of sequences made on the fly"
    Options = PerturbationOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        chosen: PerturbationOptions = self.options  # type: ignore[assignment]
        self.perturbations, self.difficulty = chosen.perturbations, chosen.difficulty
        self.plan = [(n, i) for n in self.perturbations for i in range(FRAMES[n])]

    def settings(self) -> dict:
        return {
            "perturbations": list(self.perturbations),
            "difficulty": self.difficulty,
            "frames": {n: FRAMES[n] for n in self.perturbations},
            "made": "on the fly, uncompressed",
        }

    def draws(self, index: int) -> torch.Tensor:
        """One seed per frame of every sequence of image `index`."""
        return torch.randint(0, 2**62, (len(self.plan),), generator=self.generator(index))

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        windows = centre_views(batch.canvases, self.geometry).materialize(0, count)
        seeds = batch.host_draws[self.name].tolist()  # type: ignore[index]
        logits = yield SequenceViews(windows, self.plan, seeds, self.difficulty)
        logits = logits.view(len(self.plan), count, -1)
        fields, start = {}, 0
        for name in self.perturbations:
            frames = logits[start : start + FRAMES[name]]
            start += FRAMES[name]
            earlier, later = frame_pairs(name, FRAMES[name], self.difficulty)
            pred = frames.argmax(dim=2)
            fields[f"flips.{name}"] = (pred[earlier] != pred[later]).T
            fields[f"t5d.{name}"] = torch.stack(
                [top5_distance(frames[a], frames[b]) for a, b in zip(earlier, later, strict=True)],
                dim=1,
            ).float()
        self.keep(batch.indices, **fields)

    def _means(self, records: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image [images, perturbations]: its mean flip and mean top-5 distance."""
        fp = torch.stack([records[f"flips.{n}"].double().mean(1) for n in self.perturbations], 1)
        t5d = torch.stack([records[f"t5d.{n}"].double().mean(1) for n in self.perturbations], 1)
        return fp, t5d

    def _distance(self, name: str, values: torch.Tensor) -> Metric:
        """A mean top-5 distance, in its own units (not a percentage)."""
        e = mean(values)
        return Metric(self.name, name, e.value, e.low, e.high, e.n, False)

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        metrics = []
        for name in self.perturbations:
            metrics.append(percent(self.name, f"fp.{name}", mean(records[f"flips.{name}"]), False))
            metrics.append(self._distance(f"t5d.{name}", records[f"t5d.{name}"]))
        fp, t5d = self._means(records)
        metrics += [percent(self.name, "mean_fp", mean(fp), False), self._distance("mean_t5d", t5d)]
        return metrics, []

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        terms = {}
        for name in self.perturbations:
            terms[f"fp.{name}"] = per_image_mean(records[f"flips.{name}"].double())
            terms[f"t5d.{name}"] = per_image_mean(records[f"t5d.{name}"] / 100.0)
        fp, t5d = self._means(records)
        return terms | {"mean_fp": per_image_mean(fp), "mean_t5d": per_image_mean(t5d / 100.0)}
