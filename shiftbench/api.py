"""The Python API that the CLI wraps: evaluate a loaded model on an image folder."""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .config import EvalConfig
from .console import note, progress_bar, warn
from .data.folders import (
    UNREADABLE,
    ImageItems,
    ImageSet,
    open_image,
    scan_image_folder,
    selected_images,
)
from .data.views import Geometry
from .errors import ShiftbenchError, WriteError
from .models.loading import LoadedModel
from .results.result import EvalResult, environment
from .run.checkpoint import Checkpoint, run_identity
from .run.checkpoint import discard as discard_checkpoint
from .run.distributed import World, current_world, from_main, gather_to_main, shard
from .run.engine import Lane, merge_records, resolve_device, run_pass
from .suites import MODEL_SUITES, Suite, build_suites, parse_suite_names
from .tensorfiles import write_tensors


def evaluate(
    model: LoadedModel,
    data: str | Path | ImageSet | None,
    config: EvalConfig | None = None,
    verbose: bool = False,
    checkpoint: str | Path | None = None,
    resume: bool = False,
) -> EvalResult | None:
    """Run the selected suites on every image of `data` in one pass and summarise them.

    `data` is an image-folder tree (one sub-folder per class) or an already scanned ImageSet
    (None when only model suites, such as filters, run).
    With `verbose`, notes, warnings and a progress bar go to stderr. `checkpoint` and
    `resume` as in `evaluate_many`; under torchrun, ranks other than 0 get None.
    """
    results = evaluate_many([model], data, config, verbose, checkpoint=checkpoint, resume=resume)
    return results[0] if results else None


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
                    "({img_size} / {interpolation} / {num_classes} set it for all)",
                    "img_size", "interpolation", "num_classes",
                )  # fmt: skip


@dataclass
class _Shard:
    """What one rank brings to rank 0: its records per lane and what they cost."""

    records: list[dict[str, torch.Tensor]]
    skipped: list[tuple[str, str]]
    views: list[int]
    batch_sizes: list[int]
    seconds: float
    resumed_images: int


@dataclass
class _Gathered:
    """Every rank's records of every lane, with the images and what the pass cost."""

    images: ImageSet
    records: list[dict[str, torch.Tensor]]
    skipped: list[tuple[str, str]]
    costs: list[dict]


def evaluate_many(
    models: list[LoadedModel],
    data: str | Path | ImageSet | None,
    config: EvalConfig | None = None,
    verbose: bool = False,
    labels: list[str] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
) -> list[EvalResult]:
    """Evaluate several models on the same images, views, shifts and corruption noise, each
    image decoded once for all of them; one result per model, in order (see `evaluate`).

    The models must share input size, resize filter and class count. `labels` name the
    results (default: each model's variant). With `checkpoint` (an output folder), finished
    chunks of records are kept in it; with `resume`, the chunks it already holds are read
    back instead of evaluated. Under torchrun every rank evaluates its own chunks and rank 0
    gathers all records and returns the results; the other ranks return an empty list.
    Model suites (filters) read only the models; with nothing else, `data` may be None.
    On a kind of data read as stored (the released ImageNet-C files, `released_images`) the
    suites it declares read each file's centre window; its margin is the max shift.
    """
    config = config or EvalConfig()
    world = current_world(config.device)
    device = resolve_device(config.device, world.local_rank)
    size = models[0].preprocess.input_size
    config = run_config(config, data, size)
    geometry = Geometry(size, config.max_shift)
    suites = build_suites(geometry, config, data if isinstance(data, ImageSet) else None)
    gathered = None
    if suites:
        if data is None:
            raise ShiftbenchError(
                "{data} is required (an image folder, one sub-folder per class)", "data"
            )
        check_shared_input(models)
        gathered = _image_pass(
            models, data, config, geometry, suites, verbose and world.main, checkpoint, resume,
            world, device,
        )  # fmt: skip
        if gathered is None:
            return []
    elif not world.main:
        return []
    names: list[str | None] = list(labels) if labels else [None] * len(models)
    return [
        _result(model, suites, gathered, lane, geometry, config, device, names[lane])
        for lane, model in enumerate(models)
    ]


