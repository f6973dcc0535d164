"""Everything that decides an evaluation's numbers and speed, in one validated record.

The run's own settings are fields here; each suite's options are declared by the suite
(`suites.options`) and held in `EvalConfig.options`, by suite name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ShiftbenchError
from .suites import OPTIONS, SUITES, SuiteOptions

AMP_MODES = ("none", "bf16", "fp16")
# Where JPEG files are decoded: PIL in the loader workers, or torchvision on the device.
DECODERS = ("pil", "device")
# How an image becomes its canvas: resized to it (the paper's ImageNet protocol), or resized to
# the window and padded with black to it (images at the model's size, as CIFAR-10's).
CANVAS_MODES = ("resize", "pad")
DEFAULT_SUITES = ("clean", "consistency")
# timm's default of 4 decoding processes, or fewer on a machine with fewer cores.
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
# The largest seed torch.manual_seed takes for random-initialised weights, and numpy too.
MAX_SEED = 2**63 - 1


def _setting(default: object, *, compared: bool = False, speed: bool = False) -> Any:
    """A setting of the run with its role declared once: whether `shiftbench check` compares
    it (`compared`: two results that differ in it are not comparable), and whether it
    changes only the `speed` (a resumed run may change it)."""
    return field(default=default, metadata={"compared": compared, "speed": speed})


def options_class(suite: str) -> type[SuiteOptions]:
    """The dataclass of a suite's options (`SuiteOptions`, without fields, for a suite that
    has none)."""
    return getattr(SUITES[suite], "Options", SuiteOptions)


def _options(suite: str, given: object) -> SuiteOptions:
    """A suite's options from None (its defaults), its options dataclass or a mapping of
    option names to values."""
    cls = options_class(suite)
    if given is None or isinstance(given, cls):
        return cls() if given is None else given  # type: ignore[return-value]
    if not isinstance(given, Mapping):
        raise ShiftbenchError(
            f"options of the {suite} suite are a {cls.__name__} or a mapping, got {given!r}"
        )
    unknown = sorted(set(given) - set(cls.declared()))
    if unknown:
        has = ", ".join(cls.declared()) or "none"
        raise ShiftbenchError(f"the {suite} suite has no option {unknown[0]} (it has: {has})")
    return cls(**given)


@dataclass(frozen=True)
class EvalConfig:
    """Options of one evaluation; recorded whole in results.json so the run can be repeated.

    `batch_size` counts views per forward pass; "auto" starts large on a GPU and halves on
    out-of-memory. `chunk_size` images make a chunk: the unit of checkpoints and of the
    shares of torchrun processes. `image_list` is a file naming the images to evaluate
    (paths relative to the data root, one per line); `limit` applies after it. `canvas`
    "pad" makes each canvas from the image resized to the window and a black border, instead
    of resizing the image to the canvas.

    `options` maps a suite's name to its options: the suite's dataclass
    (`ConsistencyOptions(shift_passes=9)`) or a mapping (`{"shift_passes": 9}`). Every
    selected suite with options gets an entry (its defaults when none is given). Options of
    a suite that is not selected are refused: any a mapping names, and those a dataclass
    sets to another value than the default.
    `EvalConfig.from_settings(shift_passes=9, ...)` takes every setting by its flat name.
    """

    suites: tuple[str, ...] = DEFAULT_SUITES
    max_shift: int = _setting(32, compared=True)
    seed: int = _setting(0, compared=True)
    limit: int | None = _setting(None, compared=True)
    image_list: str | None = None
    batch_size: int | str = _setting(64, speed=True)
    workers: int = _setting(DEFAULT_WORKERS, speed=True)
    device: str = _setting("auto", speed=True)
    amp: str = _setting("none", compared=True)
    channels_last: bool = _setting(False, speed=True)
    compile: bool = _setting(False, speed=True)
    chunk_size: int = 1024
    decode: str = _setting("pil", compared=True)
    canvas: str = _setting("resize", compared=True)
    options: Mapping[str, SuiteOptions] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            (self.max_shift >= 0, "max_shift", "must be >= 0"),
            (
                isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED,
                "seed", f"must be a whole number from 0 to {MAX_SEED}",
            ),
            (
                self.batch_size == "auto"
                or (isinstance(self.batch_size, int) and self.batch_size >= 1),
                "batch_size", "must be a number >= 1 or auto",
            ),
            (self.workers >= 0, "workers", "must be >= 0"),
            (self.chunk_size >= 1, "chunk_size", "must be >= 1"),
            (self.decode in DECODERS, "decode", f"must be one of {', '.join(DECODERS)}"),
            (self.canvas in CANVAS_MODES, "canvas", f"must be one of {', '.join(CANVAS_MODES)}"),
            (self.limit is None or self.limit >= 1, "limit", "must be >= 1"),
            (self.amp in AMP_MODES, "amp", f"must be one of {', '.join(AMP_MODES)}"),
        ]  # fmt: skip
        for ok, name, rule in checks:
            if not ok:
                raise ShiftbenchError(f"{{{name}}} {rule}", name)
        if not self.suites:
            raise ShiftbenchError("no suite selected")
        object.__setattr__(self, "suites", tuple(self.suites))
        unknown = [name for name in (*self.suites, *self.options) if name not in SUITES]
        if unknown:
            raise ShiftbenchError(f"unknown suite '{unknown[0]}'; choose from {', '.join(SUITES)}")
        object.__setattr__(self, "options", self._resolved_options())

    def _resolved_options(self) -> dict[str, SuiteOptions]:
        given = dict(self.options)
        resolved = {}
        for suite in self.suites:
            if options_class(suite).declared():
                resolved[suite] = _options(suite, given.pop(suite, None))
        for suite, value in given.items():
            # a mapping names what it sets, even to a default; a dataclass, what differs
            chosen = _options(suite, value)
            changed = list(value) if isinstance(value, Mapping) else chosen.changed()
            if changed:
                raise ShiftbenchError(
                    f"{{{changed[0]}}} is read by the {suite} suite, which is not selected "
                    "({suites})", changed[0], "suites",
                )  # fmt: skip
        return resolved

    @classmethod
    def from_settings(cls, **settings: Any) -> EvalConfig:
        """A configuration from every setting by its flat name: the run's fields, and the
        suites' options (`shift_passes=9`), each given to the suite that declares it."""
        own = _run_fields()
        options: dict[str, dict[str, Any]] = {}
        for name in [n for n in settings if n not in own]:
            if name not in OPTIONS:
                raise ShiftbenchError(f"unknown setting {name}")
            options.setdefault(OPTIONS[name][0], {})[name] = settings.pop(name)
        return cls(**settings, options=options)

    @classmethod
    def from_dict(cls, saved: dict) -> EvalConfig:
        """The configuration recorded in a results.json (`to_dict`), ignoring unknown keys
        and the options of suites it did not run (they had no effect)."""
        suites = tuple(saved.get("suites") or DEFAULT_SUITES)
        own = _run_fields()
        values = {k: v for k, v in saved.items() if k in own}
        values["suites"] = suites
        options = {k: v for k, v in saved.items() if k in OPTIONS and OPTIONS[k][0] in suites}
        return cls.from_settings(**values, **options)

    def settings(self) -> dict[str, Any]:
        """Every setting by its flat name, the selected suites' options included (what
        `from_settings` takes back)."""
        out = {name: getattr(self, name) for name in _run_fields()}
        for chosen in self.options.values():
            out.update(chosen.values())
        return out

    def with_settings(self, **changes: Any) -> EvalConfig:
        """A copy with some settings changed, by their flat names (`dataclasses.replace` for
        the run's fields, and for the suites' options too)."""
        suites = tuple(changes.get("suites", self.suites))
        kept = {
            name: value
            for name, value in self.settings().items()
            if name not in OPTIONS or OPTIONS[name][0] in suites
        }
        return EvalConfig.from_settings(**{**kept, **changes})

    def option(self, name: str) -> Any:
        """A suite option's value by its name (its default when the suite is not selected)."""
        suite = OPTIONS[name][0]
        return getattr(self.options.get(suite) or options_class(suite)(), name)

    def to_dict(self) -> dict:
        """JSON-ready copy of every setting by its flat name, with the defaults of the
        options of suites that did not run (as results.json has always recorded them)."""
        out = {k: v for k, v in asdict(self).items() if k != "options"}
        out["suites"] = list(self.suites)
        for name in OPTIONS:
            value = self.option(name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


def _run_fields() -> list[str]:
    """The names of the run's own settings: every field of EvalConfig but the suites' options."""
    return [f.name for f in fields(EvalConfig) if f.name != "options"]


# The options read by one suite only, and that suite.
SUITE_SETTINGS = {name: suite for name, (suite, _) in OPTIONS.items()}
# The settings whose difference makes two results incomparable (`shiftbench check`).
COMPARED_SETTINGS = tuple(
    [f.name for f in fields(EvalConfig) if f.metadata.get("compared")]
    + [name for name, (_, declared) in OPTIONS.items() if declared.compared]
)
# The settings that change how fast, not what, is computed: a resumed run may change them.
SPEED_SETTINGS = tuple(f.name for f in fields(EvalConfig) if f.metadata.get("speed"))
