"""What every suite is: views to ask for, records to keep, metrics to summarise."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from ..data.folders import CanvasBatch
from ..data.views import Geometry, Views
from ..errors import ShiftbenchError
from ..stats import Estimate, rate
from .options import SuiteOptions

Run = Generator[Views, torch.Tensor, None]


class Settings(Protocol):
    """What suites read of a run's settings (`shiftbench.EvalConfig` is one): the suites
    selected, the seed, how canvases are made, and the options of each selected suite by
    suite name."""

    @property
    def suites(self) -> tuple[str, ...]: ...

    @property
    def seed(self) -> int: ...

    @property
    def canvas(self) -> str: ...

    @property
    def options(self) -> Mapping[str, SuiteOptions]: ...


@dataclass(frozen=True)
class Metric:
    """One summarised number with its 95% interval and trial count (rates in percent)."""

    suite: str
    name: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    higher_is_better: bool

    @property
    def key(self) -> str:
        """`suite.name`, the id used by reports and regression checks."""
        return f"{self.suite}.{self.name}"


@dataclass(frozen=True)
class Curve:
    """A metric as a function of a shift (offset, radius), one point per x with its interval."""

    suite: str
    name: str
    x_name: str
    x: list[int]
    value: list[float]
    ci_low: list[float]
    ci_high: list[float]
    n: list[int]
    higher_is_better: bool

    @property
    def key(self) -> str:
        """`suite.name`, also the stem of the curve's CSV file."""
        return f"{self.suite}.{self.name}"


def percent(suite: str, name: str, estimate: Estimate, higher_is_better: bool = True) -> Metric:
    """A Metric in percent from an estimate of a fraction."""
    e = estimate.scaled(100.0)
    return Metric(suite, name, e.value, e.low, e.high, e.n, higher_is_better)


def percent_curve(
    suite: str, name: str, x_name: str, x: list[int], estimates: list[Estimate], higher: bool = True
) -> Curve:
    """A Curve in percent from one estimate of a fraction per x."""
    points = [e.scaled(100.0) for e in estimates]
    return Curve(
        suite,
        name,
        x_name,
        list(x),
        [p.value for p in points],
        [p.low for p in points],
        [p.high for p in points],
        [p.n for p in points],
        higher,
    )


def image_generator(seed: int, suite: str, index: int) -> torch.Generator:
    """The random stream of one image in one suite, a function of (seed, suite, image index)."""
    digest = hashlib.blake2b(f"{seed}/{suite}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


@dataclass(frozen=True)
class PerImage:
    """One metric as per-image values whose mean, in percent, is the metric (values are
    fractions: a rate's per-image share of hits, a mean's per-image mean, an error score's
    per-image term). `rate` marks rates of binary trials, for which McNemar's test applies."""

    values: torch.Tensor
    rate: bool = True


def per_image_rate(hits: torch.Tensor) -> PerImage:
    """The per-image share of hits of a rate over [images] or [images, ...] trials."""
    return PerImage(hits.reshape(hits.shape[0], -1).double().mean(dim=1), True)


def per_image_mean(values: torch.Tensor) -> PerImage:
    """The per-image mean of a mean over [images] or [images, ...] values."""
    return PerImage(values.reshape(values.shape[0], -1).double().mean(dim=1), False)


@dataclass(frozen=True)
class Classified:
    """What suites keep from logits: prediction, top-1/top-5 hits, class probabilities."""

    pred: torch.Tensor
    correct1: torch.Tensor
    correct5: torch.Tensor
    prob_true: torch.Tensor
    prob_wrong: torch.Tensor


def classify(logits: torch.Tensor, labels: torch.Tensor) -> Classified:
    """Score logits [n, classes] against labels [n]."""
    probs = logits.float().softmax(dim=1)
    pred = probs.argmax(dim=1)
    top5 = probs.topk(min(5, probs.shape[1]), dim=1).indices
    prob_true = probs.gather(1, labels[:, None]).squeeze(1)
    prob_wrong = probs.scatter(1, labels[:, None], -1.0).max(dim=1).values.clamp(min=0.0)
    return Classified(
        pred, pred == labels, (top5 == labels[:, None]).any(dim=1), prob_true, prob_wrong
    )


class Suite(ABC):
    """A shift-robustness test.

    `draws(index)` gives an image's random numbers (computed in the data-loading workers from
    the seed, the suite's name and the image index, so they depend on nothing else). `run` is
    a generator over one batch of canvases: it yields the views it needs, receives their
    logits (float32, one row per view), and keeps one record row per image; it may yield more
    than once (adaptive attacks). `summarise` turns records of all images into metrics and
    curves; it reads nothing else, so results can be recomputed from saved records;
    `per_image` gives each metric's per-image terms, for paired statistics. `Options` is the
    dataclass of the suite's options (`suites.options`); `self.options` holds their values
    for this run.
    """

    name: ClassVar[str]
    headline: ClassVar[str]
    description: ClassVar[str]
    needs_shift: ClassVar[bool] = True
    Options: ClassVar[type[SuiteOptions]] = SuiteOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        if self.needs_shift and geometry.max_shift < 1:
            raise ShiftbenchError(f"the {self.name} suite needs {{max_shift}} >= 1", "max_shift")
        self.geometry = geometry
        self.seed = config.seed
        given = config.options.get(self.name)
        self.options = given if isinstance(given, self.Options) else self.Options()
        self._records: dict[str, list[torch.Tensor]] = {}

    def generator(self, index: int) -> torch.Generator:
        """This suite's random stream for image `index`."""
        return image_generator(self.seed, self.name, index)

    def draws(self, index: int) -> torch.Tensor | None:
        """Random numbers of image `index` for this suite; None for suites that draw none."""
        return None

    @abstractmethod
    def run(self, batch: CanvasBatch) -> Run:
        """Yield views of `batch`, receive their logits, keep one record row per image."""

    @abstractmethod
    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        """Metrics and curves from per-image records (all images, sorted by index)."""

    @abstractmethod
    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        """Every metric of `summarise` as per-image values (paired comparisons bootstrap
        over images with them)."""

    def settings(self) -> dict:
        """The suite's resolved parameters, recorded in results.json."""
        return {}

    def warnings(self) -> list[str]:
        """What a user should hear about this suite's settings before it runs."""
        return []

    def keep(self, indices: torch.Tensor, **fields: torch.Tensor) -> None:
        """Append rows for images `indices` (first dimension = images); they stay on the device
        until `records()` so that keeping them never waits for the device."""
        self._records.setdefault("index", []).append(indices)
        for key, value in fields.items():
            self._records.setdefault(key, []).append(value.detach())

    def own(self, records: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This suite's fields of a pass's records (keyed `suite.field`), without the prefix:
        what `summarise` and `per_image` read."""
        prefix = f"{self.name}."
        return {k[len(prefix) :]: v for k, v in records.items() if k.startswith(prefix)}

    def records(self) -> dict[str, torch.Tensor]:
        """All rows kept so far, concatenated per field on the CPU, in the order kept,
        with the image index of each row under "index"."""
        return {key: torch.cat(parts).cpu() for key, parts in self._records.items()}


class PairSuite(Suite):
    """A suite that scores pairs of views of an image: records `agree` (the pair's top-1
    predictions are equal) and `correct` (each view's top-1 hit), summarised as the
    consistency (% of agreeing pairs) and the top-1 accuracy over all its views."""

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        return [
            percent(self.name, "consistency", rate(records["agree"])),
            percent(self.name, "top1", rate(records["correct"])),
        ], []

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        return {
            "consistency": per_image_rate(records["agree"]),
            "top1": per_image_rate(records["correct"]),
        }