def run_config(config: EvalConfig, data: object, input_size: int) -> EvalConfig:
    """The settings a run on `data` records: where the data kind's stored images leave a
    margin around the window (the released ImageNet-C files), that margin is the max shift."""
    margin = data.margin(input_size) if isinstance(data, ImageSet) else None
    return config if margin is None else replace(config, max_shift=margin)


def geometry_record(geometry: Geometry) -> dict:
    """The canvas geometry as results.json records it."""
    return {
        "input_size": geometry.size,
        "max_shift": geometry.max_shift,
        "canvas": geometry.canvas,
        "centre_offset": geometry.centre,
    }


def planned_record(model: LoadedModel, images: ImageSet, config: EvalConfig) -> EvalResult:
    """What results.json will hold of a run's settings, model and data before the run is
    made (not its suites' resolved settings nor its numbers): for `check.mismatches` with a
    baseline, so that a run that would not compare is refused before it evaluates."""
    config = run_config(config, images, model.preprocess.input_size)
    geometry = Geometry(model.preprocess.input_size, config.max_shift)
    planned = {
        "config": config.to_dict(),
        "model": model.describe(),
        "data": {**images.describe(), "geometry": geometry_record(geometry)},
    }
    planned = json.loads(json.dumps(planned))  # tuples as results.json has them
    return EvalResult(
        planned["model"], model.variant, planned["data"], planned["config"], {}, [], [], {},
        images.items, [], {},
    )  # fmt: skip


def _image_pass(
    models: list[LoadedModel],
    data: str | Path | ImageSet,
    config: EvalConfig,
    geometry: Geometry,
    suites: list[Suite],
    show: bool,
    checkpoint: str | Path | None,
    resume: bool,
    world: World,
    device: torch.device,
) -> _Gathered | None:
    """This rank's chunks through the engine (or from the checkpoint), gathered on rank 0.
    `suites` are those of the summary; every chunk gets fresh ones like them."""
    images = (
        data
        if isinstance(data, ImageSet)
        else from_main(
            lambda: scan_image_folder(
                data, models[0].num_classes, config.limit, selected_images(config.image_list)
            ),
            world,
        )
    )

    def make_suites() -> list[Suite]:
        return build_suites(geometry, config, images)

    chunks = shard(math.ceil(len(images.items) / config.chunk_size), world)
    store, done = _checkpoint(checkpoint, models, images, config, resume, world, chunks)
    todo = [c for c in chunks if c not in done]
    remaining = replace(
        images, items=ImageItems.concat([_chunk(images, c, config.chunk_size) for c in todo])
    )
    if show:
        _announce(models, images, geometry, suites, config, device, world, len(done))
        for path, reason in store.unreadable if store is not None else []:
            warn(f"--resume: {path} is unreadable ({reason}): its images are evaluated again")
    bar = progress_bar(len(remaining.items), "evaluating") if show else nullcontext(None)

    def keep(number: int, records: list, skipped: list[tuple[str, str]]) -> None:
        if store is not None:
            store.save(todo[number], records, skipped)

    lanes = [Lane(m.module, m.preprocess) for m in models]
    try:
        with bar as update:
            outcome = run_pass(
                lanes, make_suites, remaining, geometry, config, update, device, keep
            )
        earlier = [store.load(c) for c in sorted(done)] if store is not None else []
        mine = _Shard(
            records=[
                merge_records([outcome.records[lane], *(e[0][lane] for e in earlier)])
                for lane in range(len(models))
            ],
            skipped=outcome.skipped + [s for e in earlier for s in e[1]],
            views=outcome.views,
            batch_sizes=outcome.batch_sizes,
            seconds=outcome.seconds,
            resumed_images=sum(len(_chunk(images, c, config.chunk_size)) for c in done),
        )
        received = gather_to_main(mine, world)
        if received is None:
            return None
        shards: list[_Shard] = received  # type: ignore[assignment]
        records = [merge_records([s.records[lane] for s in shards]) for lane in range(len(models))]
        skipped = [entry for s in shards for entry in s.skipped]
        _check_coverage(records[0], images, skipped)
    except ShiftbenchError as exc:
        if checkpoint is not None and not resume and not isinstance(exc, WriteError):
            discard_checkpoint(checkpoint)  # bad input: nothing worth resuming
        raise
    if show and skipped:
        warn(_skipped_line(skipped, "unreadable"))
    return _Gathered(images, records, skipped, _costs(shards, world, len(models)))


