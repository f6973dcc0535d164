"""ImageNet-C from the released files: top-1 error per corruption and severity, CE, mCE."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from .api import evaluate
from .config import EvalConfig
from .console import note, progress_bar, warn
from .corruptions import ALL, BENCHMARK, EXTRA, SEVERITIES, scan_imagenet_c, score
from .data import scan_image_folder
from .engine import resolve_device, run_pass
from .errors import ShiftbenchError
from .models import LoadedModel
from .results import EvalResult, environment
from .stats import rate
from .suites import Curve, Metric
from .suites.base import percent, percent_curve
from .suites.clean import CleanSuite
from .views import Geometry

IMAGENET_C_SIZE = 224  # side of the released ImageNet-C images


def _corruption_metrics(
    errors: dict[str, dict[int, torch.Tensor]], clean_error: float | None
) -> tuple[list[Metric], list[Curve], dict]:
    """Per-severity errors with intervals, CE/mCE (point values), curves over severity."""
    metrics: list[Metric] = []
    curves: list[Curve] = []
    for name, by_severity in errors.items():
        estimates = []
        for severity, wrong in sorted(by_severity.items()):
            estimate = rate(wrong)
            metrics.append(percent("corruption", f"error.{name}.{severity}", estimate, False))
            estimates.append(estimate)
        curves.append(
            percent_curve(
                "corruption", f"error.{name}", "severity", sorted(by_severity), estimates, False
            )
        )
    fractions = {
        name: {s: float(w.float().mean()) for s, w in by_severity.items()}
        for name, by_severity in errors.items()
    }
    scores = score(fractions, clean_error)
    count = {
        name: sum(int(w.numel()) for w in by_severity.values())
        for name, by_severity in errors.items()
    }

    def point(name: str, value: float, n: int) -> Metric:
        return Metric("corruption", name, 100 * value, math.nan, math.nan, n, False)

    for name, value in scores.ce.items():
        metrics.append(point(f"ce.{name}", value, count[name]))
    for name, value in scores.relative_ce.items():
        metrics.append(point(f"relative_ce.{name}", value, count[name]))
    benchmark_n = sum(count[n] for n in scores.ce if n in BENCHMARK)
    if scores.mce is not None:
        metrics.append(point("mce", scores.mce, benchmark_n))
    if scores.relative_mce is not None:
        metrics.append(point("relative_mce", scores.relative_mce, benchmark_n))
    if scores.extra_mean_error is not None:
        extra_n = sum(count[n] for n in scores.ce if n in EXTRA)
        metrics.append(point("extra_error", scores.extra_mean_error, extra_n))
    settings = {
        "mce_over": [n for n in BENCHMARK if n in scores.ce],
        "left_out_of_means": scores.incomplete,
        "clean_error": clean_error,
    }
    return metrics, curves, settings


def evaluate_imagenet_c(
    model: LoadedModel,
    root: str | Path,
    config: EvalConfig | None = None,
    clean_data: str | Path | None = None,
    corruptions: tuple[str, ...] = ALL,
    severities: tuple[int, ...] = SEVERITIES,
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
    sets = scan_imagenet_c(root, corruptions, severities)
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
            suite = CleanSuite(geometry, suite_config)
            outcome = run_pass(
                model.module, model.preprocess, images, [suite], geometry, suite_config, update
            )
            offset = len(images_rows)
            position = {item.index: offset + i for i, item in enumerate(images.items)}
            images_rows += [
                {"index": offset + i, "path": f"{name}/{severity}/{item.path}", "label": item.label}
                for i, item in enumerate(images.items)
            ]
            index = torch.tensor([position[int(i)] for i in outcome.records["index"]])
            records[f"{name}.{severity}.index"] = index
            records[f"{name}.{severity}.pred"] = outcome.records["clean.pred"]
            records[f"{name}.{severity}.correct1"] = outcome.records["clean.correct1"]
            errors.setdefault(name, {})[severity] = ~outcome.records["clean.correct1"]
            skipped += [(f"{name}/{severity}/{p}", r) for p, r in images.skipped + outcome.skipped]
            seconds += outcome.seconds
            views += outcome.views
    clean_error = None if clean is None else 1 - clean.metric("clean.top1").value / 100
    metrics, curves, settings = _corruption_metrics(errors, clean_error)
    device = resolve_device(config.device)
    return EvalResult(
        model=model.describe(),
        variant=model.variant,
        data={
            "imagenet_c": sets.describe(),
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
                **settings,
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
