"""Blur corruptions computed exactly as the original: Gaussian, defocus (disk), zoom."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .generators import Generators

GAUSSIAN_SIGMA = (1, 2, 3, 4, 6)
DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
ZOOMS = (
    (1, 1.11, 0.01),
    (1, 1.16, 0.01),
    (1, 1.21, 0.02),
    (1, 1.26, 0.02),
    (1, 1.31, 0.03),
)


def _depthwise(
    x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int, int, int], mode: str
) -> torch.Tensor:
    channels = x.shape[1]
    weight = kernel.to(x.device, x.dtype)[None, None].expand(channels, 1, *kernel.shape)
    return F.conv2d(F.pad(x, pad, mode=mode), weight, groups=channels)


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """scipy.ndimage's Gaussian: radius int(truncate * sigma + 0.5), normalised."""
    radius = int(truncate * sigma + 0.5)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    return taps / taps.sum()


def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """skimage.filters.gaussian on each channel: truncate 4, edge values repeated ('nearest')."""
    taps = gaussian_kernel_1d(sigma)
    radius = (len(taps) - 1) // 2
    x = _depthwise(x, taps[None, :], (radius, radius, 0, 0), "replicate")
    return _depthwise(x, taps[:, None], (0, 0, radius, radius), "replicate")


def gaussian_blur(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Gaussian blur with sigma 1 2 3 4 6."""
    return gaussian_filter(x, GAUSSIAN_SIGMA[severity - 1]).clamp(0, 1)


def _reflect101(array: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(array, pad, mode="reflect")


@lru_cache(maxsize=8)
def disk_kernel(radius: int, alias_blur: float) -> torch.Tensor:
    """The original's disk: a 17x17 grid (radius <= 8) or (2r+1)^2, normalised, then blurred
    by OpenCV's Gaussian of size 3 (or 5) and sigma `alias_blur`, borders reflected (101)."""
    reach, ksize = (8, 3) if radius <= 8 else (radius, 5)
    grid = np.arange(-reach, reach + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    half = (ksize - 1) // 2
    taps = np.exp(-((np.arange(ksize) - half) ** 2) / (2 * alias_blur**2)).astype(np.float64)
    taps /= taps.sum()
    padded = _reflect101(disk.astype(np.float64), half)
    rows = sum(taps[i] * padded[i : i + disk.shape[0], :] for i in range(ksize))
    blurred = sum(taps[i] * rows[:, i : i + disk.shape[1]] for i in range(ksize))
    return torch.from_numpy(blurred.astype(np.float32))


def defocus_blur(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Filter each channel with the disk kernel, borders reflected (OpenCV's reflect-101)."""
    kernel = disk_kernel(*DEFOCUS[severity - 1])
    half = (kernel.shape[0] - 1) // 2
    return _depthwise(x, kernel, (half, half, half, half), "reflect").clamp(0, 1)


def zoom_factors(severity: int) -> np.ndarray:
    """The original's zoom factors (numpy.arange, as float64)."""
    return np.arange(*ZOOMS[severity - 1])


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom the centre by `factor` (scipy.ndimage.zoom, order 1) and trim back to the size."""
    size = x.shape[-1]
    crop = int(np.ceil(size / factor))
    top = (size - crop) // 2
    zoomed_size = round(crop * factor)
    window = x[..., top : top + crop, top : top + crop]
    zoomed = F.interpolate(
        window, size=(zoomed_size, zoomed_size), mode="bilinear", align_corners=True
    )
    trim = (zoomed_size - size) // 2
    return zoomed[..., trim : trim + size, trim : trim + size]


def zoom_blur(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Average of the image and its zooms about the centre by the severity's factors."""
    factors = zoom_factors(severity)
    total = x.clone()
    for factor in factors:
        total += clipped_zoom(x, float(factor))
    return (total / (len(factors) + 1)).clamp(0, 1)
