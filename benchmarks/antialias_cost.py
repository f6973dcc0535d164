"""Forward-pass cost of anti-aliasing: converted model time over the baseline's (a ratio).

    python benchmarks/antialias_cost.py --device cuda --amp bf16 --channels-last --batch-size 256
    python benchmarks/antialias_cost.py --models resnet18,mobilenet_v2 --batch-size 8

Each model is built with random weights, converted with BlurPool filter 4 (the released
default) and with APS, and timed warm on random inputs under inference mode.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from timing import seconds_per_batch

from shiftbench import load_model
from shiftbench.antialias import AntialiasSpec
from shiftbench.config import EvalConfig
from shiftbench.engine import Forward, resolve_device

MODELS = (
    "tv/resnet18,tv/resnet50,tv/mobilenet_v2,tv/densenet121,tv/vgg16_bn,efficientnet_b0,"
    "convnext_tiny"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="none")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile each model (fuses pad and blur)."
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    device = resolve_device(args.device)
    config = EvalConfig(
        batch_size=args.batch_size,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        device=str(device),
    )
    # filter 1 moves every stride to a subsampling after the stride-1 layer, without blurring:
    # its cost over the baseline is the stride-1 convs; filter 4 over filter 1 is the blur.
    variants = {
        "baseline": None,
        "aa1": AntialiasSpec(filter_size=1, pad_type="zero"),
        "aa4": AntialiasSpec(filter_size=4),
        "aps": AntialiasSpec("aps", 1),
    }
    rows = []
    for name in args.models.split(","):
        times, counts = {}, ""
        for label, spec in variants.items():
            model = load_model(name, pretrained=False, img_size=args.img_size, antialias=spec)
            forward = Forward(model.module, model.preprocess, config, device)
            times[label] = seconds_per_batch(forward, args.img_size, args.steps)
            if label == "aa4":
                report = model.antialias
                changed = ", ".join(f"{n} {k}" for k, n in report.counts().items())
                counts = f"{report.rule}: {changed or 'nothing converted'}"
            del forward, model
        rows.append(
            {
                "model": name,
                "conversion": counts,
                "baseline_ms": 1000 * times["baseline"],
                "aa1_ratio": times["aa1"] / times["baseline"],
                "aa4_ratio": times["aa4"] / times["baseline"],
                "aps_ratio": times["aps"] / times["baseline"],
            }
        )
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = (
        f"{args.img_size}px, batch {args.batch_size}, amp {args.amp}, channels-last "
        f"{args.channels_last}, compiled {args.compile}, {hardware}, "
        f"{torch.get_num_threads()} threads"
    )
    table = Table(title=title, title_justify="left")
    for column in (
        "model",
        "baseline ms/batch",
        "filter-1 / baseline",
        "BlurPool-4 / baseline",
        "APS / baseline",
        "converted",
    ):
        table.add_column(column, justify="left" if column in ("model", "converted") else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['baseline_ms']:.1f}",
            f"{r['aa1_ratio']:.2f}",
            f"{r['aa4_ratio']:.2f}",
            f"{r['aps_ratio']:.2f}",
            r["conversion"],
        )
    Console(width=200).print(table)
    if args.json:
        args.json.write_text(json.dumps({"setup": title, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
