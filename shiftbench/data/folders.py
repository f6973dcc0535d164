"""Image folders: scanning, ImageNet synset labels, subsets, and decoding into canvases."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ClassVar, overload

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import ShiftbenchError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
_SYNSET = re.compile(r"^n\d{8}$")


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One image: `index` is its position in the full sorted listing (its id for seeds).
    `resize` is the side its shorter side is resized to before the centre crop to the
    canvas (None: the canvas side, the usual Resize(C) + CenterCrop(C))."""

    index: int
    path: str
    label: int
    resize: int | None = None


class ImageItems(Sequence[ImageItem]):
    """A listing of images held in five arrays instead of one Python object per image.

    ImageNet-C lists 3.75 M files: as objects they took 0.9 GB, and every DataLoader worker
    copied most of it (the garbage collector and reference counts write to every object's
    memory page). Arrays take about 90 bytes per image and stay shared with the workers.
    Indexing gives an `ImageItem`; slicing and `take` give another `ImageItems`.
    """

    __slots__ = ("_ends", "_paths", "indices", "labels", "resizes")

    def __init__(
        self,
        indices: np.ndarray,
        labels: np.ndarray,
        resizes: np.ndarray,
        paths: np.ndarray,
        ends: np.ndarray,
    ) -> None:
        self.indices = indices  # int64: each image's position in its full listing
        self.labels = labels  # int64
        self.resizes = resizes  # int64, 0 for None
        self._paths = paths  # uint8: every path's UTF-8 bytes, one after another
        self._ends = ends  # int64: where each path's bytes end

    @classmethod
    def build(
        cls,
        indices: Iterable[int],
        paths: Iterable[str],
        labels: Iterable[int],
        resize: int | None = None,
    ) -> ImageItems:
        """A listing from its columns; `resize` applies to every image."""
        encoded = [p.encode() for p in paths]
        return cls(
            np.fromiter(indices, dtype=np.int64, count=len(encoded)),
            np.fromiter(labels, dtype=np.int64, count=len(encoded)),
            np.full(len(encoded), resize or 0, dtype=np.int64),
            np.frombuffer(b"".join(encoded), dtype=np.uint8),
            np.cumsum([len(e) for e in encoded], dtype=np.int64),
        )

    @classmethod
    def of(cls, items: Iterable[ImageItem]) -> ImageItems:
        """A listing of `ImageItem`s (their `resize` may differ)."""
        items = list(items)
        built = cls.build(
            (i.index for i in items), (i.path for i in items), (i.label for i in items)
        )
        built.resizes[:] = [i.resize or 0 for i in items]
        return built

    @staticmethod
    def concat(parts: Sequence[ImageItems]) -> ImageItems:
        """The listings one after another."""
        if not parts:
            return ImageItems.build([], [], [])
        offsets = np.cumsum([0] + [len(p._paths) for p in parts[:-1]], dtype=np.int64)
        return ImageItems(
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.resizes for p in parts]),
            np.concatenate([p._paths for p in parts]),
            np.concatenate([p._ends + o for p, o in zip(parts, offsets, strict=True)]),
        )

    def __len__(self) -> int:
        return len(self.indices)

    def _start(self, position: int) -> int:
        return int(self._ends[position - 1]) if position else 0

    def path(self, position: int) -> str:
        """The path of the image at `position`."""
        return self._paths[self._start(position) : self._ends[position]].tobytes().decode()

    @overload
    def __getitem__(self, position: int) -> ImageItem: ...
    @overload
    def __getitem__(self, position: slice) -> ImageItems: ...
    def __getitem__(self, position: int | slice) -> ImageItem | ImageItems:
        if isinstance(position, slice):
            first, stop, step = position.indices(len(self))
            if step != 1:
                return self.take(np.arange(first, stop, step))
            stop = max(first, stop)
            start = self._start(first)
            return ImageItems(  # views of these arrays, no copy
                self.indices[first:stop],
                self.labels[first:stop],
                self.resizes[first:stop],
                self._paths[start : self._start(stop)],
                self._ends[first:stop] - start,
            )
        if not -len(self) <= position < len(self):
            raise IndexError(position)
        position %= len(self)
        resize = int(self.resizes[position])
        return ImageItem(
            int(self.indices[position]),
            self.path(position),
            int(self.labels[position]),
            resize or None,
        )

    def __iter__(self) -> Iterator[ImageItem]:
        for index, path, label, resize in zip(
            self.indices.tolist(),
            self.paths(),
            self.labels.tolist(),
            self.resizes.tolist(),
            strict=True,
        ):
            yield ImageItem(index, path, label, resize or None)

    def _encoded(self) -> list[bytes]:
        """Every image's path as its UTF-8 bytes, in order."""
        data = self._paths.tobytes()
        ends = self._ends.tolist()
        starts = [0, *ends[:-1]] if ends else []
        return [data[s:e] for s, e in zip(starts, ends, strict=True)]

    def paths(self) -> list[str]:
        """Every image's path, in order."""
        return [path.decode() for path in self._encoded()]

    def take(self, positions: Sequence[int] | np.ndarray) -> ImageItems:
        """The images at `positions`, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        encoded = self._encoded()
        chosen = [encoded[i] for i in positions.tolist()]
        return ImageItems(
            self.indices[positions],
            self.labels[positions],
            self.resizes[positions],
            np.frombuffer(b"".join(chosen), dtype=np.uint8),
            np.cumsum([len(c) for c in chosen], dtype=np.int64),
        )

    def digest(self) -> str:
        """SHA-256 of the listing (indices, labels, resizes and paths): its identity."""
        digest = hashlib.sha256()
        for array in (self.indices, self.labels, self.resizes, self._ends, self._paths):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class ImageList:
    """Paths relative to an image-folder root (`<class>/<file>`, as RobustBench's
    imagenet_test_image_ids.txt lists them) that select the images to evaluate."""

    path: str
    paths: frozenset[str]
    sha256: str

    def describe(self) -> dict:
        """The JSON-ready description recorded in results.json."""
        return {"path": self.path, "sha256": self.sha256, "images": len(self.paths)}


def read_image_list(path: str | Path) -> ImageList:
    """The first field of every line of `path` that is neither blank nor a # comment."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ShiftbenchError(f"cannot read the image list {path}: {exc.strerror or exc}") from None
    lines = data.decode("utf-8", errors="replace").splitlines()
    paths = frozenset(
        line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")
    )
    if not paths:
        raise ShiftbenchError(f"the image list {path} names no image")
    return ImageList(str(path), paths, hashlib.sha256(data).hexdigest())


