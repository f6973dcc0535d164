"""What a run will read and where it writes, decided before any model is loaded: the rules
that the command line and Python callers share (a bad request is refused in seconds, not
after the model is built or the images are listed)."""

from __future__ import annotations

import os
from pathlib import Path

from .config import EvalConfig
from .corruptions import ReleasedSet
from .data.folders import ImageSet, check_data_root, read_image_list
from .errors import ShiftbenchError
from .results.store import holds_results
from .run.checkpoint import PARTIAL, interrupted
from .suites import needs_images

# The run's settings that only image suites read (filters reads the weights alone).
IMAGE_SETTINGS = (
    "max_shift", "limit", "image_list", "batch_size", "workers", "amp", "channels_last",
    "compile", "chunk_size", "decode", "canvas",
)  # fmt: skip


def _changed(config: EvalConfig, names: tuple[str, ...]) -> list[str]:
    given, defaults = config.settings(), EvalConfig(suites=config.suites).settings()
    return [n for n in names if n in given and given[n] != defaults[n]]


def _refuse_unread(names: list[str], reason: str) -> None:
    if names:
        verb, pronoun = ("has", "it") if len(names) == 1 else ("have", "them")
        fields_ = ", ".join(f"{{{n}}}" for n in names)
        raise ShiftbenchError(f"{fields_} {verb} {reason}: leave {pronoun} out", *names)


def _released_source(
    config: EvalConfig, data: str | Path | None, imagenet_c: str | Path | None,
    cifar_c: str | Path | None,
) -> Path:  # fmt: skip
    """The root of released corruption files (ImageNet-C, or the CIFAR-C arrays): read by
    the corruption suite alone; `data` adds the clean images of ImageNet-C."""
    if imagenet_c is not None and cifar_c is not None:
        raise ShiftbenchError(
            "{imagenet_c} and {cifar_c} are read by separate runs", "imagenet_c", "cifar_c"
        )
    name = "imagenet_c" if imagenet_c is not None else "cifar_c"
    if "corruption" not in config.suites:
        raise ShiftbenchError(f"{{{name}}} is read by the corruption suite", name)
    if config.suites != ReleasedSet.suites:
        raise ShiftbenchError(
            f"the corruption suite on {{{name}}} runs alone ({{data}} adds the clean images "
            "of ImageNet-C to it); run the other suites in a separate eval", name, "data",
        )  # fmt: skip
    if cifar_c is not None and data is not None:
        raise ShiftbenchError(
            "{data} with {cifar_c}: the arrays hold the corrupted images only; score the clean "
            "test images in a separate eval", "data", "cifar_c",
        )  # fmt: skip
    if cifar_c is not None and config.image_list is not None:
        raise ShiftbenchError(
            "{image_list} names files of an image folder, and the CIFAR-C arrays have none: "
            "use {limit}", "image_list", "limit",
        )  # fmt: skip
    if data is not None:
        check_data_root(data)
    return Path(imagenet_c if imagenet_c is not None else cifar_c)  # type: ignore[arg-type]


def data_source(
    config: EvalConfig,
    data: str | Path | None,
    imagenet_c: str | Path | None = None,
    cifar_c: str | Path | None = None,
) -> Path | None:
    """The folder the selected suites read: `data` (an image folder), `imagenet_c` (the
    released ImageNet-C tree) or `cifar_c` (the released CIFAR-10-C or CIFAR-100-C arrays),
    read by the corruption suite alone (`data` adds the clean images of ImageNet-C), or None
    when only model suites (filters) run."""
    names = config.suites
    if imagenet_c is not None or cifar_c is not None:
        return _released_source(config, data, imagenet_c, cifar_c)
    if not needs_images(names):
        if data is not None:
            raise ShiftbenchError(
                f"the {','.join(names)} suite reads no images: leave out {{data}}", "data"
            )
        return None
    if data is None:
        raise ShiftbenchError(
            "{data} is required (an image folder, one sub-folder per class)", "data"
        )
    return check_data_root(data)


def check_settings_read(
    config: EvalConfig,
    kind: type[ImageSet] | None = None,
    clean_data: str | Path | None = None,
    interpolation: str | None = None,
    mean: object = None,
    std: object = None,
) -> None:
    """Refuse settings that nothing reads: those of images (and the preprocessing overrides
    `interpolation`, `mean`, `std`) when only model suites run; on data of a `kind` read as
    stored (the released ImageNet-C files), the settings it declares `unread` (`max_shift`,
    `canvas`, `jpeg_like_release`), and `interpolation` unless `clean_data` is resized for
    the same pass. A named image list is read now."""
    if not needs_images(config.suites):
        preprocess = [n for n, v in (("interpolation", interpolation), ("mean", mean),
                                     ("std", std)) if v is not None]  # fmt: skip
        reason = "no effect with no image suite (filters reads the weights alone)"
        _refuse_unread(_changed(config, IMAGE_SETTINGS) + preprocess, reason)
        return
    if kind is not None:
        reason = f"no effect with {kind.title}, read as they were stored, not made on the fly"
        _refuse_unread(_changed(config, kind.unread), reason)
    if kind is not None and kind.read_as_stored and clean_data is None and interpolation:
        raise ShiftbenchError(
            f"{{interpolation}}: {kind.title} are used at their stored size, never resized; "
            "it applies only to the clean images of {data}", "interpolation", "data",
        )  # fmt: skip
    if config.image_list is not None:
        read_image_list(config.image_list)  # a bad list is refused before any model is loaded


def output_folder(
    out: str | Path | None, resume: str | Path | None, default: Path
) -> tuple[Path, bool]:
    """Where results go and whether the run resumes: `resume` (an interrupted run's folder),
    else `out`, else `default`. A folder holding an interrupted run is not started again
    unless it is resumed."""
    if resume is not None:
        resume = Path(resume)
        if out is not None and Path(out).resolve() != resume.resolve():
            raise ShiftbenchError("{resume} is the output folder: leave out {out}", "resume", "out")
        if holds_results(resume) and not (resume / PARTIAL).is_dir():
            raise ShiftbenchError(f"{{resume}}: {resume} holds finished results", "resume")
        return resume, True
    folder = Path(out) if out is not None else default
    chunks = interrupted(folder)  # a run stopped before its first chunk left nothing to keep
    if chunks and os.environ.get("RANK", "0") == "0":  # before rank 0 starts
        raise ShiftbenchError(
            f"{folder} holds an interrupted run ({chunks} chunks finished): continue it with "
            f"{{resume}} {folder}, or remove {folder / PARTIAL} to start again", "resume",
        )  # fmt: skip
    return folder, False
