"""The released ImageNet-C files on disk: <root>/<corruption>/<severity>/<synset>/<image>."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ShiftbenchError
from .tables import ALL, SEVERITIES


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
        raise ShiftbenchError(f"--severities takes numbers in 1..5, got '{text}'")
    return tuple(values)


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))


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
            if folder.is_dir() and _has_images(folder):
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
