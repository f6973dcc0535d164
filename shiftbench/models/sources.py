"""Where models come from: a registry of sources, as timm registers its model entrypoints.

A source recognises the names it serves, builds a module, and knows the module's native
preprocessing and the name of the pretrained weights it loads. `resolve_name` asks the
sources in `SOURCES` order (shiftbench's `sb/` nets, timm's `hf-hub:`/`local-dir:` models,
`tv/`, `timm/`, then a bare name in timm and in torchvision); adding a source is one
`ModelSource` subclass and one entry there. A user's `--model-file` is `FileSource`, chosen
by the file, not by a name.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import sys
from pathlib import Path

from torch import nn

from ..errors import ShiftbenchError, first_line
from .downloads import fetch, hub_files_cached, timm_weights_file
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, SMALL_INPUT, Preprocess

# timm's prefixes for a model described by a config.json beside its weights.
TIMM_SOURCES = ("hf-hub", "hf_hub", "local-dir")
DEFAULT_PREPROCESS = Preprocess(224, "bilinear", IMAGENET_MEAN, IMAGENET_STD, None)


class ModelSource:
    """One place models come from. `match` turns a user's name into this source's
    architecture name (None when the name is not this source's), `build` makes the module,
    `native_preprocess` and `published_name` describe it, `names` feeds suggestions for a
    name no source knows."""

    name = ""

    def match(self, name: str) -> str | None:
        """This source's architecture for `name`, or None."""
        raise NotImplementedError

    def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
        """The module, with its pretrained weights when `pretrained`."""
        raise NotImplementedError

    def native_preprocess(self, arch: str, module: nn.Module) -> Preprocess:
        """The preprocessing the architecture (or its weights) was made for."""
        return DEFAULT_PREPROCESS

    def published_name(self, arch: str) -> str:
        """The pretrained weights `arch` loads, spelt so that the same ones load again."""
        return arch

    def names(self) -> list[str]:
        """Names this source knows, as a user writes them (for suggestions)."""
        return []


class ShiftbenchSource(ModelSource):
    """`sb/NAME`: shiftbench's small networks for 32 px images (`shiftbench.models.nets`)."""

    name = "shiftbench"

    def match(self, name: str) -> str | None:
        if not name.startswith("sb/"):
            return None
        from .nets import NETS

        if name[3:] in NETS:
            return name[3:]
        raise ShiftbenchError(f"unknown model '{name}'; shiftbench's own: sb/{', sb/'.join(NETS)}")

    def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
        from .nets import build_net

        if pretrained:
            raise ShiftbenchError(
                f"sb/{arch} has no published weights: train it (shiftbench train) and pass "
                "{weights}, or use {pretrained=False}", "weights", "pretrained=False",
            )  # fmt: skip
        return build_net(arch, 10 if num_classes is None else num_classes)

    def native_preprocess(self, arch: str, module: nn.Module) -> Preprocess:
        return Preprocess(SMALL_INPUT, "bilinear", IMAGENET_MEAN, IMAGENET_STD, None)


class TimmSource(ModelSource):
    """timm: `timm/NAME`, a bare timm name (`prefixed` None), or, with `prefixed`, the
    `hf-hub:ORG/REPO[@REV]` and `local-dir:FOLDER` models timm builds from a config.json."""

    name = "timm"

    def __init__(self, prefix: str | None = None, prefixed: bool = False) -> None:
        self.prefix, self.prefixed = prefix, prefixed

    def match(self, name: str) -> str | None:
        import timm

        if self.prefixed:
            prefix, sep, location = name.partition(":")
            if sep and prefix.lower() in TIMM_SOURCES:
                return _timm_location(prefix.lower(), location, name)
            return None
        if self.prefix is not None:
            if not name.startswith(self.prefix):
                return None
            arch = name[len(self.prefix) :]
            return arch if timm.is_model(arch) else None
        return name if timm.is_model(name) else None

    def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
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
        hub_model = arch.startswith(("hf-hub:", "local-dir:"))
        if hub_model and not hasattr(model, "pretrained_model_args"):
            # timm keeps the config's arguments on the model from 1.0.31 on; the rebuild with
            # aa_layer needs them (a model saved with a narrower stem takes only its own weights)
            model.pretrained_model_args = _config_model_args(arch)
        return model

    def native_preprocess(self, arch: str, module: nn.Module) -> Preprocess:
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

    def published_name(self, arch: str) -> str:
        if arch.startswith(("hf-hub:", "local-dir:")):
            return arch
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(arch)
        return f"{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else arch

    def names(self) -> list[str]:
        import timm

        bare = self.prefix is None and not self.prefixed  # one source lists timm's names
        return timm.list_models() + timm.list_pretrained() if bare else []


class TorchvisionSource(ModelSource):
    """torchvision: `tv/NAME[.WEIGHTS]`, or a bare name timm does not know (`prefix` None)."""

    name = "torchvision"

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix

    def match(self, name: str) -> str | None:
        if self.prefix is not None:
            if not name.startswith(self.prefix):
                return None
            name = name[len(self.prefix) :]
        return name if name.split(".")[0] in _torchvision_names() else None

    def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
        from torchvision.models import get_model

        weights = torchvision_weights(arch) if pretrained else None
        if pretrained and weights is None:
            raise ShiftbenchError(f"torchvision has no pretrained weights for {arch}")
        if weights is not None:
            fetch(weights.url, arch)  # into the cache torchvision reads, or a clear error
        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        try:
            return get_model(arch.split(".")[0], weights=weights, **kwargs)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ShiftbenchError(
                f"torchvision could not build {arch}: {first_line(exc)}"
            ) from None

    def native_preprocess(self, arch: str, module: nn.Module) -> Preprocess:
        weights = torchvision_weights(arch)
        if weights is None:
            return DEFAULT_PREPROCESS
        transform = weights.transforms()
        return Preprocess(
            input_size=int(transform.crop_size[0]),
            interpolation=transform.interpolation.value,
            mean=tuple(transform.mean),
            std=tuple(transform.std),
            reference_resize=int(transform.resize_size[0]),
        )

    def published_name(self, arch: str) -> str:
        weights = torchvision_weights(arch)
        return f"{arch.split('.')[0]}.{weights.name}" if weights is not None else arch

    def names(self) -> list[str]:
        return [f"tv/{n}" for n in _torchvision_names()] if self.prefix else []


class FileSource(ModelSource):
    """A user's `--model-file FILE.py:FUNCTION`: their code, run because they named it."""

    name = "file"

    def match(self, name: str) -> str | None:
        return None  # chosen by --model-file, never by a name

    def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
        file, sep, function = arch.rpartition(":")
        if not sep or not file or not function:
            raise ShiftbenchError(
                f"{{model_file}} takes FILE.py:FUNCTION, got '{arch}'", "model_file"
            )
        path = Path(file)
        build = getattr(_user_module(path), function, None)
        if not callable(build):
            raise ShiftbenchError(f"{path} has no function '{function}'")
        try:
            model = build() if num_classes is None else build(num_classes=num_classes)
        except Exception as exc:
            raise ShiftbenchError(f"{arch} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ShiftbenchError(f"{arch} returned {type(model).__name__}, not a torch.nn.Module")
        return model


# Asked in this order; the first whose `match` answers serves the name.
SOURCES: list[ModelSource] = [
    ShiftbenchSource(),
    TimmSource(prefixed=True),
    TorchvisionSource("tv/"),
    TimmSource("timm/"),
    TimmSource(),
    TorchvisionSource(),
]
FILE = FileSource()


def source_named(name: str) -> ModelSource:
    """The registered source whose `name` (timm, torchvision, shiftbench, file) is `name`."""
    return next(s for s in [*SOURCES, FILE] if s.name == name)


def resolve_name(name: str) -> tuple[str, str]:
    """Map a user's model name to (source, architecture[.tag]) through `SOURCES`; an unknown
    name raises an error listing the closest known names."""
    for source in SOURCES:
        arch = source.match(name)
        if arch is not None:
            return source.name, arch
    candidates = list(dict.fromkeys(known for source in SOURCES for known in source.names()))
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ShiftbenchError(f"unknown model '{name}' (not in timm or torchvision){hint}")


def published_name(source: str, arch: str) -> str:
    """The pretrained weights a name loads, spelt so that the same weights load again whatever
    the library's default later becomes: timm's `ARCH.TAG`, torchvision's `ARCH.WEIGHTS`
    (`resnet50` -> `resnet50.a1_in1k`, `tv/resnet50` -> `resnet50.IMAGENET1K_V2`)."""
    return source_named(source).published_name(arch)


def torchvision_weights(arch: str):
    """The torchvision weights enum member `arch` names (its default without a tag), or None
    for an architecture without published weights."""
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


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models()


def _timm_location(prefix: str, location: str, name: str) -> str:
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


def _user_module(path: Path) -> object:
    """The user's model file, imported under a name of its own."""
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
    return user
