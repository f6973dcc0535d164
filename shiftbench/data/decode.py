"""`--decode device`: JPEG images decoded and resized on the evaluation device.

When CPU workers cannot decode fast enough for the suites with few views per image, the
workers only read the JPEG files' bytes; `to_device` decodes a whole batch at once on the
device (`shiftbench.data.jpeg`: nvJPEG on a GPU, libjpeg-turbo on a CPU) and
makes each canvas there with torchvision's Resize(C) + CenterCrop(C) on the tensor
(antialiased). Other formats are still decoded by the workers. A JPEG the device decoder
rejects is decoded from the same bytes with PIL on the host; one that fails both is skipped
and counted like any unreadable file.

The canvases are close to, not identical with, the PIL path's (another IDCT and another
resampling kernel, about 1/255 on average), so results made with `--decode device` are
compared only with results made the same way (the setting is recorded and checked).
"""

from __future__ import annotations

import io

import torch

from ..errors import ShiftbenchError
from .folders import UNREADABLE, CanvasBatch, Encoded, frame, load_canvas
from .jpeg import decode_jpegs

# Resize filters that torchvision applies to tensors (the PIL-only ones are not offered).
TENSOR_FILTERS = ("nearest", "bilinear", "bicubic")


def check_filter(interpolation: str) -> None:
    """Refuse a resize filter that only PIL has."""
    if interpolation not in TENSOR_FILTERS:
        raise ShiftbenchError(
            f"{{decode}} device resizes with {', '.join(TENSOR_FILTERS)}; the model uses "
            f"{interpolation}: pass {{interpolation}} or {{decode}} pil",
            "decode", "interpolation",
        )  # fmt: skip


def canvas_from_tensor(
    image: torch.Tensor,
    canvas: int,
    interpolation: str,
    resize: int | None = None,
    border: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """uint8 [3, H, W] to the uint8 [3, C, C] canvas: shorter side to C (or to `resize`),
    centre crop C; with a `border`, to the inner side and framed in black (as `load_canvas`)."""
    import torchvision.transforms.v2.functional as F  # imported when first needed, as in data.py
    from torchvision.transforms import InterpolationMode

    inner = canvas - sum(border)
    mode = InterpolationMode(interpolation)
    resized = F.resize(image, [resize or inner], interpolation=mode, antialias=True)
    return frame(F.center_crop(resized, [inner, inner]), border)


def _decode(items: list[Encoded], device: torch.device) -> list[torch.Tensor | str]:
    """Each file as uint8 [3, H, W] on `device`, or why it could not be decoded."""
    try:
        return list(decode_jpegs([e.data for e in items], device))
    except RuntimeError:
        pass  # one bad file fails the whole batch: decode them one by one
    out: list[torch.Tensor | str] = []
    for item in items:
        try:
            out.append(decode_jpegs([item.data], device)[0])
        except RuntimeError:
            out.append("")
    return out


def to_device(
    batch: CanvasBatch,
    device: torch.device,
    canvas: int,
    interpolation: str,
    border: tuple[int, int] = (0, 0),
) -> CanvasBatch:
    """The batch on `device` with its encoded JPEGs decoded there into canvases (framed by
    `border`), in batch order; images no decoder can read are dropped and added to
    `skipped`."""
    count = len(batch)
    canvases = torch.empty(count, 3, canvas, canvas, dtype=torch.uint8, device=device)
    encoded_at = {e.position for e in batch.encoded}
    others = [p for p in range(count) if p not in encoded_at]
    if others:
        canvases[others] = batch.canvases.to(device, non_blocking=True)
    keep = torch.ones(count, dtype=torch.bool)
    skipped = list(batch.skipped)
    for item, image in zip(batch.encoded, _decode(batch.encoded, device), strict=True):
        if isinstance(image, str):
            try:  # the device decoder's refusal (CMYK, unusual sampling): PIL from the bytes
                data = io.BytesIO(item.data.numpy().tobytes())
                image = load_canvas(data, canvas, interpolation, item.resize, border)
                canvases[item.position] = image.to(device)
            except UNREADABLE as exc:
                keep[item.position] = False
                skipped.append((item.path, f"unreadable: {str(exc).splitlines()[0]}"))
            continue
        canvases[item.position] = canvas_from_tensor(
            image, canvas, interpolation, item.resize, border
        )
    if not keep.all():
        canvases = canvases[keep.to(device)]
    draws = {k: v[keep] for k, v in batch.draws.items()}
    return CanvasBatch(
        canvases,
        batch.labels[keep].to(device, non_blocking=True),
        batch.indices[keep],
        {k: v.to(device, non_blocking=True) for k, v in draws.items()},
        skipped,
        draws,
    )
