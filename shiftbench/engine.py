"""The single pass: decode each image once, build every view on the device, run the model.

Suites ask for views (lazy index gathers) and receive logits; the engine packs the views of
all suites and all canvas batches in flight into forward batches of exactly `batch_size` (only
the very last may be short), so the model's forward pass is the only thing that costs time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
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
from .suites.base import Run
from .views import Geometry, Views, unit_range

Progress = Callable[[int, int], None]
# Images per decoding batch: small, so that every worker has work and views stream evenly.
DECODE_BATCH = 32


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
        x = unit_range(views)
        x = (x * self.scale + self.shift).contiguous(memory_format=self.memory_format)
        if self.pad and count < self.batch_size:
            filler = x.new_zeros((self.batch_size - count, *x.shape[1:]))
            x = torch.cat([x, filler]).contiguous(memory_format=self.memory_format)
        with self.autocast:
            out = self.module(x)
        return out[:count].float()


def _join(parts: list[torch.Tensor]) -> torch.Tensor:
    """Views of several requests as one batch: uint8 (0..255) when all are, else float in
    0..1 (uint8 parts scaled; a plain cat would promote them to floats in 0..255)."""
    if len(parts) == 1:
        return parts[0]
    if all(p.dtype == torch.uint8 for p in parts):
        return torch.cat(parts)
    return torch.cat([unit_range(p) for p in parts])


@dataclass
class _Request:
    """Views one suite run asked for, with the logits received so far."""

    run: Run
    views: Views
    sent: int = 0
    logits: list[torch.Tensor] = field(default_factory=list)


class ViewQueue:
    """Views waiting for the model, from any number of canvas batches and suites.

    Each `step` forwards one batch of exactly `batch_size` views (fewer only when the data is
    exhausted), taken in order across requests. Requests whose views all have logits hand them
    back to their runs one step later, after the next batch is queued on the device, so a run
    that must read a result on the host (the attack's survivors) never leaves the device idle.
    """

    def __init__(self, forward: Forward) -> None:
        self.forward = forward
        self.requests: deque[_Request] = deque()
        self.finished: list[_Request] = []
        self.waiting = 0

    @property
    def busy(self) -> bool:
        """Whether views are waiting or finished requests still have to be handed back."""
        return bool(self.waiting or self.finished)

    def add(self, run: Run, logits: torch.Tensor | None = None) -> None:
        """Advance `run` (sending the logits of its last request) and queue its next views."""
        try:
            views = next(run) if logits is None else run.send(logits)
        except StopIteration:
            return
        self.requests.append(_Request(run, views))
        self.waiting += len(views)

    def step(self) -> int:
        """Forward the next batch of waiting views; returns how many were forwarded."""
        size = min(self.forward.batch_size, self.waiting)
        if size:
            taken: list[tuple[_Request, int]] = []
            parts = []
            for request in self.requests:
                left = size - sum(n for _, n in taken)
                if left == 0:
                    break
                take = min(left, len(request.views) - request.sent)
                if take:
                    parts.append(request.views.materialize(request.sent, request.sent + take))
                    taken.append((request, take))
                    request.sent += take
            logits = self.forward.logits(_join(parts))
            for (request, _), chunk in zip(taken, logits.split([n for _, n in taken]), strict=True):
                request.logits.append(chunk)
            self.waiting -= size
        previous, self.finished = self.finished, []
        while self.requests and self.requests[0].sent == len(self.requests[0].views):
            self.finished.append(self.requests.popleft())
        for done in previous:
            self.add(done.run, torch.cat(done.logits) if len(done.logits) > 1 else done.logits[0])
        return size


class SuiteDraws:
    """Every suite's random draws for one image; runs in the data-loading workers."""

    def __init__(self, suites: list[Suite]) -> None:
        self.suites = suites

    def __call__(self, index: int) -> dict[str, torch.Tensor]:
        draws = {suite.name: suite.draws(index) for suite in self.suites}
        return {name: value for name, value in draws.items() if value is not None}


@dataclass
class Lane:
    """One model with its own suites, sharing a pass (and its decoded images) with others."""

    module: nn.Module
    preprocess: Preprocess
    suites: list[Suite]


@dataclass
class PassResult:
    """Per-image records of every suite of one lane (sorted by image index) and what the
    pass cost (`views` are this lane's; `seconds` is the whole shared pass)."""

    records: dict[str, torch.Tensor]
    images: int
    views: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _sorted_records(suites: list[Suite], index: torch.Tensor) -> dict[str, torch.Tensor]:
    records = {"index": index}
    for suite in suites:
        own = suite.records()
        order = own.pop("index").argsort()
        for key, value in own.items():
            records[f"{suite.name}.{key}"] = value[order]
    return records


def run_pass(
    lanes: list[Lane],
    images: ImageSet,
    geometry: Geometry,
    config: EvalConfig,
    progress: Progress | None = None,
) -> list[PassResult]:
    """Evaluate every lane's suites on every image in one pass over the data.

    Images are decoded once, in small batches by `config.workers` processes (with each suite's
    random draws, which depend only on the seed, the suite and the image, so every lane gets
    the same ones); each lane packs the views of all its suites and all batches in flight into
    its own forward batches. `progress(images, views)` is called with increments as work
    completes. Lanes must share the resize filter (`preprocess.interpolation`).
    """
    filters = {lane.preprocess.interpolation for lane in lanes}
    if len(filters) != 1:
        raise ShiftbenchError(f"models in one pass need one resize filter, got {sorted(filters)}")
    device = resolve_device(config.device)
    queues = [ViewQueue(Forward(lane.module, lane.preprocess, config, device)) for lane in lanes]
    dataset = CanvasDataset(
        images, geometry.canvas, lanes[0].preprocess.interpolation, SuiteDraws(lanes[0].suites)
    )
    loader = DataLoader(
        dataset,
        batch_size=DECODE_BATCH,
        num_workers=config.workers,
        collate_fn=collate_canvases,
        pin_memory=device.type == "cuda",
    )
    report = progress or (lambda images, views: None)
    seen: list[torch.Tensor] = []
    skipped: list[tuple[str, str]] = []
    views = [0] * len(lanes)
    started = time.perf_counter()
    with torch.inference_mode():
        batches = iter(loader)
        exhausted = False
        while True:
            while not exhausted and min(q.waiting for q in queues) < config.batch_size:
                cpu_batch = next(batches, None)
                if cpu_batch is None:
                    exhausted = True
                    break
                skipped.extend(cpu_batch.skipped)
                if len(cpu_batch):
                    batch = cpu_batch.to(device)
                    for lane, queue in zip(lanes, queues, strict=True):
                        for suite in lane.suites:
                            queue.add(suite.run(batch))
                    seen.append(cpu_batch.indices)
                report(len(cpu_batch) + len(cpu_batch.skipped), 0)
            if not any(q.busy for q in queues):
                break
            # Each lane forwards all its full batches (all it has once the data is exhausted),
            # so a lane that needs more views per image than another never builds a backlog.
            for number, queue in enumerate(queues):
                while queue.waiting >= config.batch_size or (exhausted and queue.busy):
                    done = queue.step()
                    views[number] += done
                    report(0, done)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    if not seen:
        raise ShiftbenchError(f"none of the {len(images.items)} images could be read")
    index = torch.cat(seen).sort().values
    return [
        PassResult(_sorted_records(lane.suites, index), int(index.numel()), n, seconds, skipped)
        for lane, n in zip(lanes, views, strict=True)
    ]
