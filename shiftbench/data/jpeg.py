"""JPEG coding of uint8 image tensors on any device, for `--decode device`, the
jpeg_compression corruption and `--jpeg-like-release`.

torchvision's codecs are used while torchvision has them (deprecated since 0.29), then
torchcodec's, their successor; both run libjpeg-turbo on the CPU and nvJPEG on a GPU, and
give the same pixels on the CPU (tested). `jpeg_backend()` names the one in use; results
record it.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import torch

from ..errors import ShiftbenchError
from .views import truncated_uint8

BACKENDS = ("torchvision", "torchcodec")


@cache
def jpeg_backend() -> str:
    """torchvision while its JPEG codecs exist, otherwise torchcodec."""
    try:
        from torchvision.io import decode_jpeg, encode_jpeg  # noqa: F401
    except ImportError:
        return "torchcodec"
    return "torchvision"


def _torchcodec() -> tuple[ModuleType, ModuleType]:
    try:
        from torchcodec import decoders, encoders
    except (ImportError, OSError, RuntimeError) as exc:
        raise ShiftbenchError(
            "JPEG coding on tensors needs torchcodec (this torchvision has no JPEG codecs): "
            f"pip install 'shiftbench[torchcodec]' ({exc})"
        ) from None
    return decoders, encoders


def decode_jpegs(
    data: list[torch.Tensor], device: torch.device, backend: str | None = None
) -> list[torch.Tensor]:
    """Each JPEG (1-D uint8 bytes on the CPU) as an RGB uint8 [3, H, W] tensor on `device`,
    all in one call (one nvJPEG batch on a GPU). RuntimeError if any cannot be decoded."""
    if not data:
        return []
    if (backend or jpeg_backend()) == "torchvision":
        from torchvision.io import ImageReadMode, decode_jpeg

        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
    decoders, _ = _torchcodec()
    return list(decoders.decode_jpeg(data, mode="RGB", device=device))


def encode_jpegs(
    images: list[torch.Tensor], quality: int, backend: str | None = None
) -> list[torch.Tensor]:
    """Each uint8 [3, H, W] image (on any device) as JPEG bytes at `quality`."""
    if (backend or jpeg_backend()) == "torchvision":
        from torchvision.io import encode_jpeg

        return list(encode_jpeg(images, quality=quality))
    _, encoders = _torchcodec()
    return [encoders.JpegEncoder(image).to_tensor(quality=quality) for image in images]


def jpeg_round_trip(x: torch.Tensor, quality: int, backend: str | None = None) -> torch.Tensor:
    """Float images [N, 3, H, W] in [0, 1] through uint8 truncation and JPEG at `quality`,
    back as floats in [0, 1] on their device."""
    images = list(truncated_uint8(x).unbind(0))
    encoded = [e.cpu() for e in encode_jpegs(images, quality, backend)]
    decoded = decode_jpegs(encoded, x.device, backend)
    return torch.stack(decoded).to(x.dtype) / 255.0
