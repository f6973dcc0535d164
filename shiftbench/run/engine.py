"""The single pass: decode each image once, build every view on the device, run the model.

Suites ask for views (lazy index gathers) and receive logits; the engine packs the views of
all suites and all canvas batches in flight into forward batches of exactly `batch_size` (only
the very last may be short), so the model's forward pass is the only thing that costs time.
Images are taken in chunks; each chunk gets fresh suites, and its records are handed over
(to be saved, for resuming) as soon as every view of its images has been scored.
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

from ..config import EvalConfig
from ..data.decode import check_filter, to_device
from ..data.folders import CanvasBatch, CanvasDataset, ImageSet, collate_canvases
from ..data.views import Geometry, Views, unit_range
from ..errors import ShiftbenchError
from ..models.preprocess import Preprocess
from ..suites import Suite
from ..suites.base import Run

Progress = Callable[[int, int], None]
Records = dict[str, torch.Tensor]
# Images per decoding batch: small, so that every worker has work and views stream evenly.
DECODE_BATCH = 32
# `--batch-size auto` starts here on a GPU and halves on out-of-memory; a CPU takes 64.
AUTO_BATCH_CUDA = 1024
AUTO_BATCH_CPU = 64


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """`auto` is a CUDA device when there is one, else the CPU; `auto` and a bare `cuda`
    mean the process's own GPU (LOCAL_RANK) under torchrun."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ShiftbenchError(f"unknown device '{spec}'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ShiftbenchError(
                f"{{device}} {spec}: CUDA is not available on this machine", "device"
            )
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


