"""RGB <-> HSV on [N, 3, H, W] tensors, with scikit-image's conventions (used by ImageNet-C)."""

from __future__ import annotations

import torch


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] as skimage.color.rgb2hsv: grey pixels get hue 0 and saturation 0; where
    channels tie for the maximum, blue wins over green over red."""
    r, g, b = rgb.unbind(1)
    value = rgb.amax(dim=1)
    delta = value - rgb.amin(dim=1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    saturation = torch.where(delta > 0, delta / torch.where(value > 0, value, 1.0), 0.0)
    hue = (g - b) / safe
    hue = torch.where(g == value, 2.0 + (b - r) / safe, hue)
    hue = torch.where(b == value, 4.0 + (r - g) / safe, hue)
    hue = torch.where(delta > 0, torch.remainder(hue / 6.0, 1.0), 0.0)
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """RGB from HSV as skimage.color.hsv2rgb."""
    h, s, v = hsv.unbind(1)
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    sector = torch.remainder(sector, 6).long()
    choices = torch.stack(
        [
            torch.stack([v, t, p], 1),
            torch.stack([q, v, p], 1),
            torch.stack([p, v, t], 1),
            torch.stack([p, q, v], 1),
            torch.stack([t, p, v], 1),
            torch.stack([v, p, q], 1),
        ]
    )
    index = sector[None, :, None].expand(1, -1, 3, -1, -1)
    return choices.gather(0, index)[0]
