"""`shiftbench demo` and `shiftbench train`: the paper's small-scale experiments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..console import note, stdout, training_bar
from ..errors import ShiftbenchError
from ..experiments.demo import HEADLINES, DemoConfig, cache_root, run_demo
from ..experiments.train import (
    TrainConfig,
    export_folder,
    save_twins,
    train_twins,
    training_data,
)
from ..models.nets import NETS
from ..results.comparison import headline_table
from ..results.store import default_output_dir, run_output_dir
from ..run.engine import resolve_device
from .app import app, user_errors
from .options import Device, Seed


def _sizes(text: str, option: str, allow_zero: bool) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        sizes = ()
    low = 0 if allow_zero else 1
    if not sizes or any(not low <= k <= 7 for k in sizes):
        raise ShiftbenchError(f"{option} takes filter sizes {low}..7 such as 3,5, got '{text}'")
    return sizes


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the report goes.")] = Path(
        "results/demo"
    ),
    filter_sizes: Annotated[
        str, typer.Option(help="BlurPool filter sizes of the anti-aliased twins.")
    ] = "3,5",
    augment: Annotated[
        bool, typer.Option(help="Train with random crops (4 px padding) and flips.")
    ] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = DemoConfig.epochs,
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Offline, in about a minute on a laptop CPU: generate labelled images, train a small
    CNN and its anti-aliased twins (same start, same batches), compare them on every shift
    suite and the filters, and write the report. Models are cached for the next run."""
    started = time.perf_counter()
    with user_errors():
        config = DemoConfig(
            filter_sizes=_sizes(filter_sizes, "--filter-sizes", False),
            augment=augment,
            epochs=epochs,
            seed=seed,
        )
        with run_output_dir(out):
            variants, differences = run_demo(config, out, device)
    stdout.print(headline_table(variants, differences, HEADLINES))
    note(
        f"synthetic data (shiftbench.data.synthetic), not ImageNet; cache: {cache_root()}; "
        f"report: {out / 'report.md'}; {time.perf_counter() - started:.0f} s"
    )


TrainData = Annotated[
    Path,
    typer.Option(
        help="Training images: an image folder (one sub-folder per class), or with "
        "--dataset cifar10 torchvision's CIFAR-10 folder."
    ),
]
Dataset = Annotated[str, typer.Option(help="folder or cifar10.")]
Val = Annotated[
    Path | None,
    typer.Option(help="Image folder scored after every epoch (cifar10: its test split)."),
]
Arch = Annotated[str, typer.Option(help=f"Network: {', '.join(NETS)}.")]
FilterSizes = Annotated[
    str, typer.Option("--antialias", help="Filter sizes to train side by side; 0 = the baseline.")
]
Epochs = Annotated[int, typer.Option(help="Training epochs.")]
TrainBatch = Annotated[int, typer.Option("--batch-size", "-b", help="Images per step.")]
Lr = Annotated[float, typer.Option(help="Peak SGD learning rate (cosine schedule).")]
Augment = Annotated[
    bool, typer.Option(help="Random crops (4 px zero padding) and horizontal flips.")
]
TrainSize = Annotated[int, typer.Option(help="Training input size S.")]
TrainOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder (default: `results/train_<arch>/<time>`)."),
]


@app.command("train")
def train_command(
    data: TrainData, dataset: Dataset = "folder", val: Val = None, arch: Arch = "vgg13",
    filter_sizes: FilterSizes = "0,2,3,5,7", epochs: Epochs = 30, batch_size: TrainBatch = 128,
    lr: Lr = 0.05, augment: Augment = True, img_size: TrainSize = 32, seed: Seed = 0,
    device: Device = "auto", out: TrainOut = None,
) -> None:  # fmt: skip
    """Train a baseline and its anti-aliased twins together (the paper's CIFAR-10 runs) and
    save checkpoints, models.toml and train.json for eval and compare."""
    with user_errors(filter_sizes="--antialias"):
        config = TrainConfig(
            arch=arch, filter_sizes=_sizes(filter_sizes, "--antialias", True), epochs=epochs,
            batch_size=batch_size, lr=lr, augment=augment, img_size=img_size, seed=seed,
        )  # fmt: skip
        out_dir = out if out is not None else default_output_dir(f"train_{arch}")
        device_used = resolve_device(device)
        pixels, labels, classes, validation = training_data(dataset, data, val, img_size)
        with run_output_dir(out_dir):
            note(
                f"sb/{arch} with filter sizes {config.filter_sizes} on {len(labels)} images, "
                f"{len(classes)} classes; {device_used}"
            )
            with training_bar(config.epochs * len(labels)) as update:
                twins = train_twins(
                    config, pixels, labels, len(classes), device_used,
                    validation[:2] if validation is not None else None, update,
                )  # fmt: skip
            extra = {"data": str(data), "dataset": dataset, "classes": classes}
            save_twins(twins, config, out_dir, len(classes), extra)
        evaluation = val
        if dataset == "cifar10" and validation is not None:
            evaluation = export_folder(*validation, out_dir / "test-images")
    _report_training(twins, out_dir, evaluation)


def _report_training(twins: list, out_dir: Path, evaluation: Path | None) -> None:
    """Each twin's final loss (and validation accuracy), and the command that compares them."""
    for twin in twins:
        last = twin.history[-1]
        score = f", val top-1 {last['val_top1']:.2f}%" if "val_top1" in last else ""
        note(f"{twin.label}: final loss {last['loss']:.4f}{score}")
    target = evaluation if evaluation is not None else "IMAGES"
    note(
        f"checkpoints in {out_dir}; compare them with: shiftbench compare --config "
        f"{out_dir / 'models.toml'} --data {target} --max-shift 8 --canvas pad"
    )