class Forward:
    """The model on its device: normalisation, AMP, channels-last, optional torch.compile.

    With `compile`, short batches are padded to `batch_size` so the graph sees one shape.
    With `--batch-size auto`, `batch_size` starts large and `shrink` halves it on
    out-of-memory.
    """

    def __init__(
        self, module: nn.Module, preprocess: Preprocess, config: EvalConfig, device: torch.device
    ) -> None:
        self.device = device
        self.adaptive = config.batch_size == "auto"
        if self.adaptive:
            self.batch_size = AUTO_BATCH_CUDA if device.type == "cuda" else AUTO_BATCH_CPU
        else:
            self.batch_size = int(config.batch_size)
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

    def shrink(self, failed: int) -> int:
        """After an out-of-memory error on `failed` views: the halved batch size."""
        self.batch_size = max(1, failed // 2)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return self.batch_size


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

    def _plan(self, size: int) -> list[tuple[_Request, int]]:
        """The next `size` waiting views, in order across requests, as (request, count)."""
        taken: list[tuple[_Request, int]] = []
        for request in self.requests:
            if size == 0:
                break
            take = min(size, len(request.views) - request.sent)
            if take:
                taken.append((request, take))
                size -= take
        return taken

    def step(self) -> int:
        """Forward the next batch of waiting views; returns how many were forwarded. With
        `--batch-size auto`, a batch that runs out of memory is retried at half the size."""
        size = min(self.forward.batch_size, self.waiting)
        if size:
            while True:
                taken = self._plan(size)
                try:
                    parts = [r.views.materialize(r.sent, r.sent + n) for r, n in taken]
                    logits = self.forward.logits(_join(parts))
                    break
                except torch.cuda.OutOfMemoryError:
                    parts = []
                    if not self.forward.adaptive or size == 1:
                        raise ShiftbenchError(
                            f"out of memory on {self.forward.device} at {size} views per "
                            "forward pass: lower {batch_size}, or use {batch_size} auto",
                            "batch_size",
                        ) from None
                    size = self.forward.shrink(size)
            for (request, n), chunk in zip(taken, logits.split([n for _, n in taken]), strict=True):
                request.logits.append(chunk)
                request.sent += n
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
    """One model sharing a pass (and its decoded images) with others; each gets its own
    suites, from the pass's suite factory."""

    module: nn.Module
    preprocess: Preprocess


@dataclass
class PassResult:
    """Per-image records of every lane (each sorted by image index) and what the pass cost:
    views forwarded per lane, final batch size per lane, seconds of the whole pass."""

    records: list[Records]
    views: list[int]
    batch_sizes: list[int]
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Chunk:
    """The suites of one chunk of images (per lane) and how many of their runs are open."""

    suites: list[list[Suite]]
    indices: list[torch.Tensor] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    open_runs: int = 0
    fed: bool = False


def _tracked(run: Run, chunk: _Chunk) -> Run:
    """`run`, counted as open in its chunk until it returns."""
    yield from run
    chunk.open_runs -= 1


def _sorted_records(suites: list[Suite], index: torch.Tensor) -> Records:
    records = {"index": index.clone()}  # each lane its own (files refuse shared memory)
    for suite in suites:
        own = suite.records()
        order = own.pop("index").argsort()
        for key, value in own.items():
            records[f"{suite.name}.{key}"] = value[order]
    return records


def merge_records(parts: list[Records]) -> Records:
    """Records of several image sets as one, sorted by image index (empty parts ignored)."""
    parts = [p for p in parts if p and p["index"].numel()]
    if not parts:
        return {}
    index = torch.cat([p["index"] for p in parts])
    order = index.argsort()
    return {key: torch.cat([p[key] for p in parts])[order] for key in parts[0]}


def decode_batches(images: int, chunk_size: int) -> list[tuple[int, range]]:
    """Decoding batches of image positions as (chunk number, positions): at most
    DECODE_BATCH images each, never across a chunk boundary. Ranges, not lists: ImageNet-C's
    3.75 M positions took 157 MB as lists of Python integers, 20 MB as ranges."""
    out = []
    for chunk, start in enumerate(range(0, images, chunk_size)):
        stop = min(start + chunk_size, images)
        out += [
            (chunk, range(first, min(first + DECODE_BATCH, stop)))
            for first in range(start, stop, DECODE_BATCH)
        ]
    return out


ChunkDone = Callable[[int, list[Records], list[tuple[str, str]]], None]


def run_pass(
    lanes: list[Lane],
    make_suites: Callable[[], list[Suite]],
    images: ImageSet,
    geometry: Geometry,
    config: EvalConfig,
    progress: Progress | None = None,
    device: torch.device | None = None,
    on_chunk: ChunkDone | None = None,
) -> PassResult:
    """Evaluate every lane on every image in one pass over the data.

    Images are decoded once, in small batches by `config.workers` processes (with each suite's
    random draws, which depend only on the seed, the suite and the image, so every lane gets
    the same ones); each lane packs the views of all its suites and all batches in flight into
    its own forward batches. Chunk k (`config.chunk_size` images from k * chunk_size) gets
    fresh suites from `make_suites`; once all its views are scored, `on_chunk(k, records per
    lane, skipped files)` receives them. `progress(images, views)` is called with increments.
    Lanes must share the resize filter (`preprocess.interpolation`).
    """
    filters = {lane.preprocess.interpolation for lane in lanes}
    if len(filters) != 1:
        raise ShiftbenchError(f"models in one pass need one resize filter, got {sorted(filters)}")
    device = device or resolve_device(config.device)
    queues = [ViewQueue(Forward(lane.module, lane.preprocess, config, device)) for lane in lanes]
    interpolation = lanes[0].preprocess.interpolation
    if config.decode == "device":
        check_filter(interpolation)
    batches_of_chunks = decode_batches(len(images.items), config.chunk_size)
    loader = _loader(images, geometry, config, interpolation, SuiteDraws(make_suites()),
                     batches_of_chunks, device)  # fmt: skip
    state = _Pass(queues, make_suites, progress or (lambda images, views: None), on_chunk)
    started = time.perf_counter()
    with torch.inference_mode():
        batches = enumerate(loader)
        exhausted = False
        while True:
            while not exhausted and any(q.waiting < q.forward.batch_size for q in queues):
                number, cpu_batch = next(batches, (None, None))
                if cpu_batch is None:
                    exhausted = True
                    state.all_fed()
                    break
                batch = _on_device(cpu_batch, config, geometry, interpolation, device)
                state.feed(batches_of_chunks[number][0], batch)
            state.close_finished()
            if not any(q.busy for q in queues):
                break
            state.forward(exhausted)
            state.close_finished()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return PassResult(
        records=[merge_records(parts) for parts in state.done],
        views=state.views,
        batch_sizes=[q.forward.batch_size for q in queues],
        seconds=time.perf_counter() - started,
        skipped=state.skipped,
    )


def _loader(
    images: ImageSet,
    geometry: Geometry,
    config: EvalConfig,
    interpolation: str,
    draws: SuiteDraws,
    batches_of_chunks: list[tuple[int, list[int]]],
    device: torch.device,
) -> DataLoader:
    """Decoding workers: canvases (or encoded JPEGs) with each image's draws, in the batches
    `decode_batches` made, never crossing a chunk."""
    border = geometry.border(config.canvas)
    dataset = CanvasDataset(
        images, geometry.canvas, interpolation, draws, encoded=config.decode == "device",
        border=border,
    )  # fmt: skip
    return DataLoader(
        dataset,
        batch_sampler=[batch for _, batch in batches_of_chunks],
        num_workers=config.workers,
        collate_fn=collate_canvases,
        pin_memory=device.type == "cuda",
    )


def _on_device(
    cpu_batch: CanvasBatch,
    config: EvalConfig,
    geometry: Geometry,
    interpolation: str,
    device: torch.device,
) -> CanvasBatch:
    """The decoded batch on the device (its JPEGs decoded there with --decode device)."""
    if config.decode == "device":
        border = geometry.border(config.canvas)
        return to_device(cpu_batch, device, geometry.canvas, interpolation, border)
    return cpu_batch.to(device)


class _Pass:
    """What one pass holds while it runs: the chunks in flight, the records of the finished
    ones per lane, the files skipped and the views forwarded per lane."""

    def __init__(
        self,
        queues: list[ViewQueue],
        make_suites: Callable[[], list[Suite]],
        report: Progress,
        on_chunk: ChunkDone | None,
    ) -> None:
        self.queues, self.make_suites, self.report, self.on_chunk = (
            queues, make_suites, report, on_chunk
        )  # fmt: skip
        self.chunks: dict[int, _Chunk] = {}
        self.done: list[list[Records]] = [[] for _ in queues]
        self.skipped: list[tuple[str, str]] = []
        self.views = [0] * len(queues)

    def all_fed(self) -> None:
        """The data is exhausted: every chunk in flight has all its images."""
        for chunk in self.chunks.values():
            chunk.fed = True

    def feed(self, position: int, batch: CanvasBatch) -> None:
        """Start every suite of every lane on a batch of the chunk at `position`; earlier
        chunks have all their images then."""
        for earlier, chunk in self.chunks.items():
            chunk.fed = chunk.fed or earlier < position
        chunk = self.chunks.get(position)
        if chunk is None:
            chunk = self.chunks[position] = _Chunk([self.make_suites() for _ in self.queues])
        chunk.skipped += batch.skipped
        self.skipped.extend(batch.skipped)
        if len(batch):
            for queue, suites in zip(self.queues, chunk.suites, strict=True):
                for suite in suites:
                    chunk.open_runs += 1
                    queue.add(_tracked(suite.run(batch), chunk))
            chunk.indices.append(batch.indices)
        self.report(len(batch) + len(batch.skipped), 0)

    def forward(self, exhausted: bool) -> None:
        """Each lane forwards all its full batches (all it has once the data is exhausted),
        so a lane that needs more views per image than another never builds a backlog."""
        for number, queue in enumerate(self.queues):
            while queue.waiting >= queue.forward.batch_size or (exhausted and queue.busy):
                forwarded = queue.step()
                self.views[number] += forwarded
                self.report(0, forwarded)

    def close_finished(self) -> None:
        """Hand on the records of the chunks, in order, whose images are all fed and whose
        runs are all done."""
        for number in sorted(self.chunks):
            chunk = self.chunks[number]
            if not (chunk.fed and chunk.open_runs == 0):
                break
            del self.chunks[number]
            index = torch.cat(chunk.indices).sort().values if chunk.indices else None
            records = [
                _sorted_records(suites, index) if index is not None else {}
                for suites in chunk.suites
            ]
            for lane, lane_records in enumerate(records):
                self.done[lane].append(lane_records)
            if self.on_chunk is not None:
                self.on_chunk(number, records, chunk.skipped)
