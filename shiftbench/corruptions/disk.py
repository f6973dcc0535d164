"""The released ImageNet-C files on disk: <root>/<corruption>/<severity>/<synset>/<image>.

Every file of every (corruption, severity) set, and optionally the clean images they were
made from, form one listing (a `ReleasedSet`), so a run over ImageNet-C is one pass of the
engine like any other: chunked, resumable, sharded over torchrun processes, several models
at once. Each image carries its cell (which corruption and severity, or clean) and its base
image (`<synset>/<file stem>`, the validation image it was made from).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from ..data.folders import (
    ImageItem,
    ImageItems,
    ImageList,
    ImageSet,
    files_under,
    scan_image_folder,
)
from ..errors import ShiftbenchError
from .scores import coverage_warning
from .tables import ALL, BENCHMARK, SEVERITIES

# Side of the released images: the validation images after Resize(256) + CenterCrop(224),
# corrupted, saved as JPEG.
STORED_SIZE = 224
CLEAN_RESIZE = 256
CLEAN_FOLDER = "clean"


@dataclass
class CorruptedSets:
    """The (corruption, severity) folders found under an ImageNet-C root, and what is not."""

    root: Path
    sets: dict[tuple[str, int], Path]
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        """The JSON-ready description recorded in results.json."""
        return {
            "root": str(self.root),
            "sets": [f"{c}/{s}" for c, s in self.sets],
            "missing": self.missing,
            "ignored": self.ignored,
        }


def parse_corruptions(text: str | None) -> tuple[str, ...]:
    """Corruption names, groups (noise, blur, weather, digital, extra) or `all`, comma-separated."""
    from .tables import BENCHMARK, GROUPS

    if text is None or text.strip() == "all":
        return ALL
    names: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "benchmark":
            names += BENCHMARK
        elif part in GROUPS:
            names += GROUPS[part]
        elif part in ALL:
            names.append(part)
        else:
            raise ShiftbenchError(
                f"unknown corruption '{part}'; choose from {', '.join(ALL)}, a group "
                f"({', '.join(GROUPS)}), benchmark or all"
            )
    return tuple(n for n in ALL if n in names)


def parse_severities(text: str | None) -> tuple[int, ...]:
    """Severities 1..5, comma-separated."""
    if text is None:
        return SEVERITIES
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or any(v not in SEVERITIES for v in values):
        raise ShiftbenchError(f"{{severities}} takes numbers in 1..5, got '{text}'", "severities")
    return tuple(values)


def scan_imagenet_c(
    root: str | Path, corruptions: tuple[str, ...] = ALL, severities: tuple[int, ...] = SEVERITIES
) -> CorruptedSets:
    """Find the (corruption, severity) folders asked for; missing ones are listed, not fatal,
    unless nothing at all is found. Folders that are not corruption names are ignored and
    listed."""
    root = Path(root)
    if not root.is_dir():
        raise ShiftbenchError(f"ImageNet-C root is not a folder: {root}")
    present = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    ignored = sorted(present - set(ALL))
    sets: dict[tuple[str, int], Path] = {}
    missing: list[str] = []
    for name in corruptions:
        if name not in present:
            missing.append(name)
            continue
        for severity in severities:
            folder = root / name / str(severity)
            if folder.is_dir() and next(files_under(folder), None) is not None:
                sets[(name, severity)] = folder
            else:
                reason = "empty" if folder.is_dir() else "missing"
                missing.append(f"{name}/{severity} ({reason})")
    if not sets:
        raise ShiftbenchError(
            f"no ImageNet-C images under {root} (expected <root>/<corruption>/<severity>/"
            f"<synset>/<image>, corruptions such as {', '.join(ALL[:3])})"
        )
    return CorruptedSets(root, sets, missing, ignored)


def cell_id(name: str, severity: int) -> int:
    """The fixed number of a (corruption, severity) cell; 0 is the clean images."""
    if name == CLEAN_FOLDER:
        return 0
    return 1 + ALL.index(name) * len(SEVERITIES) + severity - 1


def cell_name(cell: int) -> tuple[str, int]:
    """(corruption, severity) of a cell number; ("clean", 0) for 0."""
    if cell == 0:
        return CLEAN_FOLDER, 0
    return ALL[(cell - 1) // len(SEVERITIES)], (cell - 1) % len(SEVERITIES) + 1


def cell_folder(cell: int) -> str:
    """Where a cell's images lie: `<corruption>/<severity>`, or "clean" for 0."""
    name, severity = cell_name(cell)
    return CLEAN_FOLDER if cell == 0 else f"{name}/{severity}"


