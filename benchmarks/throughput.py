"""Views/s of each suite next to the bare forward pass of the same model (a ratio, not a test).

For every suite this runs the full shiftbench pipeline (decode on CPU workers, views on the
device, forward) over a generated JPEG image folder and divides its views/s by the views/s of
the model's bare forward pass on random inputs at the same batch size and settings.

    python benchmarks/throughput.py --model resnet50 --device cuda --amp bf16 --channels-last
    python benchmarks/throughput.py --model resnet18 --img-size 64 --max-shift 8 --images 128

Random-init weights: the translation suite stops early on images it already misclassifies,
so its views per image (and its ratio) depend on the model's accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table
from timing import seconds_per_batch

from shiftbench import EvalConfig, evaluate, load_model, scan_image_folder
from shiftbench.run.engine import Forward, resolve_device
from shiftbench.suites import parse_suite_names


def make_images(root: Path, count: int, side: int, classes: int) -> Path:
    """`count` random-texture JPEGs of about `side` px, spread over `classes` folders."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((side + 17, side), Image.BILINEAR)
        image.save(folder / f"{i:05d}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--max-shift", type=int, default=32)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="none")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--decode", default="pil", help="pil (CPU workers) or device")
    parser.add_argument("--suites", default="clean,consistency,diagonal,circular,translation,all")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    device = resolve_device(args.device)
    classes = min(10, args.images)
    model = load_model(args.model, pretrained=False, num_classes=classes, img_size=args.img_size)
    base = EvalConfig(
        max_shift=args.max_shift,
        batch_size=args.batch_size,
        workers=args.workers,
        device=str(device),
        amp=args.amp,
        channels_last=args.channels_last,
        decode=args.decode,
    )
    forward = Forward(model.module, model.preprocess, base, device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_images(Path(tmp), args.images, args.img_size + args.max_shift + 32, classes)
        images = scan_image_folder(root, classes)
        evaluate(model, images, EvalConfig(**{**base.__dict__, "suites": ("clean",)}))  # warm-up
        for name in args.suites.split(","):
            suites = parse_suite_names(name)
            config = EvalConfig(**{**base.__dict__, "suites": suites})
            timing = evaluate(model, images, config).timing
            steps = max(3, timing["views"] // args.batch_size)
            bare = args.batch_size / seconds_per_batch(forward, args.img_size, steps)
            rows.append(
                {
                    "suite": name,
                    "views_per_image": timing["views"] / args.images,
                    "views_per_s": timing["views_per_s"],
                    "images_per_s": timing["images_per_s"],
                    "bare_views_per_s": bare,
                    "ratio": timing["views_per_s"] / bare,
                }
            )
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = (
        f"{args.model} @ {args.img_size}px, batch {args.batch_size}, amp {args.amp}, "
        f"channels-last {args.channels_last}, {args.workers} workers, {hardware}, "
        f"{torch.get_num_threads()} threads, {args.images} images"
    )
    table = Table(title=title, title_justify="left")
    for column in ("suite", "views/image", "views/s", "images/s", "bare views/s", "ratio"):
        table.add_column(column, justify="left" if column == "suite" else "right")
    for r in rows:
        table.add_row(
            r["suite"],
            f"{r['views_per_image']:.1f}",
            f"{r['views_per_s']:.0f}",
            f"{r['images_per_s']:.0f}",
            f"{r['bare_views_per_s']:.0f}",
            f"{r['ratio']:.2f}",
        )
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"setup": title, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
