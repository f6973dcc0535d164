"""Blur corruptions computed exactly as the original: Gaussian, glass, defocus (disk), motion,
zoom."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .generators import Generators, sample

GAUSSIAN_SIGMA = (1, 2, 3, 4, 6)
GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, delta, passes
MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # ImageMagick radius, sigma
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


def glass_pass(x: torch.Tensor, offsets: torch.Tensor, delta: int) -> torch.Tensor:
    """One pass of the original's local pixel exchange, exactly, in parallel.

    The original walks h, w from size-delta down to delta+1 and sets pixel (h, w) to the
    value its neighbour (h + dy, w + dx) holds at that moment (the numpy "swap" copies). So a
    pixel ends with its source's final value when the source was visited earlier, else with
    the source's current value: following sources while each was visited before the one that
    reads it, the first source visited later (or never) gives the value. Pointer doubling
    follows those chains for every pixel at once. `offsets` [N, K, 2] holds (dx, dy) for the
    visited pixels in visiting order.
    """
    n, _, size, _ = x.shape
    span = torch.arange(size - delta, delta, -1, device=x.device)
    rows = span.repeat_interleave(len(span))
    cols = span.repeat(len(span))
    visit = torch.full((size * size,), -1, dtype=torch.long, device=x.device)
    pixel = rows * size + cols
    visit[pixel] = torch.arange(len(pixel), device=x.device)
    source = (rows + offsets[..., 1]) * size + (cols + offsets[..., 0])
    # link[p]: where p's value comes from; done[p]: the link is final (source visited later)
    link = torch.arange(size * size, device=x.device).repeat(n, 1)
    done = torch.ones_like(link, dtype=torch.bool)
    link[:, pixel] = source
    source_visit = visit[source]
    done[:, pixel] = (source_visit < 0) | (source_visit >= visit[pixel])  # later, or itself
    while not bool(done.all()):
        link_next = link.gather(1, link)
        done_next = done.gather(1, link)
        link = torch.where(done, link, link_next)
        done = done | done_next
    flat = x.reshape(n, x.shape[1], size * size)
    return flat.gather(2, link[:, None].expand(-1, x.shape[1], -1)).reshape(x.shape)


def glass_offsets(
    count: int, size: int, delta: int, passes: int, generator: Generators, device: torch.device
) -> torch.Tensor:
    """The random (dx, dy), uniform in [-delta, delta - 1], of every visited pixel and pass:
    [count, passes, visited, 2]."""
    visited = (size - 2 * delta) ** 2

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.randint(-delta, delta, shape, generator=g, device=device)

    return sample(count, (passes, visited, 2), generator, draw)


def glass_with(x: torch.Tensor, severity: int, offsets: torch.Tensor) -> torch.Tensor:
    """Glass blur given its random offsets: blur, truncate to 8 bits, exchange, blur again."""
    sigma, delta, passes = GLASS[severity - 1]
    image = torch.floor(gaussian_filter(x, sigma) * 255) / 255
    for step in range(passes):
        image = glass_pass(image, offsets[:, step], delta)
    return gaussian_filter(image, sigma).clamp(0, 1)


def glass_blur(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Blur, locally exchange pixels in the original's raster order, blur again."""
    _, delta, passes = GLASS[severity - 1]
    offsets = glass_offsets(x.shape[0], x.shape[-1], delta, passes, generator, x.device)
    return glass_with(x, severity, offsets)


def motion_kernel(radius: int, sigma: float) -> torch.Tensor:
    """ImageMagick's one-sided motion-blur weights: exp(-i^2 / 2 sigma^2), i = 0..2 radius."""
    taps = torch.arange(2 * radius + 1, dtype=torch.float64)
    weights = torch.exp(-(taps**2) / (2 * sigma**2))
    return weights / weights.sum()


def motion_offsets(width: int, angle: float) -> list[tuple[int, int]]:
    """ImageMagick's (dx, dy) of tap i along `angle` degrees: ceil(i * cos - 0.5),
    ceil(i * sin - 0.5)."""
    x, y = width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle))
    length = math.hypot(x, y)
    return [
        (math.ceil(i * y / length - 0.5), math.ceil(i * x / length - 0.5)) for i in range(width)
    ]


def motion_with(x: torch.Tensor, radius: int, sigma: float, angles: list[float]) -> torch.Tensor:
    """ImageMagick's MotionBlurImage of each image along its angle (edge pixels repeated),
    written as 8 bits as the original's PNG round trip does."""
    n, channels, height, width = x.shape
    weights = motion_kernel(radius, sigma).to(x.device, x.dtype)
    rows = torch.arange(height, device=x.device)[:, None]
    cols = torch.arange(width, device=x.device)[None, :]
    steps = [motion_offsets(len(weights), angle) for angle in angles]
    flat = x.reshape(n, channels, height * width)
    out = torch.zeros_like(flat)
    for tap, weight in enumerate(weights):
        dx = torch.tensor([s[tap][0] for s in steps], device=x.device)[:, None, None]
        dy = torch.tensor([s[tap][1] for s in steps], device=x.device)[:, None, None]
        index = (rows + dy).clamp(0, height - 1) * width + (cols + dx).clamp(0, width - 1)
        out += weight * flat.gather(2, index.reshape(n, 1, -1).expand(-1, channels, -1))
    return (torch.floor(out * 255 + 0.5) / 255).reshape(x.shape).clamp(0, 1)


def random_angles(
    count: int, low: float, high: float, generator: Generators, device: torch.device
) -> list[float]:
    """Angles uniform in [low, high) degrees, one per image (drawn on `device`, where the
    generators live)."""

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.rand(shape, generator=g, dtype=torch.float64, device=device)

    return (low + (high - low) * sample(count, (), generator, draw)).tolist()


def motion_blur(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Motion blur (ImageMagick's) along a random angle in [-45, 45) degrees."""
    radius, sigma = MOTION[severity - 1]
    angles = random_angles(x.shape[0], -45, 45, generator, x.device)
    return motion_with(x, radius, sigma, angles)