def check_every_set_read(cell: torch.Tensor, indices: torch.Tensor) -> None:
    """Every set (the `cell` of each listed image) needs a readable image among the evaluated
    `indices`: an unreadable set is an error, not a corruption quietly left out of the means."""
    read = set(cell[indices].unique().tolist())
    unread = sorted(set(cell.unique().tolist()) - read)
    if unread:
        raise ShiftbenchError(f"none of the images of {cell_folder(unread[0])} could be read")


@dataclass
class ReleasedSet(ImageSet):
    """Every image of the (corruption, severity) sets found under an ImageNet-C root, and of
    the clean folder when given (paths `clean/<synset>/<file>`), as one listing. `cell[i]`
    and `base[i]` are image i's cell number and base-image number."""

    kind: ClassVar[str] = "imagenet_c"
    title: ClassVar[str] = "the released ImageNet-C files"
    read_as_stored: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...] | None] = ("corruption",)
    # stored files are not resized into a canvas, nor corrupted on the fly
    unread: ClassVar[tuple[str, ...]] = ("max_shift", "canvas", "jpeg_like_release")

    sets: CorruptedSets | None = None
    clean_root: Path | None = None
    stored_size: int = STORED_SIZE
    cell: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    base: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    def file(self, item: ImageItem) -> Path:
        """Where `item` is on disk: under the clean folder or the ImageNet-C root."""
        head, _, rest = item.path.partition("/")
        if head == CLEAN_FOLDER and self.clean_root is not None:
            return self.clean_root / rest
        return self.root / item.path

    def margin(self, input_size: int) -> int:
        """Pixels around a model's centre window in the stored images (the max shift)."""
        if input_size > self.stored_size:
            raise ShiftbenchError(
                f"the model takes {input_size} px but ImageNet-C images are {self.stored_size} px"
            )
        return self.stored_size - input_size

    @property
    def found_sets(self) -> CorruptedSets:
        """The sets this listing was made of (none for an empty listing)."""
        return self.sets if self.sets is not None else CorruptedSets(self.root, {})

    def images_per_set(self) -> dict[str, int]:
        """How many images each set (and the clean folder) contributes, by `<c>/<s>`."""
        cells, counts = self.cell.unique(return_counts=True)
        return {cell_folder(c): n for c, n in zip(cells.tolist(), counts.tolist(), strict=True)}

    def _severities(self) -> dict[str, set[int]]:
        """The severities found of each corruption found."""
        found: dict[str, set[int]] = {}
        for name, severity in self.found_sets.sets:
            found.setdefault(name, set()).add(severity)
        return found

    def _complete(self) -> list[str]:
        """Corruptions found at all five severities: those the means cover."""
        return [n for n, s in self._severities().items() if s == set(SEVERITIES)]

    def warnings(self) -> list[str]:
        out = []
        missing = self.found_sets.missing
        benchmark = [m for m in missing if m.split("/")[0] in BENCHMARK]
        extra = [m for m in missing if m not in benchmark]
        if benchmark:
            out.append(f"ImageNet-C sets not found: {', '.join(benchmark)}")
        if extra:
            out.append(f"extra corruption sets not found, not in extra_error: {', '.join(extra)}")
        counts = self.images_per_set()
        usual = Counter(counts.values()).most_common(1)[0][0]
        odd = [f"{name} {count}" for name, count in counts.items() if count != usual]
        if odd:
            out.append(
                f"sets differ in size: most hold {usual} images, {', '.join(odd)} (a partly "
                "extracted archive?); each set's error is over its own images"
            )
        coverage = coverage_warning(self._complete())
        return [*out, coverage] if coverage else out

    def check_evaluated(self, indices: torch.Tensor) -> None:
        check_every_set_read(self.cell, indices)

    def describe(self) -> dict:
        """The folder's description, with the sets found and missing and which corruptions
        the means cover (those found at all five severities)."""
        sets = self.found_sets
        found, complete = self._severities(), self._complete()
        return {
            **super().describe(),
            "imagenet_c": {
                **sets.describe(),
                "clean": str(self.clean_root) if self.clean_root else None,
                "images_per_set": self.images_per_set(),
                "stored_size": self.stored_size,
                "mce_over": [n for n in BENCHMARK if n in complete],
                "left_out_of_means": [n for n in ALL if n in found and n not in complete],
            },
        }


