"""Anti-aliasing conversion: BlurPool (Zhang, ICML 2019) or adaptive polyphase sampling
(Chaman & Dokmanic, CVPR 2021) in place of every downsampling of a trained model.

`antialias(model, filter_size=4)` returns a converted copy, the original untouched, with the
list of every change in `model.antialias_report`. Converting does not fine-tune: a converted
pretrained model computes a different function and usually loses accuracy until trained.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShiftbenchError
from .aps import ApsPool
from .blurpool import BINOMIAL_TAPS, PAD_TYPES, BlurPool, check_filter
from .generic import convert_generic
from .surgery import (
    SETTINGS,
    ConversionReport,
    Downsampler,
    circular_padding,
    conversion_flags,
    name_layers,
)
from .timm_models import rebuild_with_aa_layer
from .torchvision_models import adapt_released_keys, family

METHODS = ("blur", "aps")

__all__ = [
    "BINOMIAL_TAPS",
    "PAD_TYPES",
    "SETTINGS",
    "AntialiasSpec",
    "ApsPool",
    "BlurPool",
    "ConversionReport",
    "adapt_released_keys",
    "antialias",
    "conversion_flags",
    "convert_spec",
]


@dataclass(frozen=True)
class AntialiasSpec:
    """What to convert to. `pool_only=None` takes the family's default (True, AlexNet False;
    APS always converts the stem too). `pad_type=None`: reflect for BlurPool, circular for APS."""

    method: str = "blur"
    filter_size: int = 4
    pad_type: str | None = None
    pool_only: bool | None = None
    circular_pad: bool = False

    @property
    def variant(self) -> str:
        """Short name of the converted model: aa4, aps, aps3."""
        if self.method == "aps":
            return "aps" if self.filter_size == 1 else f"aps{self.filter_size}"
        return f"aa{self.filter_size}"


def antialias(
    model: nn.Module,
    filter_size: int = 4,
    pad_type: str | None = None,
    pool_only: bool | None = None,
    method: str = "blur",
    circular_pad: bool = False,
    input_size: int = 224,
) -> nn.Module:
    """A converted copy of `model` with its weights kept; the report is `.antialias_report`.

    torchvision ResNet/VGG/DenseNet/MobileNetV2/AlexNet get exactly the released
    antialiased-cnns structure; timm models that take `aa_layer` are rebuilt with BlurPool;
    any other network is converted by the generic rule, traced on a 1x3xSxS input.
    """
    if method not in METHODS:
        raise ShiftbenchError(f"anti-aliasing method must be blur or aps, got '{method}'")
    pad = pad_type or ("circular" if method == "aps" else "reflect")
    check_filter(filter_size, pad)
    converted = copy.deepcopy(model).eval()
    found = family(converted)
    default_pool_only = found[2] if found else getattr(converted, "antialias_pool_only", True)
    only = False if method == "aps" else (default_pool_only if pool_only is None else pool_only)
    report = ConversionReport(method, filter_size, pad, only, circular_pad)
    pool = Downsampler(method, filter_size, pad)
    example = torch.zeros(1, 3, input_size, input_size)
    rebuilt = None
    if found:
        report.rule, rule, _ = found
        rule(converted, pool, only, report)
    elif method == "blur" and only and hasattr(converted, "pretrained_cfg"):
        rebuilt = rebuild_with_aa_layer(converted, filter_size, pad, report)
    if rebuilt is not None:
        converted, report.rule = rebuilt, "timm aa_layer"
    elif not found:
        report.rule = "generic"
        convert_generic(converted, pool, only, report, example)
        if method == "aps":
            report.notes.append(
                "generic APS: parallel branches choose their polyphase components independently, "
                "so circular-shift invariance is not exact"
            )
    if circular_pad:
        for path in circular_padding(converted):
            report.change(path, "circular padding", "padding mode -> circular")
    if not report.changes:
        report.notes.append("nothing to convert: no strided conv or pool that can be converted")
    name_layers(converted)
    try:
        with torch.no_grad():
            converted(example)
    except ShiftbenchError:
        raise
    except RuntimeError as exc:
        raise ShiftbenchError(f"the converted model fails at {input_size}px: {exc}") from None
    converted.antialias_report = report
    return converted


def convert_spec(model: nn.Module, spec: AntialiasSpec, input_size: int) -> nn.Module:
    """`antialias` with the options of an AntialiasSpec."""
    return antialias(
        model,
        spec.filter_size,
        spec.pad_type,
        spec.pool_only,
        spec.method,
        spec.circular_pad,
        input_size,
    )
