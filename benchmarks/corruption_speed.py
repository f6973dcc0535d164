"""Corrupted images/s of each corruption made on the fly, next to a model's forward rate.

    python benchmarks/corruption_speed.py --device cuda --batch-size 256
    python benchmarks/corruption_speed.py --batch-size 16 --severity 3 --imagecorruptions

Random images at 224 px; random corruptions use one generator per image, as the suite does.
With --imagecorruptions the same images also go through the imagecorruptions package, one at
a time on the CPU as it works, where it imports and runs (it needs setuptools < 81).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from timing import seconds_per_batch

from shiftbench import EvalConfig, load_model
from shiftbench.corruptions import ALL, RANDOM, corrupt
from shiftbench.run.engine import Forward, resolve_device


def images_per_second(x: torch.Tensor, name: str, severity: int, steps: int) -> float:
    """Warm rate of one corruption on the batch `x`."""

    def once() -> torch.Tensor:
        generators = None
        if name in RANDOM:
            generators = [
                torch.Generator(device=x.device).manual_seed(i) for i in range(x.shape[0])
            ]
        return corrupt(x, name, severity, generators)

    once()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        once()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * x.shape[0] / (time.perf_counter() - started)


def package_rate(x: torch.Tensor, name: str, severity: int) -> str:
    """images/s of imagecorruptions' version on the same images, or why it does not run."""
    try:
        import imagecorruptions
    except Exception as exc:  # it imports pkg_resources, gone from setuptools >= 81
        return f"does not import ({type(exc).__name__})"
    images = x.permute(0, 2, 3, 1).cpu().numpy()
    started = time.perf_counter()
    try:
        for image in images:
            imagecorruptions.corrupt(image, corruption_name=name, severity=severity)
    except Exception as exc:
        return f"fails ({type(exc).__name__})"
    return f"{len(images) / (time.perf_counter() - started):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="none")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--imagecorruptions", action="store_true", help="Also time the imagecorruptions package."
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    x = torch.randint(0, 256, (args.batch_size, 3, 224, 224), dtype=torch.uint8, device=device)
    model = load_model(args.model, pretrained=False, img_size=224)
    config = EvalConfig(batch_size=args.batch_size, amp=args.amp, device=str(device))
    forward = Forward(model.module, model.preprocess, config, device)
    forward_rate = args.batch_size / seconds_per_batch(forward, 224, args.steps)
    rows = []
    for name in ALL:
        row = {
            "corruption": name,
            "images_per_s": images_per_second(x, name, args.severity, args.steps),
        }
        if args.imagecorruptions:
            row["imagecorruptions"] = package_rate(x, name, args.severity)
        rows.append(row)
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = (
        f"severity {args.severity}, batch {args.batch_size}, 224 px, {hardware}, "
        f"{torch.get_num_threads()} threads; {args.model} forward: {forward_rate:.0f} images/s"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("corruption")
    table.add_column("images/s", justify="right")
    table.add_column("x model forward", justify="right")
    if args.imagecorruptions:
        table.add_column("imagecorruptions images/s", justify="right")
    for row in rows:
        rate = row["images_per_s"]
        cells = [row["corruption"], f"{rate:.0f}", f"{rate / forward_rate:.2f}"]
        table.add_row(*cells, *([row["imagecorruptions"]] if args.imagecorruptions else []))
    Console(width=120).print(table)
    if args.json:
        payload = {"setup": title, "forward_images_per_s": forward_rate, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
