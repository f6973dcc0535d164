"""Circular shift consistency (the APS follow-up): two random rolls of the centre window."""

from __future__ import annotations

import torch

from ..data.folders import CanvasBatch
from ..data.views import roll_views
from .base import PairSuite, Run, classify


class CircularSuite(PairSuite):
    """Per image, two circular shifts (dy, dx) uniform in -M..M-1 of the centre window."""

    name = "circular"
    headline = "consistency"
    description = "% of image pairs under two random circular shifts (-M..M-1) with same top-1"

    def settings(self) -> dict:
        m = self.geometry.max_shift
        return {"shifts": f"uniform {-m}..{m - 1} per axis, rolled centre window"}

    def draws(self, index: int) -> torch.Tensor:
        """Circular shifts of image `index`: [view (2), (dy, dx)]."""
        m = self.geometry.max_shift
        return torch.randint(-m, m, (2, 2), generator=self.generator(index))

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        device = batch.canvases.device
        shifts = batch.draws[self.name]
        slot = torch.arange(count, device=device).repeat_interleave(2)
        centre = torch.full_like(slot, self.geometry.centre)
        dy, dx = shifts[..., 0].reshape(-1), shifts[..., 1].reshape(-1)
        views = roll_views(batch.canvases, slot, centre, centre, dy, dx, self.geometry.size)
        logits = yield views
        scored = classify(logits, batch.labels.repeat_interleave(2))
        pred = scored.pred.view(count, 2)
        self.keep(
            batch.indices,
            pred=pred,
            agree=pred[:, 0] == pred[:, 1],
            correct=scored.correct1.view(count, 2),
        )
