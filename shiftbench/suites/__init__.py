"""The suite registry: a suite is one module and one line here."""

from __future__ import annotations

from ..data.folders import ImageSet
from ..data.views import Geometry
from ..errors import ShiftbenchError
from .base import Curve, Metric, Settings, Suite
from .circular import CircularSuite
from .clean import CleanSuite
from .consistency import ConsistencySuite
from .corruption import CorruptionSuite, ReleasedArraysSuite, ReleasedCorruptionSuite
from .diagonal import DiagonalSuite
from .embedded import EmbeddedSuite
from .filters import FiltersSuite
from .options import Option, SuiteOptions
from .perturbation import PerturbationSuite
from .subpixel import SubpixelSuite
from .translation import TranslationSuite

SHIFT_SUITES = (
    CleanSuite, ConsistencySuite, DiagonalSuite, CircularSuite, TranslationSuite, SubpixelSuite,
    EmbeddedSuite,
)  # fmt: skip
# Suites of the images, and suites of the model alone (they read no data).
IMAGE_SUITES: dict[str, type[Suite]] = {
    cls.name: cls for cls in (*SHIFT_SUITES, CorruptionSuite, PerturbationSuite)
}
MODEL_SUITES = {FiltersSuite.name: FiltersSuite}
SUITES: dict[str, type] = {**IMAGE_SUITES, **MODEL_SUITES}
# The suite that reads a kind of data its own way, by (data kind, suite name).
KIND_SUITES: dict[tuple[str, str], type[Suite]] = {
    ("imagenet_c", "corruption"): ReleasedCorruptionSuite,
    ("cifar_c", "corruption"): ReleasedArraysSuite,
}


def _declared_options() -> dict[str, tuple[str, Option]]:
    """Every suite option by name, with the suite that declares it; names are unique across
    suites (they are flags of one command line, and keys of one results.json config)."""
    found: dict[str, tuple[str, Option]] = {}
    for suite in IMAGE_SUITES.values():
        for name, declared in suite.Options.declared().items():
            if name in found:
                raise AssertionError(f"option {name} is declared by two suites")
            found[name] = (suite.name, declared)
    return found


# Every option of every suite: name -> (suite, declaration).
OPTIONS = _declared_options()

__all__ = [
    "IMAGE_SUITES",
    "MODEL_SUITES",
    "OPTIONS",
    "SHIFT_SUITES",
    "SUITES",
    "Curve",
    "FiltersSuite",
    "Metric",
    "Option",
    "Settings",
    "Suite",
    "SuiteOptions",
    "build_suites",
    "metric_key",
    "needs_images",
    "parse_suite_names",
]


def parse_suite_names(text: str) -> tuple[str, ...]:
    """`"clean,consistency"`, `"all"` (every shift suite) or `"all,filters"` to suite names, in
    registry order."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if "all" in names:
        names = [n for n in names if n != "all"] + [cls.name for cls in SHIFT_SUITES]
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        raise ShiftbenchError(
            f"unknown suite '{','.join(unknown) or text}'; choose from {', '.join(SUITES)} or all"
        )
    return tuple(n for n in SUITES if n in names)


def metric_key(name: str) -> str:
    """`suite.metric`; a bare suite name means its headline metric."""
    if "." not in name and name in SUITES:
        return f"{name}.{SUITES[name].headline}"
    return name


def build_suites(
    geometry: Geometry, config: Settings, images: ImageSet | None = None, kind: str = "folder"
) -> list[Suite]:
    """Instantiate the image suites named in `config` for windows of `geometry`, as the kind
    of data (`images.kind`, else `kind`) has them read: only the suites that kind declares,
    each in its own form for that kind where `KIND_SUITES` has one."""
    names = parse_suite_names(",".join(config.suites))
    kind = images.kind if images is not None else kind
    if images is not None and images.suites is not None and names != images.suites:
        raise ShiftbenchError(
            f"{images.title} are read by the {', '.join(images.suites)} suite alone; "
            "run the other suites in a separate eval"
        )
    suites: list[Suite] = []
    for name in (n for n in names if n in IMAGE_SUITES):
        own = KIND_SUITES.get((kind, name))
        suites.append(
            own(geometry, config, images) if own else IMAGE_SUITES[name](geometry, config)
        )
    return suites


def needs_images(names: tuple[str, ...]) -> bool:
    """Whether any of the named suites (or `all`) reads images; model suites alone need no
    data."""
    return any(name in IMAGE_SUITES for name in parse_suite_names(",".join(names)))
