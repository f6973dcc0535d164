"""Digital corruptions: contrast, pixelate, JPEG compression, and the extra saturate."""

from __future__ import annotations

import torch

from .color import hsv_to_rgb, rgb_to_hsv
from .generators import Generators
from .resample import box_resize

CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
JPEG_QUALITY = (25, 18, 15, 10, 7)
SATURATE = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))


def contrast(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """(x - mean) * c + mean, the mean per image and channel."""
    means = x.mean(dim=(2, 3), keepdim=True)
    return ((x - means) * CONTRAST[severity - 1] + means).clamp(0, 1)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """The original's uint8 image (it works on the PIL image): truncation of x * 255."""
    return (x * 255.0).clamp(0, 255).to(torch.uint8)


def pixelate(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Pillow BOX resize down to int(side * c) and back, on the 8-bit image."""
    height, width = x.shape[-2:]
    c = PIXELATE[severity - 1]
    small = box_resize(_to_uint8(x).float() / 255.0, int(height * c), int(width * c))
    return box_resize(small, height, width)


def jpeg_compression(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Encode and decode the 8-bit image as JPEG at quality 25 18 15 10 7 (libjpeg on the CPU,
    nvJPEG where the images are on a CUDA device)."""
    from torchvision.io import decode_jpeg, encode_jpeg

    images = list(_to_uint8(x).unbind(0))
    encoded = encode_jpeg(images, quality=JPEG_QUALITY[severity - 1])
    decoded = decode_jpeg(encoded, device=x.device)
    return torch.stack(decoded).to(x.dtype) / 255.0


def saturate(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """HSV saturation S * c0 + c1, clipped (scikit-image's HSV: grey turns red when c1 > 0)."""
    scale, shift = SATURATE[severity - 1]
    hsv = rgb_to_hsv(x)
    hsv = torch.stack([hsv[:, 0], (hsv[:, 1] * scale + shift).clamp(0, 1), hsv[:, 2]], dim=1)
    return hsv_to_rgb(hsv).clamp(0, 1)
