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
    cifar10,
    export_folder,
    folder_images,
    save_twins,
    train_twins,
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


@app.command("train")
def train_command(
    data: Annotated[
        Path,
        typer.Option(
            help="Training images: an image folder (one sub-folder per class), or with "
            "--dataset cifar10 torchvision's CIFAR-10 folder."
        ),
    ],
    dataset: Annotated[str, typer.Option(help="folder or cifar10.")] = "folder",
    val: Annotated[
        Path | None,
        typer.Option(help="Image folder scored after every epoch (cifar10: its test split)."),
    ] = None,
    arch: Annotated[str, typer.Option(help=f"Network: {', '.join(NETS)}.")] = "vgg13",
    antialias: Annotated[
        str, typer.Option(help="Filter sizes to train side by side; 0 = the baseline.")
    ] = "0,2,3,5,7",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Images per step.")] = 128,
    lr: Annotated[float, typer.Option(help="Peak SGD learning rate (cosine schedule).")] = 0.05,
    augment: Annotated[
        bool, typer.Option(help="Random crops (4 px zero padding) and horizontal flips.")
    ] = True,
    img_size: Annotated[int, typer.Option(help="Training input size S.")] = 32,
    seed: Seed = 0,
    device: Device = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: `results/train_<arch>/<time>`)."),
    ] = None,
) -> None:
    """Train a baseline and its anti-aliased twins together (the paper's CIFAR-10 runs) and
    save checkpoints, models.toml and train.json for eval and compare."""
    with user_errors():
        config = TrainConfig(
            arch=arch,
            filter_sizes=_sizes(antialias, "--antialias", True),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            augment=augment,
            img_size=img_size,
            seed=seed,
        )
        if arch not in NETS:
            raise ShiftbenchError(f"--arch must be one of {', '.join(NETS)}")
        if dataset not in ("folder", "cifar10"):
            raise ShiftbenchError("--dataset must be folder or cifar10")
        out_dir = out if out is not None else default_output_dir(f"train_{arch}")
        device_used = resolve_device(device)
        if dataset == "cifar10":
            if img_size != 32:
                raise ShiftbenchError("CIFAR-10 images are 32 px: leave --img-size at 32")
            if val is not None:
                raise ShiftbenchError("--val is CIFAR-10's test split with --dataset cifar10")
            pixels, labels, classes = cifar10(data, train=True)
            validation = cifar10(data, train=False)
        else:
            pixels, labels, classes = folder_images(data, img_size)
            validation = folder_images(val, img_size) if val is not None else None
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
    for twin in twins:
        last = twin.history[-1]
        score = f", val top-1 {last['val_top1']:.2f}%" if "val_top1" in last else ""
        note(f"{twin.label}: final loss {last['loss']:.4f}{score}")
    target = evaluation if evaluation is not None else "IMAGES"
    note(
        f"checkpoints in {out_dir}; compare them with: shiftbench compare --config "
        f"{out_dir / 'models.toml'} --data {target} --max-shift 8 --canvas pad"
    )
