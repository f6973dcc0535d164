"""Folder scanning, labels, subsets and canvas decoding."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shiftbench import ImageSet, ShiftbenchError, scan_image_folder
from shiftbench.data.folders import (
    CanvasDataset,
    ImageItem,
    ImageItems,
    class_indices,
    collate_canvases,
    load_canvas,
    subset_positions,
)
from shiftbench.data.views import Geometry

from .helpers import write_folder


def test_scan_lists_sorted_images_and_skips_non_images(folder: Path) -> None:
    (folder / "class_1" / "notes.txt").write_text("not an image")
    (folder / "class_1" / ".DS_Store").write_bytes(b"\0")
    images = scan_image_folder(folder, 3)
    assert images.classes == ["class_0", "class_1", "class_2"]
    assert images.label_map == "sorted folders"
    assert [i.index for i in images.items] == list(range(12))
    assert [i.label for i in images.items] == [0] * 4 + [1] * 4 + [2] * 4
    assert images.items[4].path == "class_1/img_0.png"
    assert images.skipped == [("class_1/notes.txt", "not an image file")]


def test_nested_folders_list_in_path_order_without_hidden_ones(tmp_path: Path) -> None:
    """The listing's order is that of sorted pathlib paths (component by component, so
    `b/x` before `b-c`), checked against a plain rglob; hidden files and folders and
    symlinked folders are left out, symlinked files kept."""
    files = ["a/b-c.png", "a/b/x.png", "a/b/y/z.png", "a/a.png", "a/B.png", "a/b.png.txt",
             "a/.cache/h.png", "a/.h.png", "b/1.png", "b/10.png", "b/2.png"]  # fmt: skip
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "b" / "link.png").symlink_to(tmp_path / "a" / "a.png")
    (tmp_path / "b" / "linked").symlink_to(tmp_path / "a" / "b", target_is_directory=True)
    images = scan_image_folder(tmp_path, 2)
    reference = [
        path.relative_to(tmp_path).as_posix()
        for folder in ("a", "b")
        for path in sorted((tmp_path / folder).rglob("*"))
        if path.is_file()
        and not any(p.startswith(".") or p == "linked" for p in path.relative_to(tmp_path).parts)
    ]  # fmt: skip
    assert images.items.paths() == [p for p in reference if not p.endswith(".txt")]
    assert images.items.paths()[:3] == ["a/B.png", "a/a.png", "a/b/x.png"]
    assert images.skipped == [
        ("a/b.png.txt", "not an image file"),
        ("b/linked", "symbolic link to a folder, not followed"),
    ]


def test_entries_that_cannot_be_images_are_skipped_and_named(tmp_path: Path) -> None:
    """A name that is not UTF-8, a symbolic link loop and a broken link each cost their own
    entry, counted with the reason, never the whole folder."""
    write_folder(tmp_path, classes=2, per_class=2)
    (tmp_path / "class_0" / "a.jpg").symlink_to("b.jpg")
    (tmp_path / "class_0" / "b.jpg").symlink_to("a.jpg")
    (tmp_path / "class_1" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with open(os.path.join(os.fsencode(tmp_path / "class_1"), b"caf\xe9.png"), "wb") as handle:
        handle.write((tmp_path / "class_1" / "img_0.png").read_bytes())
    images = scan_image_folder(tmp_path, 2)
    assert images.items.paths() == [f"class_{c}/img_{i}.png" for c in (0, 1) for i in (0, 1)]
    assert images.skipped == [
        ("class_0/a.jpg", "Too many levels of symbolic links"),
        ("class_0/b.jpg", "Too many levels of symbolic links"),
        ("class_1/caf\\xe9.png", "file name is not valid UTF-8"),
        ("class_1/gone.png", "broken symbolic link"),
    ]
    os.mkdir(os.path.join(os.fsencode(tmp_path), b"\xff"))
    with pytest.raises(ShiftbenchError, match=r"class folder .*\\xff has a name that is not"):
        scan_image_folder(tmp_path, 3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # 16-bit PNG (I;16): the high byte, as torchvision's uint16 -> uint8
        (np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32), lambda v: v >> 8),
        # 32-bit integer TIFF (I): int32 >> 23, negative values clamped to 0
        (
            np.linspace(-(2**31), 2**31 - 1, 1024).astype(np.int32).reshape(32, 32),
            lambda v: np.clip(v, 0, None) >> 23,
        ),
        # float TIFF (F): [0, 1] x 255.999, floored; outside clamped
        (
            np.linspace(-0.5, 1.5, 1024, dtype=np.float32).reshape(32, 32),
            lambda v: np.floor(np.clip(v, 0, 1) * (256 - 1e-3)),
        ),
    ],
    ids=["png16", "tiff_int32", "tiff_float"],
)
def test_high_bit_depth_images_are_scaled_not_clipped(
    tmp_path: Path, values: np.ndarray, expected
) -> None:
    """PIL's convert("RGB") clips such images to white; the canvas must be that of the
    8-bit image numpy computes from the scaled values, resized the same way."""
    name = "img.png" if values.dtype == np.uint16 else "img.tiff"
    Image.fromarray(values).save(tmp_path / name)
    assert Image.open(tmp_path / name).mode == {"uint16": "I;16", "int32": "I"}.get(
        values.dtype.name, "F"
    )
    eight_bit = expected(values.astype(np.float64) if values.dtype == np.float32 else values)
    Image.fromarray(eight_bit.astype(np.uint8), "L").convert("RGB").save(tmp_path / "ref.png")
    for border in ((0, 0), (4, 4)):
        canvas = load_canvas(tmp_path / name, 40, "bilinear", border=border)
        reference = load_canvas(tmp_path / "ref.png", 40, "bilinear", border=border)
        assert torch.equal(canvas, reference)
    at_size = load_canvas(tmp_path / name, 32, "bilinear")
    assert torch.equal(at_size[0], torch.from_numpy(eight_bit.astype(np.uint8)))
    assert 0 < at_size.float().mean() < 255  # neither all black nor all white


def test_synset_folders_map_to_imagenet_indices(tmp_path: Path) -> None:
    # tench (0), English springer (217), parachute (701: Imagenette's folder) and its
    # neighbour parallel bars (702) in timm's ImageNetInfo
    for synset in ("n01440764", "n02102040", "n03888257", "n03888605"):
        (tmp_path / synset).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / synset / "a.png")
    images = scan_image_folder(tmp_path, 1000)
    assert images.label_map == "imagenet-1k synsets"
    assert [i.label for i in images.items] == [0, 217, 701, 702]
    with pytest.raises(ShiftbenchError, match="4 class folders but the model has 10 outputs"):
        scan_image_folder(tmp_path, 10)


def test_unknown_synset_is_an_error() -> None:
    with pytest.raises(ShiftbenchError, match="n99999999"):
        class_indices(["n01440764", "n99999999"], 1000)


def test_wrong_class_count_is_an_error(folder: Path) -> None:
    with pytest.raises(ShiftbenchError, match="3 class folders but the model has 1000 outputs"):
        scan_image_folder(folder, 1000)


def test_limit_spreads_evenly_and_deterministically(folder: Path) -> None:
    assert subset_positions(12, 4) == [0, 3, 6, 9]
    assert subset_positions(5, 10) == [0, 1, 2, 3, 4]
    images = scan_image_folder(folder, 3, limit=3)
    assert [i.index for i in images.items] == [0, 4, 8]
    assert sorted({i.label for i in images.items}) == [0, 1, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "not a folder"),
        (lambda p: p, r"no class sub-folders \(expected root/<class>/<image>\)$"),
        (
            lambda p: (p / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"") or p,
            "validation images come in one flat folder; sort them into one folder per synset",
        ),
        (lambda p: (p / "empty_class").mkdir() or p, "no images found"),
    ],
)
def test_bad_roots(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ShiftbenchError, match=message):
        scan_image_folder(make(tmp_path), 1)


def test_canvas_is_torchvision_resize_and_center_crop(tmp_path: Path) -> None:
    from torchvision import transforms

    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    canvas = load_canvas(tmp_path / "x.png", 24, "bicubic")
    reference = transforms.Compose(
        [
            transforms.Resize(24, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(24),
            transforms.PILToTensor(),
        ]
    )(Image.open(tmp_path / "x.png").convert("RGB"))
    assert canvas.dtype == torch.uint8 and canvas.shape == (3, 24, 24)
    assert torch.equal(canvas, reference)


def test_padded_canvas_is_resize_and_center_crop_to_the_window_then_torchvision_pad(
    tmp_path: Path,
) -> None:
    from torchvision import transforms

    pixels = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    canvas = load_canvas(tmp_path / "x.png", 24, "bicubic", border=(4, 3))
    reference = transforms.Compose(
        [
            transforms.Resize(17, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(17),
            transforms.Pad((4, 4, 3, 3)),  # left, top, right, bottom: black
            transforms.PILToTensor(),
        ]
    )(Image.open(tmp_path / "x.png").convert("RGB"))
    assert canvas.shape == (3, 24, 24) and torch.equal(canvas, reference)
    assert Geometry(17, 7).border("pad") == (4, 3) and Geometry(17, 7).border("resize") == (0, 0)
    assert Geometry(32, 8).border("pad") == (4, 4)  # CIFAR-10's padding of 4 on each side
    assert Geometry(32, 8).image_side("pad") == 32 and Geometry(32, 8).image_side("resize") == 40


def test_unreadable_images_are_reported_not_fatal(tmp_path: Path) -> None:
    root = write_folder(tmp_path, classes=2, per_class=2)
    (root / "class_0" / "broken.jpg").write_bytes(b"not a jpeg at all")
    images = scan_image_folder(root, 2)

    def draws(index: int) -> dict[str, torch.Tensor]:
        return {"suite": torch.tensor([index, -index])}

    dataset = CanvasDataset(images, 16, "bilinear", draws)
    batch = collate_canvases([dataset[i] for i in range(len(images.items))])
    assert len(batch) == 4 and batch.canvases.shape == (4, 3, 16, 16)
    assert [p for p, _ in batch.skipped] == ["class_0/broken.jpg"]
    assert batch.skipped[0][1].startswith("unreadable")
    kept = batch.indices.tolist()
    assert batch.draws["suite"].tolist() == [[i, -i] for i in kept]


def test_an_image_list_selects_images_and_keeps_their_indices(tmp_path: Path) -> None:
    from shiftbench.data.folders import read_image_list

    root = write_folder(tmp_path / "data", per_class=4)
    listing = tmp_path / "ids.txt"
    listing.write_text("# RobustBench style\nclass_2/img_1.png\n\nclass_0/img_3.png 0\n")
    chosen = read_image_list(listing)
    images = scan_image_folder(root, 3, image_list=chosen)
    assert [(i.index, i.path) for i in images.items] == [
        (3, "class_0/img_3.png"),
        (9, "class_2/img_1.png"),
    ]  # positions in the full listing: the same random draws as in a full run
    assert images.describe()["image_list"]["images"] == 2
    assert len(scan_image_folder(root, 3, limit=1, image_list=chosen).items) == 1
    listing.write_text("class_0/img_3.png\nclass_1/nope.png\n")
    with pytest.raises(ShiftbenchError, match=r"names 1 image\(s\) not under"):
        scan_image_folder(root, 3, image_list=read_image_list(listing))
    listing.write_text("# nothing\n")
    with pytest.raises(ShiftbenchError, match="names no image"):
        read_image_list(listing)


def test_a_listed_image_gets_the_records_it_gets_in_a_full_run(tmp_path: Path) -> None:
    from shiftbench import evaluate

    from .helpers import LinearProbe, config, wrap

    root = write_folder(tmp_path / "data", per_class=3)
    listing = tmp_path / "ids.txt"
    listing.write_text("class_1/img_2.png\nclass_2/img_0.png\n")
    model = wrap(LinearProbe(16, 3), 16)
    settings = {"suites": ("consistency", "diagonal")}
    full = evaluate(model, root, config(**settings))
    some = evaluate(model, root, config(**settings, image_list=str(listing)))
    assert some.records["index"].tolist() == [5, 6]
    rows = torch.isin(full.records["index"], some.records["index"])
    for key, value in some.records.items():
        assert torch.equal(value, full.records[key][rows]), key
    assert some.data["image_list"]["images"] == 2


def _reference_items() -> list[ImageItem]:
    """A plain list to check the array-backed listing against (paths of several lengths,
    non-ASCII, an empty one; resizes set and not)."""
    paths = ["a/1.png", "a/22.jpg", "b/é/ü.JPEG", "", "c/日本.png", "d/x" * 30]
    return [
        ImageItem(10 * k + 3, path, k % 3, 96 if k % 2 else None) for k, path in enumerate(paths)
    ]


def test_an_array_listing_behaves_as_the_list_of_its_items() -> None:
    reference = _reference_items()
    items = ImageItems.of(reference)
    assert len(items) == len(reference)
    assert list(items) == reference
    assert [items[k] for k in range(-len(items), len(items))] == reference + reference
    assert items.paths() == [i.path for i in reference]
    for cut in (slice(1, 4), slice(0, 0), slice(4, 100), slice(None, None, 2), slice(5, 1, -1)):
        assert list(items[cut]) == reference[cut], cut
        assert items[cut].paths() == [i.path for i in reference[cut]], cut
    assert list(items.take([5, 0, 3, 3])) == [reference[k] for k in (5, 0, 3, 3)]
    halves = ImageItems.concat([items[:2], items[2:]])
    assert list(halves) == reference and halves.digest() == items.digest()
    built = ImageItems.build([3, 4], ["x/a.png", "x/b.png"], [1, 0], resize=256)
    assert list(built) == [ImageItem(3, "x/a.png", 1, 256), ImageItem(4, "x/b.png", 0, 256)]
    empty = ImageItems.build([], [], [])
    assert len(empty) == 0 and list(empty) == [] and empty.paths() == []
    with pytest.raises(IndexError):
        items[len(items)]
    # DataLoader workers started by spawn (macOS, Windows) receive the listing pickled
    again = pickle.loads(pickle.dumps(items))
    assert list(again) == reference and again.digest() == items.digest()


def test_the_listing_digest_changes_with_any_field() -> None:
    reference = _reference_items()
    digest = ImageItems.of(reference).digest()
    changes = [
        {"index": 11},
        {"label": 2},
        {"resize": 224},
        {"path": "a/2.png"},  # same length
        {"path": "a/1.pn"},  # the bytes move to the next path
    ]
    for change in changes:
        changed = [replace(reference[0], **change), *reference[1:]]
        assert ImageItems.of(changed).digest() != digest, change
    moved = [replace(reference[0], path="a/1.pn"), replace(reference[1], path="ga/22.jpg")]
    assert ImageItems.of(moved + reference[2:]).digest() != digest


def test_a_folder_that_cannot_be_listed_is_named(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real = os.scandir

    def refuse(path: object) -> object:
        if Path(str(path)).name == "class_1":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(ShiftbenchError, match=r"cannot list .*class_1: Permission denied"):
        scan_image_folder(folder, 3)


def test_images_that_fit_in_the_window_warn_that_resize_enlarges_them(tmp_path: Path) -> None:
    from shiftbench.api import enlarged_warning

    def listing(size: tuple[int, int]) -> ImageSet:
        return scan_image_folder(write_folder(tmp_path / f"{size}", 2, 1, size=size), 2)

    cifar = listing((32, 32))
    line = enlarged_warning(cifar, Geometry(32, 8), "resize")
    assert line is not None and line.startswith("class_0/img_0.png is 32x32 px, no larger than")
    assert "--canvas pad keeps each image whole" in line
    assert enlarged_warning(cifar, Geometry(32, 8), "pad") is None  # framed, not enlarged
    assert enlarged_warning(cifar, Geometry(32, 0), "resize") is None  # Resize(32): as usual
    assert enlarged_warning(cifar, Geometry(48, 8), "resize") is not None  # smaller still
    # a photograph larger than the window on one side: the paper's protocol, no warning
    assert enlarged_warning(listing((30, 40)), Geometry(32, 8), "resize") is None
