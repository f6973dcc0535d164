"""Noise corruptions: Gaussian, shot (Poisson), impulse (salt and pepper), speckle."""

from __future__ import annotations

import torch

from .generators import Generators, per_image

GAUSSIAN = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT = (60, 25, 12, 5, 3)
IMPULSE = (0.03, 0.06, 0.09, 0.17, 0.27)
SPECKLE = (0.15, 0.2, 0.35, 0.45, 0.6)


def _normal(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    return per_image(
        x, generator, lambda shape, g: torch.randn(shape, generator=g, device=x.device)
    )


def _uniform(x: torch.Tensor, generator: Generators, count: int) -> torch.Tensor:
    return per_image(
        x,
        generator,
        lambda shape, g: torch.rand((count, *shape), generator=g, device=x.device),
    )


def gaussian_noise(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """x + N(0, c) per value, clipped."""
    return (x + GAUSSIAN[severity - 1] * _normal(x, generator)).clamp(0, 1)


def shot_noise(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Poisson(x * c) / c, clipped."""
    c = SHOT[severity - 1]
    if isinstance(generator, list):
        counts = torch.stack(
            [torch.poisson(i * c, generator=g) for i, g in zip(x, generator, strict=True)]
        )
    else:
        counts = torch.poisson(x * c, generator=generator)
    return (counts / c).clamp(0, 1)


def impulse_noise(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Salt and pepper on each value (channels independently): a fraction c flipped, half to 1."""
    draws = _uniform(x, generator, 2)
    if isinstance(generator, list):
        draws = draws.transpose(0, 1)
    flipped, salted = draws[0] < IMPULSE[severity - 1], draws[1] < 0.5
    x = torch.where(flipped & salted, torch.ones_like(x), x)
    return torch.where(flipped & ~salted, torch.zeros_like(x), x)


def speckle_noise(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """x + x * N(0, c), clipped."""
    return (x + x * SPECKLE[severity - 1] * _normal(x, generator)).clamp(0, 1)
