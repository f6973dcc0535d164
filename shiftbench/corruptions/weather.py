"""Weather corruptions: brightness."""

from __future__ import annotations

import torch

from .color import hsv_to_rgb, rgb_to_hsv
from .generators import Generators

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)


def brightness(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """HSV value V + c, clipped."""
    hsv = rgb_to_hsv(x)
    value = (hsv[:, 2] + BRIGHTNESS[severity - 1]).clamp(0, 1)
    return hsv_to_rgb(torch.stack([hsv[:, 0], hsv[:, 1], value], dim=1)).clamp(0, 1)
