"""Pillow's BOX resampling as matrices, so `x.resize(size, Image.BOX)` runs batched on a device.

Pillow resizes 8-bit images in two passes, horizontal then vertical, each rounding to uint8;
the coefficients below are Pillow's (`precompute_coeffs` with the box filter).
"""

from __future__ import annotations

import torch


def box_weights(size_in: int, size_out: int) -> torch.Tensor:
    """[size_out, size_in] weights of Pillow's BOX filter from size_in to size_out pixels."""
    scale = size_in / size_out
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    for out in range(size_out):
        centre = (out + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), size_in)
        taps = []
        for i in range(first, last):
            position = (i - centre + 0.5) / filterscale
            taps.append(1.0 if -0.5 < position <= 0.5 else 0.0)
        total = sum(taps)
        for i, tap in zip(range(first, last), taps, strict=True):
            weights[out, i] = tap / total if total else 0.0
    return weights


def _round_uint8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x * 255.0 + 0.5).clamp(0, 255) / 255.0


def box_resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, C, H, W] in [0, 1] resized like Pillow's 8-bit BOX resize (rounded per pass)."""
    rows = box_weights(x.shape[-2], height).to(x.device, torch.float32)
    cols = box_weights(x.shape[-1], width).to(x.device, torch.float32)
    if width != x.shape[-1]:
        x = _round_uint8(torch.einsum("nchw,vw->nchv", x, cols))
    if height != x.shape[-2]:
        x = _round_uint8(torch.einsum("nchw,uh->ncuw", x, rows))
    return x