def selected_images(image_list: str | None) -> ImageList | None:
    """The image list file `image_list` (a configuration's), read; None when there is none."""
    return read_image_list(image_list) if image_list else None


@dataclass
class ImageSet:
    """The images of one folder tree selected for evaluation, with their labels.

    A kind of data declares what the rest of shiftbench needs to know of it: its `kind`
    (recorded in results.json), `title` (for messages), whether its files are `read_as_stored`
    (not resized to the canvas: no resize notes or enlarged-image warning), the `margin` its
    stored images leave around a model's window (None: the run's max shift), and the
    `suites` that can read it (None: every image suite). An image folder is the first kind;
    `corruptions.disk.ReleasedSet` (the released ImageNet-C files) the second.
    """

    kind: ClassVar[str] = "folder"
    title: ClassVar[str] = "an image folder"
    read_as_stored: ClassVar[bool] = False
    suites: ClassVar[tuple[str, ...] | None] = None
    unread: ClassVar[tuple[str, ...]] = ()

    root: Path
    classes: list[str]
    label_map: str
    items: ImageItems
    found: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    image_list: ImageList | None = None

    def describe(self) -> dict:
        """The JSON-ready description recorded in results.json."""
        return {
            "kind": self.kind,
            "root": str(self.root),
            "classes": len(self.classes),
            "label_map": self.label_map,
            "images_found": self.found,
            "images_selected": len(self.items),
            "images_sha256": self.items.digest(),
            "limit": self.limit,
            "image_list": self.image_list.describe() if self.image_list else None,
            "skipped_at_scan": [{"path": p, "reason": r} for p, r in self.skipped],
        }

    def file(self, item: ImageItem) -> Path:
        """Where `item` is on disk."""
        return self.root / item.path

    def source(self, item: ImageItem) -> Path | Image.Image:
        """What `item` is read from: its file, or, for a kind of data that stores images in
        arrays, the image itself."""
        return self.file(item)

    def margin(self, input_size: int) -> int | None:
        """The pixels around a model's window that the stored images leave (the max shift
        they allow); None when the images are resized to the run's canvas."""
        return None

    def warnings(self) -> list[str]:
        """What a user should hear about this selection before it is evaluated."""
        return []

    def check_evaluated(self, indices: torch.Tensor) -> None:
        """Refuse a pass whose evaluated images (`indices`) cannot give the metrics."""


