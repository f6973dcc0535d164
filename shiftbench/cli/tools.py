"""Commands around evaluations: convert, corruptions, check, report, synthetic."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..antialias import conversion_flags
from ..api import save_converted
from ..console import note, stdout
from ..corruptions import DESCRIPTIONS, GROUPS
from ..data.synthetic import generate_images
from ..errors import ShiftbenchError
from ..models.variants import antialias_spec
from ..results.check import load_results
from ..results.comparison import paired_table
from ..results.gating import read_gating
from ..results.paired import paired_differences
from ..results.report import comparison_table, load_variants, render_report, saved_resamples
from ..results.store import claimed_dir
from .app import app, user_errors
from .evaluate import load_announced
from .gates import gate
from .options import (
    AaPad,
    AaStem,
    AllowMismatch,
    ApsFilter,
    CheckConfig,
    CircularPad,
    ImgSize,
    Markdown,
    MaxDrop,
    MinBound,
    Model,
    ModelFile,
    NumClasses,
    Pretrained,
    Weights,
)


@app.command("convert")
def convert_command(
    model: Model,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write.")],
    antialias: Annotated[
        str,
        typer.Option(help="BlurPool filter size 1..7 (4 = the released default) or aps."),
    ] = "4",
    aa_pad: AaPad = None,
    aa_stem: AaStem = None,
    aps_filter: ApsFilter = 1,
    circular_pad: CircularPad = False,
    pretrained: Pretrained = True,
    weights: Weights = None,
    model_file: ModelFile = None,
    num_classes: NumClasses = None,
    img_size: ImgSize = None,
) -> None:
    """Anti-alias a model and save its state dict (with the conversion report) as safetensors."""
    with user_errors():
        spec = antialias_spec(antialias, aa_pad, aa_stem, aps_filter, circular_pad)
        if spec is None:
            raise ShiftbenchError("convert needs --antialias 1..7 or aps")
        if out.suffix != ".safetensors":
            raise ShiftbenchError(f"--out must end in .safetensors, got {out}")
        with claimed_dir(out.parent):  # writable before the model is built
            loaded = load_announced(
                model, pretrained=pretrained, weights=weights, model_file=model_file,
                num_classes=num_classes, img_size=img_size, antialias=spec,
            )  # fmt: skip
            save_converted(loaded, out)
    again = ["shiftbench", "eval", model]
    if model_file is not None:
        again += ["--model-file", model_file]
    for flag, value in (("--num-classes", num_classes), ("--img-size", img_size)):
        again += [flag, str(value)] if value is not None else []
    assert loaded.antialias is not None  # converted above
    again += [*conversion_flags(loaded.antialias.settings()).split(), "--weights", str(out)]
    note(f"wrote {out}; evaluate it with: {shlex.join(again)}")


@app.command("corruptions")
def corruptions_command() -> None:
    """List the ImageNet-C corruptions by group, with what each does."""
    table = Table(title="ImageNet-C corruptions (severities 1..5)", title_justify="left")
    for column in ("group", "corruption", "what it does"):
        table.add_column(column)
    for group, names in GROUPS.items():
        label = "extra (not in mCE)" if group == "extra" else group
        for name in names:
            table.add_row(label, name, DESCRIPTIONS[name])
            label = ""
    stdout.print(table)


@app.command("check")
def check_command(
    current: Annotated[Path, typer.Argument(help="results.json, or the folder holding it.")],
    baseline: Annotated[
        Path | None, typer.Option(help="The baseline results.json (or its folder).")
    ] = None,
    max_drop: MaxDrop = None,
    minimum: MinBound = None,
    check_config: CheckConfig = None,
    allow_mismatch: AllowMismatch = False,
    markdown_file: Markdown = None,
) -> None:
    """Gate CI on robustness regressions: exit 0 if every gate holds, 1 on a regression,
    2 on unusable input (missing metrics, different settings without --allow-mismatch)."""
    with user_errors():
        gating = read_gating(
            baseline, max_drop, minimum, check_config, allow_mismatch, markdown_file
        )
        code = gate(load_results(current), gating)
    raise typer.Exit(code)


@app.command("report")
def report_command(
    results: Annotated[
        list[Path],
        typer.Argument(help="Results folders (results.json inside, or one per sub-folder)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where report.md and the plots go (default: the first)."),
    ] = None,
    bootstrap: Annotated[
        int | None,
        typer.Option(
            help="Bootstrap resamples of paired differences (default: as saved, or 2000)."
        ),
    ] = None,
) -> None:
    """Re-render the table, report.md and PNG plots from saved results alone; variants of
    the same images (a compare folder) also get their paired differences again."""
    with user_errors():
        if bootstrap is not None and bootstrap < 1:
            raise ShiftbenchError("--bootstrap must be >= 1")
        # a results.json names its folder, as it does for check
        results = [p.parent if p.name == "results.json" and p.is_file() else p for p in results]
        target = out if out is not None else results[0]
        variants = load_variants(results)
        resamples = bootstrap if bootstrap is not None else saved_resamples(results[0])
        differences = None
        if len(variants) > 1:
            try:
                differences = paired_differences(variants, resamples)
            except ShiftbenchError as exc:
                note(f"no paired statistics: {exc}")
        written = render_report(variants, target, differences, resamples)
    if differences is not None:
        stdout.print(paired_table(variants, differences))
    else:
        stdout.print(comparison_table(variants))
    note(f"wrote {', '.join(p.name for p in written)} to {target}")


@app.command("synthetic")
def synthetic_command(
    out: Annotated[Path, typer.Argument(help="Folder to create the image tree in.")],
    classes: Annotated[int, typer.Option(help="Number of classes (2-10).")] = 10,
    per_class: Annotated[int, typer.Option(help="Images per class.")] = 20,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
) -> None:
    """Write a generated, labelled image folder (textured shapes) for offline runs."""
    with user_errors():
        generate_images(out, classes=classes, per_class=per_class, size=size, seed=seed)
    note(f"{classes * per_class} synthetic images in {out}")
