"""Clean accuracy on the centre window: Resize(S+M) + CenterCrop(S), the paper's protocol."""

from __future__ import annotations

import torch

from ..data.folders import CanvasBatch
from ..data.views import centre_views
from ..stats import mean, rate
from .base import (
    Curve,
    Metric,
    PerImage,
    Run,
    Suite,
    classify,
    per_image_mean,
    per_image_rate,
    percent,
)


class CleanSuite(Suite):
    """Top-1/top-5 accuracy and true-class probability on the centre window."""

    name = "clean"
    headline = "top1"
    needs_shift = False
    description = "accuracy on the centre window (Resize(S+M) + CenterCrop(S))"

    def run(self, batch: CanvasBatch) -> Run:
        logits = yield centre_views(batch.canvases, self.geometry)
        scored = classify(logits, batch.labels)
        self.keep(
            batch.indices,
            pred=scored.pred,
            correct1=scored.correct1,
            correct5=scored.correct5,
            prob_true=scored.prob_true,
        )

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        return [
            percent(self.name, "top1", rate(records["correct1"])),
            percent(self.name, "top5", rate(records["correct5"])),
            percent(self.name, "prob_true", mean(records["prob_true"])),
        ], []

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        return {
            "top1": per_image_rate(records["correct1"]),
            "top5": per_image_rate(records["correct5"]),
            "prob_true": per_image_mean(records["prob_true"]),
        }
