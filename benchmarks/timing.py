"""Timing of the bare forward pass, shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from shiftbench.run.engine import Forward


@torch.inference_mode()
def seconds_per_batch(forward: Forward, size: int, steps: int) -> float:
    """Warm mean time of one forward batch on device-resident uint8 inputs, as the engine
    runs it (normalisation, AMP and memory format included)."""
    shape = (forward.batch_size, 3, size, size)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, device=forward.device)
    for _ in range(3):
        forward.logits(x)
    if forward.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        forward.logits(x)
    if forward.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def seconds_per_call(call: Callable[[], object], device: torch.device, steps: int) -> float:
    """Warm mean time of `call()` (three calls first), synchronising the GPU around it."""
    for _ in range(3):
        call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps
