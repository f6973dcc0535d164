"""The generic rule for any other convolutional network, by module surgery guided by a trace.

One forward pass on an example input records which module runs after which and every
module's input and output shapes. Then:
- MaxPool(k, s > 1) -> MaxPool(k, 1) + pool(s) (in ceil mode, over s-1 more rows and columns
  of -inf, which keeps the last partial window and the output size);
- AvgPool(s > 1) -> pool(s);
- a strided conv (kernel > 1) runs at stride 1 and pool(s) follows it after the norm and
  activation that follow it (before them when those are shared or functional);
- a strided 1x1 conv (a shortcut) gets pool(s) in front of it (blur and 1x1 conv commute);
- the first strided layer (the stem) is kept when `pool_only`.
Patchify convs (kernel = stride), convs with dynamic or string padding, modules called more
than once and layers whose output size would change are left unchanged and reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShiftbenchError, first_line
from .surgery import Change, ConversionReport, Downsampler, name_layers, replace

_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.PReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardsigmoid,
)
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout2d)


@dataclass
class Call:
    """One module's forward in the traced pass (completion order)."""

    path: str
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def _record(model: nn.Module, example: torch.Tensor) -> tuple[list[Call], RuntimeError | None]:
    """Every module's forward in completion order, with input and output shapes, up to where
    the forward pass fails, and that failure (None when it ran through)."""
    calls: list[Call] = []
    paths = {id(m): p for p, m in model.named_modules() if p}

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if isinstance(output, torch.Tensor) and first is not None:
            calls.append(Call(paths[id(module)], module, tuple(first.shape), tuple(output.shape)))

    handles = [m.register_forward_hook(hook) for p, m in model.named_modules() if p]
    failure = None
    try:
        with torch.no_grad():
            model(example)
    except RuntimeError as exc:
        failure = exc
    finally:
        for handle in handles:
            handle.remove()
    return calls, failure


def trace(model: nn.Module, example: torch.Tensor) -> list[Call]:
    """Every module's forward in completion order, with input and output shapes."""
    calls, failure = _record(model, example)
    if failure is not None:
        raise failure
    return calls


def _pair(value: object) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (int(value), int(value))  # type: ignore[return-value]


def _is_norm(module: nn.Module) -> bool:
    """A normalisation layer (timm's BatchNormAct2d included), not a block that holds a conv
    (timm's ConvNormAct): the pool goes after the first, never after the second."""
    return "Norm" in type(module).__name__ and not any(
        isinstance(m, nn.Conv2d) for m in module.modules()
    )


def _place_after(calls: list[Call], start: int, counts: Counter) -> tuple[int, str]:
    """Index of the call the pool goes after, following a strided conv at `start`."""
    best, where = start, "after the conv"
    for i in range(start + 1, len(calls)):
        module = calls[i].module
        if isinstance(module, _PASS_THROUGH):
            continue
        if not (_is_norm(module) or isinstance(module, _ACTIVATIONS)):
            break
        if counts[calls[i].path] == 1:
            best = i
            where = "after its activation" if isinstance(module, _ACTIVATIONS) else "after its norm"
    return best, where


@dataclass
class _Edit:
    """A conversion to verify: the module at `path` must keep its original output shape."""

    path: str
    shape: tuple[int, ...]
    originals: list[tuple[str, nn.Module]]
    conv: nn.Conv2d | None
    stride: tuple[int, int]
    change: Change


