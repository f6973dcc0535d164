"""BlurPool: low-pass filter, then subsample (Zhang, "Making Convolutional Networks
Shift-Invariant Again", ICML 2019), exactly as the paper's released layer computes it.

Not timm's `BlurPool2d`: that pads even filter sizes symmetrically, so its output is one
pixel larger (56 -> 29 at stride 2) and its released-checkpoint keys differ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShiftbenchError

BINOMIAL_TAPS: dict[int, tuple[int, ...]] = {
    1: (1,),
    2: (1, 1),
    3: (1, 2, 1),
    4: (1, 3, 3, 1),
    5: (1, 4, 6, 4, 1),
    6: (1, 5, 10, 10, 5, 1),
    7: (1, 6, 15, 20, 15, 6, 1),
}
PAD_TYPES = ("reflect", "replicate", "zero", "circular")
_TORCH_PAD_MODE = {
    "reflect": "reflect",
    "replicate": "replicate",
    "zero": "constant",
    "circular": "circular",
}


def check_filter(filter_size: int, pad_type: str) -> None:
    """Raise a clear error for a filter size outside 1..7 or an unsupported pad mode."""
    if filter_size not in BINOMIAL_TAPS:
        raise ShiftbenchError(f"anti-aliasing filter size must be 1..7, got {filter_size}")
    if pad_type not in PAD_TYPES:
        raise ShiftbenchError(f"pad type must be one of {', '.join(PAD_TYPES)}, got '{pad_type}'")


def binomial_filter(filter_size: int) -> torch.Tensor:
    """The normalised 2-D binomial kernel outer(a, a) / sum, a the taps of `filter_size`."""
    taps = torch.tensor(BINOMIAL_TAPS[filter_size], dtype=torch.float64)
    kernel = taps[:, None] * taps[None, :]
    return (kernel / kernel.sum()).float()


def pad_amounts(filter_size: int, pad_off: int = 0) -> tuple[int, int, int, int]:
    """(left, right, top, bottom): floor((k-1)/2) before, ceil((k-1)/2) after, plus pad_off."""
    before = (filter_size - 1) // 2 + pad_off
    after = math.ceil((filter_size - 1) / 2) + pad_off
    return before, after, before, after


class BlurPool(nn.Module):
    """Depthwise binomial blur then subsampling by `stride`; output size ceil(H / stride).

    The filter is a buffer named `filt` of shape [channels, 1, k, k], as in the released
    antialiased-cnns layer, so their checkpoints load; `persistent=False` keeps it out of the
    state dict (for timm models, whose checkpoints have no filter keys). `where` names the
    layer in errors.
    """

    def __init__(
        self,
        channels: int,
        filt_size: int = 4,
        stride: int = 2,
        pad_type: str = "reflect",
        pad_off: int = 0,
        persistent: bool = True,
    ) -> None:
        super().__init__()
        check_filter(filt_size, pad_type)
        self.channels = channels
        self.filt_size = filt_size
        self.stride = stride
        self.pad_type = pad_type
        self.pad_off = pad_off
        self.pad_sizes = pad_amounts(filt_size, pad_off)
        self.where = "BlurPool"
        kernel = binomial_filter(filt_size)[None, None].repeat(channels, 1, 1, 1)
        self.register_buffer("filt", kernel, persistent=persistent)

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, filt_size={self.filt_size}, stride={self.stride}, "
            f"pad_type='{self.pad_type}'"
        )

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not any(self.pad_sizes):
            return x
        if self.pad_type == "reflect" and min(x.shape[-2:]) <= max(self.pad_sizes):
            raise ShiftbenchError(
                f"{self.where}: a {x.shape[-2]}x{x.shape[-1]} feature map is too small for "
                f"reflect padding of a size-{self.filt_size} filter (use a larger input, "
                "a smaller filter, or {aa_pad} replicate/zero)", "aa_pad",
            )  # fmt: skip
        return F.pad(x, self.pad_sizes, mode=_TORCH_PAD_MODE[self.pad_type])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.filt_size == 1:
            return self._pad(x)[:, :, :: self.stride, :: self.stride]
        weight = self.filt.to(dtype=x.dtype) if self.filt.dtype != x.dtype else self.filt
        if weight.shape[0] != x.shape[1]:
            # every channel gets the same blur; a layer built for another channel count (timm
            # passes some blocks' output width) must not duplicate or drop channels
            weight = weight[:1].expand(x.shape[1], -1, -1, -1)
        return F.conv2d(self._pad(x), weight, stride=self.stride, groups=x.shape[1])


def blurpool_class(filt_size: int, pad_type: str) -> type[nn.Module]:
    """A BlurPool class fixed to a filter, called as `cls(channels=C, stride=s)` like timm's
    `aa_layer` (timm needs a class, not a partial); its filter is kept out of state dicts."""

    class TimmBlurPool(BlurPool):
        def __init__(self, channels: int, stride: int = 2, **_device_dtype: object) -> None:
            super().__init__(channels, filt_size, stride, pad_type, persistent=False)

    TimmBlurPool.__name__ = f"BlurPool{filt_size}"
    return TimmBlurPool
