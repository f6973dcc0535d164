"""timm models that take `aa_layer`: rebuilt with our BlurPool and the same weights."""

from __future__ import annotations

from torch import nn

from .blurpool import blurpool_class
from .surgery import ConversionReport


def rebuild_with_aa_layer(
    model: nn.Module, filter_size: int, pad_type: str, report: ConversionReport
) -> nn.Module | None:
    """The timm model rebuilt with `aa_layer` = our BlurPool, its weights loaded strictly;
    None (with a note) when the architecture does not place `aa_layer` layers."""
    import timm

    cfg = getattr(model, "pretrained_cfg", None) or {}
    architecture = cfg.get("architecture")
    if not architecture or not timm.is_model(architecture):
        return None
    layer = blurpool_class(filter_size, pad_type)
    # a model from a hub repository or a local folder was built with its config's arguments
    saved = dict(getattr(model, "pretrained_model_args", None) or {})
    try:
        rebuilt = timm.create_model(
            architecture,
            pretrained=False,
            **{**saved, "num_classes": model.num_classes, "aa_layer": layer},
        )
    except (TypeError, ValueError, RuntimeError, AssertionError) as exc:  # timm asserts some
        report.notes.append(f"timm {architecture} does not take aa_layer ({exc}); generic rule")
        return None
    placed = [path for path, m in rebuilt.named_modules() if isinstance(m, layer)]
    if not placed:
        report.notes.append(f"timm {architecture} accepted aa_layer but placed none; generic rule")
        return None
    try:
        rebuilt.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError:
        report.notes.append(f"timm {architecture} with aa_layer has other weights; generic rule")
        return None
    for path in placed:
        report.change(path, "aa_layer", "timm anti-aliasing slot filled with BlurPool")
    return rebuilt.eval()
