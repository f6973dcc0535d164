"""Options that several commands share, declared once as groups: a command names the groups
it takes and receives each as one dict, so its own signature stays short. The evaluation
settings' group holds a flag for every suite option, made from the suite's declaration."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer

from ..config import DEFAULT_WORKERS, options_class
from ..suites import OPTIONS, Option
from . import options as o

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclass(frozen=True)
class Group:
    """Options a command receives together, as the dict keyword `name`."""

    name: str
    params: tuple[inspect.Parameter, ...]


def _param(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _suite_option(name: str, declared: Option, default: object) -> inspect.Parameter:
    """The flag of a suite option: a switch for a yes/no option; text for one that is parsed
    or chosen; a number otherwise. Left out it is None: the suite's default applies."""
    if isinstance(default, bool):
        return _param(name, Annotated[bool, typer.Option(help=declared.help)], False)
    kind = str if declared.parse or declared.choices else int
    flag = typer.Option(help=declared.help, show_default=False)
    return _param(name, Annotated[kind | None, flag], None)  # type: ignore[operator]


def _suite_options() -> tuple[inspect.Parameter, ...]:
    return tuple(
        _suite_option(name, declared, options_class(suite).defaults()[name])
        for name, (suite, declared) in OPTIONS.items()
    )


SOURCES = Group(
    "sources",
    (
        _param("data", o.Data, None),
        _param("imagenet_c", o.ImagenetC, None),
        _param("cifar_c", o.CifarC, None),
    ),
)
SETTINGS = Group(
    "settings",
    (
        _param("suite", o.SuiteNames, o.DEFAULT_SUITE),
        _param("limit", o.Limit, None),
        _param("image_list", o.ImageListOption, None),
        _param("seed", o.Seed, 0),
        _param("max_shift", o.MaxShift, None),
        *_suite_options(),
        _param("amp", o.Amp, "none"),
        _param("channels_last", o.ChannelsLast, False),
        _param("compile_model", o.Compile, False),
        _param("batch_size", o.BatchSize, "64"),
        _param("workers", o.Workers, DEFAULT_WORKERS),
        _param("device", o.Device, "auto"),
        _param("chunk_size", o.ChunkSize, 1024),
        _param("decode", o.Decode, "pil"),
        _param("canvas", o.CanvasMode, "resize"),
    ),
)
MODEL = Group(
    "model_options",
    (
        _param("pretrained", o.Pretrained, True),
        _param("num_classes", o.NumClasses, None),
        _param("img_size", o.ImgSize, None),
        _param("interpolation", o.Interpolation, None),
        _param("mean", o.Mean, None),
        _param("std", o.Std, None),
    ),
)
CONVERSION = Group(
    "conversion",
    (
        _param("aa_pad", o.AaPad, None),
        _param("aa_stem", o.AaStem, None),
        _param("aps_filter", o.ApsFilter, 1),
        _param("circular_pad", o.CircularPad, False),
    ),
)
GATES = Group(
    "gates",
    (
        _param("baseline", o.Baseline, None),
        _param("max_drop", o.MaxDrop, None),
        _param("minimum", o.MinBound, None),
        _param("check_config", o.CheckConfig, None),
        _param("allow_mismatch", o.AllowMismatch, False),
        _param("markdown_file", o.Markdown, None),
    ),
)


def takes(*groups: Group) -> Callable[[Command], Command]:
    """Give a command the options of `groups` after its own; it receives each group's values
    as one dict keyword (typer reads the signature made here)."""

    def decorate(command: Command) -> Command:
        own = [
            p
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.name not in {g.name for g in groups}
        ]

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            for group in groups:
                values[group.name] = {p.name: values.pop(p.name) for p in group.params}
            return command(**values)

        params = [*own, *(p for g in groups for p in g.params)]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return wrapper  # type: ignore[return-value]

    return decorate
