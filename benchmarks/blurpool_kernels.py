"""Where a BlurPool layer's time goes, and which way of computing it is fastest (a ratio).

    python benchmarks/blurpool_kernels.py --device cuda --dtype bf16 --channels-last
    python benchmarks/blurpool_kernels.py --batch 8 --size 56 --channels 64

On an H200 (bf16, channels-last) BlurPool-4 made ResNet-50's forward 2.9 times slower while
the stride-1 convolution it needs cost only 1.2 times (docs/antialias.md): the depthwise blur
itself is the cost. This times one layer of ResNet-50's first stage (256 channels, 56 x 56,
filter 4, stride 2, reflect padding) computed several ways, each checked against shiftbench's
`BlurPool`, next to the 3x3 convolution that precedes it in the network, so that the next GPU
session can pick the fastest exact formulation. The layer's filter is moved to the input's
memory format, as a converted model's is.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from blur_formulations import FORMULATIONS, memory_format, pad_by_concatenation, pad_by_function
from rich.console import Console
from rich.table import Table
from timing import seconds_per_call

from shiftbench.antialias import BlurPool
from shiftbench.run.engine import resolve_device

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def candidates(layer: BlurPool) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Every whole formulation of `layer` (each equal to it up to rounding), and the parts of
    the layer alone: its padding either way, and its convolution without padding."""
    k, s = layer.filt_size, layer.stride
    parts = {
        "reflect pad only": lambda x: pad_by_function(layer, x),
        "reflect pad by torch.cat only": lambda x: pad_by_concatenation(layer, x),
        "depthwise conv only (zero pad)": lambda x: F.conv2d(
            x, layer.filt.to(x.dtype), stride=s, padding=k // 2, groups=x.shape[1]
        ),
    }
    whole = {name: partial(f, layer) for name, f in FORMULATIONS.items()}
    return whole | parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--filter", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="Let cuDNN time its algorithms."
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    dtype = DTYPES[args.dtype]
    memory = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, args.channels, args.size, args.size, device=device, dtype=dtype)
    x = x.contiguous(memory_format=memory)
    # as in a converted model moved to the memory format: the filter buffer follows it
    layer = BlurPool(args.channels, args.filter, 2).to(device).to(memory_format=memory)
    conv = torch.nn.Conv2d(args.channels, args.channels, 3, padding=1, bias=False)
    conv = conv.to(device, dtype).to(memory_format=memory)
    rows = []
    with torch.inference_mode():
        reference = layer(x).float()
        conv_s = seconds_per_call(lambda: conv(x), device, args.steps)
        for name, fn in candidates(layer).items():
            out = fn(x)
            exact = out.shape == reference.shape and torch.allclose(
                out.float(), reference, atol=1e-2 if dtype != torch.float32 else 1e-5
            )
            seconds = seconds_per_call(lambda fn=fn: fn(x), device, args.steps)
            layout = "channels-last" if memory_format(out) == torch.channels_last else "NCHW"
            rows.append(
                {"how": name, "ms": 1000 * seconds, "vs_conv3x3": seconds / conv_s,
                 "equal_to_blurpool": bool(exact), "output_layout": layout}
            )  # fmt: skip
    table = Table(
        title=f"BlurPool-{args.filter} on {tuple(x.shape)} {args.dtype} "
        f"{'channels-last' if args.channels_last else 'NCHW'}, {device}; "
        f"3x3 conv {1000 * conv_s:.3f} ms",
        title_justify="left",
    )
    for column in ("how", "ms", "x 3x3 conv", "same output", "output layout"):
        table.add_column(column, justify="left" if column == "how" else "right")
    for row in rows:
        same = "yes" if row["equal_to_blurpool"] else "no"
        table.add_row(row["how"], f"{row['ms']:.3f}", f"{row['vs_conv3x3']:.2f}", same,
                      row["output_layout"])  # fmt: skip
    Console(width=160).print(table)
    if args.json:
        setup = {k: v for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
