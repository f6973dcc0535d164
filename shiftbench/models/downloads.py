"""Files fetched from the network for a model: pretrained weights, released or URL
checkpoints, Hugging Face repositories. Each comes from its cache when it is there; else, when
offline (HF_HUB_OFFLINE, SHIFTBENCH_OFFLINE) or the host is unreachable, the request fails
within seconds with what to do instead."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

import torch

from ..errors import ShiftbenchError, first_line

NETWORK_TIMEOUT_S = 3.0


def _hub_file(repo: str, filenames: Iterable[str], revision: str | None = None) -> Path | None:
    """The first of `filenames` of the Hugging Face repository `repo` found in the cache."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo, filename, revision=revision)
        if isinstance(found, str):
            return Path(found)
    return None


def _require_hub(name: str, what: str = "pretrained weights") -> None:
    """`require_download` from the Hugging Face Hub, into its cache."""
    from huggingface_hub import constants

    require_download(name, "https://huggingface.co", Path(constants.HF_HUB_CACHE), what)


def _hub_config(arch: str) -> Path | None:
    """The cached config.json of an `hf-hub:ORG/REPO[@REV]` name."""
    repo, _, revision = arch.removeprefix("hf-hub:").partition("@")
    return _hub_file(repo, ("config.json",), revision or None)


def hub_files_cached(arch: str, pretrained: bool) -> None:
    """For `hf-hub:` names: the config (and the weights, when pretrained) in the Hugging Face
    cache, or a download that can happen, or an error within seconds."""
    repo, _, revision = arch.removeprefix("hf-hub:").partition("@")
    weights = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
    missing_weights = pretrained and _hub_file(repo, weights, revision or None) is None
    if _hub_config(arch) is None or missing_weights:
        _require_hub(arch, "pretrained weights" if pretrained else "config.json")


def hub_pinned(arch: str) -> str:
    """`hf-hub:ORG/REPO@COMMIT`: the name with the revision that was loaded, so that a rerun
    loads the same files after the repository moves on."""
    config = _hub_config(arch)
    if config is None or config.parent.parent.name != "snapshots":
        return arch
    return f"{arch.partition('@')[0]}@{config.parent.name}"


def _offline() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("SHIFTBENCH_OFFLINE", ""))
    return any(flag.lower() in ("1", "true", "yes", "on") for flag in flags)


def require_download(name: str, url: str, cache: Path, what: str = "pretrained weights") -> None:
    """Fail within seconds, with what to do, when files are not cached and cannot be fetched."""
    parsed = urlparse(url)
    host = parsed.hostname or url
    source = f"{url} into {cache}" if parsed.path not in ("", "/") else f"them into {cache}"
    advice = f"fetch {source} on a machine with network"
    if what == "pretrained weights":
        advice = f"pass {{weights}} PATH, use {{pretrained=False}}, or {advice}"
    if _offline():
        raise ShiftbenchError(
            f"{name}: {what} not cached (offline): {advice}", "weights", "pretrained=False"
        )
    try:
        socket.create_connection((host, 443), timeout=NETWORK_TIMEOUT_S).close()
    except OSError as exc:
        raise ShiftbenchError(
            f"{name}: {what} not cached and {host} unreachable ({exc.strerror or exc}): {advice}",
            "weights", "pretrained=False",
        ) from None  # fmt: skip


def is_url(text: str) -> bool:
    """Whether `--weights` names a download (http or https) rather than a file."""
    return text.startswith(("http://", "https://"))


def fetch(url: str, name: str) -> Path:
    """A file from `url` in torch's hub cache, downloaded once; a name ending in `-<hash>.ext`
    (8 or more hex digits, torch hub's convention) has its SHA-256 checked against it.
    Fails within seconds when offline."""
    name_in_url = os.path.basename(urlparse(url).path)
    if not name_in_url:
        raise ShiftbenchError(f"{url} names no file to download")
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name_in_url
    if cached.is_file():
        return cached
    require_download(name, url, cached.parent)
    cached.parent.mkdir(parents=True, exist_ok=True)
    found = re.search(r"-([a-f0-9]{8,})\.", cached.name)
    try:
        torch.hub.download_url_to_file(url, str(cached), found.group(1) if found else None)
    except (OSError, RuntimeError) as exc:  # HTTP errors are OSErrors; a bad hash, RuntimeError
        raise ShiftbenchError(f"could not download {url}: {first_line(exc)}") from None
    return cached


def timm_weights_file(arch: str) -> str:
    """Path of the cached pretrained file for a timm name, after making sure it can be had."""
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.list_pretrained(arch.split(".")[0] + ".*"):
        raise ShiftbenchError(
            f"timm has no pretrained weights for {arch}: use {{pretrained=False}} or "
            "{weights} PATH", "pretrained=False", "weights",
        )  # fmt: skip
    if "." in arch and arch not in timm.list_pretrained():
        tags = timm.list_pretrained(arch.split(".")[0] + ".*")
        raise ShiftbenchError(f"unknown pretrained tag '{arch}'; available: {', '.join(tags)}")
    cfg = get_pretrained_cfg(arch)
    if cfg.hf_hub_id:
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        found = _hub_file(cfg.hf_hub_id, [*names, "model.safetensors", "pytorch_model.bin"])
        if found is not None:
            return str(found)
        _require_hub(arch)
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(cfg.hf_hub_id, "model.safetensors")
        except Exception:  # older repos ship only the pickle
            return hf_hub_download(cfg.hf_hub_id, "pytorch_model.bin")
    if cfg.url:
        return str(fetch(cfg.url, arch))
    raise ShiftbenchError(
        f"timm lists no download location for {arch}: pass {{weights}} PATH", "weights"
    )
