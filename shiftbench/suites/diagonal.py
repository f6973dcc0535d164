"""Diagonal-shift accuracy (the paper's `-ed`): windows at offsets (d, d), d = 0..M.

Along the path, one pixel per axis at a time, the flip rate is Azulay & Weiss's P(top-1
change) between neighbouring frames in their crop protocol, and `mac` their mean absolute
change: of the probability of each frame's top-1 class, in the next frame (JMLR 2019, code
AzulEye/CNN-Failures)."""

from __future__ import annotations

import torch

from ..data.folders import CanvasBatch
from ..data.views import crop_views
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
    percent_curve,
)


def top_change(logits: torch.Tensor, count: int) -> torch.Tensor:
    """Per image and pair of neighbouring frames, |p_i(c_i) - p_(i+1)(c_i)|, c_i the top-1
    class of frame i: logits [count * frames, classes], frame by frame for each image."""
    probs = logits.float().softmax(dim=1).view(count, -1, logits.shape[1])
    top = probs.max(dim=2)
    following = probs[:, 1:].gather(2, top.indices[:, :-1, None]).squeeze(2)
    return (top.values[:, :-1] - following).abs()


def _spread(prob_true: torch.Tensor) -> torch.Tensor:
    """Per image, the standard deviation of the true-class probability over the offsets."""
    return prob_true.double().std(dim=1, unbiased=False)


class DiagonalSuite(Suite):
    """Accuracy and true-class probability along the diagonal (its mean and its spread over
    the offsets), the flip rate and the mean absolute change between steps."""

    name = "diagonal"
    headline = "top1"
    description = "accuracy over windows at (d, d), d = 0..M; flip rate between neighbours"

    def settings(self) -> dict:
        return {"offsets": f"0..{self.geometry.max_shift} along the diagonal"}

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        device = batch.canvases.device
        steps = self.geometry.max_shift + 1
        slot = torch.arange(count, device=device).repeat_interleave(steps)
        offset = torch.arange(steps, device=device).repeat(count)
        logits = yield crop_views(batch.canvases, slot, offset, offset, self.geometry.size)
        scored = classify(logits, batch.labels.repeat_interleave(steps))
        self.keep(
            batch.indices,
            pred=scored.pred.view(count, steps),
            correct1=scored.correct1.view(count, steps),
            correct5=scored.correct5.view(count, steps),
            prob_true=scored.prob_true.view(count, steps),
            prob_wrong=scored.prob_wrong.view(count, steps),
            top_change=top_change(logits, count),
        )

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        pred = records["pred"]
        offsets = list(range(pred.shape[1]))
        metrics = [
            percent(self.name, "top1", rate(records["correct1"])),
            percent(self.name, "top5", rate(records["correct5"])),
            percent(self.name, "prob_true", mean(records["prob_true"])),
            percent(self.name, "prob_true_spread", mean(_spread(records["prob_true"])), False),
            percent(self.name, "flip_rate", rate(pred[:, 1:] != pred[:, :-1]), False),
        ]
        if "top_change" in records:  # records saved before it was kept have none
            metrics.append(percent(self.name, "mac", mean(records["top_change"]), False))
        curves = [
            percent_curve(
                self.name, "top1", "offset", offsets, [rate(c) for c in records["correct1"].T]
            ),
            percent_curve(
                self.name, "prob_true", "offset", offsets, [mean(p) for p in records["prob_true"].T]
            ),
        ]
        return metrics, curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        pred = records["pred"]
        return {
            "top1": per_image_rate(records["correct1"]),
            "top5": per_image_rate(records["correct5"]),
            "prob_true": per_image_mean(records["prob_true"]),
            "prob_true_spread": per_image_mean(_spread(records["prob_true"])),
            "flip_rate": per_image_rate(pred[:, 1:] != pred[:, :-1]),
        } | ({"mac": per_image_mean(records["top_change"])} if "top_change" in records else {})
