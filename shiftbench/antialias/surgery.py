"""Editing models in place: replacing modules, making the downsampling layer, recording changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from .aps import ApsPool
from .blurpool import BlurPool


def replace(model: nn.Module, path: str, new: nn.Module) -> None:
    """Put `new` where the module at dotted `path` is."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)


@dataclass(frozen=True)
class Downsampler:
    """Makes the layer that replaces a subsampling: BlurPool, or APS (optionally blurred)."""

    method: str
    filter_size: int
    pad_type: str
    persistent: bool = True

    def __call__(self, channels: int, stride: int, follow: nn.Module | None = None) -> nn.Module:
        if self.method == "aps":
            leader = follow if isinstance(follow, ApsPool) else None
            return ApsPool(channels, stride, self.filter_size, self.pad_type, leader=leader)
        return BlurPool(
            channels, self.filter_size, stride, self.pad_type, persistent=self.persistent
        )


@dataclass(frozen=True)
class Change:
    """One edit: where, what kind of layer, and what was done."""

    path: str
    kind: str
    detail: str


SETTINGS = ("method", "filter_size", "pad_type", "pool_only", "circular_pad")


def conversion_flags(settings: Mapping[str, object]) -> str:
    """The command-line options that convert with `settings` (the resolved values a report
    records) again, e.g. `--antialias 3 --aa-pad zero --no-aa-stem`."""
    aps = settings["method"] == "aps"
    flags = ["--antialias", "aps" if aps else str(settings["filter_size"])]
    if aps and settings["filter_size"] != 1:
        flags += ["--aps-filter", str(settings["filter_size"])]
    if settings["pad_type"] != ("circular" if aps else "reflect"):
        flags += ["--aa-pad", str(settings["pad_type"])]
    if not aps:  # APS always converts the stem
        flags.append("--no-aa-stem" if settings["pool_only"] else "--aa-stem")
    if settings["circular_pad"]:
        flags.append("--circular-pad")
    return " ".join(flags)


@dataclass
class ConversionReport:
    """Every change an anti-aliasing conversion made, what it skipped and why.

    `weights` says what the converted model holds: "random", "baseline" (trained weights of
    the unconverted model: not fine-tuned), "anti-aliased" (a converted checkpoint), or
    "given ..." when the conversion keeps the keys so that the file could be either.
    """

    method: str
    filter_size: int
    pad_type: str
    pool_only: bool
    circular_pad: bool
    rule: str = ""
    weights: str = "random"
    changes: list[Change] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def change(self, path: str, kind: str, detail: str) -> None:
        """Record an edit."""
        self.changes.append(Change(path, kind, detail))

    def skip(self, path: str, kind: str, reason: str) -> None:
        """Record a layer left unchanged and why."""
        self.skipped.append(Change(path, kind, reason))

    def counts(self) -> dict[str, int]:
        """Number of changes of each kind."""
        return dict(Counter(c.kind for c in self.changes))

    def summary(self) -> str:
        """One line: rule, counts by kind, skipped layers."""
        what = "APS" if self.method == "aps" else f"BlurPool filter {self.filter_size}"
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items()) or "nothing"
        line = f"anti-aliasing ({what}, {self.pad_type} padding) by the {self.rule} rule: {counts}"
        if self.skipped:
            kinds = Counter(f"{c.kind} ({c.detail})" for c in self.skipped)
            line += "; left unchanged: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
        return line

    def settings(self) -> dict[str, object]:
        """What the conversion was asked to do, resolved: method, filter size, padding, whether
        the stem was left alone, circular padding."""
        return {key: getattr(self, key) for key in SETTINGS}

    def describe(self) -> dict:
        """The JSON-ready report recorded in results.json."""
        return {
            "method": self.method,
            "filter_size": self.filter_size,
            "pad_type": self.pad_type,
            "pool_only": self.pool_only,
            "circular_pad": self.circular_pad,
            "rule": self.rule,
            "weights": self.weights,
            "counts": self.counts(),
            "changes": [c.__dict__ for c in self.changes],
            "skipped": [c.__dict__ for c in self.skipped],
            "notes": self.notes,
        }


def name_layers(model: nn.Module) -> None:
    """Tell every BlurPool its path, so that its errors name the layer."""
    for path, module in model.named_modules():
        if isinstance(module, BlurPool):
            module.where = f"BlurPool at {path}"


def circular_padding(model: nn.Module) -> list[str]:
    """Switch every padded Conv2d to circular padding and wrap padded pools in a circular pad;
    returns the paths changed."""
    changed = []
    for path, module in list(model.named_modules()):
        if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros":
            if isinstance(module.padding, tuple) and any(module.padding):
                module.padding_mode = "circular"
                changed.append(path)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d) and module.padding:
            pad = module.padding if isinstance(module.padding, int) else module.padding[0]
            kind = type(module)
            plain = kind(module.kernel_size, module.stride, 0)
            replace(model, path, nn.Sequential(nn.CircularPad2d(pad), plain))
            changed.append(path)
    return changed