@functools.cache  # ImageNet-C scans 76 folders; timm reads its label file on every call
def _imagenet_synsets(num_classes: int) -> tuple[str, tuple[str, ...]] | None:
    from timm.data import ImageNetInfo
    from timm.data.imagenet_info import _NUM_CLASSES_TO_SUBSET

    subset = _NUM_CLASSES_TO_SUBSET.get(num_classes)
    if subset is None:
        return None
    return subset, tuple(ImageNetInfo(subset).label_names())


def class_indices(classes: list[str], num_classes: int) -> tuple[str, dict[str, int]]:
    """Map class-folder names to model output indices.

    Folders named by WordNet synset map to the ImageNet indices of a model whose head has
    an ImageNet class count (so Imagenette and other subsets score correctly); any other
    tree maps in sorted order and must have exactly as many classes as the model.
    """
    synsets = _imagenet_synsets(num_classes) if all(_SYNSET.match(c) for c in classes) else None
    if synsets is not None:
        subset, names = synsets
        position = {name: i for i, name in enumerate(names)}
        unknown = [c for c in classes if c not in position]
        if unknown:
            raise ShiftbenchError(f"class folders not in {subset}: {', '.join(unknown[:5])}")
        return f"{subset} synsets", {c: position[c] for c in classes}
    if len(classes) != num_classes:
        raise ShiftbenchError(
            f"the data has {len(classes)} class folders but the model has {num_classes} outputs "
            "(folders named by ImageNet synset map to ImageNet models; otherwise use "
            "{num_classes})", "num_classes",
        )  # fmt: skip
    return "sorted folders", {c: i for i, c in enumerate(classes)}


