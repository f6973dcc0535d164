"""ImageNet-C from the released files: top-1 error per corruption and severity, CE, mCE."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from .api import evaluate
from .config import EvalConfig
from .console import note, progress_bar, warn
from .corruptions import ALL, scan_imagenet_c
from .data import scan_image_folder
from .distributed import current_world
from .engine import Lane, resolve_device, run_pass
from .errors import ShiftbenchError
from .models import LoadedModel
from .results import EvalResult, environment
from .suites.clean import CleanSuite
from .suites.corruption import corruption_metrics
from .views import Geometry

IMAGENET_C_SIZE = 224  # side of the released ImageNet-C images


def evaluate_imagenet_c(
    model: LoadedModel,
    root: str | Path,
    config: EvalConfig | None = None,
    clean_data: str | Path | None = None,
    verbose: bool = False,
    stored_size: int = IMAGENET_C_SIZE,
) -> EvalResult:
    """Top-1 error on the released ImageNet-C files, with CE, mCE and (given the clean
    validation folder `clean_data`, whose clean accuracy is measured too) relative CE/mCE.

    Images are used at their stored size (`stored_size`, 224 for the released files): a
    smaller model input is centre-cropped, never resized (an image of another size is first
    brought to the stored size as Resize + CenterCrop). Missing corruptions or severities are
    reported and left out of the means.
    """
    config = config or EvalConfig(suites=("corruption",))
    if current_world(config.device).size > 1:
        raise ShiftbenchError("--imagenet-c runs in one process: start it without torchrun")
    sets = scan_imagenet_c(root, config.corruptions or ALL, config.severities)
    size = model.preprocess.input_size
    if size > stored_size:
        raise ShiftbenchError(
            f"{model.name} takes {size} px but ImageNet-C images are {stored_size} px"
        )
    geometry = Geometry(size, stored_size - size)
    suite_config = replace(config, suites=("clean",), max_shift=geometry.max_shift)
    listings = {
        key: scan_image_folder(folder, model.num_classes, config.limit)
        for key, folder in sets.sets.items()
    }
    clean = None
    if clean_data is not None:
        clean = evaluate(model, clean_data, replace(config, suites=("clean",)), verbose)
    if verbose:
        if sets.missing:
            warn(f"ImageNet-C sets not found, left out of the means: {', '.join(sets.missing)}")
        note(
            f"{model.name} on {len(listings)} ImageNet-C sets under {sets.root}; "
            f"window {size}px of the stored {stored_size}px"
        )
    total = sum(len(images.items) for images in listings.values())
    records: dict[str, torch.Tensor] = {}
    errors: dict[str, dict[int, torch.Tensor]] = {}
    images_rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    seconds, views = 0.0, 0
    bar = progress_bar(total, "ImageNet-C") if verbose else nullcontext(None)
    with bar as update:
        for (name, severity), images in listings.items():
            lane = Lane(model.module, model.preprocess)
            outcome = run_pass(
                [lane], lambda: [CleanSuite(geometry, suite_config)], images, geometry,
                suite_config, update,
            )  # fmt: skip
            found = outcome.records[0]
            if not found:
                raise ShiftbenchError(f"none of the images of {name}/{severity} could be read")
            offset = len(images_rows)
            position = {item.index: offset + i for i, item in enumerate(images.items)}
            images_rows += [
                {"index": offset + i, "path": f"{name}/{severity}/{item.path}", "label": item.label}
                for i, item in enumerate(images.items)
            ]
            index = torch.tensor([position[int(i)] for i in found["index"]])
            records[f"{name}.{severity}.index"] = index
            records[f"{name}.{severity}.pred"] = found["clean.pred"]
            records[f"{name}.{severity}.correct1"] = found["clean.correct1"]
            errors.setdefault(name, {})[severity] = ~found["clean.correct1"]
            skipped += [(f"{name}/{severity}/{p}", r) for p, r in images.skipped + outcome.skipped]
            seconds += outcome.seconds
            views += outcome.views[0]
    clean_error = None if clean is None else 1 - clean.metric("clean.top1").value / 100
    metrics, curves, coverage = corruption_metrics(errors, clean_error)
    device = resolve_device(config.device)
    return EvalResult(
        model=model.describe(),
        variant=model.variant,
        data={
            "imagenet_c": {**sets.describe(), **coverage},
            "clean": clean.data if clean is not None else None,
            "images_evaluated": sum(
                int(r.numel()) for k, r in records.items() if k.endswith(".index")
            ),
            "geometry": {
                "input_size": size,
                "stored_size": stored_size,
                "centre_offset": geometry.centre,
            },
        },
        config=config.to_dict(),
        suites={
            "corruption": {
                "description": "top-1 error on the released ImageNet-C files; CE, mCE vs AlexNet",
                "corruptions": list(config.corruptions or ALL),
                "severities": list(config.severities),
            },
            **(clean.suites if clean is not None else {}),
        },
        metrics=(clean.metrics if clean is not None else []) + metrics,
        curves=curves,
        records={
            **({f"clean.{k}": v for k, v in clean.records.items()} if clean else {}),
            **records,
        },
        images=images_rows,
        skipped=skipped,
        environment=environment(device),
        timing={
            "seconds": seconds,
            "views": views,
            "views_per_s": views / seconds if seconds else None,
        },
    )
