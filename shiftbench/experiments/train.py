"""Training a baseline and its anti-aliased twins together, as in the paper's CIFAR-10 runs.

Every twin starts from the baseline's initial weights (a conversion keeps them) and sees the
same batches in the same order with the same augmentation: one loop draws each batch once
and steps every model on it. The images live in memory as uint8 [N, 3, S, S] (CIFAR-10 is
150 MB), resized with the evaluation's own Resize(S) + CenterCrop(S). Augmentation, when
asked for, is the paper's: a random S x S crop of the image zero-padded by 4 pixels, and a
horizontal flip with probability 1/2. SGD with momentum 0.9, weight decay 5e-4 and a cosine
learning-rate schedule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..antialias import AntialiasSpec, convert_spec
from ..data.folders import ImageSet, load_canvas, scan_image_folder
from ..data.views import Geometry, unit_range
from ..errors import ShiftbenchError
from ..models.nets import NETS, build_net
from ..models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from ..results.store import publish
from ..tensorfiles import write_tensors

PAD = 4  # pixels of zero padding before the random crop


@dataclass(frozen=True)
class TrainConfig:
    """How the twins are trained; recorded whole in train.json."""

    arch: str = "vgg13"
    filter_sizes: tuple[int, ...] = (0, 2, 3, 5, 7)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    img_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        sizes = self.filter_sizes
        checks = [
            (self.arch in NETS, "arch", f"must be one of {', '.join(NETS)}"),
            (self.epochs >= 1, "epochs", "must be >= 1"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.img_size >= 8, "img_size", "must be >= 8"),
            (bool(sizes), "filter_sizes", "needs at least one entry"),
            (all(0 <= k <= 7 for k in sizes), "filter_sizes", "entries are 0..7"),
            (len(set(sizes)) == len(sizes), "filter_sizes", "repeats a size"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise ShiftbenchError(f"{{{name}}} {rule}", name)


def variant_label(filter_size: int) -> str:
    """`baseline` for 0, else `aaK` (the names eval and compare give them)."""
    return "baseline" if filter_size == 0 else f"aa{filter_size}"


@dataclass
class Trained:
    """One trained model with its conversion and its training curve."""

    label: str
    filter_size: int
    module: nn.Module
    history: list[dict] = field(default_factory=list)


def load_images(
    images: ImageSet, size: int, canvas: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a scanned folder as uint8 [N, 3, size, size] and its labels:
    Resize(canvas) + CenterCrop(size), the evaluation's centre window (canvas = size:
    the whole image)."""
    canvas = canvas or size
    first = Geometry(size, canvas - size).centre
    pixels = torch.stack(
        [
            load_canvas(images.file(i), canvas, "bilinear")[
                :, first : first + size, first : first + size
            ]
            for i in images.items
        ]
    )
    labels = torch.tensor([i.label for i in images.items], dtype=torch.long)
    return pixels, labels


def cifar10(root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """CIFAR-10 from torchvision's folder (`cifar-10-batches-py` under `root`), never
    downloaded: uint8 [N, 3, 32, 32], labels and class names."""
    from torchvision.datasets import CIFAR10

    try:
        data = CIFAR10(str(root), train=train, download=False)
    except RuntimeError:
        raise ShiftbenchError(
            f"no CIFAR-10 in {root} (torchvision's cifar-10-batches-py); fetch it on a machine "
            'with network: python -c "import torchvision; '
            f"torchvision.datasets.CIFAR10('{root}', download=True)\""
        ) from None
    pixels = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
    return pixels, torch.tensor(data.targets, dtype=torch.long), list(data.classes)


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crops of the zero-padded images and random horizontal flips (uint8 in, out)."""
    count, _, height, width = batch.shape
    padded = F.pad(batch, (PAD, PAD, PAD, PAD))
    top = torch.randint(0, 2 * PAD + 1, (count,), generator=generator)
    left = torch.randint(0, 2 * PAD + 1, (count,), generator=generator)
    flip = torch.rand(count, generator=generator) < 0.5
    rows = (top[:, None] + torch.arange(height))[:, None, :, None]
    cols = left[:, None] + torch.arange(width)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    channel = torch.arange(batch.shape[1])[None, :, None, None]
    sample = torch.arange(count)[:, None, None, None]
    return padded[sample, channel, rows, cols]


def normalise(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images to the float input of shiftbench's sb/ networks (ImageNet statistics)."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (unit_range(batch.to(device)) - mean) / std


def build_twins(config: TrainConfig, num_classes: int) -> list[Trained]:
    """The baseline (seeded) and one converted copy per filter size, all with its weights."""
    torch.manual_seed(config.seed)
    base = build_net(config.arch, num_classes)
    twins = []
    for size in config.filter_sizes:
        if size == 0:
            module = base
        else:
            module = convert_spec(base, AntialiasSpec("blur", size), config.img_size)
        twins.append(Trained(variant_label(size), size, module))
    return twins


def accuracy(
    module: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> float:
    """Top-1 accuracy in percent on uint8 images, in eval mode."""
    module.eval()
    hits = 0
    with torch.inference_mode():
        for start in range(0, len(labels), 256):
            logits = module(normalise(pixels[start : start + 256], device))
            hits += int((logits.argmax(1).cpu() == labels[start : start + 256]).sum())
    return 100.0 * hits / max(len(labels), 1)


Step = Callable[[int, dict[str, float]], None]


def train_twins(
    config: TrainConfig,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    device: torch.device,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    step: Step | None = None,
) -> list[Trained]:
    """Train the baseline and its twins in lockstep on the same batches; `step(images,
    losses)` is called after every batch with its size and each model's loss."""
    twins = build_twins(config, num_classes)
    steps_per_epoch = math.ceil(len(labels) / config.batch_size)
    total = config.epochs * steps_per_epoch
    optimisers = []
    for twin in twins:
        twin.module.to(device)
        optimiser = torch.optim.SGD(
            twin.module.parameters(), config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )  # fmt: skip
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda t: 0.5 * (1 + math.cos(math.pi * t / total))
        )
        optimisers.append((optimiser, schedule))
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        order = torch.randperm(len(labels), generator=generator)
        sums = [0.0] * len(twins)
        for twin in twins:
            twin.module.train()
        for number in range(steps_per_epoch):
            index = order[number * config.batch_size : (number + 1) * config.batch_size]
            batch = pixels[index]
            if config.augment:
                batch = augment(batch, generator)
            x, y = normalise(batch, device), labels[index].to(device)
            losses = {}
            for k, (twin, (optimiser, schedule)) in enumerate(zip(twins, optimisers, strict=True)):
                loss = F.cross_entropy(twin.module(x), y)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                losses[twin.label] = float(loss.detach())
                sums[k] += losses[twin.label] * len(index)
            if step is not None:
                step(len(index), losses)
        for twin, total_loss in zip(twins, sums, strict=True):
            record = {"epoch": epoch + 1, "loss": total_loss / len(labels)}
            if validation is not None:
                record["val_top1"] = accuracy(twin.module, *validation, device)
            twin.history.append(record)
    for twin in twins:
        twin.module.eval().cpu()
    return twins