def subset_positions(total: int, limit: int) -> list[int]:
    """Evenly spaced positions `floor(i * total / limit)`: a deterministic spread over classes."""
    if limit >= total:
        return list(range(total))
    return [i * total // limit for i in range(limit)]


def check_data_root(root: str | Path) -> Path:
    """The data path as a Path, or an error if it is missing or not a folder."""
    root = Path(root)
    if not root.exists():
        raise ShiftbenchError(f"data path does not exist: {root}")
    if not root.is_dir():
        raise ShiftbenchError(f"data path is not a folder: {root}")
    return root


def printable(name: str) -> str:
    """A file name as text that can be printed and saved: bytes that are not UTF-8 (which
    os.listdir hands over as surrogates) are written as \\x escapes."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def files_under(
    folder: Path, prefix: str = "", unusable: list[tuple[str, str]] | None = None
) -> Iterator[str]:
    """Paths (`prefix` + relative, with /) of the files under `folder`, hidden files and
    folders left out, in directory order. os.scandir knows most entries' type without a stat
    per file, which matters on network file systems and for ImageNet-C's 3.75 M files. A
    folder that cannot be listed is an error naming it. Entries that cannot be images (a
    name that is not UTF-8, a broken or looping symbolic link, a link to a folder, a device)
    go to `unusable` with the reason, when it is given."""
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError as exc:
        raise ShiftbenchError(f"cannot list {folder}: {exc.strerror or exc}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = prefix + entry.name
        reason = None
        try:
            relative.encode()
            if entry.is_dir(follow_symlinks=False):
                yield from files_under(Path(entry.path), f"{relative}/", unusable)
                continue
            if entry.is_file():
                yield relative
                continue
            if not entry.is_symlink():
                reason = "not a regular file"
            elif os.path.exists(entry.path):
                reason = "symbolic link to a folder, not followed"
            else:
                reason = "broken symbolic link"
        except UnicodeEncodeError:
            reason = "file name is not valid UTF-8"
        except OSError as exc:  # a symbolic link loop
            reason = exc.strerror or str(exc)
        if unusable is not None:
            unusable.append((printable(relative), reason))


def class_folders(root: Path) -> list[str]:
    """The sorted class folders of an image-folder tree (hidden ones left out); a folder
    name that is not UTF-8 is an error, as its class cannot be named or mapped."""
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
    except OSError as exc:
        raise ShiftbenchError(f"cannot list {root}: {exc.strerror or exc}") from None
    for name in classes:
        try:
            name.encode()
        except UnicodeEncodeError:
            raise ShiftbenchError(
                f"the class folder {root / printable(name)} has a name that is not valid UTF-8: "
                "rename it"
            ) from None
    return classes


def scan_image_folder(
    root: str | Path,
    num_classes: int,
    limit: int | None = None,
    image_list: ImageList | None = None,
) -> ImageSet:
    """List an image-folder tree (one sub-folder per class) and label it for a model.

    Files without an image extension and entries that cannot be images (see `files_under`)
    are skipped and counted; hidden files and folders are ignored.
    `image_list` keeps the images it names (each must be there); `limit` then keeps
    `limit` images evenly spread over the sorted listing. Images keep their position in
    the full listing as their index, so their random draws do not depend on the selection.
    """
    root = check_data_root(root)
    classes = class_folders(root)
    if not classes:
        flat_imagenet = next(root.glob("ILSVRC2012_val_*"), None) is not None
        hint = (
            ": ImageNet's validation images come in one flat folder; sort them into one "
            "folder per synset first (as torchvision.datasets.ImageNet or valprep.sh does)"
            if flat_imagenet
            else ""
        )
        raise ShiftbenchError(
            f"{root} has no class sub-folders (expected root/<class>/<image>){hint}"
        )
    label_map, index_of = class_indices(classes, num_classes)
    listed: list[tuple[str, int]] = []
    skipped: list[tuple[str, str]] = []
    for name in classes:
        found = files_under(root / name, f"{name}/", skipped)
        for relative in sorted(found, key=lambda p: p.split("/")):
            if relative.lower().endswith(IMAGE_EXTENSIONS):
                listed.append((relative, index_of[name]))
            else:
                skipped.append((relative, "not an image file"))
    skipped.sort(key=lambda entry: entry[0].split("/"))
    if not listed:
        raise ShiftbenchError(f"no images found under {root}")
    if limit is not None and limit < 1:
        raise ShiftbenchError("{limit} must be at least 1", "limit")
    positions = list(range(len(listed)))
    if image_list is not None:
        positions = [i for i in positions if listed[i][0] in image_list.paths]
        absent = image_list.paths - {listed[i][0] for i in positions}
        if absent:
            raise ShiftbenchError(
                f"the list {image_list.path} names {len(absent)} image(s) not under {root}, "
                f"e.g. {min(absent)}"
            )
    if limit:
        positions = [positions[p] for p in subset_positions(len(positions), limit)]
    items = ImageItems.build(
        positions, (listed[i][0] for i in positions), (listed[i][1] for i in positions)
    )
    return ImageSet(root, classes, label_map, items, len(listed), skipped, limit, image_list)


# What opening or decoding an image file raises when the file is not a readable image: PIL's
# errors for truncated or unknown files, and its refusal of images over twice its pixel limit.
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@contextmanager
def open_image(path: str | Path | BinaryIO) -> Iterator[Image.Image]:
    """`PIL.Image.open`, without PIL's multi-line DecompressionBombWarning for images between
    its pixel limit and twice it (large photographs, decoded as any other); beyond twice the
    limit PIL raises DecompressionBombError, one of `UNREADABLE`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            yield image


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of a PIL image of any mode. Images of more than 8 bits per sample (16-bit
    PNG and TIFF: modes I;16*, 32-bit integer TIFF: I, float TIFF: F), which PIL's own
    convert("RGB") clips to 255 (an all-white image), are scaled from their stored type as
    torchvision's `to_dtype(..., torch.uint8, scale=True)` does: uint16 >> 8, int32 >> 23,
    float x (256 - 1e-3) then floor, for values in [0, 1]; values outside the type's range
    are clamped to it first."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image)
        if image.mode == "F":
            gray = np.floor(np.clip(np.nan_to_num(values), 0.0, 1.0) * (256 - 1e-3))
        elif image.mode == "I":
            gray = np.clip(values, 0, None) >> 23
        else:
            gray = values >> 8
        image = Image.fromarray(gray.astype(np.uint8), "L")
    return image.convert("RGB")


def load_canvas(
    path: str | Path | BinaryIO | Image.Image,
    canvas_size: int,
    interpolation: str,
    resize: int | None = None,
    border: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Decode an image into a uint8 [3, C, C] canvas: shorter side resized to C (or to
    `resize`), centre crop C.

    This is torchvision's Resize(C) + CenterCrop(C) on the PIL image, so the canvas's centre
    window of the model's input size is exactly the standard Resize + CenterCrop evaluation.
    With a `border` (before, after), the image is resized and cropped to the inner side
    C - before - after instead and framed in black: torchvision's Pad on each side.
    """
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode

    inner = canvas_size - sum(border)
    opened = nullcontext(path) if isinstance(path, Image.Image) else open_image(path)
    with opened as image:  # PIL's pixel-limit check runs on the crop too
        rgb = to_rgb(image)
        rgb = F.resize(rgb, [resize or inner], interpolation=InterpolationMode(interpolation))
        rgb = F.center_crop(rgb, [inner, inner])
    return frame(F.pil_to_tensor(rgb), border)


def frame(image: torch.Tensor, border: tuple[int, int]) -> torch.Tensor:
    """`image` [3, H, W] with `border` (before, after) black pixels around it on each axis."""
    before, after = border
    if not before and not after:
        return image
    return torch.nn.functional.pad(image, (before, after, before, after))


Draws = Callable[[int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Encoded:
    """A JPEG file's bytes (1-D uint8), to be decoded on the device, at its place in a batch,
    with its item's `resize`."""

    position: int
    data: torch.Tensor
    path: str
    resize: int | None = None


@dataclass
class CanvasBatch:
    """Decoded canvases of a batch of images, with labels, ids, per-image random draws of
    each suite (stacked per suite), and the files that could not be decoded. After `to`,
    `host_draws` keeps the draws on the CPU too, for suites that read them on the host.
    With `--decode device`, the JPEG images arrive `encoded` and `canvases` holds only the
    others, in batch order; `shiftbench.data.decode.to_device` completes the batch."""

    canvases: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    draws: dict[str, torch.Tensor]
    skipped: list[tuple[str, str]]
    host_draws: dict[str, torch.Tensor] | None = None
    encoded: list[Encoded] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.indices.numel())

    def pin_memory(self) -> CanvasBatch:
        """Page-locked copy for asynchronous host-to-device transfer (DataLoader calls this)."""
        return CanvasBatch(
            self.canvases.pin_memory(),
            self.labels.pin_memory(),
            self.indices,
            {k: v.pin_memory() for k, v in self.draws.items()},
            self.skipped,
            encoded=self.encoded,
        )

    def to(self, device: torch.device) -> CanvasBatch:
        """The same batch on `device` (non-blocking from pinned memory); ids stay on the CPU."""
        return CanvasBatch(
            self.canvases.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.indices,
            {k: v.to(device, non_blocking=True) for k, v in self.draws.items()},
            self.skipped,
            self.draws,
        )


Sample = tuple[torch.Tensor | None, ImageItem, dict[str, torch.Tensor], str | None]


JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


class CanvasDataset(Dataset):
    """Images of an ImageSet decoded to canvases, with each image's random draws.

    `draws(index)` runs in the loader's worker processes, so the per-image random numbers of
    every suite are ready, pinned, beside the canvas. Unreadable files come back as failures.
    With `encoded`, JPEG files come back as their bytes (1-D), for decoding on the device.
    `border` frames each image in black (see `load_canvas`).
    """

    def __init__(
        self,
        images: ImageSet,
        canvas_size: int,
        interpolation: str,
        draws: Draws | None = None,
        encoded: bool = False,
        border: tuple[int, int] = (0, 0),
    ) -> None:
        self.images = images
        self.canvas_size = canvas_size
        self.interpolation = interpolation
        self.draws = draws
        self.encoded = encoded
        self.border = border

    def __len__(self) -> int:
        return len(self.images.items)

    def __getitem__(self, i: int) -> Sample:
        item = self.images.items[i]
        path = self.images.source(item)
        try:
            if self.encoded and isinstance(path, Path) and path.suffix.lower() in JPEG_SUFFIXES:
                canvas = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
            else:
                canvas = load_canvas(
                    path, self.canvas_size, self.interpolation, item.resize, self.border
                )
        except UNREADABLE as exc:
            return None, item, {}, f"unreadable: {str(exc).splitlines()[0] if str(exc) else exc}"
        return canvas, item, self.draws(item.index) if self.draws else {}, None


def collate_canvases(samples: list[Sample]) -> CanvasBatch:
    """Stack decoded canvases and draws; keep encoded JPEGs apart (with their place in the
    batch) and the list of files that could not be decoded."""
    good = [(c, item, d) for c, item, d, _ in samples if c is not None]
    skipped = [(item.path, reason) for c, item, _, reason in samples if c is None and reason]
    encoded = [
        Encoded(i, c, item.path, item.resize) for i, (c, item, _) in enumerate(good) if c.dim() == 1
    ]
    decoded = [c for c, _, _ in good if c.dim() == 3]
    canvases = torch.stack(decoded) if decoded else torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    draws = {k: torch.stack([d[k] for _, _, d in good]) for k in good[0][2]} if good else {}
    labels = torch.tensor([item.label for _, item, _ in good], dtype=torch.long)
    indices = torch.tensor([item.index for _, item, _ in good], dtype=torch.long)
    return CanvasBatch(canvases, labels, indices, draws, skipped, encoded=encoded)
