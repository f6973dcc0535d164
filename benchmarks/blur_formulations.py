"""Other ways to compute a BlurPool layer (reflect padding), each equal to it up to rounding.

Shared by blurpool_kernels.py (one layer alone) and antialias_cost.py (whole converted models,
`--formulations`), so that one GPU run measures both where a layer's time goes and what each
formulation makes of the per-model slowdown: enough to pick one.

On the GPU, `F.pad`'s reflect kernel makes its input contiguous (NCHW) and returns NCHW, and a
converted model's filter buffers are channels-last after `model.to(memory_format=...)`, so
cuDNN turns the padded map back into channels-last for the depthwise convolution: two layout
copies per layer. The formulations below pad by `torch.cat` (which keeps the layout), blur
without a convolution (a cascade of two-tap box filters), or stay in NCHW throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from shiftbench.antialias import BlurPool

Formulation = Callable[[BlurPool, torch.Tensor], torch.Tensor]
_OWN_FORWARD = BlurPool.forward


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels-last for a channels-last 4-D tensor (not also NCHW-contiguous), else NCHW."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def pad_by_function(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """The layer's reflect padding by `F.pad`, as BlurPool pads."""
    return F.pad(x, layer.pad_sizes, mode="reflect")


def pad_by_concatenation(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """The layer's reflect padding (left, right, top, bottom) by `torch.cat` of flipped edges,
    which keeps the input's memory format."""
    left, right, top, bottom = layer.pad_sizes

    def along(y: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
        n = y.shape[dim]
        parts = [y.narrow(dim, 1, before).flip(dim)] if before else []
        parts.append(y)
        parts += [y.narrow(dim, n - 1 - after, after).flip(dim)] if after else []
        return torch.cat(parts, dim=dim)

    return along(along(x, left, right, 3), top, bottom, 2)


def depthwise_filter(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """The layer's [C, 1, k, k] filter for `x`: its dtype, one copy per channel, and the
    memory format of `x` (so that cuDNN converts neither)."""
    filt = layer.filt[:1].to(x.dtype).expand(x.shape[1], -1, -1, -1)
    return filt.contiguous(memory_format=memory_format(x))


def depthwise(layer: BlurPool, padded: torch.Tensor) -> torch.Tensor:
    """The 2-D depthwise convolution at the layer's stride."""
    filt = depthwise_filter(layer, padded)
    return F.conv2d(padded, filt, stride=layer.stride, groups=padded.shape[1])


def separable(layer: BlurPool, padded: torch.Tensor) -> torch.Tensor:
    """A 1xk then a kx1 depthwise convolution (the 2-D binomial is their product; the taps are
    the 2-D filter's column and row sums)."""
    c, s = padded.shape[1], layer.stride
    filt = depthwise_filter(layer, padded)
    rows = F.conv2d(padded, filt.sum(dim=2, keepdim=True), stride=(1, s), groups=c)
    return F.conv2d(rows, filt.sum(dim=3, keepdim=True), stride=(s, 1), groups=c)


def box_cascade(layer: BlurPool, padded: torch.Tensor) -> torch.Tensor:
    """The binomial filter of size k as k-1 two-tap box filters (2x2 average pools): k-2 at
    stride 1, the last at the layer's stride; no convolution."""
    for _ in range(layer.filt_size - 2):
        padded = F.avg_pool2d(padded, 2, 1)
    return F.avg_pool2d(padded, 2, layer.stride)


def _combined(
    pad: Callable[[BlurPool, torch.Tensor], torch.Tensor],
    blur: Callable[[BlurPool, torch.Tensor], torch.Tensor],
) -> Formulation:
    return lambda layer, x: blur(layer, pad(layer, x))


def as_is(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """shiftbench's BlurPool: `F.pad`, then a depthwise convolution with its own filter."""
    return _OWN_FORWARD(layer, x)


def channels_first(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """Padding and blur on an NCHW copy with an NCHW filter, the output put back in the
    input's memory format."""
    return depthwise(layer, pad_by_function(layer, x.contiguous())).contiguous(
        memory_format=memory_format(x)
    )


def one_channel(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
    """One single-channel convolution over all N*C maps of an NCHW copy."""
    n, c = x.shape[:2]
    padded = pad_by_function(layer, x.contiguous())
    flat = padded.view(n * c, 1, *padded.shape[-2:])
    out = F.conv2d(flat, layer.filt[:1].to(x.dtype).contiguous(), stride=layer.stride)
    return out.view(n, c, *out.shape[-2:]).contiguous(memory_format=memory_format(x))


FORMULATIONS: dict[str, Formulation] = {
    "shiftbench BlurPool": as_is,
    "F.pad, depthwise conv (filter in the input's layout)": _combined(pad_by_function, depthwise),
    "torch.cat pad, depthwise conv": _combined(pad_by_concatenation, depthwise),
    "torch.cat pad, separable 1xk then kx1": _combined(pad_by_concatenation, separable),
    "torch.cat pad, avg-pool cascade": _combined(pad_by_concatenation, box_cascade),
    "F.pad, avg-pool cascade": _combined(pad_by_function, box_cascade),
    "NCHW round trip": channels_first,
    "one-channel conv over N*C maps": one_channel,
}


def applies(layer: BlurPool) -> bool:
    """Whether the formulations compute `layer`: reflect padding and a filter of 2 or more
    (other layers keep BlurPool's own forward)."""
    return layer.pad_type == "reflect" and layer.filt_size >= 2


@contextmanager
def formulated(formulation: Formulation) -> Iterator[None]:
    """Within the block, every BlurPool (timm's aa_layer subclass too) that the formulations
    apply to computes its output by `formulation` instead of its own forward."""

    def forward(layer: BlurPool, x: torch.Tensor) -> torch.Tensor:
        return formulation(layer, x) if applies(layer) else _OWN_FORWARD(layer, x)

    BlurPool.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        BlurPool.forward = _OWN_FORWARD  # type: ignore[method-assign]