def save_twins(
    twins: list[Trained],
    config: TrainConfig,
    out: str | Path,
    num_classes: int,
    extra: dict,
) -> list[Path]:
    """Each twin's state dict as `<label>.safetensors`, `models.toml` for `shiftbench compare
    --config`, and `train.json` (settings, curves, data), written whole or not at all."""
    from .. import __version__

    def write(staging: Path) -> None:
        lines = []
        for twin in twins:
            state = {k: v.detach().cpu().contiguous() for k, v in twin.module.state_dict().items()}
            target = f"{twin.label}.safetensors"
            write_tensors(
                state, staging / target, metadata={"arch": config.arch, "label": twin.label}
            )
            lines += [
                "[[model]]",
                f'name = "sb/{config.arch}"',
                f"aa = {twin.filter_size}",
                f'weights = "{target}"',
                f'label = "{twin.label}"',
                f"num_classes = {num_classes}",
                f"img_size = {config.img_size}",
                "",
            ]
        (staging / "models.toml").write_text("\n".join(lines))
        document = {
            "shiftbench": __version__,
            "config": asdict(config),
            "num_classes": num_classes,
            "models": {
                t.label: {"filter_size": t.filter_size, "history": t.history} for t in twins
            },
            **extra,
        }
        (staging / "train.json").write_text(json.dumps(document, indent=2) + "\n")

    return publish(Path(out), write, "training")


def folder_images(root: str | Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """An image folder (one sub-folder per class, labels in sorted folder order) in memory."""
    path = Path(root)
    if not path.is_dir():
        raise ShiftbenchError(f"{root} is not a folder")
    folders = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    scanned = scan_image_folder(path, len(folders))
    pixels, labels = load_images(scanned, size)
    return pixels, labels, scanned.classes


def export_folder(
    pixels: torch.Tensor, labels: torch.Tensor, classes: list[str], out: str | Path
) -> Path:
    """Images as PNG files in one sub-folder per class (numbered so they sort by class
    index), for `shiftbench eval`/`compare`."""
    from PIL import Image

    out = Path(out)
    counts = [0] * len(classes)
    for image, label in zip(pixels, labels.tolist(), strict=True):
        folder = out / f"{label:02d}_{classes[label]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{counts[label]:05d}.png")
        counts[label] += 1
    return out


DATASETS = ("folder", "cifar10")


def training_data(
    dataset: str, data: str | Path, val: str | Path | None, img_size: int
) -> tuple[torch.Tensor, torch.Tensor, list[str], tuple | None]:
    """The training images of `data` (pixels, labels, class names) and the validation split
    (`val`'s images, or CIFAR-10's test split with `dataset` "cifar10"; None without one)."""
    if dataset not in DATASETS:
        raise ShiftbenchError(f"{{dataset}} must be one of {', '.join(DATASETS)}", "dataset")
    if dataset == "folder":
        validation = folder_images(val, img_size) if val is not None else None
        return (*folder_images(data, img_size), validation)
    if img_size != 32:
        raise ShiftbenchError("CIFAR-10 images are 32 px: leave {img_size} at 32", "img_size")
    if val is not None:
        raise ShiftbenchError(
            "{val} is CIFAR-10's test split with {dataset} cifar10", "val", "dataset"
        )
    return (*cifar10(data, train=True), cifar10(data, train=False))
