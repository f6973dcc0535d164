"""The Python API that the CLI wraps: evaluate a loaded model on an image folder."""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path

import torch

from .config import EvalConfig
from .console import note, progress_bar, warn
from .data import ImageSet, scan_image_folder
from .engine import Lane, PassResult, resolve_device, run_pass
from .errors import ShiftbenchError
from .models import LoadedModel
from .results import EvalResult, environment
from .suites import Suite, build_suites
from .views import Geometry


def evaluate(
    model: LoadedModel,
    data: str | Path | ImageSet,
    config: EvalConfig | None = None,
    verbose: bool = False,
) -> EvalResult:
    """Run the selected suites on every image of `data` in one pass and summarise them.

    `data` is an image-folder tree (one sub-folder per class) or an already scanned ImageSet.
    With `verbose`, notes, warnings and a progress bar go to stderr.
    """
    return evaluate_many([model], data, config, verbose)[0]


def check_shared_input(models: list[LoadedModel]) -> None:
    """Models evaluated on the same decoded images need one input size, resize filter and
    class count."""
    first = models[0]
    for model in models[1:]:
        for what, mine, theirs in (
            ("input size", model.preprocess.input_size, first.preprocess.input_size),
            ("resize filter", model.preprocess.interpolation, first.preprocess.interpolation),
            ("class count", model.num_classes, first.num_classes),
        ):
            if mine != theirs:
                raise ShiftbenchError(
                    f"{model.name} ({model.variant}) has {what} {mine} but {first.name} "
                    f"({first.variant}) has {theirs}: paired variants must share it "
                    "(--img-size / --interpolation / --num-classes set it for all)"
                )


def evaluate_many(
    models: list[LoadedModel],
    data: str | Path | ImageSet,
    config: EvalConfig | None = None,
    verbose: bool = False,
    labels: list[str] | None = None,
) -> list[EvalResult]:
    """Evaluate several models on the same images, views, shifts and corruption noise, each
    image decoded once for all of them; one result per model, in order (see `evaluate`).

    The models must share input size, resize filter and class count. `labels` name the
    results (default: each model's variant).
    """
    config = config or EvalConfig()
    check_shared_input(models)
    first = models[0]
    geometry = Geometry(first.preprocess.input_size, config.max_shift)
    lanes = [Lane(m.module, m.preprocess, build_suites(geometry, config)) for m in models]
    suites = lanes[0].suites
    images = (
        data
        if isinstance(data, ImageSet)
        else scan_image_folder(data, first.num_classes, config.limit)
    )
    device = resolve_device(config.device)
    if verbose:
        if config.limit is not None and len(images.items) < images.found:
            warn(
                f"--limit: evaluating {len(images.items)} of {images.found} images; "
                "numbers are not comparable with full-set results"
            )
        if images.skipped:
            warn(f"{len(images.skipped)} non-image files skipped (listed in results.json)")
        names = ", ".join(f"{m.name} ({m.variant})" for m in models)
        note(
            f"{names}: {first.num_classes} classes, {len(images.items)} images "
            f"({images.label_map}); canvas {geometry.canvas}px, window {geometry.size}px; "
            f"suites {', '.join(s.name for s in suites)}; {device}"
        )
    bar = progress_bar(len(images.items), "evaluating") if verbose else nullcontext(None)
    with bar as update:
        outcomes = run_pass(lanes, images, geometry, config, update)
    if verbose and outcomes[0].skipped:
        warn(f"{len(outcomes[0].skipped)} unreadable images skipped (listed in results.json)")
    names = labels or [None] * len(models)
    return [
        _result(model, lane.suites, outcome, images, geometry, config, device, label)
        for model, lane, outcome, label in zip(models, lanes, outcomes, names, strict=True)
    ]


def _result(
    model: LoadedModel,
    suites: list[Suite],
    outcome: PassResult,
    images: ImageSet,
    geometry: Geometry,
    config: EvalConfig,
    device: torch.device,
    label: str | None,
) -> EvalResult:
    metrics, curves = [], []
    for suite in suites:
        prefix = f"{suite.name}."
        own = {k[len(prefix) :]: v for k, v in outcome.records.items() if k.startswith(prefix)}
        suite_metrics, suite_curves = suite.summarise(own)
        metrics += suite_metrics
        curves += suite_curves
    evaluated = set(outcome.records["index"].tolist())
    return EvalResult(
        model=model.describe(),
        variant=model.variant,
        label=label,
        data={
            **images.describe(),
            "images_evaluated": outcome.images,
            "geometry": {
                "input_size": geometry.size,
                "max_shift": geometry.max_shift,
                "canvas": geometry.canvas,
                "centre_offset": geometry.centre,
            },
        },
        config=config.to_dict(),
        suites={s.name: {"description": s.description, **s.settings()} for s in suites},
        metrics=metrics,
        curves=curves,
        records=outcome.records,
        images=[
            {"index": i.index, "path": i.path, "label": i.label}
            for i in images.items
            if i.index in evaluated
        ],
        skipped=images.skipped + outcome.skipped,
        environment=environment(device),
        timing={
            "seconds": outcome.seconds,
            "views": outcome.views,
            "images_per_s": outcome.images / outcome.seconds if outcome.seconds else None,
            "views_per_s": outcome.views / outcome.seconds if outcome.seconds else None,
        },
    )


def save_converted(model: LoadedModel, out: str | Path) -> None:
    """Save an anti-aliased model's state dict as safetensors, written whole or not at all,
    with the conversion report and the source model in the file's metadata."""
    from safetensors.torch import save_file

    from . import __version__

    out = Path(out)
    if model.antialias is None:
        raise ShiftbenchError("save_converted needs a model loaded with antialias=...")
    state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    metadata = {
        "shiftbench": __version__,
        "model": json.dumps(model.describe()),
    }
    partial = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(partial), metadata=metadata)
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ShiftbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
