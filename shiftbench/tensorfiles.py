"""Files written whole or not at all, and safetensors files read and written with the errors
of any other file.

safetensors' own `save_file` and `load_file` raise `SafetensorError` for a full disk, a
missing folder or a truncated file, which is neither an OSError nor a ValueError: callers
that turn those into one line missed them. Here the bytes are made in memory and written
with Python's file IO (a full disk is an OSError with its errno), and a file that cannot
be parsed is a ValueError naming it.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load
from safetensors.torch import save as _save


def write_tensors(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """Write `tensors` (contiguous, on the CPU) and `metadata` as a safetensors file at
    `path`, whole or not at all: into a hidden file beside it, then renamed into place.
    OSError when it cannot be written, with the hidden file removed."""
    write_whole(path, _save(tensors, metadata=metadata))


def write_whole(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all: into a hidden file beside it, then renamed
    into place (a reader never sees half a file). OSError when it cannot be written, with
    the hidden file removed."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file, on the CPU; OSError when it cannot be
    read, ValueError when it is not a whole safetensors file (truncated, corrupt)."""
    data = Path(path).read_bytes()
    try:
        tensors = _load(data)
        metadata = _metadata(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a whole safetensors file ({exc})") from None
    return tensors, metadata


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's JSON header."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return header.get("__metadata__") or {}
