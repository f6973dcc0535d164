"""Model names to ready classifiers: a source builds the module (`shiftbench.models.sources`),
weights are loaded (`shiftbench.models.weights`, downloads through
`shiftbench.models.downloads`), preprocessing is resolved and the model is anti-aliased."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..antialias import AntialiasSpec, ConversionReport, adapt_released_keys, conversion_flags
from ..antialias import convert_spec as convert
from ..antialias.released import RELEASED, released_url
from ..antialias.torchvision_models import family
from ..errors import ShiftbenchError, first_line
from .downloads import fetch, hub_pinned, is_url
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, check_preprocess
from .sources import published_name, resolve_name, source_named
from .weights import conversion_of, file_sha256, load_state, read_state_dict, same_keys


@dataclass
class LoadedModel:
    """A classifier ready to evaluate, with everything needed to load it again."""

    module: nn.Module
    name: str
    source: str
    architecture: str
    pretrained: str | None
    weights: str | None
    weights_sha256: str | None
    num_classes: int
    preprocess: Preprocess
    variant: str = "baseline"
    antialias: ConversionReport | None = None

    def describe(self) -> dict:
        """The JSON-ready description recorded in results.json."""
        return {
            "name": self.name,
            "source": self.source,
            "architecture": self.architecture,
            "pretrained": self.pretrained,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "num_classes": self.num_classes,
            "parameters": sum(p.numel() for p in self.module.parameters()),
            "preprocess": asdict(self.preprocess),
            "variant": self.variant,
            "antialias": self.antialias.describe() if self.antialias is not None else None,
        }


def _released_weights(
    source: str, arch: str, keyword: str, spec: AntialiasSpec | None, module: nn.Module
) -> str:
    """The URL of the antialiased-cnns weights that `--weights released[-scratch]` names; the
    conversion must be the released one (reflect padding, the family's stem rule)."""
    if source != "torchvision":
        raise ShiftbenchError(
            f"{{weights}} {keyword}: antialiased-cnns released torchvision models; use tv/NAME",
            "weights",
        )
    if spec is None or spec.method != "blur":
        raise ShiftbenchError(
            f"{{weights}} {keyword} needs {{antialias}} K, the filter size of the released "
            "model", "weights", "antialias",
        )  # fmt: skip
    if spec.pad_type not in (None, "reflect"):
        raise ShiftbenchError(
            f"{{weights}} {keyword}: the released models pad with reflect; leave out {{aa_pad}}",
            "weights", "aa_pad",
        )  # fmt: skip
    known = family(module)
    if spec.pool_only is not None and known is not None and spec.pool_only != known[2]:
        stem = "keep" if known[2] else "anti-alias"
        raise ShiftbenchError(
            f"{{weights}} {keyword}: the released {arch} models {stem} the stem; leave out "
            "{aa_stem}", "weights", "aa_stem",
        )  # fmt: skip
    return released_url(arch.split(".")[0], spec.filter_size, scratch=RELEASED[keyword])


def default_weights_note(model: LoadedModel) -> str | None:
    """For a torchvision name without a weights tag whose default weights are not the original
    IMAGENET1K_V1 ones (ResNet-50, ResNeXt, Wide ResNet, MobileNetV2, ...): which weights it
    loaded, and the name of those the published figures were measured on."""
    if model.source != "torchvision" or model.pretrained is None or "." in model.architecture:
        return None
    from torchvision.models import get_model_weights

    base, _, loaded = model.pretrained.partition(".")
    if loaded == "IMAGENET1K_V1" or "IMAGENET1K_V1" not in get_model_weights(base).__members__:
        return None
    return (
        f"{model.name} loads torchvision's default weights, {loaded}; the published figures of "
        f"{base} (the anti-aliasing paper's, ImageNet-C's, the released anti-aliased models' "
        f"baselines) are of IMAGENET1K_V1: name tv/{base}.IMAGENET1K_V1 to compare with them"
    )


def _probe_classes(module: nn.Module, name: str, size: int) -> int:
    module.eval()
    try:
        with torch.inference_mode():
            out = module(torch.zeros(1, 3, size, size))
    except Exception as exc:
        raise ShiftbenchError(
            f"{name} failed on a 1x3x{size}x{size} input ({first_line(exc)}); try {{img_size}}",
            "img_size",
        ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        kind = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShiftbenchError(f"{name} returned {kind}; shiftbench needs logits [batch, classes]")
    return int(out.shape[1])


def load_model(
    name: str,
    *,
    pretrained: bool = True,
    weights: str | Path | None = None,
    model_file: str | None = None,
    num_classes: int | None = None,
    img_size: int | None = None,
    interpolation: str | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    antialias: AntialiasSpec | None = None,
) -> LoadedModel:
    """Build a classifier by name, optionally anti-alias it, and prepare its preprocessing.

    `name` is a timm name (with or without a pretrained tag, or `timm/NAME`), a torchvision
    name as `tv/NAME[.WEIGHTS]`, or any label when `model_file="FILE.py:FUNCTION"` builds it.
    `weights` loads a state dict instead of the pretrained weights: a file, an http(s) URL
    (downloaded once into torch's hub cache), or `"released"` / `"released-scratch"` (the
    antialiased-cnns weights of a torchvision model at `antialias`'s filter size). Downloads
    that cannot happen fail within seconds when offline. Preprocessing comes from the model's own
    configuration; `img_size`, `interpolation`, `mean` and `std` override it. With
    `antialias`, the model is converted (see `shiftbench.antialias`); a checkpoint whose keys
    are those of the unconverted model is loaded before the conversion, any other (released
    or saved anti-aliased weights) after it.
    """
    check_preprocess(img_size, interpolation, mean, std)
    use_pretrained = pretrained and weights is None and model_file is None
    if num_classes is not None and use_pretrained:
        raise ShiftbenchError(
            "{num_classes} with pretrained weights would evaluate a random head: "
            "add {weights} PATH or {pretrained=False}",
            "num_classes", "weights", "pretrained=False",
        )  # fmt: skip
    source, arch = ("file", model_file) if model_file is not None else resolve_name(name)
    module = source_named(source).build(arch, use_pretrained, num_classes)
    if arch.startswith("hf-hub:"):
        arch = hub_pinned(arch)
    given = _Weights.read(weights, source, arch, antialias, module, name)
    before = given.state is not None and (antialias is None or same_keys(module, given.state))
    if before:
        load_state(module, given.state, given.named)  # type: ignore[arg-type]
    preprocess = _preprocess(
        name, source_named(source).native_preprocess(arch, module), img_size, interpolation,
        mean, std,
    )  # fmt: skip
    report = None
    if antialias is not None:
        module = convert(module, antialias, preprocess.input_size)
        report = module.antialias_report
        given.load_converted(module, report, before, use_pretrained)
    module.eval()
    return LoadedModel(
        module=module,
        name=name,
        source=source,
        architecture=arch,
        pretrained=published_name(source, arch) if use_pretrained else None,
        weights=str(given.named) if given.named is not None else None,
        weights_sha256=file_sha256(given.file) if given.file is not None else None,
        num_classes=_probe_classes(module, name, preprocess.input_size),
        preprocess=preprocess,
        variant=antialias.variant if antialias is not None else "baseline",
        antialias=report,
    )


@dataclass
class _Weights:
    """The checkpoint `--weights` names: as recorded (the URL of released weights), its local
    file, state dict, and the conversion that `shiftbench convert` recorded in it."""

    named: str | Path | None
    file: str | Path | None
    state: dict[str, torch.Tensor] | None
    converted_with: dict[str, object] | None

    @classmethod
    def read(
        cls,
        weights: str | Path | None,
        source: str,
        arch: str,
        antialias: AntialiasSpec | None,
        module: nn.Module,
        name: str,
    ) -> _Weights:
        """Fetch (released weights, URLs) and read the checkpoint; refuse a converted file
        given without the conversion."""
        if weights is not None and str(weights) in RELEASED:
            weights = _released_weights(source, arch, str(weights), antialias, module)
        file = (
            fetch(str(weights), name) if weights is not None and is_url(str(weights)) else weights
        )
        if file is None:
            return cls(None, None, None, None)
        state = read_state_dict(file)  # a file it cannot read is refused here, in one line
        converted_with = conversion_of(file)
        if converted_with is not None and antialias is None:
            raise ShiftbenchError(
                f"{weights} holds a model converted by shiftbench convert: evaluate it with "
                f"{conversion_flags(converted_with)}"
            )
        return cls(weights, file, state, converted_with)

    def load_converted(
        self, module: nn.Module, report: ConversionReport, loaded_before: bool, pretrained: bool
    ) -> None:
        """After the conversion: load anti-aliased weights, and say in `report` which
        weights the converted model holds."""
        if self.converted_with is not None and self.converted_with != report.settings():
            # padding and circular padding change no key: the load alone would not notice
            raise ShiftbenchError(
                f"{self.named} was converted with {conversion_flags(self.converted_with)}, this "
                f"run converts with {conversion_flags(report.settings())}: pass the file's "
                "options"
            )
        if self.state is not None and not loaded_before:
            load_state(module, adapt_released_keys(module, self.state), self.named)  # type: ignore[arg-type]
            report.weights = "anti-aliased"
        elif pretrained or (self.state is not None and not same_keys(module, self.state)):
            report.weights = "baseline"
        elif self.state is not None:
            report.weights = "given (conversion keeps its keys, so it may be either)"


def _preprocess(
    name: str,
    native: Preprocess,
    img_size: int | None,
    interpolation: str | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> Preprocess:
    """The model's native preprocessing with the caller's overrides."""
    size = img_size if img_size is not None else native.input_size
    if size <= 0:
        raise ShiftbenchError(
            f"{name} has no square input size of its own: pass {{img_size}}", "img_size"
        )
    return replace(
        native,
        input_size=size,
        interpolation=interpolation or native.interpolation,
        mean=tuple(mean) if mean is not None else native.mean,
        std=tuple(std) if std is not None else native.std,
        # the published resize belongs to the published input size
        reference_resize=native.reference_resize if size == native.input_size else None,
    )


def wrap_module(
    module: nn.Module,
    name: str,
    input_size: int,
    *,
    interpolation: str = "bilinear",
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> LoadedModel:
    """Make an in-memory `nn.Module` evaluable, with the preprocessing it expects."""
    module.eval()
    return LoadedModel(
        module=module,
        name=name,
        source="module",
        architecture=type(module).__name__,
        pretrained=None,
        weights=None,
        weights_sha256=None,
        num_classes=_probe_classes(module, name, input_size),
        preprocess=Preprocess(input_size, interpolation, tuple(mean), tuple(std), None),
    )
