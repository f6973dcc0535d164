"""Shift consistency (the paper's `-es`): do two random windows of an image agree?"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.folders import CanvasBatch
from ..data.views import Geometry, crop_views
from .base import PairSuite, Run, Settings, classify
from .options import SuiteOptions, option


@dataclass(frozen=True)
class ConsistencyOptions(SuiteOptions):
    """How many window pairs each image gets."""

    shift_passes: int = option(5, "Consistency pairs per image; default 5.", minimum=1)


class ConsistencySuite(PairSuite):
    """Per image and pass, two windows at offsets uniform in 0..M-1 per axis; % same top-1."""

    name = "consistency"
    headline = "consistency"
    description = "% of random window pairs (offsets 0..M-1) with the same top-1"
    Options = ConsistencyOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        self.passes = self.options.shift_passes

    def settings(self) -> dict:
        return {"passes": self.passes, "offsets": f"uniform 0..{self.geometry.max_shift - 1}"}

    def draws(self, index: int) -> torch.Tensor:
        """Window offsets of image `index`: [pass, window (2), (top, left)]."""
        shape = (self.passes, 2, 2)
        return torch.randint(0, self.geometry.max_shift, shape, generator=self.generator(index))

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        device = batch.canvases.device
        offsets = batch.draws[self.name]
        per_image = self.passes * 2
        slot = torch.arange(count, device=device).repeat_interleave(per_image)
        top, left = offsets[..., 0].reshape(-1), offsets[..., 1].reshape(-1)
        logits = yield crop_views(batch.canvases, slot, top, left, self.geometry.size)
        labels = batch.labels.repeat_interleave(per_image)
        scored = classify(logits, labels)
        pred = scored.pred.view(count, self.passes, 2)
        self.keep(
            batch.indices,
            pred=pred,
            agree=pred[..., 0] == pred[..., 1],
            correct=scored.correct1.view(count, self.passes, 2),
        )
