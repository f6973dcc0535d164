"""Forward-pass cost of anti-aliasing: converted model time over the baseline's (a ratio).

    python benchmarks/antialias_cost.py --device cuda --amp bf16 --channels-last --batch-size 256
    python benchmarks/antialias_cost.py --models tv/resnet18,tv/resnet50 --rounds 5
    python benchmarks/antialias_cost.py --device cuda --amp bf16 --channels-last --formulations

Each model is built with random weights, converted with filter 1 (strides moved, no blur),
BlurPool filter 4 (the released default) and APS, and timed warm on random inputs under
inference mode. The filter-4 model's BlurPool layers are also timed by themselves, each on
the very input it gets in the model ("blur alone"): the cost of the extra blur convolutions,
so that BlurPool-4 <= filter 1 + blur alone says the converted model costs no more than they
do. `--formulations` also times the filter-4 model with its BlurPool layers computed each way
of blur_formulations.py (checking that its logits stay those of BlurPool), so one run says
what each formulation would make of every model's slowdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from blur_formulations import FORMULATIONS, formulated
from rich.console import Console
from rich.table import Table
from timing import seconds_per_batch, seconds_per_call

from shiftbench import load_model
from shiftbench.antialias import AntialiasSpec, BlurPool
from shiftbench.config import EvalConfig
from shiftbench.run.engine import Forward, resolve_device

MODELS = (
    "tv/resnet18,tv/resnet50,tv/mobilenet_v2,tv/densenet121,tv/vgg16_bn,efficientnet_b0,"
    "convnext_tiny"
)
# filter 1 moves every stride to a subsampling after the stride-1 layer, without blurring: its
# cost over the baseline is the stride-1 convs'; filter 4 over filter 1 is the blur's
VARIANTS = {
    "baseline": None,
    "aa1": AntialiasSpec(filter_size=1, pad_type="zero"),
    "aa4": AntialiasSpec(filter_size=4),
    "aps": AntialiasSpec("aps", 1),
}
COLUMNS = {"aa1": "filter-1", "aa4": "BlurPool-4", "aps": "APS"}


@torch.inference_mode()
def blur_calls(forward: Forward, size: int) -> list[tuple[BlurPool, torch.Tensor]]:
    """Each BlurPool layer the model calls in one forward pass, in order, with a copy of the
    input it got (its shape, dtype and memory format)."""
    calls: list[tuple[BlurPool, torch.Tensor]] = []
    hooks = [
        layer.register_forward_pre_hook(lambda layer, args: calls.append((layer, args[0].clone())))
        for layer in forward.module.modules()
        if isinstance(layer, BlurPool)
    ]
    try:
        shape = (forward.batch_size, 3, size, size)
        forward.logits(torch.randint(0, 256, shape, dtype=torch.uint8, device=forward.device))
    finally:
        for hook in hooks:
            hook.remove()
    return calls


@torch.inference_mode()
def blur_alone_seconds(
    forward: Forward, calls: list[tuple[BlurPool, torch.Tensor]], steps: int
) -> float:
    """Time of the BlurPool calls of a forward pass (`blur_calls`) run by themselves, under the
    model's autocast: what the extra blur convolutions cost, outside the model."""

    def blur_layers() -> None:
        with forward.autocast:
            for layer, x in calls:
                layer(x)

    return seconds_per_call(blur_layers, forward.device, steps)


