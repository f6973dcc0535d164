"""Several processes on one evaluation, as started by torchrun (one node or many).

Each rank takes a contiguous run of whole chunks of the image list (no image twice, none
padded), evaluates it, and sends its per-image records to rank 0, which alone summarises
and writes. torch.distributed carries the records: NCCL when the ranks use GPUs, gloo on
CPUs. Without torchrun's environment everything runs in this one process.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from ..errors import ShiftbenchError

T = TypeVar("T")
# How long a rank waits for the others at a collective before giving up.
TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process reports, summarises and writes (rank 0)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ShiftbenchError(f"environment variable {name}={value!r} is not a number") from None


def current_world(device: str = "auto") -> World:
    """The run's processes from torchrun's RANK/WORLD_SIZE/LOCAL_RANK (one process without
    them); joins the process group on first use (NCCL unless `device` keeps to the CPU or
    there is no GPU)."""
    world = World(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if world.size > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise ShiftbenchError("this torch build has no torch.distributed")
        uses_gpu = torch.cuda.is_available() and not device.startswith("cpu")
        if uses_gpu:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if uses_gpu else "gloo", timeout=TIMEOUT)
    return world


def shard(chunks: int, world: World) -> range:
    """The contiguous chunk numbers of this rank: chunk counts differ by at most one."""
    return range(chunks * world.rank // world.size, chunks * (world.rank + 1) // world.size)


def gather_to_main(value: object, world: World) -> list[object] | None:
    """Every rank's `value` on rank 0 (in rank order); None on the other ranks."""
    if world.size == 1:
        return [value]
    received: list[object] | None = [None] * world.size if world.main else None
    dist.gather_object(value, received, dst=0)
    return received


def from_main(make: Callable[[], T], world: World) -> T:
    """`make()` run by rank 0 alone and its value sent to every rank (a folder listing: one
    scan of a shared file system instead of one per process). A ShiftbenchError raised on
    rank 0 is raised on every rank, so none waits for a value that never comes."""
    if world.size == 1:
        return make()
    box: list[object] = [None]
    if world.main:
        try:
            box[0] = make()
        except ShiftbenchError as exc:
            box[0] = exc
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], ShiftbenchError):
        raise box[0]
    return box[0]  # type: ignore[return-value]


def barrier(world: World) -> None:
    """Wait for every rank (nothing to wait for in one process)."""
    if world.size > 1:
        dist.barrier()


def shutdown() -> None:
    """Wait for the other ranks, then leave the process group, if this process joined one:
    a rank that exits while the group's threads still run can abort (and torchrun then
    stops the others, rank 0 before it has written the results)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
