"""Checkpoints: state dicts read safely (safetensors, or torch.load with weights_only=True),
unwrapped and loaded into a module, and the files' digests."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..antialias import SETTINGS
from ..errors import ShiftbenchError, first_line

_NESTED_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")
_PREFIXES = ("module.", "_orig_mod.")


def _unwrap_state_dict(state: object, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(state, Mapping):
        nested = next((k for k in _NESTED_KEYS if isinstance(state.get(k), Mapping)), None)
        if nested is None:
            break
        state = state[nested]
    if not isinstance(state, Mapping) or not state:
        raise ShiftbenchError(f"{path} holds no state dict (expected a mapping of tensors)")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, recorded so a result names exactly the weights it used."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a local checkpoint safely (safetensors, or torch.load with weights_only=True).

    Nested `state_dict`/`model` entries are unwrapped and `module.`/`_orig_mod.` prefixes
    (DataParallel, torch.compile) stripped; tensors land on the CPU whatever device saved them.
    """
    path = Path(path)
    if not path.is_file():
        raise ShiftbenchError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text advises weights_only=False: the one thing not to do with a file
        # of unknown origin. Say what the file holds and how to make a safe one instead.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise ShiftbenchError(
                f"{path} holds a pickled Python object ({found.group(1)}), not only tensors: "
                "safe loading (weights_only=True) refused it and ran none of it. Save the weights "
                "alone where the model was made: safetensors.torch.save_file(model.state_dict(), "
                "'weights.safetensors')"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", str(exc))
        reason = detail.group(1) if detail else "not a torch.save file of tensors"
        raise ShiftbenchError(
            f"{path} is not a readable checkpoint (a torch.save file or .safetensors): {reason}"
        ) from None
    except Exception as exc:
        raise ShiftbenchError(f"{path} is not a readable checkpoint: {first_line(exc)}") from None
    return _unwrap_state_dict(state, path)


def conversion_of(path: str | Path) -> dict[str, object] | None:
    """The conversion settings `shiftbench convert` wrote into a safetensors file's metadata;
    None for any other file."""
    if Path(path).suffix != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    try:
        described = json.loads(metadata.get("model", "null")) or {}
        settings = described.get("antialias") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    return {key: settings[key] for key in SETTINGS} if set(SETTINGS) <= set(settings) else None


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load `state` (read from `path`) strictly into `module`.

    Any missing, unexpected or wrongly shaped key is an error that lists them.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        hint = ""
        if _is_antialiased(state) and not _is_antialiased(own):
            hint = " (an anti-aliased checkpoint: add {antialias} with its filter size)"
        message = f"{path} does not match the model; " + "; ".join(parts) + hint
        raise ShiftbenchError(message, "antialias")
    module.load_state_dict(state, strict=True)


def load_weights(module: nn.Module, path: str | Path) -> str:
    """Load a local state dict strictly into `module`; returns the file's SHA-256."""
    load_state(module, read_state_dict(path), path)
    return file_sha256(path)


def _is_antialiased(state: dict[str, torch.Tensor]) -> bool:
    return any(key.rpartition(".")[2] == "filt" for key in state)


def same_keys(module: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = module.state_dict()
    return set(own) == set(state) and all(own[k].shape == state[k].shape for k in own)