def _checkpoint(
    checkpoint: str | Path | None,
    models: list[LoadedModel],
    images: ImageSet,
    config: EvalConfig,
    resume: bool,
    world: World,
    chunks: list[int],
) -> tuple[Checkpoint | None, set[int]]:
    """The run's checkpoint in the output folder (None without one) and which of this
    rank's `chunks` it already holds."""
    if checkpoint is None:
        return None, set()
    identity = run_identity(
        [m.describe() for m in models], images.describe(), images.items, config.to_dict()
    )
    store = Checkpoint(checkpoint, identity, len(models))
    return store, store.start(resume, world, chunks)


def _costs(shards: list[_Shard], world: World, lanes: int) -> list[dict]:
    """What the pass cost each lane, over every rank: the slowest rank's seconds."""
    seconds = max(s.seconds for s in shards)
    return [
        {
            "seconds": seconds,
            "processes": world.size,
            "resumed_images": sum(s.resumed_images for s in shards),
            "views": sum(s.views[lane] for s in shards),
            "batch_size": min(s.batch_sizes[lane] for s in shards),
        }
        for lane in range(lanes)
    ]


def _chunk(images: ImageSet, number: int, size: int) -> ImageItems:
    """The images of chunk `number`."""
    return images.items[number * size : (number + 1) * size]


def _announce(
    models: list[LoadedModel],
    images: ImageSet,
    geometry: Geometry,
    suites: list[Suite],
    config: EvalConfig,
    device: torch.device,
    world: World,
    resumed: int,
) -> None:
    if config.limit is not None and len(images.items) < images.found:
        warn(
            f"--limit: evaluating {len(images.items)} of {images.found} images; "
            "numbers are not comparable with full-set results"
        )
    if images.skipped:
        warn(_skipped_line(images.skipped, "unusable"))
    for message in images.warnings():
        warn(message)
    for message in (m for suite in suites for m in suite.warnings()):
        warn(message)
    photographs = not images.read_as_stored
    enlarged = enlarged_warning(images, geometry, config.canvas) if photographs else None
    if enlarged is not None:
        warn(enlarged)
    names = ", ".join(f"{m.name} ({m.variant})" for m in models)
    note(
        f"{names}: {models[0].num_classes} classes, {len(images.items)} images "
        f"({images.label_map}); canvas {geometry.canvas}px, window {geometry.size}px; "
        f"suites {', '.join(s.name for s in suites)}; {device}"
    )
    if photographs:
        for message in resize_notes(models, geometry, config.canvas):
            note(message)
    if world.size > 1:
        note(f"{world.size} processes; progress shown for rank 0's share of the images")
    if resumed:
        note(f"resuming: {resumed} finished chunks of {config.chunk_size} images read back")


def enlarged_warning(images: ImageSet, geometry: Geometry, canvas_mode: str) -> str | None:
    """A warning when the images fit whole in the model's input (judged by the first one's
    header: CIFAR-10's 32 x 32 for a 32 px model) and `--canvas resize` would enlarge them to
    the canvas: the centre window is then a magnified part of the image, not the image the
    model is tested on. Photographs larger than the window on one side (ImageNet's 500 x 375
    for a 384 px model) are the paper's protocol."""
    if canvas_mode != "resize" or not geometry.max_shift or not len(images.items):
        return None
    first = images.items[0]
    try:
        with open_image(images.file(first)) as image:
            width, height = image.size
    except UNREADABLE:
        return None  # counted as unreadable when it is decoded
    if max(width, height) > geometry.size:
        return None
    return (
        f"{first.path} is {width}x{height} px, no larger than the {geometry.size}px window: "
        f"--canvas resize enlarges the images to the {geometry.canvas}px canvas, so the "
        "centre window shows a magnified part of each; --canvas pad keeps each image whole in "
        "the centre window and frames it in black"
    )


