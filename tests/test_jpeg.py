"""JPEG coding on tensors: torchvision's codecs and torchcodec's give the same pixels, and
shiftbench moves to torchcodec when torchvision has none."""

from __future__ import annotations

import sys
import types
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as photos

from shiftbench import ShiftbenchError, evaluate
from shiftbench.data import jpeg
from shiftbench.data.jpeg import BACKENDS, decode_jpegs, jpeg_round_trip
from shiftbench.results import result

from .helpers import LinearProbe, config, wrap

CPU = torch.device("cpu")


def _torchcodec_loads() -> bool:
    try:
        import torchcodec.decoders  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


# torchcodec is a dev dependency; a lent GPU may have a torch it does not load with
LOADS = _torchcodec_loads()
WITH_TORCHCODEC = pytest.mark.skipif(not LOADS, reason="torchcodec does not load with this torch")
EVERY_BACKEND = [
    pytest.param(b, marks=WITH_TORCHCODEC) if b == "torchcodec" else b for b in BACKENDS
]


def pil_round_trip(x: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for image in x:
        pixels = np.uint8((image * 255).clamp(0, 255).permute(1, 2, 0).numpy())
        buffer = BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, optimize=True)
        decoded = np.asarray(Image.open(buffer), dtype=np.float32).copy() / 255
        out.append(torch.from_numpy(decoded).permute(2, 0, 1))
    return torch.stack(out)


@pytest.mark.parametrize("backend", EVERY_BACKEND)
@pytest.mark.parametrize("quality", [85, 7])
def test_round_trip_equals_pil(backend: str, quality: int) -> None:
    photo = torch.from_numpy(photos.astronaut()[::4, ::4].copy()).permute(2, 0, 1) / 255
    x = torch.stack([photo, torch.rand(3, 128, 128)])
    ours = jpeg_round_trip(x, quality, backend)
    assert torch.equal(ours, pil_round_trip(x, quality))


@WITH_TORCHCODEC
def test_backends_decode_the_same_pixels_and_refuse_the_same_files() -> None:
    files = []
    for pixels in (photos.chelsea(), photos.camera(), photos.coffee()):
        buffer = BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        files.append(torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8))
    first, second = (decode_jpegs(files, CPU, backend) for backend in BACKENDS)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert second[1].shape[0] == 3  # grayscale comes back as RGB
    broken = torch.frombuffer(bytearray(b"\xff\xd8\xff\xe0 not a whole jpeg"), dtype=torch.uint8)
    for backend in BACKENDS:
        with pytest.raises(RuntimeError):
            decode_jpegs([files[0], broken], CPU, backend)


def test_without_torchvision_codecs_torchcodec_takes_over() -> None:
    jpeg.jpeg_backend.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(sys.modules, "torchvision.io", types.ModuleType("torchvision.io"))
            assert jpeg.jpeg_backend() == "torchcodec"
    finally:
        jpeg.jpeg_backend.cache_clear()
    assert jpeg.jpeg_backend() == "torchvision"  # this torchvision still has them


@WITH_TORCHCODEC
def test_a_whole_run_is_the_same_with_either_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--decode device, jpeg_compression and --jpeg-like-release through torchcodec."""
    root = tmp_path / "data"
    for i, pixels in enumerate([photos.astronaut(), photos.chelsea(), photos.coffee()]):
        (root / f"class_{i}").mkdir(parents=True)
        Image.fromarray(pixels[:200, :200]).save(root / f"class_{i}" / "a.jpg", quality=90)
    settings = config(
        suites=("clean", "corruption"),
        corruptions=("jpeg_compression",),
        severities=(1, 5),
        jpeg_like_release=True,
        decode="device",
    )
    model = wrap(LinearProbe(16, 3), 16)
    runs = {}
    for backend in BACKENDS:
        chosen = lambda backend=backend: backend  # noqa: E731
        monkeypatch.setattr(jpeg, "jpeg_backend", chosen)
        monkeypatch.setattr(result, "jpeg_backend", chosen)
        runs[backend] = evaluate(model, root, settings)
    a, b = runs.values()
    assert a.records.keys() == b.records.keys()
    assert all(torch.equal(a.records[k], b.records[k]) for k in a.records)
    assert {r.environment["jpeg"] for r in runs.values()} == set(BACKENDS)


def test_missing_torchcodec_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchcodec", None)
    with pytest.raises(ShiftbenchError, match=r"pip install 'shiftbench\[torchcodec\]'"):
        jpeg_round_trip(torch.rand(1, 3, 8, 8), 85, "torchcodec")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", EVERY_BACKEND)
def test_nvjpeg_round_trip_is_close_to_the_cpu(backend: str) -> None:
    x = torch.rand(4, 3, 64, 64)
    cpu = jpeg_round_trip(x, 85, backend)
    gpu = jpeg_round_trip(x.cuda(), 85, backend)
    assert gpu.is_cuda and float((gpu.cpu() - cpu).abs().mean()) < 2 / 255
