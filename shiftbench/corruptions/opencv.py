"""The few OpenCV image operations that spatter needs, batched in torch on [N, 1, H, W] tensors
holding 8-bit values: Canny edges, the 5x5 chamfer distance transform, histogram
equalisation, and 3x3 filters with OpenCV's reflect-101 border."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_SHIFT = 15
_TG22 = int(0.4142135623730950488016887242097 * (1 << _SHIFT) + 0.5)


def filter3x3(x: torch.Tensor, kernel: torch.Tensor, border: str = "reflect") -> torch.Tensor:
    """Correlate with a 3x3 kernel (cv2.filter2D); 'reflect' is OpenCV's reflect-101."""
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=border), kernel.to(x)[None, None])


def box3(x: torch.Tensor) -> torch.Tensor:
    """cv2.blur with a 3x3 box."""
    return filter3x3(x, torch.full((3, 3), 1.0 / 9.0, dtype=torch.float64))


def canny(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """cv2.Canny(x, low, high): 3x3 Sobel (edges replicated), L1 magnitude, OpenCV's
    fixed-point non-maximum suppression, hysteresis over 8-neighbours. Returns a bool mask."""
    sobel = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64
    )
    dx = filter3x3(x, sobel, "replicate")
    dy = filter3x3(x, sobel.T, "replicate")
    mag = dx.abs() + dy.abs()
    padded = F.pad(mag, (1, 1, 1, 1))
    height, width = x.shape[-2:]

    def at(row: int, col: int) -> torch.Tensor:
        return padded[..., 1 + row : 1 + row + height, 1 + col : 1 + col + width]

    ax, ay = dx.abs().long(), dy.abs().long() << _SHIFT
    tg22 = ax * _TG22
    tg67 = tg22 + (ax << (_SHIFT + 1))
    horizontal = (mag > at(0, -1)) & (mag >= at(0, 1))
    vertical = (mag > at(-1, 0)) & (mag >= at(1, 0))
    opposite = (dx * dy) < 0  # OpenCV: s = -1 when the gradient components differ in sign
    diagonal = torch.where(
        opposite, (mag > at(-1, 1)) & (mag > at(1, -1)), (mag > at(-1, -1)) & (mag > at(1, 1))
    )
    keep = torch.where(ay < tg22, horizontal, torch.where(ay > tg67, vertical, diagonal))
    candidate = keep & (mag > low)
    edges = candidate & (mag > high)
    while True:
        grown = (F.max_pool2d(edges.float(), 3, 1, 1) > 0) & candidate
        if torch.equal(grown, edges):
            return edges
        edges = grown


# OpenCV's 5x5 L2 chamfer mask: a = 1 (straight), b = 1.4 (diagonal), c = 2.1969 (knight)
_CHAMFER = [
    (dy, dx, cost)
    for dy in range(-2, 3)
    for dx in range(-2, 3)
    for cost in [{1: 1.0, 2: 1.4, 5: 2.1969}.get(dy * dy + dx * dx)]
    if cost is not None
]


def chamfer_distance(zero: torch.Tensor, cap: float) -> torch.Tensor:
    """cv2.distanceTransform(DIST_L2, 5) to the nearest `zero` pixel, truncated at `cap`
    (cv2.threshold THRESH_TRUNC): min-plus relaxation over the mask's 16 moves until nothing
    changes (at most cap + 1 sweeps, since every move costs at least 1)."""
    height, width = zero.shape[-2:]
    distance = torch.where(zero, 0.0, cap).to(torch.float64)
    for _ in range(int(cap) + 2):
        padded = F.pad(distance, (2, 2, 2, 2), value=cap)
        relaxed = distance
        for dy, dx, cost in _CHAMFER:
            moved = padded[..., 2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width] + cost
            relaxed = torch.minimum(relaxed, moved)
        if torch.equal(relaxed, distance):
            break
        distance = relaxed
    return distance.clamp(max=cap)


def equalize_hist(x: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist of each image: its cumulative histogram, from the first used level,
    scaled to 0..255 and rounded."""
    flat = x.flatten(1).long()
    out = torch.empty_like(flat, dtype=torch.float64)
    for i, values in enumerate(flat):
        hist = torch.bincount(values, minlength=256).double()
        first = int(torch.nonzero(hist)[0])
        total = values.numel()
        if hist[first] == total:
            out[i] = float(first)
            continue
        scale = 255.0 / (total - hist[first])
        cumulative = torch.cumsum(hist, 0) - hist[first]
        lut = torch.round(cumulative * scale).clamp(0, 255)
        lut[: first + 1] = 0
        out[i] = lut[values]
    return out.reshape(x.shape)
