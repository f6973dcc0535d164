"""ImageNet-P (Hendrycks & Dietterich, ICLR 2019): perturbation sequences and their stability
metrics, as the released code makes and scores them (`ImageNet-P/create_p/make_imagenet_p.py`,
`ImageNet-P/test.py`).

The sequences made here, on the device, are those the generation code makes from the
Resize(256) + CenterCrop(224) image itself: Gaussian noise (frame 0 the image, frames 1..30
the image plus N(0, 0.03), 0.05 or 0.08 for difficulty 1, 2, 3), shot noise (Poisson(x c) / c,
c = 300, 120, 60) and brightness (31 frames, HSV value + (i - 15) * 0.02), each frame
truncated to uint8 as the PNG frames were. The released videos were then x264-compressed,
which is not reproduced. The geometric sequences (translate, rotate, tilt, scale) warp the
whole Resize(256) image, not its centre crop, and motion blur, zoom blur and snow use
ImageMagick's motion blur; they are not made here yet.
"""

from __future__ import annotations

import torch

from ..data.views import truncated_uint8, unit_range
from .color import hsv_to_rgb, rgb_to_hsv

# test.py's perturbations; "noise" ones are scored against their first frame
PERTURBATIONS = (
    "gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow", "brightness",
    "translate", "rotate", "tilt", "scale", "speckle_noise", "gaussian_blur", "spatter", "shear",
)  # fmt: skip
ON_THE_FLY = ("gaussian_noise", "shot_noise", "brightness")
FRAMES = {"gaussian_noise": 31, "shot_noise": 31, "brightness": 31}
GAUSSIAN_STD = (0.03, 0.05, 0.08)  # gaussian_noise, gaussian_noise_2, gaussian_noise_3
SHOT_RATE = (300.0, 120.0, 60.0)


def is_noise(name: str) -> bool:
    """Whether test.py scores `name` against its first frame (its name holds "noise")."""
    return "noise" in name


def frame(
    name: str, index: int, x: torch.Tensor, difficulty: int, generators: list[torch.Generator]
) -> torch.Tensor:
    """Frame `index` of perturbation `name` of the uint8 images `x` [n, 3, H, W], as uint8;
    `generators` (one per image) draw the noise of this frame."""
    if name == "brightness":
        hsv = rgb_to_hsv(x.double() / 255.0)  # in float64 from the bytes, as numpy does
        value = (hsv[:, 2] + (index - 15) * 2 / 100.0).clamp(0, 1)
        return truncated_uint8(hsv_to_rgb(torch.stack([hsv[:, 0], hsv[:, 1], value], dim=1)))
    if index == 0:
        return x
    image = unit_range(x)
    if name == "gaussian_noise":
        noise = torch.stack([
            torch.randn(i.shape, generator=g, device=i.device)
            for i, g in zip(image, generators, strict=True)
        ])  # fmt: skip
        return truncated_uint8((image + GAUSSIAN_STD[difficulty - 1] * noise).clamp(0, 1))
    if name == "shot_noise":
        rate = SHOT_RATE[difficulty - 1]
        counts = torch.stack([
            torch.poisson(i * rate, generator=g) for i, g in zip(image, generators, strict=True)
        ])  # fmt: skip
        return truncated_uint8((counts / rate).clamp(0, 1))
    raise ValueError(f"{name} is not made on the fly")


def frame_pairs(name: str, frames: int, difficulty: int) -> tuple[list[int], list[int]]:
    """The frames test.py compares, (earlier, later): for a noise perturbation every frame
    against frame 0; otherwise consecutive frames of each subsequence i, i + d, i + 2d, ...
    for i < d, d the difficulty."""
    if is_noise(name):
        return [0] * (frames - 1), list(range(1, frames))
    first, second = [], []
    for start in range(difficulty):
        chain = list(range(start, frames, difficulty))
        first += chain[:-1]
        second += chain[1:]
    return first, second


def top5_distance(earlier: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
    """test.py's top-5 distance between two frames' logits [n, classes]: for the classes the
    earlier frame ranks 1..5 (ties in class order, as scipy's ordinal ranking breaks them),
    the sum over r of |r - min(rank in the later frame - 1, 5)|, r = 0..4."""
    top = torch.sort(-earlier, dim=1, stable=True).indices[:, :5]
    order = torch.sort(-later, dim=1, stable=True).indices
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    ranks = position.gather(1, top)  # 0-based rank in the later frame
    r = torch.arange(top.shape[1], device=top.device)
    return (r - ranks.clamp(max=5)).abs().sum(dim=1)
