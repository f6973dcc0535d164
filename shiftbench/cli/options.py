"""Options shared by the commands, and the evaluation settings they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import MAX_SEED, EvalConfig
from ..errors import ShiftbenchError
from ..suites import OPTIONS, SUITES, parse_suite_names


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
Baseline = Annotated[
    Path | None,
    typer.Option(help="Gate the results against this results.json (see shiftbench check)."),
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
CifarC = Annotated[
    Path | None,
    typer.Option(
        "--cifar-c",
        help="Released CIFAR-10-C or CIFAR-100-C root (`<corruption>.npy`, `labels.npy`), read "
        "by --suite corruption: errors per corruption and severity and their mean (no mCE).",
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


def eval_config(settings: dict) -> EvalConfig:
    """The evaluation settings from the options of the settings group (`groups.SETTINGS`):
    each suite option given is passed to the library as it was given (so that one given for
    a suite that is not selected is refused even at its default value), parsed as its suite
    declares; the options left out take the library's defaults."""
    values = dict(settings)
    given = {}
    for name, (_, declared) in OPTIONS.items():
        value = values.pop(name)
        if value not in (None, False):
            given[name] = declared.parse(value) if declared.parse else value
    if values["max_shift"] is None:
        del values["max_shift"]
    image_list = values.pop("image_list")
    values |= {
        "suites": parse_suite_names(values.pop("suite")),
        "image_list": str(image_list) if image_list is not None else None,
        "batch_size": parse_batch_size(values.pop("batch_size")),
        "compile": values.pop("compile_model"),
    }
    return EvalConfig.from_settings(**values, **given)
