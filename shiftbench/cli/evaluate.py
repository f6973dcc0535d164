"""`shiftbench eval` (one model) and `shiftbench compare` (variants on the same images)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
import typer

from ..api import evaluate, evaluate_many, planned_record
from ..config import EvalConfig
from ..console import count_bar, note, stdout, warn
from ..corruptions import ReleasedSet
from ..corruptions.arrays import ReleasedArrays
from ..data.folders import ImageSet, scan_image_folder, selected_images
from ..errors import ShiftbenchError
from ..imagenet_c import cifar_c_for, released_for
from ..models.loading import LoadedModel, default_weights_note, load_model
from ..models.variants import VariantSpec, antialias_spec, labels_for, load_variant, variant_specs
from ..plan import check_settings_read, data_source, output_folder
from ..results.check import load_results
from ..results.comparison import paired_table
from ..results.gating import gating_for_run
from ..results.paired import DEFAULT_RESAMPLES
from ..results.report import metrics_table, write_comparison
from ..results.report import write_results as write_result_files
from ..results.store import default_output_dir, holds_results, run_output_dir
from ..run.checkpoint import discard as discard_checkpoint
from .app import app, user_errors
from .gates import gate
from .groups import CONVERSION, GATES, MODEL, SETTINGS, SOURCES, takes
from .options import (
    Antialias,
    Model,
    ModelFile,
    Out,
    Resume,
    Weights,
    eval_config,
    replaced_note,
    triple,
)


def note_default_weights(models: list[LoadedModel]) -> None:
    """Say, once per model name, which default weights a torchvision name loaded when they are
    not those the published figures were measured on."""
    for line in dict.fromkeys(filter(None, map(default_weights_note, models))):
        note(line)


def announce(loaded: LoadedModel) -> LoadedModel:
    """Print a converted model's conversion report, and warn when it was not fine-tuned."""
    if loaded.antialias is not None:
        note(f"{loaded.name}: {loaded.antialias.summary()}")
        if loaded.antialias.weights == "baseline":
            warn(
                "converted without fine-tuning: the model now computes another function and "
                "usually loses accuracy until fine-tuned (docs/antialias.md)"
            )
    return loaded


def load_announced(name: str, **options: object) -> LoadedModel:
    """`load_model` with its default-weights note and conversion report printed."""
    loaded = load_model(name, **options)  # type: ignore[arg-type]
    note_default_weights([loaded])
    return announce(loaded)


@dataclass(frozen=True)
class Request:
    """What a command asked for, checked before any model is loaded: the settings, the data
    the suites read, and the output folder (and whether the run resumes or replaces)."""

    config: EvalConfig
    source: Path | None
    kind: type[ImageSet] | None  # released files (ImageNet-C, CIFAR-C), or None: a folder
    data: Path | None
    out: Path
    resuming: bool
    replacing: bool


def _request(
    sources: dict, settings: dict, model_options: dict, out: Path | None,
    resume: Path | None, default: Path,
) -> Request:  # fmt: skip
    config = eval_config(settings)
    data, imagenet_c, cifar_c = sources["data"], sources["imagenet_c"], sources["cifar_c"]
    source = data_source(config, data, imagenet_c, cifar_c)
    kind = ReleasedSet if imagenet_c else ReleasedArrays if cifar_c else None
    check_settings_read(
        config, kind, data, model_options["interpolation"], model_options["mean"],
        model_options["std"],
    )  # fmt: skip
    out_dir, resuming = output_folder(out, resume, default)
    replacing = holds_results(out_dir) and not resuming
    return Request(config, source, kind, data, out_dir, resuming, replacing)


def _images(request: Request, model: LoadedModel) -> Path | ImageSet | None:
    """The data of the run: the released files listed for `model`, or the source folder."""
    config, root = request.config, request.source
    if request.kind is ReleasedArrays:
        return cifar_c_for(model, root, config)  # type: ignore[arg-type]
    if request.kind is None:
        return root
    with count_bar("listing ImageNet-C", "folders") as update:
        return released_for(model, root, config, request.data, progress=update)  # type: ignore[arg-type]


def _preprocess(model_options: dict) -> dict:
    """load_model's preprocessing arguments from the model options."""
    return {
        "interpolation": model_options["interpolation"],
        "mean": triple(model_options["mean"], "--mean"),
        "std": triple(model_options["std"], "--std"),
    }


def _conversion(antialias: str | None, conversion: dict) -> object:
    return antialias_spec(
        antialias, conversion["aa_pad"], conversion["aa_stem"], conversion["aps_filter"],
        conversion["circular_pad"],
    )  # fmt: skip


