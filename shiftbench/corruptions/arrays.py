"""The released CIFAR-10-C and CIFAR-100-C (Hendrycks & Dietterich, ICLR 2019): one
`<corruption>.npy` per corruption holding 50,000 uint8 images (H x W x 3), the 10,000 test
images at severity 1, then 2, ..., 5, and `labels.npy` with their 50,000 labels.

The arrays are memory-mapped (a worker reads only the rows it decodes) and each image is used
as stored. The corruption suite scores them file by file, as the released ImageNet-C files;
CIFAR has no AlexNet normaliser, so no CE or mCE: the error per corruption and severity and
the mean errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from ..data.folders import ImageItem, ImageItems, ImageSet, subset_positions
from ..errors import ShiftbenchError
from .disk import cell_folder, cell_id, check_every_set_read
from .tables import ALL, BENCHMARK, SEVERITIES

LABELS = "labels.npy"


@dataclass
class ReleasedArrays(ImageSet):
    """The images of the `<corruption>.npy` arrays found under a CIFAR-C root, one listing
    (paths `<corruption>.npy#<row>`); `cell[i]` and `base[i]` are image i's (corruption,
    severity) number and test image (row mod the images per severity)."""

    kind: ClassVar[str] = "cifar_c"
    title: ClassVar[str] = "the released CIFAR-C arrays"
    read_as_stored: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...] | None] = ("corruption",)
    unread: ClassVar[tuple[str, ...]] = ("max_shift", "canvas", "jpeg_like_release")

    stored_size: int = 32
    per_severity: int = 10_000
    missing: list[str] = field(default_factory=list)
    cell: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    base: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # loader workers map the arrays themselves: a pickled memory map would copy them
        return {**self.__dict__, "_arrays": {}}

    def source(self, item: ImageItem) -> Image.Image:
        """The stored image of `item`, read from its array."""
        name, _, row = item.path.partition("#")
        if name not in self._arrays:
            self._arrays[name] = np.load(self.root / name, mmap_mode="r")
        return Image.fromarray(np.ascontiguousarray(self._arrays[name][int(row)]))

    def margin(self, input_size: int) -> int:
        """Pixels around a model's centre window in the stored images (the max shift)."""
        if input_size > self.stored_size:
            raise ShiftbenchError(
                f"the model takes {input_size} px but the CIFAR-C images are {self.stored_size} px"
            )
        return self.stored_size - input_size

    def warnings(self) -> list[str]:
        if not self.missing:
            return []
        return [f"CIFAR-C arrays not found: {', '.join(self.missing)}"]

    def check_evaluated(self, indices: torch.Tensor) -> None:
        check_every_set_read(self.cell, indices)

    def describe(self) -> dict:
        """The root's description, with the arrays found and missing."""
        names = {cell_folder(c).split("/")[0] for c in self.cell.unique().tolist()}
        found = [n for n in ALL if n in names]
        return {
            **super().describe(),
            "cifar_c": {
                "found": found,
                "missing": self.missing,
                "images_per_severity": self.per_severity,
                "stored_size": self.stored_size,
                "mean_over": [n for n in BENCHMARK if n in found],
            },
        }


def _array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ShiftbenchError(f"{path} is not a readable .npy array: {exc}") from None


def _labels(root: Path, num_classes: int) -> np.ndarray:
    if not (root / LABELS).is_file():
        raise ShiftbenchError(
            f"no {LABELS} under {root} (expected the released CIFAR-10-C or CIFAR-100-C: "
            f"<corruption>.npy and {LABELS})"
        )
    labels = _array(root / LABELS)
    if labels.ndim != 1 or labels.shape[0] % len(SEVERITIES):
        raise ShiftbenchError(
            f"{root / LABELS} holds {labels.shape} labels: expected one per image, five "
            "severities of the same test images"
        )
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ShiftbenchError(
            f"{root / LABELS} holds label {int(labels.max())} but the model has {num_classes} "
            "outputs (CIFAR-10-C needs 10, CIFAR-100-C 100: --num-classes)"
        )
    return np.asarray(labels, dtype=np.int64)


def released_arrays(
    root: str | Path,
    num_classes: int,
    corruptions: tuple[str, ...] = ALL,
    severities: tuple[int, ...] = SEVERITIES,
    limit: int | None = None,
) -> ReleasedArrays:
    """One listing of the CIFAR-C arrays asked for, labelled for a model with
    `num_classes` outputs; `limit` keeps that many test images of each set, evenly spread
    (the same test images in every set). Arrays whose shape is not labels' count of square
    RGB uint8 images are refused."""
    root = Path(root)
    labels = _labels(root, num_classes)
    per = labels.shape[0] // len(SEVERITIES)
    rows = np.arange(per) if not limit else np.asarray(subset_positions(per, limit))
    paths, label_parts, cells, bases, missing = [], [], [], [], []
    side, found = None, 0
    for name in corruptions:
        if not (root / f"{name}.npy").is_file():
            missing.append(name)
            continue
        array = _array(root / f"{name}.npy")
        if (
            array.shape[0] != labels.shape[0]
            or array.ndim != 4
            or array.shape[3] != 3
            or (array.shape[1] != array.shape[2] or array.dtype != np.uint8)
        ):
            raise ShiftbenchError(
                f"{root / name}.npy holds {array.dtype} {array.shape}: expected "
                f"{labels.shape[0]} uint8 square RGB images, one per label"
            )  # fmt: skip
        side, found = array.shape[1], found + per * len(severities)
        for severity in severities:
            chosen = rows + (severity - 1) * per
            paths += [f"{name}.npy#{r}" for r in chosen.tolist()]
            label_parts.append(labels[chosen])
            cells.append(torch.full((len(chosen),), cell_id(name, severity), dtype=torch.long))
            bases.append(torch.from_numpy(rows.copy()))
    if not paths:
        raise ShiftbenchError(f"no CIFAR-C arrays under {root} for {', '.join(corruptions)}")
    all_labels = np.concatenate(label_parts)
    items = ImageItems.build(range(len(paths)), paths, all_labels.tolist())
    classes = [str(c) for c in range(num_classes)]
    return ReleasedArrays(
        root=root, classes=classes, label_map=f"{LABELS} (class numbers)", items=items,
        found=found, limit=limit, stored_size=int(side or 32), per_severity=per,
        missing=missing, cell=torch.cat(cells), base=torch.cat(bases),
    )  # fmt: skip
