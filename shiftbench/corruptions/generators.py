"""Where random corruptions draw from: one generator for a batch, or one per image."""

from __future__ import annotations

from collections.abc import Callable

import torch

Generators = torch.Generator | list[torch.Generator] | None


def sample(
    batch: int,
    shape: tuple[int, ...],
    generator: Generators,
    draw: Callable[[tuple[int, ...], torch.Generator | None], torch.Tensor],
) -> torch.Tensor:
    """[batch, *shape] from `draw(shape, generator)`: in one call, or image by image from a list
    of generators, so that each image's draws depend on its own generator only."""
    if isinstance(generator, list):
        return torch.stack([draw(shape, g) for g in generator])
    return draw((batch, *shape), generator)


def per_image(
    x: torch.Tensor, generator: Generators, draw: Callable[..., torch.Tensor]
) -> torch.Tensor:
    """Draws shaped like the batch `x` (see `sample`)."""
    return sample(x.shape[0], tuple(x.shape[1:]), generator, draw)
