"""The `shiftbench` command: parses options, calls the Python API, renders the results."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from .api import evaluate
from .config import DEFAULT_WORKERS, EvalConfig
from .console import note, stderr, stdout
from .data import check_data_root
from .errors import ShiftbenchError
from .models import load_model
from .report import default_output_dir, discard_output_dir, metrics_table, prepare_output_dir
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


SUITE_HELP = "Comma-separated suites or 'all': " + ", ".join(SUITES) + "."


@app.command("eval")
def eval_command(
    model: str = typer.Argument(
        ...,
        help="timm name (resnet50, convnext_tiny.fb_in1k, timm/NAME), torchvision "
        "tv/NAME[.WEIGHTS], or any label with --model-file.",
    ),
    data: Path = typer.Option(..., "--data", help="Image folder: one sub-folder per class."),
    suite: str = typer.Option(",".join(EvalConfig.suites), "--suite", "-s", help=SUITE_HELP),
    limit: int | None = typer.Option(
        None, "--limit", help="Evaluate N images evenly spread over the folder (not comparable)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: results/<model>/<UTC timestamp>)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random shift."),
    max_shift: int = typer.Option(
        32, "--max-shift", help="M: canvas = input size + M (256 for 224 models)."
    ),
    shift_passes: int = typer.Option(5, "--shift-passes", help="Consistency pairs per image."),
    attack_mode: str = typer.Option(
        "crop", "--attack-mode", help="translation: crop (inside canvas) or pad (black border)."
    ),
    attack_radius: int | None = typer.Option(
        None, "--attack-radius", help="Largest translation in px (default: M/2; pad mode: 0.107*S)."
    ),
    attack_step: int | None = typer.Option(
        None,
        "--attack-step",
        help="Grid step in px (default: crop mode 4, or the radius's largest divisor below 4; "
        "pad mode radius/2).",
    ),
    pretrained: bool = typer.Option(
        True, "--pretrained/--no-pretrained", help="Load the published weights."
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help="Local state dict (.pth/.pt/.bin/.safetensors), loaded safely."
    ),
    model_file: str | None = typer.Option(
        None, "--model-file", help="FILE.py:FUNCTION building the model (runs that file's code)."
    ),
    num_classes: int | None = typer.Option(None, "--num-classes", help="Size of the model head."),
    img_size: int | None = typer.Option(None, "--img-size", help="Model input size S."),
    interpolation: str | None = typer.Option(None, "--interpolation", help="Resize filter."),
    mean: str | None = typer.Option(None, "--mean", help="Normalisation mean, e.g. 0.5,0.5,0.5."),
    std: str | None = typer.Option(None, "--std", help="Normalisation std, e.g. 0.5,0.5,0.5."),
    amp: str = typer.Option("none", "--amp", help="Mixed precision: none, bf16 or fp16."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Views per forward pass."),
    workers: int = typer.Option(
        DEFAULT_WORKERS,
        "--workers",
        "-j",
        help="Image decoding processes (default: min(4, cores)).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
) -> None:
    """Evaluate one model on an image folder and write metrics, curves and records."""
    with user_errors():
        config = EvalConfig(
            suites=parse_suite_names(suite),
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
        )
        check_data_root(data)
        out_dir = out if out is not None else default_output_dir(model)
        created = prepare_output_dir(out_dir)
        try:
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
            )
            result = evaluate(loaded, data, config, verbose=True)
            write_result_files(result, out_dir)
        except BaseException:
            discard_output_dir(out_dir, created)
            raise
    stdout.print(metrics_table(result))
    note(f"results written to {out_dir}")


@app.command("synthetic")
def synthetic_command(
    out: Path = typer.Argument(..., help="Folder to create the image tree in."),
    classes: int = typer.Option(10, "--classes", help="Number of classes (2-10)."),
    per_class: int = typer.Option(20, "--per-class", help="Images per class."),
    size: int = typer.Option(64, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Generator seed."),
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
