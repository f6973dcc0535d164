"""Options shared by the commands, and the evaluation settings they make."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..config import MAX_SEED, SUITE_SETTINGS, EvalConfig
from ..corruptions import parse_corruptions, parse_severities
from ..data.folders import read_image_list
from ..errors import ShiftbenchError
from ..results.store import holds_results
from ..run.checkpoint import PARTIAL, interrupted
from ..suites import SUITES, needs_images


def triple(text: str | None, option: str) -> tuple[float, float, float] | None:
    """`0.5,0.5,0.5` to three numbers (None stays None)."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ShiftbenchError(f"{option} takes three comma-separated numbers, got '{text}'")
    return values  # type: ignore[return-value]


Model = Annotated[
    str,
    typer.Argument(
        help="timm name (resnet50, convnext_tiny.fb_in1k, timm/NAME, hf-hub:ORG/REPO, "
        "local-dir:FOLDER), torchvision tv/NAME[.WEIGHTS], or any label with --model-file."
    ),
]
Pretrained = Annotated[
    bool, typer.Option("--pretrained/--no-pretrained", help="Load the published weights.")
]
Weights = Annotated[
    str | None,  # not a Path: it would fold the // of a URL
    typer.Option(
        help="A state dict (.pth/.pt/.bin/.safetensors), loaded safely: a file, or an http(s) URL "
        "downloaded once into torch's hub cache; or `released` (`released-scratch`): the "
        "antialiased-cnns weights of a tv/ model at --antialias K (fine-tuned at 4, as the "
        "package loads them; or trained from scratch)."
    ),
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


SUITE_HELP = "Comma-separated suites or 'all': " + ", ".join(SUITES) + "."
Data = Annotated[
    Path | None,
    typer.Option(
        help="Image folder: one sub-folder per class (with --imagenet-c: the clean "
        "validation images, for clean accuracy and relative mCE)."
    ),
]
ImagenetC = Annotated[
    Path | None,
    typer.Option(
        help="Released ImageNet-C root (`<root>/<corruption>/<severity>/<synset>/<image>`), "
        "read by --suite corruption."
    ),
]
ImageListOption = Annotated[
    Path | None,
    typer.Option(
        "--image-list",
        help="Evaluate only the images this file names, one path relative to the data root "
        "per line (e.g. RobustBench's imagenet_test_image_ids.txt); with --imagenet-c, in "
        "every set. --limit applies after it.",
    ),
]
SuiteNames = Annotated[str, typer.Option("--suite", "-s", help=SUITE_HELP)]
Limit = Annotated[
    int | None,
    typer.Option(help="Evaluate N images evenly spread over the folder (not comparable)."),
]
Out = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder (default: `results/<model>/<UTC timestamp>`)."),
]
Seed = Annotated[
    int, typer.Option(help="Seed of every random shift.", min=0, max=MAX_SEED, show_default=True)
]
MaxShift = Annotated[
    int | None,
    typer.Option(
        help="M: canvas = input size + M (256 for 224 models); default 32.", show_default=False
    ),
]
ShiftPasses = Annotated[
    int | None, typer.Option(help="Consistency pairs per image; default 5.", show_default=False)
]
AttackMode = Annotated[
    str | None,
    typer.Option(
        help="translation: crop (inside the canvas, the default) or pad (black border).",
        show_default=False,
    ),
]
AttackRadius = Annotated[
    int | None,
    typer.Option(help="Largest translation in px (default: M/2; pad mode: 0.107*S)."),
]
AttackStep = Annotated[
    int | None,
    typer.Option(
        help="Grid step in px (default: crop mode 4, or the radius's largest divisor "
        "below 4; pad mode radius/2)."
    ),
]
Corruptions = Annotated[
    str | None,
    typer.Option(
        help="Corruptions, groups (noise, blur, weather, digital, extra), "
        "benchmark or all (default all)."
    ),
]
Severities = Annotated[str | None, typer.Option(help="Severities, e.g. 3,5 (default 1..5).")]
JpegLikeRelease = Annotated[
    bool,
    typer.Option(
        help="Corruptions made on the fly also get the released files' uint8 "
        "truncation and JPEG quality 85."
    ),
]
Amp = Annotated[str, typer.Option(help="Mixed precision: none, bf16 or fp16.")]
ChannelsLast = Annotated[bool, typer.Option(help="NHWC memory format.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the model.")]
BatchSize = Annotated[
    str,
    typer.Option(
        "--batch-size",
        "-b",
        help="Views per forward pass, or auto: the largest that fits (from 1024 on a GPU, "
        "halved on out-of-memory; 64 on a CPU).",
    ),
]
Decode = Annotated[
    str,
    typer.Option(
        help="Where JPEGs are decoded: pil (CPU workers, the paper's path) or device "
        "(torchvision on the GPU; slightly different pixels)."
    ),
]
CanvasMode = Annotated[
    str,
    typer.Option(
        "--canvas",
        help="How each image becomes its canvas (input size + max shift): resize (shorter side "
        "to the canvas, centre crop: the paper's ImageNet protocol) or pad (shorter side to the "
        "input size, centre crop, then a black border: images already at the model's size, "
        "such as CIFAR-10's, shifted as training's padded random crops shift them).",
    ),
]
ChunkSize = Annotated[
    int,
    typer.Option(
        help="Images per chunk: the unit of checkpoints for --resume and of each torchrun "
        "process's share."
    ),
]
Resume = Annotated[
    Path | None,
    typer.Option(
        help="Output folder of an interrupted run: continue it from its finished chunks "
        "(same model, data and settings)."
    ),
]
Workers = Annotated[
    int,
    typer.Option("--workers", "-j", help="Image decoding processes (default: min(4, cores))."),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")]
DEFAULT_SUITE = ",".join(EvalConfig.suites)


def parse_batch_size(text: str) -> int | str:
    """`64` or `auto`."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise ShiftbenchError(f"--batch-size takes a number or auto, got '{text}'") from None


def replaced_note(folder: Path, replacing: bool, contents: str = "") -> str:
    """The last line of a run: where its results are (and what the folder holds), and that
    they replaced earlier ones."""
    earlier = "; they replace the results of an earlier run there" if replacing else ""
    return f"results written to {folder}{contents}{earlier}"


def output_folder(out: Path | None, resume: Path | None, default: Path) -> tuple[Path, bool]:
    """Where results go and whether to resume: --resume DIR, else --out, else `default`.
    (Into a folder with earlier results, `replaced_note` says so once the new ones are in.)"""
    if resume is not None:
        if out is not None and out.resolve() != resume.resolve():
            raise ShiftbenchError("--resume DIR is the output folder: leave out --out")
        if holds_results(resume) and not (resume / PARTIAL).is_dir():
            raise ShiftbenchError(f"--resume: {resume} holds finished results")
        return resume, True
    folder = out if out is not None else default
    chunks = interrupted(folder)  # a run stopped before its first chunk left nothing to keep
    if chunks and os.environ.get("RANK", "0") == "0":  # before rank 0 starts
        raise ShiftbenchError(
            f"{folder} holds an interrupted run ({chunks} chunks finished): continue it with "
            f"--resume {folder}, or remove {folder / PARTIAL} to start again"
        )
    return folder, False


def _refuse_without_images(options: list[str]) -> None:
    """Options about images, given to a run that reads none, are an error."""
    if options:
        verb, pronoun = ("has", "it") if len(options) == 1 else ("have", "them")
        raise ShiftbenchError(
            f"{', '.join(options)} {verb} no effect with no image suite (filters reads the "
            f"weights alone): leave {pronoun} out"
        )


def check_preprocessing_read(
    suites: tuple[str, ...],
    data: Path | None,
    released: bool,
    interpolation: str | None,
    mean: str | None,
    std: str | None,
) -> None:
    """Refuse preprocessing overrides that no image goes through: with only model suites,
    any of them; on the released ImageNet-C files without --data (stored size, never
    resized), --interpolation."""
    if not needs_images(suites):
        given = [o for o, v in (("--interpolation", interpolation), ("--mean", mean),
                                ("--std", std)) if v is not None]  # fmt: skip
        _refuse_without_images(given)
    elif released and data is None and interpolation is not None:
        raise ShiftbenchError(
            "--interpolation: the released ImageNet-C images are used at their stored size, "
            "never resized; it applies only to the clean images of --data"
        )


def eval_config(
    suites: tuple[str, ...],
    *,
    released: bool = False,
    max_shift: int | None,
    shift_passes: int | None,
    attack_mode: str | None,
    attack_radius: int | None,
    attack_step: int | None,
    seed: int,
    limit: int | None,
    image_list: Path | None,
    batch_size: str,
    workers: int,
    device: str,
    amp: str,
    channels_last: bool,
    compile_model: bool,
    corruptions: str | None,
    severities: str | None,
    jpeg_like_release: bool,
    chunk_size: int,
    decode: str,
    canvas: str,
) -> EvalConfig:
    """The evaluation settings from the command's options (`released`: on the released
    ImageNet-C files). An option that no selected suite reads is refused; options left out
    take EvalConfig's defaults."""
    # an option read by one suite only (the parameters are named as the settings), passed
    # without that suite, is an error even at its default value
    given = locals()
    for name, suite in SUITE_SETTINGS.items():
        if given[name] not in (None, False) and suite not in suites:
            option = "--" + name.replace("_", "-")
            raise ShiftbenchError(f"{option} is read by the {suite} suite, which is not selected")
    if released and jpeg_like_release:
        raise ShiftbenchError("--jpeg-like-release is for corruptions made on the fly")
    if max_shift is not None and released:
        raise ShiftbenchError(
            "--max-shift has no effect with the released ImageNet-C files: leave it out"
        )
    if canvas != "resize" and released:
        raise ShiftbenchError(
            f"--canvas {canvas} is for image folders: the released ImageNet-C files are "
            "read as they were stored"
        )
    if not needs_images(suites):
        defaults = EvalConfig()
        passed = {
            "--max-shift": max_shift is not None,
            "--limit": limit is not None,
            "--image-list": image_list is not None,
            "--batch-size": batch_size != str(defaults.batch_size),
            "--workers": workers != defaults.workers,
            "--amp": amp != defaults.amp,
            "--channels-last": channels_last,
            "--compile": compile_model,
            "--chunk-size": chunk_size != defaults.chunk_size,
            "--decode": decode != defaults.decode,
            "--canvas": canvas != defaults.canvas,
        }
        _refuse_without_images([option for option, given in passed.items() if given])
    if image_list is not None:
        read_image_list(image_list)  # a bad list is refused before any model is loaded
    shifts = {"max_shift": max_shift, "shift_passes": shift_passes, "attack_mode": attack_mode}
    return EvalConfig(
        suites=suites,
        **{key: value for key, value in shifts.items() if value is not None},
        attack_radius=attack_radius,
        attack_step=attack_step,
        seed=seed,
        limit=limit,
        image_list=str(image_list) if image_list is not None else None,
        batch_size=parse_batch_size(batch_size),
        workers=workers,
        device=device,
        amp=amp,
        channels_last=channels_last,
        compile=compile_model,
        corruptions=parse_corruptions(corruptions) if corruptions else None,
        severities=parse_severities(severities),
        jpeg_like_release=jpeg_like_release,
        chunk_size=chunk_size,
        decode=decode,
        canvas=canvas,
    )
