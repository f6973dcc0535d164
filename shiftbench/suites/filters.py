"""Filter smoothness: the normalised total variation of every learned spatial conv filter.

For one filter w (kh x kw taps), TV(w) = (sum |w[i, j+1] - w[i, j]| + sum |w[i+1, j] - w[i, j]|)
/ sum |w[i, j]|: 0 for a constant filter, at most 4 (each tap has at most four neighbours),
4 (k - 1) / k for a k x k checkerboard, the largest value among filters whose taps all have the
same magnitude. Each (output, input) channel pair of a conv weight is one filter; 1x1 convs
have no spatial neighbours and are left out, as are all-zero filters (TV undefined). The
suite reads only the model, never the data: a layer's TV is the mean over its filters, the
model's the mean over all filters (Zhang (ICML 2019) shows anti-aliased training learns
smoother filters).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..stats import mean
from .base import Curve, Metric


def filter_tv(weight: torch.Tensor) -> torch.Tensor:
    """Normalised total variation of each filter of a conv weight [out, in, kh, kw], as a
    flat tensor (all-zero filters dropped)."""
    w = weight.detach().double().reshape(-1, *weight.shape[-2:])
    across = (w[:, :, 1:] - w[:, :, :-1]).abs().sum(dim=(1, 2))
    down = (w[:, 1:, :] - w[:, :-1, :]).abs().sum(dim=(1, 2))
    total = w.abs().sum(dim=(1, 2))
    keep = total > 0
    return (across + down)[keep] / total[keep]


def spatial_convs(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(name, weight) of every 2-d convolution with a kernel larger than 1x1, in module order."""
    return [
        (name, layer.weight)
        for name, layer in module.named_modules()
        if isinstance(layer, nn.modules.conv._ConvNd)
        and layer.weight is not None
        and layer.weight.dim() == 4
        and layer.weight.shape[-1] * layer.weight.shape[-2] > 1
    ]


class FiltersSuite:
    """Smoothness of the learned filters: TV per layer (a curve over layers) and overall."""

    name: ClassVar[str] = "filters"
    headline: ClassVar[str] = "tv"
    description: ClassVar[str] = (
        "normalised total variation of the learned spatial conv filters (lower: smoother)"
    )

    def measure(self, module: nn.Module) -> tuple[list[Metric], list[Curve], dict]:
        """The model's TV (mean over all filters, 95% interval over filters), the curve of
        layer means, and the layers measured."""
        layers = spatial_convs(module)
        measured = [(name, filter_tv(weight)) for name, weight in layers]
        per_layer = [(name, tv) for name, tv in measured if tv.numel()]
        if not per_layer:
            nothing = Metric(self.name, "tv", float("nan"), float("nan"), float("nan"), 0, False)
            return [nothing], [], {"layers": [], "filters": []}
        overall = mean(torch.cat([tv for _, tv in per_layer]))
        points = [mean(tv) for _, tv in per_layer]
        metric = Metric(self.name, "tv", overall.value, overall.low, overall.high, overall.n, False)
        curve = Curve(
            self.name,
            "tv",
            "layer",
            list(range(len(per_layer))),
            [p.value for p in points],
            [p.low for p in points],
            [p.high for p in points],
            [p.n for p in points],
            False,
        )
        settings = {
            "layers": [name for name, _ in per_layer],
            "filters": [int(tv.numel()) for _, tv in per_layer],
        }
        return [metric], [curve], settings
