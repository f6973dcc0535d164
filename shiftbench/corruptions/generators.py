"""Where random corruptions draw from: one generator for a batch, or one per image."""

from __future__ import annotations

from collections.abc import Callable

import torch

Generators = torch.Generator | list[torch.Generator] | None


def per_image(
    x: torch.Tensor, generator: Generators, draw: Callable[..., torch.Tensor]
) -> torch.Tensor:
    """`draw(shape, generator)` for the batch, or image by image from a list of generators, so
    that each image's draws depend on its own generator only."""
    if isinstance(generator, list):
        return torch.stack([draw(x.shape[1:], g) for g in generator])
    return draw(x.shape, generator)
