"""The `shiftbench` command: parses options, calls the Python API, renders the results."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from .antialias import AntialiasSpec
from .api import evaluate, save_converted
from .check import HEADER, check, config_gates, load_results, markdown, parse_gates, rows
from .config import DEFAULT_WORKERS, EvalConfig
from .console import note, stderr, stdout, warn
from .corruptions import DESCRIPTIONS, GROUPS, parse_corruptions, parse_severities
from .data import check_data_root
from .errors import ShiftbenchError
from .imagenet_c import evaluate_imagenet_c
from .models import LoadedModel, load_model
from .report import (
    comparison_table,
    default_output_dir,
    discard_output_dir,
    load_variants,
    metrics_table,
    prepare_output_dir,
    render_report,
)
from .report import write_results as write_result_files
from .suites import SUITES, parse_suite_names
from .synthetic import generate_images

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure the shift (in)variance of image classifiers.",
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input into one line on stderr and exit code 2."""
    try:
        yield
    except ShiftbenchError as exc:
        stderr.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _triple(text: str | None, option: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ShiftbenchError(f"{option} takes three comma-separated numbers, got '{text}'")
    return values  # type: ignore[return-value]


def antialias_spec(
    antialias: str | None, pad: str | None, stem: bool | None, aps_filter: int, circular: bool
) -> AntialiasSpec | None:
    """The conversion asked for: None for the baseline (no option, 0 or none)."""
    if antialias is None or antialias.lower() in ("0", "none"):
        if circular or stem is not None or pad is not None:
            raise ShiftbenchError("--aa-pad, --aa-stem and --circular-pad need --antialias")
        return None
    if antialias.lower() == "aps":
        return AntialiasSpec("aps", aps_filter, pad, stem, circular)
    if not antialias.isdigit():
        raise ShiftbenchError(f"--antialias takes a filter size 1..7 or aps, got '{antialias}'")
    return AntialiasSpec("blur", int(antialias), pad, None if stem is None else not stem, circular)


Model = Annotated[
    str,
    typer.Argument(
        help="timm name (resnet50, convnext_tiny.fb_in1k, timm/NAME), torchvision "
        "tv/NAME[.WEIGHTS], or any label with --model-file."
    ),
]
Pretrained = Annotated[
    bool, typer.Option("--pretrained/--no-pretrained", help="Load the published weights.")
]
Weights = Annotated[
    Path | None,
    typer.Option(help="Local state dict (.pth/.pt/.bin/.safetensors), loaded safely."),
]
ModelFile = Annotated[
    str | None,
    typer.Option(help="FILE.py:FUNCTION building the model (runs that file's code)."),
]
NumClasses = Annotated[int | None, typer.Option(help="Size of the model head.")]
ImgSize = Annotated[int | None, typer.Option(help="Model input size S.")]
Interpolation = Annotated[str | None, typer.Option(help="Resize filter.")]
Mean = Annotated[str | None, typer.Option(help="Normalisation mean, e.g. 0.5,0.5,0.5.")]
Std = Annotated[str | None, typer.Option(help="Normalisation std, e.g. 0.5,0.5,0.5.")]
Antialias = Annotated[
    str | None,
    typer.Option(
        help="Convert before evaluating: BlurPool filter size 1..7 (4 = the released "
        "default), aps (adaptive polyphase sampling), or 0 for none."
    ),
]
AaPad = Annotated[
    str | None,
    typer.Option(
        help="Blur padding: reflect, replicate, zero, circular (default reflect; aps circular)."
    ),
]
AaStem = Annotated[
    bool | None,
    typer.Option(
        "--aa-stem/--no-aa-stem",
        help="Also anti-alias the stem's first downsampling (default: per family; aps always).",
        show_default=False,
    ),
]
ApsFilter = Annotated[int, typer.Option(help="With --antialias aps: blur size before APS.")]
CircularPad = Annotated[
    bool, typer.Option(help="Switch every conv and pool padding to circular (with aps: exact).")
]


MaxDrop = Annotated[
    list[str] | None,
    typer.Option(
        "--max-drop",
        help="NAME=POINTS: how far a metric may worsen against the baseline (repeatable).",
    ),
]
MinBound = Annotated[
    list[str] | None,
    typer.Option(
        "--min",
        help="NAME=VALUE: a bound in the metric's good direction (floor, or ceiling when lower "
        "is better; repeatable).",
    ),
]
CheckConfig = Annotated[
    Path | None,
    typer.Option(
        "--check-config",
        help="TOML file with \\[tool.shiftbench.check] (default: ./pyproject.toml if present).",
    ),
]
AllowMismatch = Annotated[
    bool, typer.Option(help="Compare even when settings or data differ from the baseline.")
]
Markdown = Annotated[
    Path | None,
    typer.Option("--markdown", help="Also write the verdicts as GitHub-flavoured markdown."),
]


def _load(
    model: str,
    pretrained: bool,
    weights: Path | None,
    model_file: str | None,
    num_classes: int | None,
    img_size: int | None,
    interpolation: str | None,
    mean: str | None,
    std: str | None,
    spec: AntialiasSpec | None,
) -> LoadedModel:
    loaded = load_model(
        model,
        pretrained=pretrained,
        weights=weights,
        model_file=model_file,
        num_classes=num_classes,
        img_size=img_size,
        interpolation=interpolation,
        mean=_triple(mean, "--mean"),
        std=_triple(std, "--std"),
        antialias=spec,
    )
    if loaded.antialias is not None:
        note(loaded.antialias.summary())
        if loaded.antialias.weights == "baseline":
            warn(
                "converted without fine-tuning: the model now computes another function and "
                "usually loses accuracy until fine-tuned (docs/antialias.md)"
            )
    return loaded


SUITE_HELP = "Comma-separated suites or 'all': " + ", ".join(SUITES) + "."


@app.command("eval")
def eval_command(
    model: Model,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Image folder: one sub-folder per class (with --imagenet-c: the clean "
            "validation images, for relative mCE)."
        ),
    ] = None,
    suite: Annotated[str, typer.Option("--suite", "-s", help=SUITE_HELP)] = ",".join(
        EvalConfig.suites
    ),
    limit: Annotated[
        int | None,
        typer.Option(help="Evaluate N images evenly spread over the folder (not comparable)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (default: results/<model>/<UTC timestamp>)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random shift.")] = 0,
    max_shift: Annotated[
        int, typer.Option(help="M: canvas = input size + M (256 for 224 models).")
    ] = 32,
    shift_passes: Annotated[int, typer.Option(help="Consistency pairs per image.")] = 5,
    attack_mode: Annotated[
        str, typer.Option(help="translation: crop (inside canvas) or pad (black border).")
    ] = "crop",
    attack_radius: Annotated[
        int | None,
        typer.Option(help="Largest translation in px (default: M/2; pad mode: 0.107*S)."),
    ] = None,
    attack_step: Annotated[
        int | None,
        typer.Option(
            help="Grid step in px (default: crop mode 4, or the radius's largest divisor "
            "below 4; pad mode radius/2)."
        ),
    ] = None,
    imagenet_c: Annotated[
        Path | None,
        typer.Option(
            help="Released ImageNet-C root (<root>/<corruption>/<severity>/...), "
            "for --suite corruption."
        ),
    ] = None,
    corruptions: Annotated[
        str | None,
        typer.Option(
            help="Corruptions, groups (noise, blur, weather, digital, extra), "
            "benchmark or all (default all)."
        ),
    ] = None,
    severities: Annotated[
        str | None, typer.Option(help="Severities, e.g. 3,5 (default 1..5).")
    ] = None,
    jpeg_like_release: Annotated[
        bool,
        typer.Option(
            help="Corruptions made on the fly also get the released files' uint8 "
            "truncation and JPEG quality 85."
        ),
    ] = False,
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
    amp: Annotated[str, typer.Option(help="Mixed precision: none, bf16 or fp16.")] = "none",
    channels_last: Annotated[bool, typer.Option(help="NHWC memory format.")] = False,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="torch.compile the model.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Views per forward pass.")
    ] = 64,
    workers: Annotated[
        int,
        typer.Option("--workers", "-j", help="Image decoding processes (default: min(4, cores))."),
    ] = DEFAULT_WORKERS,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
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
        names = [n.strip() for n in suite.split(",") if n.strip()]
        from_disk = imagenet_c is not None
        config = EvalConfig(
            suites=tuple(names) if from_disk else parse_suite_names(suite),
            max_shift=max_shift,
            shift_passes=shift_passes,
            attack_mode=attack_mode,
            attack_radius=attack_radius,
            attack_step=attack_step,
            seed=seed,
            limit=limit,
            batch_size=batch_size,
            workers=workers,
            device=device,
            amp=amp,
            channels_last=channels_last,
            compile=compile_model,
            corruptions=parse_corruptions(corruptions) if corruptions else None,
            severities=parse_severities(severities),
            jpeg_like_release=jpeg_like_release,
        )
        spec = antialias_spec(antialias, aa_pad, aa_stem, aps_filter, circular_pad)
        source = _check_sources(names, data, imagenet_c, jpeg_like_release)
        out_dir = out if out is not None else default_output_dir(model)
        created = prepare_output_dir(out_dir)
        try:
            torch.manual_seed(seed)  # random-initialised weights repeat with the seed too
            loaded = _load(
                model, pretrained, weights, model_file, num_classes, img_size,
                interpolation, mean, std, spec,
            )  # fmt: skip
            if from_disk:
                result = evaluate_imagenet_c(loaded, source, config, data, True)
            else:
                result = evaluate(loaded, source, config, verbose=True)
            write_result_files(result, out_dir)
        except BaseException:
            discard_output_dir(out_dir, created)
            raise
    stdout.print(metrics_table(result))
    note(f"results written to {out_dir}")
    if baseline is not None or max_drop or minimum:
        with user_errors():
            code = gate(
                load_results(out_dir), baseline, max_drop, minimum, check_config,
                allow_mismatch, markdown_file,
            )  # fmt: skip
        raise typer.Exit(code)


