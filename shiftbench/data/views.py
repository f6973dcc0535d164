"""On-device views of canvases: crops, circular rolls and black-filled translations.

Every view is a window of the model's input size read from a canvas by index gathering, so a
whole batch of views of any kind is one gather kernel on the device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Geometry:
    """A window of `size` pixels inside a square canvas of `size + max_shift` pixels."""

    size: int
    max_shift: int

    @property
    def canvas(self) -> int:
        """Side of the canvas: the model's input size plus the largest shift."""
        return self.size + self.max_shift

    @property
    def centre(self) -> int:
        """Offset of the centre window, by torchvision CenterCrop's rounding rule."""
        return round(self.max_shift / 2.0)

    def image_side(self, canvas_mode: str) -> int:
        """The side an image's shorter side is resized to before its canvas is cut: the canvas
        itself, or the window when the canvas is the image framed in black ("pad")."""
        return self.size if canvas_mode == "pad" else self.canvas

    def border(self, canvas_mode: str) -> tuple[int, int]:
        """Black border (before, after the image, on each axis) of a canvas made by
        `canvas_mode`: none when the image is resized to the canvas; with "pad", the margin
        around the centre window, so that the centre window is the image itself."""
        return (self.centre, self.max_shift - self.centre) if canvas_mode == "pad" else (0, 0)


def unit_range(x: torch.Tensor) -> torch.Tensor:
    """Float views in 0..1: uint8 ones scaled by 1/255 (the one conversion every path uses,
    so a view gives the same input bits whichever batch it travels in)."""
    return x.float().mul_(1.0 / 255.0) if x.dtype == torch.uint8 else x


def truncated_uint8(x: torch.Tensor) -> torch.Tensor:
    """Floats in 0..1 as the uint8 image the original ImageNet-C code holds (a PIL image made
    from them): x * 255 clamped and truncated, as the released files were saved."""
    return (x * 255.0).clamp(0, 255).to(torch.uint8)


class Views(ABC):
    """A lazy list of model inputs; the engine materialises it one forward batch at a time."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def materialize(self, start: int, stop: int) -> torch.Tensor:
        """Views `start:stop` as [n, 3, S, S], uint8 (0..255) or float (0..1)."""


class BlockViews(Views):
    """Views laid out in blocks of one view per window: view v is window v % B made by block
    v // B (an entry of a plan), materialised a block at a time by `block`."""

    def __init__(self, windows: torch.Tensor, blocks: int) -> None:
        self.windows = windows
        self.blocks = blocks

    def __len__(self) -> int:
        return self.blocks * self.windows.shape[0]

    @abstractmethod
    def block(self, block: int, first: int, last: int) -> torch.Tensor:
        """Windows `first:last` made by plan entry `block`."""

    def materialize(self, start: int, stop: int) -> torch.Tensor:
        count = self.windows.shape[0]
        parts = []
        for block in range(start // count, (stop - 1) // count + 1):
            first = max(start - block * count, 0)
            last = min(stop - block * count, count)
            parts.append(self.block(block, first, last))
        return torch.cat(parts) if len(parts) > 1 else parts[0]


class GatheredViews(Views):
    """Windows read from canvases: view v reads canvas `slot[v]` at `rows[v]` x `cols[v]`.

    With `filled`, an index of -1 reads black (zero): how translations fill their border.
    """

    def __init__(
        self,
        canvases: torch.Tensor,
        slot: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        filled: bool = False,
    ) -> None:
        self.canvases = canvases
        self.slot = slot
        self.rows = rows
        self.cols = cols
        self.filled = filled

    def __len__(self) -> int:
        return int(self.slot.numel())

    def materialize(self, start: int, stop: int) -> torch.Tensor:
        slot, rows, cols = self.slot[start:stop], self.rows[start:stop], self.cols[start:stop]
        out = self.canvases[
            slot[:, None, None], :, rows.clamp(min=0)[:, :, None], cols.clamp(min=0)[:, None, :]
        ]
        if self.filled:
            inside = (rows >= 0)[:, :, None] & (cols >= 0)[:, None, :]
            out = out * inside[..., None].to(out.dtype)
        return out.permute(0, 3, 1, 2)


def _axis(size: int, device: torch.device) -> torch.Tensor:
    return torch.arange(size, device=device)


def crop_views(
    canvases: torch.Tensor, slot: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> GatheredViews:
    """Windows `canvas[slot][:, top:top+size, left:left+size]`, one per entry."""
    axis = _axis(size, canvases.device)
    return GatheredViews(canvases, slot, top[:, None] + axis, left[:, None] + axis)


def centre_views(canvases: torch.Tensor, geometry: Geometry) -> GatheredViews:
    """Each canvas's centre window of `geometry`, one view per canvas."""
    count, device = canvases.shape[0], canvases.device
    centre = torch.full((count,), geometry.centre, device=device)
    slot = torch.arange(count, device=device)
    return crop_views(canvases, slot, centre, centre, geometry.size)


def roll_views(
    canvases: torch.Tensor,
    slot: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    dy: torch.Tensor,
    dx: torch.Tensor,
    size: int,
) -> GatheredViews:
    """The window at (top, left) circularly shifted by (dy, dx), as `torch.roll` would."""
    axis = _axis(size, canvases.device)
    rows = top[:, None] + (axis - dy[:, None]) % size
    cols = left[:, None] + (axis - dx[:, None]) % size
    return GatheredViews(canvases, slot, rows, cols)


def translate_views(
    canvases: torch.Tensor,
    slot: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    dy: torch.Tensor,
    dx: torch.Tensor,
    size: int,
) -> GatheredViews:
    """The window at (top, left) moved by (dy, dx) within its frame; uncovered pixels are black."""
    axis = _axis(size, canvases.device)
    source_rows = axis - dy[:, None]
    source_cols = axis - dx[:, None]
    rows = torch.where((source_rows >= 0) & (source_rows < size), top[:, None] + source_rows, -1)
    cols = torch.where((source_cols >= 0) & (source_cols < size), left[:, None] + source_cols, -1)
    return GatheredViews(canvases, slot, rows, cols, filled=True)


class EmbeddedViews(Views):
    """Small images pasted into black windows of side `size`: view v is `images[scale[v]]`
    [slot[v]] ([B, 3, w, w], float) with its top-left corner at (position[v], position[v])."""

    def __init__(
        self,
        images: list[torch.Tensor],
        size: int,
        slot: torch.Tensor,
        scale: torch.Tensor,
        position: torch.Tensor,
    ) -> None:
        self.images, self.size = images, size
        self.slot, self.scale, self.position = slot, scale, position

    def __len__(self) -> int:
        return int(self.slot.numel())

    def materialize(self, start: int, stop: int) -> torch.Tensor:
        slot, scale = self.slot[start:stop], self.scale[start:stop]
        position = self.position[start:stop]
        first = self.images[0]
        out = first.new_zeros((stop - start, first.shape[1], self.size, self.size))
        for j, images in enumerate(self.images):
            side = images.shape[-1]
            for at in position[scale == j].unique().tolist():
                chosen = ((scale == j) & (position == at)).nonzero().squeeze(1)
                out[chosen, :, at : at + side, at : at + side] = images[slot[chosen]]
        return out
