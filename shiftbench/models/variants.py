"""The models of a comparison: `NAME[:key=value...]` specs, `--antialias` lists and TOML files.

A spec is a model name followed by options, e.g. `tv/resnet50:aa=4:weights=lpf4.pth`. Parts
without `=` belong to the name, so timm's `hf-hub:org/model` names keep their colon.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..antialias import AntialiasSpec
from ..antialias.released import RELEASED
from ..errors import ShiftbenchError
from .downloads import is_url
from .loading import LoadedModel, load_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BASELINE = ("0", "none")


def antialias_spec(
    antialias: str | None,
    pad: str | None = None,
    stem: bool | None = None,
    aps_filter: int = 1,
    circular: bool = False,
) -> AntialiasSpec | None:
    """The conversion asked for: None for the baseline (no option, 0 or none)."""
    if antialias is None or antialias.lower() in BASELINE:
        if circular or stem is not None or pad is not None:
            raise ShiftbenchError(
                "{aa_pad}, {aa_stem} and {circular_pad} need {antialias}",
                "aa_pad", "aa_stem", "circular_pad", "antialias",
            )  # fmt: skip
        return None
    if antialias.lower() == "aps":
        return AntialiasSpec("aps", aps_filter, pad, stem, circular)
    if not antialias.isdigit():
        raise ShiftbenchError(
            f"{{antialias}} takes a filter size 1..7 or aps, got '{antialias}'", "antialias"
        )
    return AntialiasSpec("blur", int(antialias), pad, None if stem is None else not stem, circular)


@dataclass(frozen=True)
class VariantSpec:
    """One model of a comparison and how to load it. The conversion options (`aa_pad`,
    `aa_stem`, `aps_filter`, `circular_pad`) apply only when `aa` converts it."""

    name: str
    aa: str | None = None
    weights: str | None = None
    label: str | None = None
    pretrained: bool = True
    model_file: str | None = None
    num_classes: int | None = None
    img_size: int | None = None
    aa_pad: str | None = None
    aa_stem: bool | None = None
    aps_filter: int = 1
    circular_pad: bool = False

    @property
    def converted(self) -> bool:
        """Whether `aa` asks for a conversion."""
        return self.aa is not None and self.aa.lower() not in BASELINE

    def antialias(self) -> AntialiasSpec | None:
        """The conversion of this variant (None for a baseline)."""
        if not self.converted:
            return None
        return antialias_spec(
            self.aa, self.aa_pad, self.aa_stem, self.aps_filter, self.circular_pad
        )


KEYS = {f.name: f.type for f in fields(VariantSpec) if f.name != "name"}


def _value(key: str, raw: object, where: str) -> object:
    kind = KEYS[key]
    text = str(raw).strip()
    if "bool" in kind:
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ShiftbenchError(f"{where}: {key} takes true or false, got '{raw}'")
    if kind.startswith("int"):
        if isinstance(raw, bool) or not re.fullmatch(r"\d+", text):
            raise ShiftbenchError(f"{where}: {key} takes a whole number, got '{raw}'")
        return int(text)
    return text


def _options(items: dict[str, object], where: str) -> dict[str, object]:
    unknown = [k for k in items if k not in KEYS]
    if unknown:
        raise ShiftbenchError(
            f"{where}: unknown option '{unknown[0]}'; choose from {', '.join(KEYS)}"
        )
    return {key: _value(key, raw, where) for key, raw in items.items()}


def _continues(key: str, value: str, part: str) -> bool:
    """Whether `part` (no `=`) is the rest of `key`'s value after a colon of its own:
    model_file's FILE.py:FUNCTION, or a URL's (https://host:8080/file)."""
    if key == "model_file":
        return ":" not in value
    return is_url(f"{value}:{part}")


def parse_spec(text: str, defaults: VariantSpec | None = None) -> VariantSpec:
    """`NAME[:key=value...]` on top of `defaults` (the command's own options)."""
    name_parts, items = [], {}
    for part in text.split(":"):
        key, sep, value = part.partition("=")
        last = next(reversed(items), None)
        if not sep and last is not None and _continues(last, items[last], part):
            items[last] = f"{items[last]}:{part}"
        elif sep:
            items[key.strip()] = value
        elif items:
            raise ShiftbenchError(f"model '{text}': '{part}' is not key=value")
        else:
            name_parts.append(part)
    name = ":".join(name_parts).strip()
    if not name:
        raise ShiftbenchError(f"model '{text}' has no name")
    return replace(defaults or VariantSpec(name), name=name, **_options(items, f"model '{text}'"))


def read_models_toml(path: str | Path, defaults: VariantSpec | None = None) -> list[VariantSpec]:
    """The `[[model]]` tables of a TOML file (keys as in specs, `name` required); relative
    `weights` and `model_file` paths are taken from the file's folder."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ShiftbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ShiftbenchError(f"{path} is not valid TOML: {exc}") from None
    tables = document.get("model")
    if not isinstance(tables, list) or not tables:
        raise ShiftbenchError(f"{path}: no [[model]] tables")
    specs = []
    for number, table in enumerate(tables, start=1):
        where = f"{path} model {number}"
        if not isinstance(table, dict) or not str(table.get("name", "")).strip():
            raise ShiftbenchError(f'{where}: needs name = "..."')
        items = {k: v for k, v in table.items() if k != "name"}
        for key in ("weights", "model_file"):
            if key in items and items[key] not in RELEASED and not is_url(str(items[key])):
                file, _, function = str(items[key]).partition(":")
                located = path.parent / Path(file).expanduser()
                items[key] = f"{located}:{function}" if function else str(located)
        base = replace(defaults or VariantSpec(""), name=str(table["name"]).strip())
        specs.append(replace(base, **_options(items, where)))
    return specs


def expand_antialias(specs: list[VariantSpec], sizes: str | None) -> list[VariantSpec]:
    """`--antialias 0,3,4,5`: one variant per entry of every spec that names no `aa` itself."""
    if sizes is None:
        return specs
    entries = [s.strip() for s in sizes.split(",") if s.strip()]
    if not entries:
        raise ShiftbenchError("{antialias} takes a list such as 0,3,4,5 or 0,aps", "antialias")
    variants = {}
    for entry in entries:  # validates every entry before any model is built
        converted = antialias_spec(entry)
        variants[entry] = converted.variant if converted is not None else "baseline"
    return [
        replace(spec, aa=entry, label=f"{spec.label} ({variants[entry]})" if spec.label else None)
        if spec.aa is None
        else spec
        for spec in specs
        for entry in (entries if spec.aa is None else [spec.aa])
    ]


def check_labels(specs: list[VariantSpec]) -> None:
    """Refuse two variants given the same label (they would share a result folder)."""
    given = [s.label for s in specs if s.label]
    repeated = sorted({label for label in given if given.count(label) > 1})
    if repeated:
        raise ShiftbenchError(f"two models have the same label: {', '.join(repeated)}")


def labels_for(specs: list[VariantSpec], models: list[LoadedModel]) -> list[str]:
    """Names for tables and folders: a spec's own label, else the variant (baseline, aa4),
    prefixed by the model name when several models are compared; repeats get #2, #3 (labels
    given twice are refused earlier, by `check_labels`)."""
    one_model = len({s.name for s in specs}) == 1
    labels = [
        spec.label or (model.variant if one_model else f"{spec.name} ({model.variant})")
        for spec, model in zip(specs, models, strict=True)
    ]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def load_variant(
    spec: VariantSpec,
    interpolation: str | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> LoadedModel:
    """Build, load and (when `aa` asks) convert one variant."""
    return load_model(
        spec.name,
        pretrained=spec.pretrained,
        weights=spec.weights,
        model_file=spec.model_file,
        num_classes=spec.num_classes,
        img_size=spec.img_size,
        interpolation=interpolation,
        mean=mean,
        std=std,
        antialias=spec.antialias(),
    )


def variant_specs(
    models: list[str],
    config_file: str | Path | None = None,
    antialias: str | None = None,
    defaults: VariantSpec | None = None,
) -> list[VariantSpec]:
    """The variants of a comparison: the `models` specs and the `config_file` TOML's
    tables, each expanded by `antialias` (`0,4`), with `defaults` for what they leave out;
    at least two, with distinct labels."""
    defaults = defaults or VariantSpec("")
    specs = [parse_spec(m, defaults) for m in models]
    if config_file is not None:
        specs += read_models_toml(config_file, defaults)
    if not specs:
        raise ShiftbenchError(
            "compare needs models: names, specs or {config_file} models.toml", "config_file"
        )
    specs = expand_antialias(specs, antialias)
    check_labels(specs)
    if len(specs) < 2:
        raise ShiftbenchError(
            "compare needs at least two variants: several models, or {antialias} 0,4",
            "antialias",
        )
    conversion_options = (
        defaults.aa_pad is not None or defaults.aa_stem is not None or defaults.circular_pad
    )
    if conversion_options and not any(s.converted for s in specs):
        raise ShiftbenchError(
            "{aa_pad}, {aa_stem} and {circular_pad} need a converted variant",
            "aa_pad", "aa_stem", "circular_pad",
        )  # fmt: skip
    return specs
