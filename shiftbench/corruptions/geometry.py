"""Resampling with the border rules of OpenCV and SciPy: reflected indices and bilinear taps."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reflect_index(index: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Map any integer index into 0..size-1 by reflection, as far out as needed.

    `symmetric` repeats the edge pixel (d c b a | a b c d: SciPy's 'reflect', NumPy's
    'symmetric'); `reflect101` does not (c b | a b c d: OpenCV's default, NumPy's 'reflect').
    """
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * size if mode == "symmetric" else 2 * size - 2
    index = torch.remainder(index, period)
    mirror = period - 1 - index if mode == "symmetric" else period - index
    return torch.where(index >= size, mirror, index)


def bilinear(
    image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, mode: str
) -> torch.Tensor:
    """Sample [N, C, H, W] at fractional (rows, cols) [N, h, w], borders extended by `mode`."""
    n, channels, height, width = image.shape
    top, left = torch.floor(rows), torch.floor(cols)
    down, right = rows - top, cols - left
    top, left = top.long(), left.long()
    flat = image.reshape(n, channels, height * width)

    def tap(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        r, c = reflect_index(r, height, mode), reflect_index(c, width, mode)
        index = (r * width + c).reshape(n, 1, -1).expand(-1, channels, -1)
        return flat.gather(2, index).reshape(n, channels, *rows.shape[1:])

    down, right = down[:, None], right[:, None]
    upper = tap(top, left) * (1 - right) + tap(top, left + 1) * right
    lower = tap(top + 1, left) * (1 - right) + tap(top + 1, left + 1) * right
    return upper * (1 - down) + lower * down


def gaussian_smooth(field: torch.Tensor, sigma: float, truncate: float, mode: str) -> torch.Tensor:
    """scipy.ndimage.gaussian_filter of [N, H, W] fields, borders reflected by `mode` however
    far the kernel reaches."""
    radius = int(truncate * sigma + 0.5)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=field.dtype) / sigma) ** 2)
    taps = (taps / taps.sum()).to(field.device)
    kernel = taps.flip(0)[None, None]
    for _ in range(2):  # smooth along the last axis, then transpose: rows, then columns
        n, height, width = field.shape
        index = reflect_index(
            torch.arange(-radius, width + radius, device=field.device), width, mode
        )
        padded = field.index_select(2, index).reshape(n * height, 1, -1)
        field = F.conv1d(padded, kernel).reshape(n, height, width).transpose(1, 2)
    return field.contiguous()
