"""Digital corruptions: contrast, elastic transform, pixelate, JPEG, and the extra saturate."""

from __future__ import annotations

import torch

from ..data.jpeg import jpeg_round_trip
from ..data.views import truncated_uint8
from .color import hsv_to_rgb, rgb_to_hsv
from .generators import Generators, sample
from .geometry import bilinear, gaussian_smooth
from .resample import box_resize

CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
JPEG_QUALITY = (25, 18, 15, 10, 7)
SATURATE = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))
# (alpha, sigma, affine): the original's 244 * (...) ("244 should have been 224")
ELASTIC = (
    (244 * 2, 244 * 0.7, 244 * 0.1),
    (244 * 2, 244 * 0.08, 244 * 0.2),
    (244 * 0.05, 244 * 0.01, 244 * 0.02),
    (244 * 0.07, 244 * 0.01, 244 * 0.02),
    (244 * 0.12, 244 * 0.01, 244 * 0.02),
)


def contrast(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """(x - mean) * c + mean, the mean per image and channel."""
    means = x.mean(dim=(2, 3), keepdim=True)
    return ((x - means) * CONTRAST[severity - 1] + means).clamp(0, 1)


def pixelate(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Pillow BOX resize down to int(side * c) and back, on the 8-bit image."""
    height, width = x.shape[-2:]
    c = PIXELATE[severity - 1]
    small = box_resize(truncated_uint8(x).float() / 255.0, int(height * c), int(width * c))
    return box_resize(small, height, width)


def jpeg_compression(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Encode and decode the 8-bit image as JPEG at quality 25 18 15 10 7 (libjpeg-turbo on
    the CPU, nvJPEG where the images are on a CUDA device)."""
    return jpeg_round_trip(x, JPEG_QUALITY[severity - 1])


def saturate(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """HSV saturation S * c0 + c1, clipped (scikit-image's HSV: grey turns red when c1 > 0)."""
    scale, shift = SATURATE[severity - 1]
    hsv = rgb_to_hsv(x)
    hsv = torch.stack([hsv[:, 0], (hsv[:, 1] * scale + shift).clamp(0, 1), hsv[:, 2]], dim=1)
    return hsv_to_rgb(hsv).clamp(0, 1)


def _affine_points(size: int) -> torch.Tensor:
    """The original's three anchor points (x, y) around the centre, as float32."""
    centre, third = float(size // 2), float(size // 3)
    return torch.tensor(
        [[centre + third, centre + third], [centre + third, centre - third], [centre - third] * 2],
        dtype=torch.float32,
    ).double()


def elastic_with(
    x: torch.Tensor,
    severity: int,
    affine_noise: torch.Tensor,
    dx_noise: torch.Tensor,
    dy_noise: torch.Tensor,
) -> torch.Tensor:
    """The elastic transform given its random numbers: anchor offsets [N, 3, 2] in
    (-affine, affine) and two fields [N, H, W] in (-1, 1).

    An affine warp moving the anchors by their offsets (bilinear, OpenCV's reflect-101 border,
    coordinates at OpenCV's 1/32 pixel), then a displacement by the fields smoothed with a
    Gaussian (sigma, truncate 3, mirrored borders) and scaled by alpha (bilinear, SciPy's
    mirrored border)."""
    alpha, sigma, _ = ELASTIC[severity - 1]
    n, _, height, width = x.shape
    source = _affine_points(width).to(x.device)
    target = source + affine_noise.double()
    ones = torch.ones(n, 3, 1, dtype=torch.float64, device=x.device)
    # forward map M (target = M @ [source, 1]); the warp samples at M^-1 of each pixel
    forward = torch.linalg.solve(torch.cat([source.expand(n, 3, 2), ones], 2), target)
    linear, shift = forward[:, :2].transpose(1, 2), forward[:, 2]
    inverse = torch.linalg.inv(linear)
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=torch.float64, device=x.device),
        torch.arange(width, dtype=torch.float64, device=x.device),
        indexing="ij",
    )
    points = torch.stack([cols, rows], -1).reshape(1, -1, 2) - shift[:, None]
    src = points @ inverse.transpose(1, 2)
    src = torch.round(src * 32) / 32
    src_cols, src_rows = (
        src[..., 0].reshape(n, height, width),
        src[..., 1].reshape(n, height, width),
    )
    warped = bilinear(x.double(), src_rows, src_cols, "reflect101")
    dx = gaussian_smooth(dx_noise.double(), sigma, 3.0, "symmetric") * alpha
    dy = gaussian_smooth(dy_noise.double(), sigma, 3.0, "symmetric") * alpha
    moved = bilinear(warped, rows + dy.float().double(), cols + dx.float().double(), "symmetric")
    return moved.clamp(0, 1).to(x.dtype)


def elastic_transform(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Random affine of the corners and a smoothed random displacement field."""
    _, _, affine = ELASTIC[severity - 1]
    n, _, height, width = x.shape

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.rand(shape, generator=g, device=x.device, dtype=torch.float64)

    noise = sample(n, (6 + 2 * height * width,), generator, draw) * 2 - 1
    affine_noise = (noise[:, :6] * affine).reshape(n, 3, 2)
    fields = noise[:, 6:].reshape(n, 2, height, width)
    return elastic_with(x, severity, affine_noise, fields[:, 0], fields[:, 1])
