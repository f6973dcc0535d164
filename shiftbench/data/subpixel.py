"""Fractional (sub-pixel) translations of image windows, made on the device.

`ideal_shift` is the band-limited translation Michaeli, Michaeli & Soudry evaluate
("Alias-Free Convnets", CVPR 2023): the exact shift of the image's periodic band-limited
(DFT) interpolation, circular at the borders. Their `subpixel_shift(x, up, sx, sy)` upsamples
by zero insertion and an ideal low-pass, rolls by (-sx, -sy) and subsamples; that equals
multiplying each DFT coefficient by its phase ramp, which is what is computed here, with the
Nyquist coefficient of an even side (split half and half between +N/2 and -N/2, as their
reconstruction filter does when up * N is a multiple of 4) multiplied by cos(pi * d).
`bilinear_shift` is what a camera-like resampler does: bilinear interpolation
(`grid_sample`) with the border replicated.

Shifts (dy, dx) move the content down and right, as `torch.roll(x, (dy, dx))` does for whole
pixels: their `subpixel_shift(x, up, sx, sy)` is `ideal_shift(x, -sx / up, -sy / up)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .views import Views, unit_range

INTERPOLATIONS = ("ideal", "bilinear")


def _phase(size: int, shift: torch.Tensor, full: bool) -> torch.Tensor:
    """The multipliers [n, bins] that shift a DFT axis of `size` samples by `shift` [n]:
    exp(-2 pi i k d / size) for the signed frequency k of each bin (all bins, or the
    non-negative half of an rfft), cos(pi d) at the Nyquist bin of an even size."""
    bins = size if full else size // 2 + 1
    k = torch.arange(bins, device=shift.device, dtype=torch.float64)
    if full:
        k = torch.where(k > size // 2, k - size, k)
    angle = -2.0 * math.pi * shift.double()[:, None] * k[None, :] / size
    phase = torch.polar(torch.ones_like(angle), angle)
    if size % 2 == 0:
        phase[:, size // 2] = torch.cos(math.pi * shift.double()).to(phase.dtype)
    return phase


def ideal_shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Each image of `x` [n, C, H, W] (float) moved by (dy[i], dx[i]) pixels, fractions
    included, by band-limited interpolation with circular borders (a whole-pixel shift is
    `torch.roll`). Computed in float64 and returned in the dtype of `x`."""
    height, width = x.shape[-2:]
    spectrum = torch.fft.rfft2(x.double())
    rows = _phase(height, dy, full=True)[:, None, :, None]
    cols = _phase(width, dx, full=False)[:, None, None, :]
    return torch.fft.irfft2(spectrum * rows * cols, s=(height, width)).to(x.dtype)


def bilinear_shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Each image of `x` [n, C, H, W] moved by (dy[i], dx[i]) pixels by bilinear resampling;
    pixels that come from outside the image repeat its border."""
    count, _, height, width = x.shape
    rows = torch.arange(height, device=x.device, dtype=x.dtype)[None, :] - dy[:, None].to(x.dtype)
    cols = torch.arange(width, device=x.device, dtype=x.dtype)[None, :] - dx[:, None].to(x.dtype)
    # pixel centres in grid_sample's [-1, 1] coordinates (align_corners=False)
    grid_y = ((2 * rows + 1) / height - 1)[:, :, None].expand(count, height, width)
    grid_x = ((2 * cols + 1) / width - 1)[:, None, :].expand(count, height, width)
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


SHIFTS = {"ideal": ideal_shift, "bilinear": bilinear_shift}


class ShiftedViews(Views):
    """Windows [B, 3, S, S] (uint8 or float), view v the window `slot[v]` moved by
    (dy[v], dx[v]) pixels with the interpolation `INTERPOLATIONS[method[v]]`; method -1 is the
    window itself."""

    def __init__(
        self,
        windows: torch.Tensor,
        slot: torch.Tensor,
        dy: torch.Tensor,
        dx: torch.Tensor,
        method: torch.Tensor,
    ) -> None:
        self.windows = windows
        self.slot, self.dy, self.dx, self.method = slot, dy, dx, method

    def __len__(self) -> int:
        return int(self.slot.numel())

    def materialize(self, start: int, stop: int) -> torch.Tensor:
        out = unit_range(self.windows[self.slot[start:stop]])
        method = self.method[start:stop]
        for code, name in enumerate(INTERPOLATIONS):
            chosen = (method == code).nonzero().squeeze(1)
            if chosen.numel():
                dy, dx = self.dy[start:stop][chosen], self.dx[start:stop][chosen]
                out[chosen] = SHIFTS[name](out[chosen], dy, dx)
        return out
