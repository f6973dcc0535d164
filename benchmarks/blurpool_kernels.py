"""Where a BlurPool layer's time goes, and which way of computing it is fastest (a ratio).

    python benchmarks/blurpool_kernels.py --device cuda --dtype bf16 --channels-last
    python benchmarks/blurpool_kernels.py --batch 8 --size 56 --channels 64

On an H200 (bf16, channels-last) BlurPool-4 made ResNet-50's forward 2.9 times slower while
the stride-1 convolution it needs cost only 1.2 times (docs/antialias.md): the depthwise blur
itself is the cost. This times one layer of ResNet-50's first stage (256 channels, 56 x 56,
filter 4, stride 2, reflect padding) computed several ways, each checked against shiftbench's
`BlurPool`, next to the 3x3 convolution that precedes it in the network, so that the next GPU
session can pick the fastest exact formulation.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from timing import seconds_per_call

from shiftbench.antialias import BlurPool
from shiftbench.antialias.blurpool import BINOMIAL_TAPS
from shiftbench.engine import resolve_device

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def candidates(layer: BlurPool) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Ways to compute `layer` (reflect padding), each equal to it up to rounding."""
    k, s, pads = layer.filt_size, layer.stride, layer.pad_sizes
    taps = torch.tensor(BINOMIAL_TAPS[k], dtype=torch.float64)
    taps = (taps / taps.sum()).float()

    def weights(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        return taps.to(x.device, x.dtype).view(1, 1, *shape).repeat(x.shape[1], 1, 1, 1)

    def padded(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, pads, mode="reflect")

    def reflect_by_concatenation(x: torch.Tensor) -> torch.Tensor:
        # F.pad's reflect kernel may turn a channels-last tensor into NCHW on the GPU (then
        # both convolutions around it pay for layout conversions); torch.cat keeps the layout
        left, right, top, bottom = pads

        def along(y: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
            n = y.shape[dim]
            parts = [y.narrow(dim, 1, before).flip(dim)] if before else []
            parts.append(y)
            parts += [y.narrow(dim, n - 1 - after, after).flip(dim)] if after else []
            return torch.cat(parts, dim=dim)

        return along(along(x, left, right, 3), top, bottom, 2)

    def blur_after_concatenation(x: torch.Tensor) -> torch.Tensor:
        filt = layer.filt.to(x.dtype)
        return F.conv2d(reflect_by_concatenation(x), filt, stride=s, groups=x.shape[1])

    def separable(x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        rows = F.conv2d(padded(x), weights(x, (1, k)), stride=(1, s), groups=c)
        return F.conv2d(rows, weights(x, (k, 1)), stride=(s, 1), groups=c)

    def channels_first(x: torch.Tensor) -> torch.Tensor:
        out = layer(x.contiguous())
        return out.contiguous(memory_format=torch.channels_last)

    def as_one_channel(x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        flat = padded(x.contiguous()).view(n * c, 1, h + pads[2] + pads[3], w + pads[0] + pads[1])
        out = F.conv2d(flat, layer.filt[:1].to(x.dtype), stride=s)
        return out.view(n, c, *out.shape[-2:]).contiguous(memory_format=torch.channels_last)

    def avg_cascade(x: torch.Tensor) -> torch.Tensor:
        # [1, 3, 3, 1] / 8 is [1, 1] / 2 three times: two stride-1 box filters, then stride s
        y = padded(x)
        y = F.avg_pool2d(F.avg_pool2d(y, 2, 1), 2, 1)
        return F.avg_pool2d(y, 2, s)

    out = {
        "shiftbench BlurPool": layer,
        "reflect pad only": padded,
        "reflect pad by torch.cat only": reflect_by_concatenation,
        "reflect pad by torch.cat, then depthwise conv": blur_after_concatenation,
        "depthwise conv only (zero pad)": lambda x: F.conv2d(
            x, layer.filt.to(x.dtype), stride=s, padding=k // 2, groups=x.shape[1]
        ),
        "separable 1xk then kx1": separable,
        "NCHW round trip": channels_first,
        "one-channel conv over N*C maps": as_one_channel,
    }
    if k == 4:
        out["avg-pool cascade (k=4)"] = avg_cascade
    return out


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
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    device = resolve_device(args.device)
    dtype = DTYPES[args.dtype]
    memory = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, args.channels, args.size, args.size, device=device, dtype=dtype)
    x = x.contiguous(memory_format=memory)
    layer = BlurPool(args.channels, args.filter, 2).to(device)
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
            rows.append(
                {"how": name, "ms": 1000 * seconds, "vs_conv3x3": seconds / conv_s,
                 "equal_to_blurpool": bool(exact)}
            )  # fmt: skip
    table = Table(
        title=f"BlurPool-{args.filter} on {tuple(x.shape)} {args.dtype} "
        f"{'channels-last' if args.channels_last else 'NCHW'}, {device}; "
        f"3x3 conv {1000 * conv_s:.3f} ms",
        title_justify="left",
    )
    for column in ("how", "ms", "x 3x3 conv", "same output"):
        table.add_column(column, justify="left" if column == "how" else "right")
    for row in rows:
        table.add_row(row["how"], f"{row['ms']:.3f}", f"{row['vs_conv3x3']:.2f}",
                      "yes" if row["equal_to_blurpool"] else "no")  # fmt: skip
    Console().print(table)
    if args.json:
        setup = {k: v for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
