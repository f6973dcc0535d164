"""Checkpoints of an evaluation in progress, for `--resume DIR`.

While a run writes into DIR, each finished chunk of images leaves its per-image records in
DIR/.partial/chunk-NNNNNN.safetensors (written whole, then renamed into place), beside
run.json, what the run measures. A resumed run must measure the same thing (the same models,
weights, images and settings; batch size, workers, device and compilation may change: they
do not change predictions), skips the finished chunks and reads their records back, so its
results are those of an uninterrupted run. The folder goes once the results are written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch

from ..config import SPEED_SETTINGS
from ..data.folders import ImageItems
from ..errors import ShiftbenchError, WriteError, first_line
from ..tensorfiles import read_tensors, write_tensors, write_whole
from .distributed import World, barrier

PARTIAL = ".partial"

Records = dict[str, torch.Tensor]


def run_identity(models: list[dict], data: dict, images: ImageItems, config: dict) -> dict:
    """What a run measures: models, data, the listing of images and every setting that
    changes a number (JSON-ready, compared field by field on resume)."""
    return {
        "models": models,
        "data": {k: data.get(k) for k in ("root", "label_map", "classes", "limit")},
        "images": {"count": len(images), "sha256": images.digest()},
        "config": {k: v for k, v in config.items() if k not in SPEED_SETTINGS},
    }


def _first_difference(saved: object, current: object, path: str = "") -> str | None:
    # The listing is never printed whole: a run.json of an older version held every path.
    if path == ".images" and isinstance(current, dict):
        if saved == current:
            return None
        before = saved.get("count", "?") if isinstance(saved, dict) else "?"
        return f"images: the listing of images differs ({before} -> {current['count']} images)"
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            found = _first_difference(saved.get(key), current.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    return None if saved == current else f"{path.lstrip('.')}: {saved} -> {current}"


class Checkpoint:
    """The .partial folder of one output folder."""

    def __init__(self, out: str | Path, identity: dict, lanes: int) -> None:
        self.folder = Path(out) / PARTIAL
        self.identity = identity
        self.lanes = lanes
        self.unreadable: list[tuple[str, str]] = []  # chunk files found corrupt, evaluated again
        self._kept: dict[int, tuple[list[Records], list[tuple[str, str]]]] = {}

    def _chunk(self, number: int) -> Path:
        return self.folder / f"chunk-{number:06d}.safetensors"

    def start(self, resume: bool, world: World, chunks: Iterable[int] = ()) -> set[int]:
        """Numbers of the chunks of `chunks` already finished (none unless `resume`); a fresh
        run clears an old checkpoint. Rank 0 prepares the folder while the others wait. A
        finished chunk whose file cannot be read whole is left out (its images are evaluated
        again) and named in `unreadable`."""
        run_file = self.folder / "run.json"
        if world.main and (not resume or not run_file.is_file()):
            try:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder.mkdir(parents=True)
                write_whole(run_file, (json.dumps(self.identity, indent=1) + "\n").encode())
            except OSError as exc:
                shutil.rmtree(self.folder, ignore_errors=True)
                raise WriteError(f"cannot write {self.folder}: {exc.strerror or exc}") from None
        barrier(world)
        try:
            saved = json.loads(run_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ShiftbenchError(f"{run_file} is not readable: {exc}") from None
        difference = _first_difference(saved, json.loads(json.dumps(self.identity)))
        if difference:
            raise ShiftbenchError(
                f"--resume: {self.folder.parent} holds a run of something else ({difference}); "
                "give the same model, data and settings, or another --out"
            )
        for number in chunks:
            if self._chunk(number).is_file():
                try:
                    self._kept[number] = self._read(number)
                except (OSError, ValueError, KeyError, IndexError) as exc:
                    self.unreadable.append((str(self._chunk(number)), first_line(exc)))
        return set(self._kept)

    def save(self, number: int, records: list[Records], skipped: list[tuple[str, str]]) -> None:
        """Keep one finished chunk: every lane's records and the files it could not read."""
        tensors = {
            f"{lane}/{key}": value.contiguous()
            for lane, lane_records in enumerate(records)
            for key, value in lane_records.items()
        }
        try:
            write_tensors(tensors, self._chunk(number), metadata={"skipped": json.dumps(skipped)})
        except OSError as exc:
            raise WriteError(
                f"cannot write the checkpoint {self._chunk(number)}: {exc.strerror or exc}; "
                f"the chunks finished before it stay, and --resume {self.folder.parent} "
                "continues from them"
            ) from None

    def load(self, number: int) -> tuple[list[Records], list[tuple[str, str]]]:
        """One finished chunk as `save` kept it (read by `start`)."""
        return self._kept.pop(number)

    def _read(self, number: int) -> tuple[list[Records], list[tuple[str, str]]]:
        tensors, metadata = read_tensors(self._chunk(number))
        records: list[Records] = [{} for _ in range(self.lanes)]
        for name, value in tensors.items():
            lane, key = name.split("/", 1)
            records[int(lane)][key] = value
        skipped = [tuple(entry) for entry in json.loads(metadata.get("skipped", "[]"))]
        return records, skipped  # type: ignore[return-value]


def interrupted(out: str | Path) -> int | None:
    """The number of chunks an interrupted run left in `out`; None when it holds none."""
    folder = Path(out) / PARTIAL
    if not (folder / "run.json").is_file():
        return None
    return len(list(folder.glob("chunk-*.safetensors")))


def discard(out: str | Path) -> None:
    """Remove the checkpoint of a run whose results are written."""
    shutil.rmtree(Path(out) / PARTIAL, ignore_errors=True)