def resize_notes(models: list[LoadedModel], geometry: Geometry, canvas_mode: str) -> list[str]:
    """One line per model with published weights evaluated at their own input size but
    published with another resize than the run's (the canvas, the paper's protocol, or the
    window with `--canvas pad`): its clean accuracy can differ from its model card."""
    used = geometry.image_side(canvas_mode)
    lines: list[str] = []
    for model in models:
        reference = model.preprocess.reference_resize
        if model.pretrained is None or reference in (None, used):
            continue
        lines.append(
            f"{model.name} was published with Resize({reference}) + CenterCrop({geometry.size});"
            f" this run resizes to Resize({used}) (--canvas {canvas_mode}): clean accuracy can "
            "differ a little from the model card"
        )
    return list(dict.fromkeys(lines))  # variants of one model: said once


def _skipped_line(skipped: list[tuple[str, str]], kind: str) -> str:
    """`2 unreadable files skipped, first class_2/a.png (why); all listed in results.json`."""
    path, reason = skipped[0]
    files = "file" if len(skipped) == 1 else "files"
    return f"{len(skipped)} {kind} {files} skipped, first {path} ({reason}); all in results.json"


def _check_coverage(
    records: dict[str, torch.Tensor], images: ImageSet, skipped: list[tuple[str, str]]
) -> None:
    """Every selected image was evaluated exactly once, or counted as unreadable, and the
    images read can give the metrics (`ImageSet.check_evaluated`)."""
    if not records:
        raise ShiftbenchError(f"none of the {len(images.items)} images could be read")
    index = records["index"]
    images.check_evaluated(index)
    expected = torch.from_numpy(images.items.indices)
    if skipped:
        unreadable = {path for path, _ in skipped}
        read = [path not in unreadable for path in images.items.paths()]
        expected = expected[torch.tensor(read, dtype=torch.bool)]
    if not torch.equal(index.sort().values, expected.sort().values):
        raise ShiftbenchError(
            f"internal error: {index.numel()} image records for {expected.numel()} images "
            "(an image was evaluated twice or not at all)"
        )


def _result(
    model: LoadedModel,
    suites: list[Suite],
    gathered: _Gathered | None,
    lane: int,
    geometry: Geometry,
    config: EvalConfig,
    device: torch.device,
    label: str | None,
) -> EvalResult:
    """One model's metrics from its gathered records (image suites) and from the model
    itself (model suites), with everything needed to repeat the run."""
    metrics, curves, settings = [], [], {}
    records: dict[str, torch.Tensor] = {}
    data: dict = {}
    images = ImageItems.build([], [], [])
    skipped: list[tuple[str, str]] = []
    timing: dict = {}
    if gathered is not None:
        records = gathered.records[lane]
        for suite in suites:
            suite_metrics, suite_curves = suite.summarise(suite.own(records))
            metrics += suite_metrics
            curves += suite_curves
            settings[suite.name] = {"description": suite.description, **suite.settings()}
        listing = gathered.images.items
        images = listing.take(np.flatnonzero(np.isin(listing.indices, records["index"].numpy())))
        data = {
            **gathered.images.describe(),
            "images_evaluated": len(images),
            "geometry": geometry_record(geometry),
        }
        skipped = gathered.images.skipped + gathered.skipped
        cost = gathered.costs[lane]
        timing = {
            **cost,
            "images_per_s": len(images) / cost["seconds"] if cost["seconds"] else None,
            "views_per_s": cost["views"] / cost["seconds"] if cost["seconds"] else None,
        }
    for name in parse_suite_names(",".join(config.suites)):
        if name in MODEL_SUITES:
            model_suite = MODEL_SUITES[name]()
            suite_metrics, suite_curves, suite_settings = model_suite.measure(model.module)
            metrics += suite_metrics
            curves += suite_curves
            settings[name] = {"description": model_suite.description, **suite_settings}
    return EvalResult(
        model=model.describe(),
        variant=model.variant,
        label=label,
        data=data,
        config=config.to_dict(),
        suites=settings,
        metrics=metrics,
        curves=curves,
        records=records,
        images=images,
        skipped=skipped,
        environment=environment(device),
        timing=timing,
    )


def save_converted(model: LoadedModel, out: str | Path) -> None:
    """Save an anti-aliased model's state dict as safetensors, written whole or not at all,
    with the conversion report and the source model in the file's metadata."""
    from . import __version__

    out = Path(out)
    if model.antialias is None:
        raise ShiftbenchError("save_converted needs a model loaded with antialias=...")
    state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    metadata = {
        "shiftbench": __version__,
        "model": json.dumps(model.describe()),
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_tensors(state, out, metadata=metadata)
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
