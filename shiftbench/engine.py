"""The single pass: decode each image once, build every view on the device, run the model.

Suites ask for views (lazy index gathers) and receive logits; the engine packs the views of
all suites into forward batches of exactly `batch_size` (the last one of a step may be short),
so the model's forward pass is the only thing that costs time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from .config import EvalConfig
from .data import CanvasDataset, ImageSet, collate_canvases
from .errors import ShiftbenchError
from .models import Preprocess
from .suites import Suite
from .views import Geometry, Views

Progress = Callable[[int, int], None]


def resolve_device(spec: str) -> torch.device:
    """`auto` is the first CUDA device when there is one, else the CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ShiftbenchError(f"unknown device '{spec}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ShiftbenchError(f"--device {spec}: CUDA is not available on this machine")
    return device


class Forward:
    """The model on its device: normalisation, AMP, channels-last, optional torch.compile.

    With `compile`, short batches are padded to `batch_size` so the graph sees one shape.
    """

    def __init__(
        self, module: nn.Module, preprocess: Preprocess, config: EvalConfig, device: torch.device
    ) -> None:
        self.device = device
        self.batch_size = config.batch_size
        self.memory_format = (
            torch.channels_last if config.channels_last else torch.contiguous_format
        )
        module = module.to(device).eval()
        if config.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.pad = config.compile
        self.module = torch.compile(module, dynamic=False) if config.compile else module
        std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1)
        mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1)
        self.scale, self.shift = 1.0 / std, -mean / std
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp)
        self.autocast = (
            torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
        )

    def logits(self, views: torch.Tensor) -> torch.Tensor:
        """Float32 logits of raw views (uint8 0..255 or float 0..1), [n, 3, S, S]."""
        count = views.shape[0]
        x = views.float()
        if views.dtype == torch.uint8:
            x = x.mul_(1.0 / 255.0)
        x = (x * self.scale + self.shift).contiguous(memory_format=self.memory_format)
        if self.pad and count < self.batch_size:
            filler = x.new_zeros((self.batch_size - count, *x.shape[1:]))
            x = torch.cat([x, filler]).contiguous(memory_format=self.memory_format)
        with self.autocast:
            out = self.module(x)
        return out[:count].float()

    def __call__(self, requests: list[Views]) -> list[torch.Tensor]:
        """Logits for each request, computed in forward batches of `batch_size` views."""
        sizes = [len(v) for v in requests]
        chunks: list[torch.Tensor] = []
        index, offset = 0, 0
        total = sum(sizes)
        for start in range(0, total, self.batch_size):
            want = min(self.batch_size, total - start)
            parts = []
            while want:
                take = min(want, sizes[index] - offset)
                parts.append(requests[index].materialize(offset, offset + take))
                want -= take
                offset += take
                if offset == sizes[index]:
                    index, offset = index + 1, 0
            chunks.append(self.logits(torch.cat(parts) if len(parts) > 1 else parts[0]))
        if not chunks:
            return [torch.empty(0, device=self.device) for _ in requests]
        return list(torch.cat(chunks).split(sizes))


@dataclass
class PassResult:
    """Per-image records of every suite (sorted by image index) and what the pass cost."""

    records: dict[str, torch.Tensor]
    images: int
    views: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _advance(
    pending: dict[int, Views],
    key: int,
    run: Generator[Views, torch.Tensor, None],
    logits: torch.Tensor | None,
) -> None:
    try:
        pending[key] = next(run) if logits is None else run.send(logits)
    except StopIteration:
        pending.pop(key, None)


def run_pass(
    module: nn.Module,
    preprocess: Preprocess,
    images: ImageSet,
    suites: list[Suite],
    geometry: Geometry,
    config: EvalConfig,
    progress: Progress | None = None,
) -> PassResult:
    """Evaluate every suite on every image in one pass over the data.

    `progress(images, views)` is called after each batch with the increments.
    """
    device = resolve_device(config.device)
    forward = Forward(module, preprocess, config, device)
    dataset = CanvasDataset(images, geometry.canvas, preprocess.interpolation)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        num_workers=config.workers,
        collate_fn=collate_canvases,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    order: list[torch.Tensor] = []
    skipped: list[tuple[str, str]] = []
    views = 0
    started = time.perf_counter()
    with torch.inference_mode():
        for cpu_batch in loader:
            skipped.extend(cpu_batch.skipped)
            batch_views = 0
            if len(cpu_batch):
                batch = cpu_batch.to(device)
                runs = [suite.run(batch) for suite in suites]
                pending: dict[int, Views] = {}
                for key, run in enumerate(runs):
                    _advance(pending, key, run, None)
                while pending:
                    keys = list(pending)
                    requests = [pending[k] for k in keys]
                    batch_views += sum(len(r) for r in requests)
                    for key, logits in zip(keys, forward(requests), strict=True):
                        _advance(pending, key, runs[key], logits)
                order.append(cpu_batch.indices)
            views += batch_views
            if progress is not None:
                progress(len(cpu_batch) + len(cpu_batch.skipped), batch_views)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    if not order:
        raise ShiftbenchError(f"none of the {len(images.items)} images could be read")
    index = torch.cat(order)
    permutation = index.argsort()
    records = {"index": index[permutation]}
    for suite in suites:
        for key, value in suite.records().items():
            records[f"{suite.name}.{key}"] = value[permutation]
    return PassResult(records, int(index.numel()), views, seconds, skipped)
