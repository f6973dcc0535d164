"""Adaptive polyphase sampling (Chaman & Dokmanic, "Truly shift-invariant convolutional
neural networks", CVPR 2021).

APS subsamples by keeping, per sample, the polyphase component with the largest l2 norm
(over channels and space), optionally after a binomial blur at stride 1. With circular
padding in every convolution and pool, a network built from these is exactly invariant to
circular shifts of its input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blurpool import BlurPool


class ApsPool(nn.Module):
    """Keep the polyphase component of largest l2 norm; output size ceil(H / stride).

    A layer built with `leader` reuses the leader's choice of the same forward pass instead of
    choosing its own: a residual shortcut must pick the component its main branch picked, or
    the two branches no longer line up after a shift.
    """

    def __init__(
        self,
        channels: int,
        stride: int = 2,
        filt_size: int = 1,
        pad_type: str = "circular",
        leader: ApsPool | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.stride = stride
        self.filt_size = filt_size
        self.blur = BlurPool(channels, filt_size, 1, pad_type) if filt_size > 1 else None
        self._leader = [leader] if leader is not None else []
        self.choice: torch.Tensor | None = None

    def extra_repr(self) -> str:
        follows = ", follows its block's main branch" if self._leader else ""
        return f"{self.channels}, stride={self.stride}, filt_size={self.filt_size}{follows}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.blur is not None:
            x = self.blur(x)
        s = self.stride
        if x.shape[-1] % s or x.shape[-2] % s:
            x = F.pad(x, (0, -x.shape[-1] % s, 0, -x.shape[-2] % s), mode="circular")
        n, c, h, w = x.shape
        # component (i, j) is x[..., i::s, j::s]: a view [n, c, h/s, s, w/s, s] holds them all
        phases = x.reshape(n, c, h // s, s, w // s, s)
        if self._leader:
            choice = self._leader[0].choice
        else:
            # l2 norm of component (i, j): [n, s, s], one fp32 reduction without a squared copy
            norms = torch.linalg.vector_norm(phases, dim=(1, 2, 4), dtype=torch.float32)
            choice = norms.flatten(1).argmax(dim=1)
        self.choice = choice
        batch = torch.arange(n, device=x.device)
        return phases.permute(0, 3, 5, 1, 2, 4)[batch, choice // s, choice % s]
