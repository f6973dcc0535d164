"""--decode device: JPEGs decoded and resized by torchvision, checked against the PIL path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from skimage import data as photos
from typer.testing import CliRunner

from shiftbench.cli import app
from shiftbench.data.decode import to_device
from shiftbench.data.folders import (
    CanvasDataset,
    ImageItems,
    collate_canvases,
    load_canvas,
    scan_image_folder,
)

from .helpers import TINY_RESNET

runner = CliRunner()
TWO_CLASSES = ["2" if arg == "3" else arg for arg in TINY_RESNET]  # --num-classes 2


def photo_folder(root: Path) -> Path:
    """Real photographs as JPEG (colour and grayscale), a PNG, and a broken JPEG."""
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i, pixels in enumerate([photos.astronaut(), photos.chelsea(), photos.coffee()]):
        Image.fromarray(pixels).save(root / "a" / f"{i}.jpg", quality=90)
    Image.fromarray(photos.camera()).save(root / "b" / "gray.jpg", quality=90)
    Image.fromarray(photos.rocket()).save(root / "b" / "rocket.png")
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    return root


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_device_canvases_match_the_pil_canvases(tmp_path: Path, interpolation: str) -> None:
    root = photo_folder(tmp_path / "data")
    images = scan_image_folder(root, 2)
    draws = {"x": torch.arange(6)}
    dataset = CanvasDataset(images, 80, interpolation, lambda i: {"x": draws["x"][i]}, True)
    batch = collate_canvases([dataset[i] for i in range(len(dataset))])
    assert [e.path for e in batch.encoded] == ["a/0.jpg", "a/1.jpg", "a/2.jpg", "b/broken.jpg",
                                               "b/gray.jpg"]  # fmt: skip
    assert batch.canvases.shape[0] == 1  # the PNG, decoded by the worker
    done = to_device(batch, torch.device("cpu"), 80, interpolation)
    assert done.skipped == [("b/broken.jpg", "unreadable: Truncated File Read")]
    kept = [item for item in images.items if item.path != "b/broken.jpg"]
    assert done.indices.tolist() == [item.index for item in kept]
    assert done.labels.tolist() == [item.label for item in kept]
    assert done.draws["x"].tolist() == [item.index for item in kept]
    for canvas, item in zip(done.canvases, kept, strict=True):
        reference = load_canvas(root / item.path, 80, interpolation).float()
        difference = (canvas.float() - reference).abs()
        # libjpeg-turbo both ways; torch's antialiased resize within 2 levels of PIL's
        assert float(difference.mean()) < 0.05 and float(difference.max()) <= 2, item.path


def test_an_items_own_resize_is_applied_by_both_decoders(tmp_path: Path) -> None:
    """Resize(96) + CenterCrop(80), how ImageNet-C's clean images are made, on both paths."""
    root = photo_folder(tmp_path / "data")
    listing = scan_image_folder(root, 2)
    items = ImageItems.of(replace(i, resize=96) for i in listing.items[:3])
    images = replace(listing, items=items)
    for encoded in (False, True):
        dataset = CanvasDataset(images, 80, "bilinear", None, encoded)
        batch = collate_canvases([dataset[i] for i in range(len(dataset))])
        done = to_device(batch, torch.device("cpu"), 80, "bilinear")
        for canvas, item in zip(done.canvases, images.items, strict=True):
            reference = load_canvas(root / item.path, 80, "bilinear", resize=96).float()
            plain = load_canvas(root / item.path, 80, "bilinear").float()
            assert float((canvas.float() - reference).abs().max()) <= 2, item.path
            assert float((canvas.float() - plain).abs().mean()) > 5, item.path


def test_a_padded_canvas_is_framed_alike_by_both_decoders(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "data")
    images = scan_image_folder(root, 2)
    for encoded in (False, True):
        dataset = CanvasDataset(images, 80, "bilinear", None, encoded, border=(8, 8))
        batch = collate_canvases([dataset[i] for i in range(len(dataset))])
        done = to_device(batch, torch.device("cpu"), 80, "bilinear", border=(8, 8))
        assert [path for path, _ in done.skipped] == ["b/broken.jpg"]
        kept = [images.items[int(i)] for i in done.indices]
        for canvas, item in zip(done.canvases, kept, strict=True):
            inner = load_canvas(root / item.path, 64, "bilinear").float()
            assert float((canvas[:, 8:72, 8:72].float() - inner).abs().max()) <= 2, item.path
            canvas[:, 8:72, 8:72] = 0
            assert not canvas.any(), item.path  # the frame is black


def test_eval_with_device_decoding_is_recorded_and_checked(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "data")
    outs = {}
    for decode in ("pil", "device"):
        outs[decode] = tmp_path / decode
        args = ["eval", *TWO_CLASSES, "--data", str(root), "--decode", decode, "--out",
                str(outs[decode])]  # fmt: skip
        done = runner.invoke(app, args)
        assert done.exit_code == 0, done.output
    saved = json.loads((outs["device"] / "results.json").read_text())
    assert saved["config"]["decode"] == "device"
    assert saved["data"]["images_evaluated"] == 5
    assert [s["path"] for s in saved["data"]["skipped"]] == ["b/broken.jpg"]
    mixed = runner.invoke(app, ["check", str(outs["device"]), "--baseline", str(outs["pil"]),
                                "--max-drop", "clean.top1=1"])  # fmt: skip
    assert mixed.exit_code == 2 and "config.decode" in mixed.output
    pil_only = runner.invoke(app, ["eval", *TWO_CLASSES, "--data", str(root), "--decode",
                                   "device", "--interpolation", "lanczos", "--out",
                                   str(tmp_path / "x")])  # fmt: skip
    assert pil_only.exit_code == 2 and "--decode device resizes with" in pil_only.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_nvjpeg_canvases_are_close_to_the_pil_canvases(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "data")
    images = scan_image_folder(root, 2)
    dataset = CanvasDataset(images, 256, "bilinear", None, True)
    batch = collate_canvases([dataset[i] for i in range(len(dataset))])
    done = to_device(batch, torch.device("cuda"), 256, "bilinear")
    kept = [item for item in images.items if item.path != "b/broken.jpg"]
    assert done.canvases.shape[0] == len(kept) and done.canvases.is_cuda
    for canvas, item in zip(done.canvases.cpu(), kept, strict=True):
        reference = load_canvas(root / item.path, 256, "bilinear").float()
        assert float((canvas.float() - reference).abs().mean()) < 1.5, item.path
