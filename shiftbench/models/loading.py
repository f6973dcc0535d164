"""Model names to modules: timm, torchvision and user files, with weights and preprocessing
(what must be downloaded comes through `shiftbench.models.downloads`)."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import pickle
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..antialias import (
    SETTINGS,
    AntialiasSpec,
    ConversionReport,
    adapt_released_keys,
    conversion_flags,
)
from ..antialias import convert_spec as convert
from ..antialias.released import RELEASED, released_url
from ..antialias.torchvision_models import family
from ..errors import ShiftbenchError, first_line
from .downloads import (
    fetch,
    hub_files_cached,
    hub_pinned,
    is_url,
    timm_weights_file,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Input size of shiftbench's own sb/ networks (CIFAR-10 sized).
SMALL_INPUT = 32
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
_NESTED_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")
_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class Preprocess:
    """How images are prepared for a model: square input size, resize filter and normalisation.

    `reference_resize` is the shorter-side resize the weights were published with (timm's
    `input_size / crop_pct`, torchvision's `resize_size`; None at another input size than
    theirs); it is recorded for the reader, while shiftbench itself always resizes to the
    canvas (input size + max shift, the paper's protocol).
    """

    input_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reference_resize: int | None = None


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


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models()


TIMM_SOURCES = ("hf-hub", "hf_hub", "local-dir")


def resolve_name(name: str) -> tuple[str, str]:
    """Map a user's model name to (source, architecture[.tag]).

    `tv/NAME` is torchvision, `timm/NAME` is timm, `hf-hub:ORG/REPO` and `local-dir:FOLDER`
    timm models described by their config.json, `sb/NAME` one of shiftbench's small
    networks (`shiftbench.models.nets`); a bare name is looked up in timm first,
    then torchvision. An unknown name raises an error listing the closest known names.
    """
    import timm

    prefix, sep, location = name.partition(":")
    if sep and prefix.lower() in TIMM_SOURCES:
        return "timm", _timm_source(prefix.lower(), location, name)
    if name.startswith("sb/"):
        from .nets import NETS

        if name[3:] in NETS:
            return "shiftbench", name[3:]
        raise ShiftbenchError(f"unknown model '{name}'; shiftbench's own: sb/{', sb/'.join(NETS)}")
    if name.startswith("tv/"):
        arch = name[3:]
        if arch.split(".")[0] in _torchvision_names():
            return "torchvision", arch
    elif name.startswith("timm/"):
        arch = name[5:]
        if timm.is_model(arch):
            return "timm", arch
    elif timm.is_model(name):
        return "timm", name
    elif name.split(".")[0] in _torchvision_names():
        return "torchvision", name
    candidates = (
        timm.list_models() + timm.list_pretrained() + [f"tv/{n}" for n in _torchvision_names()]
    )
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ShiftbenchError(f"unknown model '{name}' (not in timm or torchvision){hint}")


def _timm_source(prefix: str, location: str, name: str) -> str:
    """`hf-hub:ORG/REPO[@REV]` or `local-dir:FOLDER`, timm's own prefixes for a model whose
    architecture and preprocessing come from a config.json beside its weights."""
    if not location:
        raise ShiftbenchError(f"'{name}' names no repository or folder after '{prefix}:'")
    if prefix == "local-dir" and not (Path(location) / "config.json").is_file():
        raise ShiftbenchError(
            f"{name}: no config.json in {location} (a timm model folder, as "
            "timm.models.save_for_hf writes it, holds config.json and model.safetensors)"
        )
    if prefix != "local-dir" and location.count("/") != 1:
        raise ShiftbenchError(f"{name}: a Hugging Face repository is ORG/NAME")
    return f"{'hf-hub' if prefix != 'local-dir' else prefix}:{location}"


def _released_weights(
    source: str, arch: str, keyword: str, spec: AntialiasSpec | None, module: nn.Module
) -> str:
    """The URL of the antialiased-cnns weights that `--weights released[-scratch]` names; the
    conversion must be the released one (reflect padding, the family's stem rule)."""
    if source != "torchvision":
        raise ShiftbenchError(
            f"--weights {keyword}: antialiased-cnns released torchvision models; use tv/NAME"
        )
    if spec is None or spec.method != "blur":
        raise ShiftbenchError(
            f"--weights {keyword} needs --antialias K, the filter size of the released model"
        )
    if spec.pad_type not in (None, "reflect"):
        raise ShiftbenchError(
            f"--weights {keyword}: the released models pad with reflect; leave out --aa-pad"
        )
    known = family(module)
    if spec.pool_only is not None and known is not None and spec.pool_only != known[2]:
        stem = "keep" if known[2] else "anti-alias"
        raise ShiftbenchError(
            f"--weights {keyword}: the released {arch} models {stem} the stem; leave out "
            "--aa-stem/--no-aa-stem"
        )
    return released_url(arch.split(".")[0], spec.filter_size, scratch=RELEASED[keyword])


def _build_timm(arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    import timm

    kwargs: dict = {}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if arch.startswith("hf-hub:"):
        hub_files_cached(arch, pretrained)
    elif pretrained and not arch.startswith("local-dir:"):
        kwargs["pretrained_cfg_overlay"] = {"file": timm_weights_file(arch), "source": ""}
    try:
        model = timm.create_model(arch, pretrained=pretrained, **kwargs)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise ShiftbenchError(f"timm could not build {arch}: {first_line(exc)}") from None
    if arch.startswith(("hf-hub:", "local-dir:")) and not hasattr(model, "pretrained_model_args"):
        # timm keeps the config's arguments on the model from 1.0.31 on; the rebuild with
        # aa_layer needs them (a model saved with a narrower stem takes only its own weights)
        model.pretrained_model_args = _config_model_args(arch)
    return model


def _config_model_args(arch: str) -> dict:
    """The `model_args` of a hub repository's or local folder's config.json, read as timm
    reads them when it builds the model."""
    from timm.models import _hub

    source, location = arch.split(":", 1)
    if source == "hf-hub":
        _, _, args = _hub.load_model_config_from_hf(location)
    else:
        _, _, args = _hub.load_model_config_from_path(location)
    return dict(args or {})


def _torchvision_weights(arch: str):
    from torchvision.models import get_model_weights

    base, _, tag = arch.partition(".")
    try:
        enum = get_model_weights(base)
    except (ValueError, KeyError):
        return None
    if not tag:
        return enum.DEFAULT
    try:
        return enum[tag]
    except KeyError:
        known = ", ".join(w.name for w in enum)
        raise ShiftbenchError(
            f"unknown torchvision weights '{tag}' for {base}; have: {known}"
        ) from None


def published_name(source: str, arch: str) -> str:
    """The pretrained weights a name loads, spelt so that the same weights load again whatever
    the library's default later becomes: timm's `ARCH.TAG`, torchvision's `ARCH.WEIGHTS`
    (`resnet50` -> `resnet50.a1_in1k`, `tv/resnet50` -> `resnet50.IMAGENET1K_V2`)."""
    if source == "timm" and not arch.startswith(("hf-hub:", "local-dir:")):
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(arch)
        if cfg is not None and cfg.tag:
            return f"{cfg.architecture}.{cfg.tag}"
    if source == "torchvision":
        weights = _torchvision_weights(arch)
        if weights is not None:
            return f"{arch.split('.')[0]}.{weights.name}"
    return arch


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


def _build_torchvision(arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    from torchvision.models import get_model

    weights = _torchvision_weights(arch) if pretrained else None
    if pretrained and weights is None:
        raise ShiftbenchError(f"torchvision has no pretrained weights for {arch}")
    if weights is not None:
        fetch(weights.url, arch)  # into the cache torchvision reads, or a clear error
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        return get_model(arch.split(".")[0], weights=weights, **kwargs)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ShiftbenchError(f"torchvision could not build {arch}: {first_line(exc)}") from None


def _build_shiftbench(arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    from .nets import build_net

    if pretrained:
        raise ShiftbenchError(
            f"sb/{arch} has no published weights: train it (shiftbench train) and pass "
            "--weights, or use --no-pretrained"
        )
    return build_net(arch, 10 if num_classes is None else num_classes)


def _build_from_file(spec: str, num_classes: int | None) -> nn.Module:
    """Run the user's FILE.py:FUNCTION (their code, run because they named it)."""
    file, sep, function = spec.rpartition(":")
    if not sep or not file or not function:
        raise ShiftbenchError(f"--model-file takes FILE.py:FUNCTION, got '{spec}'")
    path = Path(file)
    if not path.is_file():
        raise ShiftbenchError(f"model file not found: {path}")
    module_name = f"shiftbench_user_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ShiftbenchError(f"cannot import {path} as Python")
    user = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = user
    try:
        loader_spec.loader.exec_module(user)
    except Exception as exc:
        raise ShiftbenchError(f"{path} failed to import: {type(exc).__name__}: {exc}") from None
    build = getattr(user, function, None)
    if not callable(build):
        raise ShiftbenchError(f"{path} has no function '{function}'")
    try:
        model = build() if num_classes is None else build(num_classes=num_classes)
    except Exception as exc:
        raise ShiftbenchError(f"{spec} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ShiftbenchError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _unwrap_state_dict(state: object, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(state, Mapping):
        nested = next((k for k in _NESTED_KEYS if isinstance(state.get(k), Mapping)), None)
        if nested is None:
            break
        state = state[nested]
    if not isinstance(state, Mapping) or not state:
        raise ShiftbenchError(f"{path} holds no state dict (expected a mapping of tensors)")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, recorded so a result names exactly the weights it used."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a local checkpoint safely (safetensors, or torch.load with weights_only=True).

    Nested `state_dict`/`model` entries are unwrapped and `module.`/`_orig_mod.` prefixes
    (DataParallel, torch.compile) stripped; tensors land on the CPU whatever device saved them.
    """
    path = Path(path)
    if not path.is_file():
        raise ShiftbenchError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text advises weights_only=False: the one thing not to do with a file
        # of unknown origin. Say what the file holds and how to make a safe one instead.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise ShiftbenchError(
                f"{path} holds a pickled Python object ({found.group(1)}), not only tensors: "
                "safe loading (weights_only=True) refused it and ran none of it. Save the weights "
                "alone where the model was made: safetensors.torch.save_file(model.state_dict(), "
                "'weights.safetensors')"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", str(exc))
        reason = detail.group(1) if detail else "not a torch.save file of tensors"
        raise ShiftbenchError(
            f"{path} is not a readable checkpoint (a torch.save file or .safetensors): {reason}"
        ) from None
    except Exception as exc:
        raise ShiftbenchError(f"{path} is not a readable checkpoint: {first_line(exc)}") from None
    return _unwrap_state_dict(state, path)


def _conversion_of(path: str | Path) -> dict[str, object] | None:
    """The conversion settings `shiftbench convert` wrote into a safetensors file's metadata;
    None for any other file."""
    if Path(path).suffix != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    try:
        described = json.loads(metadata.get("model", "null")) or {}
        settings = described.get("antialias") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    return {key: settings[key] for key in SETTINGS} if set(SETTINGS) <= set(settings) else None


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load `state` (read from `path`) strictly into `module`.

    Any missing, unexpected or wrongly shaped key is an error that lists them.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        hint = ""
        if _is_antialiased(state) and not _is_antialiased(own):
            hint = " (an anti-aliased checkpoint: add --antialias with its filter size)"
        raise ShiftbenchError(f"{path} does not match the model; " + "; ".join(parts) + hint)
    module.load_state_dict(state, strict=True)


def load_weights(module: nn.Module, path: str | Path) -> str:
    """Load a local state dict strictly into `module`; returns the file's SHA-256."""
    load_state(module, read_state_dict(path), path)
    return file_sha256(path)


def _is_antialiased(state: dict[str, torch.Tensor]) -> bool:
    return any(key.rpartition(".")[2] == "filt" for key in state)


def _same_keys(module: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = module.state_dict()
    return set(own) == set(state) and all(own[k].shape == state[k].shape for k in own)


def _native_preprocess(source: str, arch: str, module: nn.Module) -> Preprocess:
    if source == "timm":
        from timm.data import resolve_data_config

        cfg = resolve_data_config({}, model=module)
        _, height, width = cfg["input_size"]
        crop_pct = cfg.get("crop_pct") or 1.0
        return Preprocess(
            input_size=height if height == width else -1,
            interpolation=cfg["interpolation"],
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            reference_resize=math.floor(height / crop_pct),
        )
    if source == "torchvision":
        weights = _torchvision_weights(arch)
        if weights is not None:
            transform = weights.transforms()
            return Preprocess(
                input_size=int(transform.crop_size[0]),
                interpolation=transform.interpolation.value,
                mean=tuple(transform.mean),
                std=tuple(transform.std),
                reference_resize=int(transform.resize_size[0]),
            )
    if source == "shiftbench":
        return Preprocess(SMALL_INPUT, "bilinear", IMAGENET_MEAN, IMAGENET_STD, None)
    return Preprocess(224, "bilinear", IMAGENET_MEAN, IMAGENET_STD, None)


def _probe_classes(module: nn.Module, name: str, size: int) -> int:
    module.eval()
    try:
        with torch.inference_mode():
            out = module(torch.zeros(1, 3, size, size))
    except Exception as exc:
        raise ShiftbenchError(
            f"{name} failed on a 1x3x{size}x{size} input ({first_line(exc)}); try --img-size"
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
    _check_preprocess(img_size, interpolation, mean, std)
    use_pretrained = pretrained and weights is None and model_file is None
    if num_classes is not None and use_pretrained:
        raise ShiftbenchError(
            "--num-classes with pretrained weights would evaluate a random head: "
            "add --weights PATH or --no-pretrained"
        )
    if model_file is not None:
        source, arch = "file", model_file
        module = _build_from_file(model_file, num_classes)
    else:
        source, arch = resolve_name(name)
        build = {
            "timm": _build_timm,
            "torchvision": _build_torchvision,
            "shiftbench": _build_shiftbench,
        }[source]
        module = build(arch, use_pretrained, num_classes)
        if arch.startswith("hf-hub:"):
            arch = hub_pinned(arch)
    weights_file = weights
    if weights is not None and str(weights) in RELEASED:
        weights = _released_weights(source, arch, str(weights), antialias, module)
        weights_file = fetch(weights, name)
    elif weights is not None and is_url(str(weights)):
        weights_file = fetch(str(weights), name)
    state = read_state_dict(weights_file) if weights_file is not None else None
    converted_with = _conversion_of(weights_file) if weights_file is not None else None
    if converted_with is not None and antialias is None:
        raise ShiftbenchError(
            f"{weights} holds a model converted by shiftbench convert: evaluate it with "
            f"{conversion_flags(converted_with)}"
        )
    before = state is not None and (antialias is None or _same_keys(module, state))
    if before:
        load_state(module, state, weights)
    native = _native_preprocess(source, arch, module)
    size = img_size if img_size is not None else native.input_size
    if size <= 0:
        raise ShiftbenchError(f"{name} has no square input size of its own: pass --img-size")
    preprocess = Preprocess(
        input_size=size,
        interpolation=interpolation or native.interpolation,
        mean=tuple(mean) if mean is not None else native.mean,
        std=tuple(std) if std is not None else native.std,
        # the published resize belongs to the published input size
        reference_resize=native.reference_resize if size == native.input_size else None,
    )
    report = None
    if antialias is not None:
        module = convert(module, antialias, size)
        report = module.antialias_report
        if converted_with is not None and converted_with != report.settings():
            # padding and circular padding change no key: the load alone would not notice
            raise ShiftbenchError(
                f"{weights} was converted with {conversion_flags(converted_with)}, this run "
                f"converts with {conversion_flags(report.settings())}: pass the file's options"
            )
        if state is not None and not before:
            load_state(module, adapt_released_keys(module, state), weights)
            report.weights = "anti-aliased"
        elif use_pretrained or (state is not None and not _same_keys(module, state)):
            report.weights = "baseline"
        elif state is not None:
            report.weights = "given (conversion keeps its keys, so it may be either)"
    module.eval()
    return LoadedModel(
        module=module,
        name=name,
        source=source,
        architecture=arch,
        pretrained=published_name(source, arch) if use_pretrained else None,
        weights=str(weights) if weights is not None else None,
        weights_sha256=file_sha256(weights_file) if weights_file is not None else None,
        num_classes=_probe_classes(module, name, size),
        preprocess=preprocess,
        variant=antialias.variant if antialias is not None else "baseline",
        antialias=report,
    )


def _check_preprocess(
    img_size: int | None,
    interpolation: str | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> None:
    """Refuse preprocessing overrides that would feed the model garbage (NaN, infinities)."""
    if img_size is not None and img_size < 1:
        raise ShiftbenchError(f"--img-size must be >= 1, got {img_size}")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ShiftbenchError(
            f"unknown interpolation '{interpolation}'; choose from {', '.join(INTERPOLATIONS)}"
        )
    if mean is not None and not all(math.isfinite(v) for v in mean):
        raise ShiftbenchError(f"--mean must be finite numbers, got {','.join(map(str, mean))}")
    if std is not None and not all(math.isfinite(v) and v > 0 for v in std):
        raise ShiftbenchError(f"--std must be finite numbers > 0, got {','.join(map(str, std))}")


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