def convert_generic(
    model: nn.Module,
    pool: Downsampler,
    pool_only: bool,
    report: ConversionReport,
    example: torch.Tensor,
) -> None:
    """Apply the generic rule in place (see the module docstring)."""
    calls = trace(model, example)
    counts = Counter(c.path for c in calls)
    edits: list[_Edit] = []
    seen_stem = False

    def edit(at: Call, new: nn.Module, change: Change, conv: nn.Conv2d | None = None) -> None:
        originals = [(at.path, at.module)]
        replace(model, at.path, new)
        stride = (1, 1)
        if conv is not None:
            stride, conv.stride = _pair(conv.stride), stride
        report.changes.append(change)
        edits.append(_Edit(at.path, at.out_shape, originals, conv, stride, change))

    for i, call in enumerate(calls):
        module, path = call.module, call.path
        if not isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            continue
        stride = _pair(module.stride)
        if max(stride) <= 1:
            continue
        kind = {nn.MaxPool2d: "max-pool", nn.AvgPool2d: "avg-pool"}.get(
            type(module), "strided conv"
        )
        first, seen_stem = not seen_stem, True
        reason = _why_not(module, stride, counts[path], first and pool_only)
        if reason:
            report.skip(path, kind, reason)
            continue
        s, channels = stride[0], call.in_shape[1]
        if isinstance(module, nn.Conv2d) and _pair(module.kernel_size) == (1, 1):
            change = Change(path, "shortcut", "pool in front of the 1x1 conv, now at stride 1")
            edit(call, nn.Sequential(pool(channels, s), module), change, conv=module)
        elif isinstance(module, nn.Conv2d):
            at, where = _place_after(calls, i, counts)
            target = calls[at]
            change = Change(path, kind, f"stride {s} -> 1, pool {where} ({target.path})")
            new = nn.Sequential(target.module, pool(module.out_channels, s))
            edit(target, new, change, conv=module)
        elif isinstance(module, nn.MaxPool2d):
            plain: nn.Module = nn.MaxPool2d(module.kernel_size, 1, module.padding, module.dilation)
            detail = f"MaxPool(stride {s}) -> MaxPool(stride 1) + pool"
            if module.ceil_mode:
                # ceil mode adds a last, partial window: stride 1 over s-1 more rows and columns
                # of -inf gives the same windows, so the output keeps its size
                border = nn.ConstantPad2d((0, s - 1, 0, s - 1), float("-inf"))
                plain = nn.Sequential(border, plain)
                detail = f"MaxPool(stride {s}, ceil mode) -> MaxPool(stride 1) + pool"
            edit(call, nn.Sequential(plain, pool(channels, s)), Change(path, kind, detail))
        else:
            edit(call, pool(channels, s), Change(path, kind, f"AvgPool(stride {s}) -> pool"))
    name_layers(model)
    _revert_changed_sizes(model, example, edits, report)


def _why_not(module: nn.Module, stride: tuple[int, int], calls: int, stem: bool) -> str:
    """Why a strided layer is left unchanged, or "" when it can be converted."""
    if stride[0] != stride[1]:
        return "unequal strides"
    if isinstance(module, nn.Conv2d):
        if type(module) is not nn.Conv2d or isinstance(module.padding, str):
            return f"non-standard padding ({type(module).__name__})"
        if _pair(module.kernel_size) == stride:
            return "patchify conv (kernel = stride)"
    elif type(module) not in (nn.MaxPool2d, nn.AvgPool2d):
        return f"non-standard pooling ({type(module).__name__})"
    if calls > 1:
        return "called more than once"
    if stem:
        return "the stem's first downsampling (pool_only; --aa-stem converts it)"
    return ""


def _revert_changed_sizes(
    model: nn.Module, example: torch.Tensor, edits: list[_Edit], report: ConversionReport
) -> None:
    """Put back any conversion whose output size differs from the original layer's. A later
    layer may fail on such a size (a hard-coded reshape): then the layers the pass reached are
    judged, the changed ones put back, and the pass run again."""
    pending = list(edits)
    while True:
        calls, failure = _record(model, example)
        shapes = {c.path: c.out_shape for c in calls}
        # a layer that never ran is put back; one a failed pass did not reach, not yet
        changed = [
            e
            for e in pending
            if (shapes[e.path] != e.shape if e.path in shapes else failure is None)
        ]
        if not changed:
            if failure is not None:
                raise ShiftbenchError(
                    f"the converted model fails at {example.shape[-1]}px: {first_line(failure)}"
                )
            return
        for e in changed:
            pending.remove(e)
            for path, original in e.originals:
                replace(model, path, original)
            if e.conv is not None:
                e.conv.stride = e.stride
            report.changes.remove(e.change)
            report.skip(e.change.path, e.change.kind, "output size would change")
