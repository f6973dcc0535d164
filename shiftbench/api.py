"""The Python API that the CLI wraps: evaluate a loaded model on an image folder."""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path

from .config import EvalConfig
from .console import note, progress_bar, warn
from .data import ImageSet, scan_image_folder
from .engine import resolve_device, run_pass
from .errors import ShiftbenchError
from .models import LoadedModel
from .results import EvalResult, environment
from .suites import build_suites
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
    config = config or EvalConfig()
    geometry = Geometry(model.preprocess.input_size, config.max_shift)
    suites = build_suites(geometry, config)
    images = (
        data
        if isinstance(data, ImageSet)
        else scan_image_folder(data, model.num_classes, config.limit)
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
        note(
            f"{model.name} ({model.source} {model.architecture}, {model.num_classes} classes) on "
            f"{len(images.items)} images ({images.label_map}); canvas {geometry.canvas}px, "
            f"window {geometry.size}px; suites {', '.join(s.name for s in suites)}; {device}"
        )
    bar = progress_bar(len(images.items), "evaluating") if verbose else nullcontext(None)
    with bar as update:
        outcome = run_pass(model.module, model.preprocess, images, suites, geometry, config, update)
    if verbose and outcome.skipped:
        warn(f"{len(outcome.skipped)} unreadable images skipped (listed in results.json)")
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