@app.command("eval")
@takes(SOURCES, SETTINGS, MODEL, CONVERSION, GATES)
def eval_command(
    model: Model, out: Out = None, resume: Resume = None, weights: Weights = None,
    model_file: ModelFile = None, antialias: Antialias = None, *, sources: dict,
    settings: dict, model_options: dict, conversion: dict, gates: dict,
) -> None:  # fmt: skip
    """Evaluate one model on an image folder and write metrics, curves and records; with
    --baseline or gates, then check them as `shiftbench check` does (exit 1 on a regression)."""
    with user_errors():
        request = _request(sources, settings, model_options, out, resume, default_output_dir(model))
        spec = _conversion(antialias, conversion)
        gating = gating_for_run(request.config.suites, **gates)
        with run_output_dir(request.out, request.resuming):
            torch.manual_seed(request.config.seed)  # random-initialised weights repeat too
            loaded = load_announced(
                model, pretrained=model_options["pretrained"], weights=weights,
                model_file=model_file, num_classes=model_options["num_classes"],
                img_size=model_options["img_size"], antialias=spec, **_preprocess(model_options),
            )  # fmt: skip
            images = _images(request, loaded)
            if gating is not None and gating.compares_before() and images is not None:
                images = _listed(images, loaded, request.config)
                gating.check_planned(planned_record(loaded, images, request.config))
            result = evaluate(loaded, images, request.config, verbose=True,
                              checkpoint=request.out, resume=request.resuming)  # fmt: skip
            if result is None:  # a torchrun rank other than 0: rank 0 writes
                return
            write_result_files(result, request.out)
            discard_checkpoint(request.out)
    _finish([result], request, metrics_table(result))
    if gating is not None:
        with user_errors():
            code = gate(load_results(request.out), gating)
        raise typer.Exit(code)


def _finish(results: list, request: Request, table: object, contents: str = "") -> None:
    """Show the results and say where they are (and the batch size auto chose)."""
    stdout.print(table)
    if request.config.batch_size == "auto":
        sizes = ", ".join(str(r.timing["batch_size"]) for r in results)
        note(f"--batch-size auto: ran at {sizes} views per forward pass")
    note(replaced_note(request.out, request.replacing, contents))


def _listed(images: Path | ImageSet, model: LoadedModel, config: EvalConfig) -> ImageSet:
    """The images a run evaluates, listed now (evaluate lists a folder itself otherwise)."""
    if isinstance(images, ImageSet):
        return images
    return scan_image_folder(
        images, model.num_classes, config.limit, selected_images(config.image_list)
    )


Models = Annotated[
    list[str] | None,
    typer.Argument(
        help="Models as NAME[:key=value...], keys: aa (0, 1..7, aps), weights, label, "
        "pretrained, model_file, num_classes, img_size, aa_pad, aa_stem, aps_filter, "
        "circular_pad. The first is the reference.",
        show_default=False,
    ),
]
ModelsToml = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file of \\[\\[model]] tables (name = ..., same keys)."),
]
Variants = Annotated[
    str | None,
    typer.Option(
        help="Variants of each model without aa=: e.g. 0,3,4,5 (0 = the model as loaded) or 0,aps."
    ),
]
CompareOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder (default: `results/compare/<UTC timestamp>`)."),
]
Bootstrap = Annotated[
    int,
    typer.Option(help="Bootstrap resamples over images for the difference intervals."),
]


@app.command("compare")
@takes(SOURCES, SETTINGS, MODEL, CONVERSION)
def compare_command(
    models: Models = None, config_file: ModelsToml = None, antialias: Variants = None,
    out: CompareOut = None, resume: Resume = None, bootstrap: Bootstrap = DEFAULT_RESAMPLES,
    *, sources: dict, settings: dict, model_options: dict, conversion: dict,
) -> None:  # fmt: skip
    """Evaluate a reference model and its variants on the same images, views, shifts and
    corruption noise (images decoded once for all), and report each difference to the
    reference with a paired bootstrap interval and McNemar's exact test."""
    with user_errors():
        if bootstrap < 1:
            raise ShiftbenchError("--bootstrap must be >= 1")
        eval_config(settings)  # bad settings first, then the variants, then the data
        builds = {k: model_options[k] for k in ("pretrained", "num_classes", "img_size")}
        specs = variant_specs(models or [], config_file, antialias,
                              VariantSpec("", **builds, **conversion))  # fmt: skip
        request = _request(
            sources, settings, model_options, out, resume, default_output_dir("compare")
        )
        with run_output_dir(request.out, request.resuming):
            loaded = _load_variants(specs, request.config.seed, model_options)
            results = evaluate_many(
                loaded, _images(request, loaded[0]), request.config, verbose=True,
                labels=labels_for(specs, loaded), checkpoint=request.out, resume=request.resuming,
            )  # fmt: skip
            if not results:  # a torchrun rank other than 0: rank 0 writes
                return
            variants, differences = write_comparison(results, request.out, bootstrap)
            discard_checkpoint(request.out)
    contents = " (one folder per variant, report.md, comparison.csv)"
    _finish(results, request, paired_table(variants, differences), contents)


def _load_variants(specs: list[VariantSpec], seed: int, model_options: dict) -> list[LoadedModel]:
    loaded = []
    preprocess = _preprocess(model_options)
    for spec in specs:
        torch.manual_seed(seed)  # random-initialised twins start from the same weights
        variant = load_variant(spec, preprocess["interpolation"], preprocess["mean"],
                               preprocess["std"])  # fmt: skip
        loaded.append(announce(variant))
    note_default_weights(loaded)
    return loaded