@torch.inference_mode()
def formulation_ratios(
    forward: Forward, args: argparse.Namespace, baseline_s: float
) -> dict[str, float | None]:
    """The aa4 model's time over the baseline's with its BlurPool layers computed each way
    (None where the logits differ from BlurPool's own beyond rounding)."""
    shape = (forward.batch_size, 3, args.img_size, args.img_size)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = x.to(forward.device)
    reference = forward.logits(x).float()
    tolerance = 1e-4 if args.amp == "none" else 5e-2
    ratios: dict[str, float | None] = {}
    for how, formulation in FORMULATIONS.items():
        with formulated(formulation):
            logits = forward.logits(x).float()
            same = torch.allclose(logits, reference, rtol=tolerance, atol=tolerance * 10)
            seconds = seconds_per_batch(forward, args.img_size, args.steps)
        ratios[how] = seconds / baseline_s if same else None
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Time every variant this many times, in turn, and keep the median (noisy hosts).",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="none")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile each model (fuses pad and blur)."
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="Comma-separated, among " + ", ".join(VARIANTS),
    )
    parser.add_argument(
        "--formulations", action="store_true", help="Also time aa4 with each BlurPool formulation."
    )
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="Let cuDNN time its algorithms."
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    labels = args.variants.split(",")
    if "baseline" not in labels or not set(labels) <= set(VARIANTS):
        parser.error(f"--variants: baseline and any of {', '.join(VARIANTS)}")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if args.formulations and "aa4" not in labels:
        parser.error("--formulations times the aa4 variant: keep it in --variants")
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    config = EvalConfig(
        batch_size=args.batch_size,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        device=str(device),
    )
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = (
        f"{args.img_size}px, batch {args.batch_size}, amp {args.amp}, channels-last "
        f"{args.channels_last}, compiled {args.compile}, cudnn.benchmark {args.cudnn_benchmark}, "
        f"{hardware}, {torch.get_num_threads()} threads"
        + (f", median of {args.rounds} interleaved rounds" if args.rounds > 1 else "")
    )
    rows = []
    for name in args.models.split(","):
        forwards, counts, by_formulation = {}, "", {}
        for label in labels:
            model = load_model(
                name, pretrained=False, img_size=args.img_size, antialias=VARIANTS[label]
            )
            forwards[label] = Forward(model.module, model.preprocess, config, device)
            if label == "aa4":
                changed = ", ".join(f"{n} {k}" for k, n in model.antialias.counts().items())
                counts = f"{model.antialias.rule}: {changed or 'nothing converted'}"
        # a compiled model's layers are not called one by one
        calls = (
            blur_calls(forwards["aa4"], args.img_size)
            if "aa4" in labels and not args.compile
            else None
        )
        samples: dict[str, list[float]] = {label: [] for label in [*labels, "blur alone"]}
        for _ in range(args.rounds):  # interleaved, so that a slow spell slows every variant
            for label, forward in forwards.items():
                samples[label].append(seconds_per_batch(forward, args.img_size, args.steps))
            if calls is not None:
                samples["blur alone"].append(blur_alone_seconds(forwards["aa4"], calls, args.steps))
        times = {label: statistics.median(s) for label, s in samples.items() if s}
        if args.formulations:
            by_formulation = formulation_ratios(forwards["aa4"], args, times["baseline"])
        blur_alone = times.get("blur alone")
        del forwards, calls
        row = {"model": name, "conversion": counts, "baseline_ms": 1000 * times["baseline"]}
        row |= {f"{label}_ratio": times[label] / times["baseline"] for label in labels[1:]}
        if blur_alone is not None:
            row["blur_alone_ratio"] = blur_alone / times["baseline"]
        if by_formulation:
            row["aa4_ratio_by_formulation"] = by_formulation
        rows.append(row)
        if args.json:  # after every model, so a run stopped at its time limit keeps its rows
            args.json.write_text(json.dumps({"setup": title, "rows": rows}, indent=2))
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    table.add_column("baseline ms/batch", justify="right")
    ratio_keys = [f"{label}_ratio" for label in labels[1:]]
    for label in labels[1:]:
        table.add_column(f"{COLUMNS[label]} / baseline", justify="right")
    if rows and "blur_alone_ratio" in rows[0]:  # every row has the same columns
        ratio_keys.append("blur_alone_ratio")
        table.add_column("blur alone / baseline", justify="right")
    table.add_column("converted")
    for r in rows:
        ratios = [f"{r[key]:.2f}" for key in ratio_keys]
        table.add_row(r["model"], f"{r['baseline_ms']:.1f}", *ratios, r["conversion"])
    console = Console(width=200)
    console.print(table)
    if args.formulations:
        by_formulation = Table(title="BlurPool-4 / baseline, by formulation", title_justify="left")
        by_formulation.add_column("formulation")
        for r in rows:
            by_formulation.add_column(r["model"], justify="right")
        for how in FORMULATIONS:
            ratios = [r["aa4_ratio_by_formulation"][how] for r in rows]
            by_formulation.add_row(how, *(f"{x:.2f}" if x else "differs" for x in ratios))
        console.print(by_formulation)


if __name__ == "__main__":
    main()