def released_images(
    root: str | Path,
    num_classes: int,
    corruptions: tuple[str, ...] = ALL,
    severities: tuple[int, ...] = SEVERITIES,
    limit: int | None = None,
    clean: str | Path | None = None,
    stored_size: int = STORED_SIZE,
    image_list: ImageList | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReleasedSet:
    """One listing of the ImageNet-C sets asked for (and of the clean images `clean`),
    labelled for a model with `num_classes` outputs. `image_list` keeps the images it names
    in every set (paths `<synset>/<file>`, e.g. RobustBench's 5000); `limit` keeps that many
    images of each set, evenly spread (the same base images in every complete set).
    Corrupted images are used as stored (an image of another size is brought to
    `stored_size` by Resize + CenterCrop); clean ones get Resize(256) + CenterCrop(224), how
    the corrupted ones were made (scaled with `stored_size`). `progress(done, total)` hears
    how many of the folders have been listed."""
    sets = scan_imagenet_c(root, corruptions, severities)
    folders: list[tuple[int, Path, int | None]] = [
        (cell_id(name, severity), folder, None) for (name, severity), folder in sets.sets.items()
    ]
    if clean is not None:
        folders.insert(0, (0, Path(clean), round(stored_size * CLEAN_RESIZE / STORED_SIZE)))
    report = progress or (lambda done, total: None)
    report(0, len(folders))
    parts: list[tuple[int, ImageSet, int | None]] = []
    for cell, folder, resize in folders:
        parts.append((cell, scan_image_folder(folder, num_classes, limit, image_list), resize))
        report(len(parts), len(folders))
    listings: list[ImageItems] = []
    cells: list[torch.Tensor] = []
    first_seen: dict[str, int] = {}  # base image (`<synset>/<stem>`) -> its number in order seen
    bases: list[torch.Tensor] = []
    skipped: list[tuple[str, str]] = []
    start = 0
    for cell, listing, resize in parts:
        prefix = cell_folder(cell)
        paths = listing.items.paths()
        count = len(paths)
        listings.append(
            ImageItems.build(
                range(start, start + count),
                (f"{prefix}/{path}" for path in paths),
                listing.items.labels.tolist(),
                resize,
            )
        )
        keys = (os.path.splitext(path)[0] for path in paths)
        numbers = [first_seen.setdefault(k, len(first_seen)) for k in keys]
        bases.append(torch.tensor(numbers, dtype=torch.long))
        cells.append(torch.full((count,), cell, dtype=torch.long))
        skipped += [(f"{prefix}/{path}", reason) for path, reason in listing.skipped]
        start += count
    rank = {key: i for i, key in enumerate(sorted(first_seen))}
    renumber = torch.tensor([rank[key] for key in first_seen], dtype=torch.long)
    first = parts[0][1]
    return ReleasedSet(
        root=sets.root,
        classes=first.classes,
        label_map=first.label_map,
        items=ImageItems.concat(listings),
        found=sum(listing.found for _, listing, _ in parts),
        skipped=skipped,
        limit=limit,
        image_list=image_list,
        sets=sets,
        clean_root=Path(clean) if clean is not None else None,
        stored_size=stored_size,
        cell=torch.cat(cells),
        base=renumber[torch.cat(bases)],
    )