def _check_sources(
    names: list[str], data: Path | None, imagenet_c: Path | None, jpeg_like_release: bool
) -> Path:
    """The folder the suites read: --data, or --imagenet-c for the released corruption files."""
    if imagenet_c is not None:
        if "corruption" not in names:
            raise ShiftbenchError("--imagenet-c is read by --suite corruption")
        if set(names) - {"corruption", "clean"}:
            raise ShiftbenchError(
                "--suite corruption with --imagenet-c runs alone (with clean when --data is "
                "given); run the shift suites in a separate eval"
            )
        if "clean" in names and data is None:
            raise ShiftbenchError("clean with --imagenet-c needs --data (the clean images)")
        if jpeg_like_release:
            raise ShiftbenchError("--jpeg-like-release is for corruptions made on the fly")
        if data is not None:
            check_data_root(data)
        return imagenet_c
    if data is None:
        raise ShiftbenchError("--data is required (an image folder, one sub-folder per class)")
    return check_data_root(data)


@app.command("convert")
def convert_command(
    model: Model,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write.")],
    antialias: Antialias = "4",
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
        loaded = _load(
            model, pretrained, weights, model_file, num_classes, img_size, None, None, None, spec
        )
        save_converted(loaded, out)
    again = f"shiftbench eval {model} --antialias {antialias} --weights {out}"
    note(f"wrote {out}; evaluate it with: {again}")


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


def gate(
    current: dict,
    baseline: Path | None,
    max_drop: list[str] | None,
    minimum: list[str] | None,
    config: Path | None,
    allow_mismatch: bool,
    markdown_file: Path | None,
) -> int:
    """Run the regression gates, print and write the verdicts; 0 when all hold, else 1."""
    gates, configured_allow = config_gates(config)
    gates += parse_gates("max-drop", max_drop or []) + parse_gates("min", minimum or [])
    if not gates:
        raise ShiftbenchError("no gate: give --max-drop / --min or a [tool.shiftbench.check] table")
    previous = load_results(baseline) if baseline is not None else None
    verdicts = check(current, previous, gates, allow_mismatch or configured_allow)
    table = Table(title="shiftbench check", title_justify="left")
    for column in HEADER:
        table.add_column(column, justify="left" if column in ("metric", "gate") else "right")
    for row in rows(verdicts):
        style = "bold red" if row[-1] == "REGRESSION" else None
        table.add_row(*row, style=style)
    stdout.print(table)
    text = markdown(verdicts)
    targets = [markdown_file] if markdown_file is not None else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    for target in targets:
        try:
            with open(target, "a" if target != markdown_file else "w") as handle:
                handle.write(text)
        except OSError as exc:
            raise ShiftbenchError(f"cannot write {target}: {exc.strerror or exc}") from None
    failed = [v for v in verdicts if v.verdict == "REGRESSION"]
    if failed:
        stderr.print(f"[bold red]regression:[/bold red] {', '.join(v.key for v in failed)}")
        return 1
    return 0


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
        code = gate(
            load_results(current), baseline, max_drop, minimum, check_config,
            allow_mismatch, markdown_file,
        )  # fmt: skip
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
) -> None:
    """Re-render the table, report.md and PNG plots from saved results alone."""
    with user_errors():
        target = out if out is not None else results[0]
        variants = load_variants(results)
        written = render_report(variants, target)
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


def main() -> None:
    """Console entry point: usage errors and Ctrl-C become one line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        stderr.print("interrupted: no result files were written")
        code = 130
    except Exception as exc:
        # click's usage errors (vendored by recent typer) carry their message and exit code
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        stderr.print(f"[bold red]error:[/bold red] {exc.format_message()}", highlight=False)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
