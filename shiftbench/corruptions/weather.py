"""Weather corruptions: brightness, fog."""

from __future__ import annotations

import math

import torch

from .color import hsv_to_rgb, rgb_to_hsv
from .generators import Generators, sample

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))


def brightness(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """HSV value V + c, clipped."""
    hsv = rgb_to_hsv(x)
    value = (hsv[:, 2] + BRIGHTNESS[severity - 1]).clamp(0, 1)
    return hsv_to_rgb(torch.stack([hsv[:, 0], hsv[:, 1], value], dim=1)).clamp(0, 1)


def plasma_fractal(
    batch: int, mapsize: int, wibbledecay: float, generator: Generators, device: torch.device
) -> torch.Tensor:
    """The original's diamond-square height maps, [batch, mapsize, mapsize] in [0, 1]."""
    maps = torch.zeros(batch, mapsize, mapsize, dtype=torch.float64, device=device)
    wibble = 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
            return torch.rand(shape, generator=g, device=device, dtype=torch.float64)

        noise = sample(batch, tuple(total.shape[1:]), generator, draw) * 2 - 1
        return total / 4 + wibble * wibble * noise

    step = mapsize
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        squares = corners + torch.roll(corners, -1, dims=1)
        squares = squares + torch.roll(squares, -1, dims=2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres = maps[:, half::step, half::step]
        corners = maps[:, ::step, ::step]
        left = centres + torch.roll(centres, 1, dims=1) + corners + torch.roll(corners, -1, dims=2)
        maps[:, ::step, half::step] = wibbled_mean(left)
        top = centres + torch.roll(centres, 1, dims=2) + corners + torch.roll(corners, -1, dims=1)
        maps[:, half::step, ::step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    low = maps.flatten(1).amin(dim=1)[:, None, None]
    maps = maps - low
    return maps / maps.flatten(1).amax(dim=1)[:, None, None]


def fog(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Plasma-fractal haze (map side 256, or the next power of two above the image), added
    with strength c and renormalised by the image's maximum."""
    strength, decay = FOG[severity - 1]
    size = x.shape[-1]
    mapsize = max(256, 2 ** math.ceil(math.log2(size)))
    haze = plasma_fractal(x.shape[0], mapsize, decay, generator, x.device)[:, None, :size, :size]
    peak = x.flatten(1).amax(dim=1)[:, None, None, None]
    fogged = x + strength * haze.to(x.dtype)
    return (fogged * peak / (peak + strength)).clamp(0, 1)
