"""`shiftbench eval` (one model) and `shiftbench compare` (variants on the same images)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from ..api import evaluate, evaluate_many, planned_record
from ..config import DEFAULT_WORKERS, EvalConfig
from ..console import count_bar, note, stdout, warn
from ..corruptions import ReleasedSet
from ..data.folders import ImageSet, check_data_root, scan_image_folder, selected_images
from ..errors import ShiftbenchError
from ..imagenet_c import released_for
from ..models.loading import LoadedModel, default_weights_note, load_model
from ..models.variants import (
    VariantSpec,
    antialias_spec,
    check_labels,
    expand_antialias,
    labels_for,
    load_variant,
    parse_spec,
    read_models_toml,
)
from ..results.check import load_results
from ..results.comparison import paired_table
from ..results.paired import DEFAULT_RESAMPLES
from ..results.report import metrics_table, write_comparison
from ..results.report import write_results as write_result_files
from ..results.store import default_output_dir, holds_results, run_output_dir
from ..run.checkpoint import discard as discard_checkpoint
from ..suites import needs_images, parse_suite_names
from .app import app, user_errors
from .gates import Gating, gate, read_gating
from .options import (
    DEFAULT_SUITE,
    AaPad,
    AaStem,
    AllowMismatch,
    Amp,
    Antialias,
    ApsFilter,
    AttackMode,
    AttackRadius,
    AttackStep,
    BatchSize,
    CanvasMode,
    ChannelsLast,
    CheckConfig,
    ChunkSize,
    CircularPad,
    Compile,
    Corruptions,
    Data,
    Decode,
    Device,
    ImageListOption,
    ImagenetC,
    ImgSize,
    Interpolation,
    JpegLikeRelease,
    Limit,
    Markdown,
    MaxDrop,
    MaxShift,
    Mean,
    MinBound,
    Model,
    ModelFile,
    NumClasses,
    Out,
    Pretrained,
    Resume,
    Seed,
    Severities,
    ShiftPasses,
    Std,
    SuiteNames,
    Weights,
    Workers,
    check_preprocessing_read,
    eval_config,
    output_folder,
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


@app.command("eval")
def eval_command(
    model: Model,
    data: Data = None,
    suite: SuiteNames = DEFAULT_SUITE,
    limit: Limit = None,
    image_list: ImageListOption = None,
    out: Out = None,
    seed: Seed = 0,
    max_shift: MaxShift = None,
    shift_passes: ShiftPasses = None,
    attack_mode: AttackMode = None,
    attack_radius: AttackRadius = None,
    attack_step: AttackStep = None,
    imagenet_c: ImagenetC = None,
    corruptions: Corruptions = None,
    severities: Severities = None,
    jpeg_like_release: JpegLikeRelease = False,
    pretrained: Pretrained = True,
    weights: Weights = None,
    model_file: ModelFile = None,
    num_classes: NumClasses = None,
    img_size: ImgSize = None,
    interpolation: Interpolation = None,
    mean: Mean = None,
    std: Std = None,
    antialias: Antialias = None,
    aa_pad: AaPad = None,
    aa_stem: AaStem = None,
    aps_filter: ApsFilter = 1,
    circular_pad: CircularPad = False,
    amp: Amp = "none",
    channels_last: ChannelsLast = False,
    compile_model: Compile = False,
    batch_size: BatchSize = "64",
    workers: Workers = DEFAULT_WORKERS,
    device: Device = "auto",
    resume: Resume = None,
    chunk_size: ChunkSize = 1024,
    decode: Decode = "pil",
    canvas: CanvasMode = "resize",
    baseline: Annotated[
        Path | None,
        typer.Option(help="Gate the results against this results.json (see shiftbench check)."),
    ] = None,
    max_drop: MaxDrop = None,
    minimum: MinBound = None,
    check_config: CheckConfig = None,
    allow_mismatch: AllowMismatch = False,
    markdown_file: Markdown = None,
) -> None:
    """Evaluate one model on an image folder and write metrics, curves and records; with
    --baseline or gates, then check them as `shiftbench check` does (exit 1 on a regression)."""
    with user_errors():
        config = eval_config(
            parse_suite_names(suite), released=imagenet_c is not None,
            max_shift=max_shift, shift_passes=shift_passes, attack_mode=attack_mode,
            attack_radius=attack_radius, attack_step=attack_step, seed=seed, limit=limit,
            image_list=image_list,
            batch_size=batch_size, workers=workers, device=device, amp=amp,
            channels_last=channels_last, compile_model=compile_model, corruptions=corruptions,
            severities=severities, jpeg_like_release=jpeg_like_release, chunk_size=chunk_size,
            decode=decode, canvas=canvas,
        )  # fmt: skip
        spec = antialias_spec(antialias, aa_pad, aa_stem, aps_filter, circular_pad)
        source = _check_sources(config.suites, data, imagenet_c)
        check_preprocessing_read(
            config.suites, data, imagenet_c is not None, interpolation, mean, std
        )
        gating = _gating_before_the_run(
            config.suites, baseline, max_drop, minimum, check_config, allow_mismatch,
            markdown_file,
        )  # fmt: skip
        out_dir, resuming = output_folder(out, resume, default_output_dir(model))
        replacing = holds_results(out_dir) and not resuming
        with run_output_dir(out_dir, resuming):
            torch.manual_seed(seed)  # random-initialised weights repeat with the seed too
            loaded = load_announced(
                model, pretrained=pretrained, weights=weights, model_file=model_file,
                num_classes=num_classes, img_size=img_size, interpolation=interpolation,
                mean=triple(mean, "--mean"), std=triple(std, "--std"), antialias=spec,
            )  # fmt: skip
            images = _released(imagenet_c, data, loaded, config) if imagenet_c else source
            if gating is not None and gating.compares_before() and images is not None:
                images = _listed(images, loaded, config)
                gating.check_planned(planned_record(loaded, images, config))
            result = evaluate(
                loaded, images, config, verbose=True, checkpoint=out_dir, resume=resuming
            )
            if result is None:  # a torchrun rank other than 0: rank 0 writes
                return
            write_result_files(result, out_dir)
            discard_checkpoint(out_dir)
    stdout.print(metrics_table(result))
    _note_batch_size(config.batch_size, [result])
    note(replaced_note(out_dir, replacing))
    if gating is not None:
        with user_errors():
            code = gate(load_results(out_dir), gating)
        raise typer.Exit(code)


def _gating_before_the_run(
    suites: tuple[str, ...],
    baseline: Path | None,
    max_drop: list[str] | None,
    minimum: list[str] | None,
    check_config: Path | None,
    allow_mismatch: bool,
    markdown_file: Path | None,
) -> Gating | None:
    """The gates eval applies after its run, read now: a missing gate, an unreadable baseline
    or a gate on a suite that will not run is found before hours of evaluation, not after."""
    if baseline is None and not max_drop and not minimum and check_config is None:
        if allow_mismatch or markdown_file is not None:
            raise ShiftbenchError(
                "--allow-mismatch and --markdown apply to gates: add --baseline, --max-drop, "
                "--min or --check-config"
            )
        return None
    gating = read_gating(baseline, max_drop, minimum, check_config, allow_mismatch, markdown_file)
    unselected = sorted(gating.suites() - set(suites))
    if unselected:
        configured = [g for g in gating.gates if g.origin and g.metric.split(".")[0] in unselected]
        where = (
            f": the gate on {configured[0].metric} comes from [tool.shiftbench.check] in "
            f"{configured[0].origin}"
            if configured
            else ""
        )
        raise ShiftbenchError(
            f"a gate reads the {', '.join(unselected)} suite, which is not selected "
            f"(--suite){where}"
        )
    return gating


def _note_batch_size(asked: int | str, results: list) -> None:
    if asked == "auto":
        sizes = ", ".join(str(r.timing["batch_size"]) for r in results)
        note(f"--batch-size auto: ran at {sizes} views per forward pass")


def _check_sources(
    names: tuple[str, ...], data: Path | None, imagenet_c: Path | None
) -> Path | None:
    """The folder the suites read: --data, --imagenet-c for the released corruption files,
    or None when only model suites (filters) run."""
    if imagenet_c is not None:
        if "corruption" not in names:
            raise ShiftbenchError("--imagenet-c is read by --suite corruption")
        if len(names) > 1:
            raise ShiftbenchError(
                "--suite corruption with --imagenet-c runs alone (--data adds the clean "
                "images to it); run the other suites in a separate eval"
            )
        if data is not None:
            check_data_root(data)
        return imagenet_c
    if not needs_images(names):
        if data is not None:
            raise ShiftbenchError(f"--suite {','.join(names)} reads no images: leave out --data")
        return None
    if data is None:
        raise ShiftbenchError("--data is required (an image folder, one sub-folder per class)")
    return check_data_root(data)


def _listed(images: Path | ImageSet, model: LoadedModel, config: EvalConfig) -> ImageSet:
    """The images a run evaluates, listed now (evaluate lists a folder itself otherwise)."""
    if isinstance(images, ImageSet):
        return images
    return scan_image_folder(images, model.num_classes, config.limit, selected_images(config))


def _released(
    root: Path, clean: Path | None, model: LoadedModel, config: EvalConfig
) -> ReleasedSet:
    """`released_for`, with a progress bar over the sets while their files are listed."""
    with count_bar("listing ImageNet-C", "folders") as update:
        return released_for(model, root, config, clean, progress=update)


def compare_specs(
    models: list[str], config_file: Path | None, antialias: str | None, defaults: VariantSpec
) -> list[VariantSpec]:
    """The variants named on the command line and in the TOML file, expanded by --antialias."""
    specs = [parse_spec(m, defaults) for m in models]
    if config_file is not None:
        specs += read_models_toml(config_file, defaults)
    if not specs:
        raise ShiftbenchError("compare needs models: names, specs or --config models.toml")
    specs = expand_antialias(specs, antialias)
    check_labels(specs)
    if len(specs) < 2:
        raise ShiftbenchError(
            "compare needs at least two variants: several models, or --antialias 0,4"
        )
    conversion_options = (
        defaults.aa_pad is not None or defaults.aa_stem is not None or defaults.circular_pad
    )
    if conversion_options and not any(s.converted for s in specs):
        raise ShiftbenchError("--aa-pad, --aa-stem and --circular-pad need a converted variant")
    return specs


@app.command("compare")
def compare_command(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models as NAME[:key=value...], keys: aa (0, 1..7, aps), weights, label, "
            "pretrained, model_file, num_classes, img_size, aa_pad, aa_stem, aps_filter, "
            "circular_pad. The first is the reference.",
            show_default=False,
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file of \\[\\[model]] tables (name = ..., same keys)."),
    ] = None,
    antialias: Annotated[
        str | None,
        typer.Option(
            help="Variants of each model without aa=: e.g. 0,3,4,5 (0 = the model as loaded) "
            "or 0,aps."
        ),
    ] = None,
    data: Data = None,
    imagenet_c: ImagenetC = None,
    suite: SuiteNames = DEFAULT_SUITE,
    limit: Limit = None,
    image_list: ImageListOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (default: `results/compare/<UTC timestamp>`)."
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples over images for the difference intervals.")
    ] = DEFAULT_RESAMPLES,
    seed: Seed = 0,
    max_shift: MaxShift = None,
    shift_passes: ShiftPasses = None,
    attack_mode: AttackMode = None,
    attack_radius: AttackRadius = None,
    attack_step: AttackStep = None,
    corruptions: Corruptions = None,
    severities: Severities = None,
    jpeg_like_release: JpegLikeRelease = False,
    pretrained: Pretrained = True,
    num_classes: NumClasses = None,
    img_size: ImgSize = None,
    interpolation: Interpolation = None,
    mean: Mean = None,
    std: Std = None,
    aa_pad: AaPad = None,
    aa_stem: AaStem = None,
    aps_filter: ApsFilter = 1,
    circular_pad: CircularPad = False,
    amp: Amp = "none",
    channels_last: ChannelsLast = False,
    compile_model: Compile = False,
    batch_size: BatchSize = "64",
    workers: Workers = DEFAULT_WORKERS,
    device: Device = "auto",
    resume: Resume = None,
    chunk_size: ChunkSize = 1024,
    decode: Decode = "pil",
    canvas: CanvasMode = "resize",
) -> None:
    """Evaluate a reference model and its variants on the same images, views, shifts and
    corruption noise (images decoded once for all), and report each difference to the
    reference with a paired bootstrap interval and McNemar's exact test."""
    with user_errors():
        config = eval_config(
            parse_suite_names(suite), released=imagenet_c is not None,
            max_shift=max_shift, shift_passes=shift_passes, attack_mode=attack_mode,
            attack_radius=attack_radius, attack_step=attack_step, seed=seed, limit=limit,
            image_list=image_list,
            batch_size=batch_size, workers=workers, device=device, amp=amp,
            channels_last=channels_last, compile_model=compile_model, corruptions=corruptions,
            severities=severities, jpeg_like_release=jpeg_like_release, chunk_size=chunk_size,
            decode=decode, canvas=canvas,
        )  # fmt: skip
        if bootstrap < 1:
            raise ShiftbenchError("--bootstrap must be >= 1")
        defaults = VariantSpec(
            "", pretrained=pretrained, num_classes=num_classes, img_size=img_size,
            aa_pad=aa_pad, aa_stem=aa_stem, aps_filter=aps_filter, circular_pad=circular_pad,
        )  # fmt: skip
        specs = compare_specs(models or [], config_file, antialias, defaults)
        source = _check_sources(config.suites, data, imagenet_c)
        check_preprocessing_read(
            config.suites, data, imagenet_c is not None, interpolation, mean, std
        )
        out_dir, resuming = output_folder(out, resume, default_output_dir("compare"))
        replacing = holds_results(out_dir) and not resuming
        with run_output_dir(out_dir, resuming):
            loaded = []
            for spec in specs:
                torch.manual_seed(seed)  # random-initialised twins start from the same weights
                variant = load_variant(
                    spec, interpolation, triple(mean, "--mean"), triple(std, "--std")
                )
                loaded.append(announce(variant))
            note_default_weights(loaded)
            labels = labels_for(specs, loaded)
            images = _released(imagenet_c, data, loaded[0], config) if imagenet_c else source
            results = evaluate_many(
                loaded, images, config, verbose=True, labels=labels, checkpoint=out_dir,
                resume=resuming,
            )  # fmt: skip
            if not results:  # a torchrun rank other than 0: rank 0 writes
                return
            variants, differences = write_comparison(results, out_dir, bootstrap)
            discard_checkpoint(out_dir)
    stdout.print(paired_table(variants, differences))
    _note_batch_size(config.batch_size, results)
    contents = " (one folder per variant, report.md, comparison.csv)"
    note(replaced_note(out_dir, replacing, contents))
