"""Corruption robustness: ImageNet-C corruptions of the centre window, generated on the
device (`CorruptionSuite`), or the released ImageNet-C files (`ReleasedCorruptionSuite`).

On the fly, each image's centre window (Resize(S+M) + CenterCrop(S): Resize(256) +
CenterCrop(224) at 224) is corrupted by every requested corruption and severity with the
original ImageNet-C parameters; random corruptions draw from one generator per image,
corruption and severity, seeded from (seed, suite, image index), so results do not depend on
batching. The clean window is scored in the same pass, for relative CE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..corruptions import (
    ALL,
    BENCHMARK,
    EXTRA,
    MIN_SIZE,
    RANDOM,
    SEVERITIES,
    ReleasedSet,
    corrupt,
    coverage_warning,
    parse_corruptions,
    parse_severities,
    score,
)
from ..corruptions.arrays import ReleasedArrays
from ..corruptions.disk import cell_name
from ..data.folders import CanvasBatch
from ..data.jpeg import jpeg_round_trip
from ..data.views import BlockViews, Geometry, centre_views, unit_range
from ..errors import ShiftbenchError
from ..stats import rate
from .base import (
    Curve,
    Metric,
    PerImage,
    Run,
    Settings,
    Suite,
    classify,
    per_image_rate,
    percent,
    percent_curve,
)
from .options import SuiteOptions, option

RELEASE_JPEG_QUALITY = 85


def like_release(x: torch.Tensor) -> torch.Tensor:
    """What the released files went through: truncation to uint8, then JPEG at quality 85."""
    return jpeg_round_trip(x, RELEASE_JPEG_QUALITY)


class CorruptedViews(BlockViews):
    """Windows [B, 3, S, S] under each (corruption, severity) of `plan`, block after block;
    the first block, ("clean", 0), is the window itself."""

    def __init__(
        self,
        windows: torch.Tensor,
        plan: list[tuple[str, int]],
        seeds: torch.Tensor,
        release_jpeg: bool,
    ) -> None:
        super().__init__(windows, len(plan))
        self.plan = plan
        self.seeds = seeds.tolist()
        self.release_jpeg = release_jpeg

    def block(self, block: int, first: int, last: int) -> torch.Tensor:
        name, severity = self.plan[block]
        x = self.windows[first:last]
        if name == "clean":
            return unit_range(x)
        generators = None
        if name in RANDOM:
            device = x.device
            generators = [
                torch.Generator(device=device).manual_seed(self.seeds[i][block])
                for i in range(first, last)
            ]
        out = corrupt(x, name, severity, generators)
        return like_release(out) if self.release_jpeg else out


def _unknown_corruptions(names: tuple[str, ...]) -> str | None:
    unknown = [n for n in names if n not in ALL]
    if unknown or not names:
        return f"names unknown corruptions ({', '.join(unknown)}); choose from {', '.join(ALL)}"
    return None


def _unknown_severities(severities: tuple[int, ...]) -> str | None:
    wrong = not severities or any(s not in SEVERITIES for s in severities)
    return f"takes severities in 1..5, got {severities}" if wrong else None


@dataclass(frozen=True)
class CorruptionOptions(SuiteOptions):
    """Which corruptions, at which severities, and whether those made on the fly are stored
    as the released files were."""

    corruptions: tuple[str, ...] | None = option(
        None,
        "Corruptions, groups (noise, blur, weather, digital, extra), benchmark or all "
        "(default all).",
        parse=parse_corruptions, check=_unknown_corruptions,
    )  # fmt: skip
    severities: tuple[int, ...] = option(
        SEVERITIES, "Severities, e.g. 3,5 (default 1..5).",
        parse=parse_severities, check=_unknown_severities,
    )  # fmt: skip
    jpeg_like_release: bool = option(
        False,
        "Corruptions made on the fly also get the released files' uint8 truncation and JPEG "
        "quality 85.",
    )


IMAGENET_C_SIZE = 224  # the size the corruption parameters were defined at
IMAGENET_C_RESIZE = 256  # the released files were made from Resize(256) + CenterCrop(224)


class CorruptionSuite(Suite):
    """Top-1 error under each corruption and severity, CE, mCE and relative mCE."""

    name = "corruption"
    headline = "mce"
    needs_shift = False
    description = "ImageNet-C corruptions of the centre window made on the fly; CE, mCE vs AlexNet"
    Options = CorruptionOptions

    def __init__(self, geometry: Geometry, config: Settings) -> None:
        super().__init__(geometry, config)
        if geometry.size < MIN_SIZE:
            raise ShiftbenchError(
                f"corruptions made on the fly need a model input of at least {MIN_SIZE} px, "
                f"got {geometry.size} ({{img_size}})", "img_size"
            )  # fmt: skip
        chosen: CorruptionOptions = self.options  # type: ignore[assignment]
        wanted = chosen.corruptions or ALL
        self.corruptions = wanted
        self.severities = chosen.severities
        self.release_jpeg = chosen.jpeg_like_release
        self.base_resize = geometry.image_side(config.canvas)
        self.plan = [("clean", 0)] + [(c, s) for c in wanted for s in self.severities]

    def warnings(self) -> list[str]:
        complete = self.corruptions if set(self.severities) == set(SEVERITIES) else ()
        messages = [coverage_warning(complete)]
        if self.geometry.size != IMAGENET_C_SIZE:
            messages.append(
                f"corruptions are made at {self.geometry.size} px with ImageNet-C's parameters, "
                f"which are defined at {IMAGENET_C_SIZE} px and not rescaled (blur radii, "
                "pixelation, weather layers): errors, CE and mCE are not comparable with "
                "published ImageNet-C (or CIFAR-10-C) figures"
            )
        elif self.base_resize != IMAGENET_C_RESIZE:
            messages.append(
                f"the corrupted images are Resize({self.base_resize}) + CenterCrop("
                f"{IMAGENET_C_SIZE}) of each image, ImageNet-C's were made from Resize("
                f"{IMAGENET_C_RESIZE}) + CenterCrop({IMAGENET_C_SIZE}) (the default --max-shift "
                "32 and --canvas resize): errors, CE and mCE differ from published figures"
            )
        return [m for m in messages if m]

    def settings(self) -> dict:
        return {
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "jpeg_like_release": self.release_jpeg,
        }

    def draws(self, index: int) -> torch.Tensor:
        """One seed per plan entry for image `index`."""
        return torch.randint(0, 2**62, (len(self.plan),), generator=self.generator(index))

    def run(self, batch: CanvasBatch) -> Run:
        count = len(batch)
        windows = centre_views(batch.canvases, self.geometry).materialize(0, count)
        views = CorruptedViews(windows, self.plan, batch.host_draws[self.name], self.release_jpeg)
        logits = yield views
        scored = classify(logits, batch.labels.repeat(len(self.plan)))
        shape = (len(self.plan), count)
        self.keep(
            batch.indices,
            pred=scored.pred.view(shape).T,
            correct=scored.correct1.view(shape).T,
        )

    def _errors(self, correct: torch.Tensor) -> dict[str, dict[int, torch.Tensor]]:
        errors: dict[str, dict[int, torch.Tensor]] = {}
        for column, (name, severity) in enumerate(self.plan[1:], start=1):
            errors.setdefault(name, {})[severity] = ~correct[:, column]
        return errors

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        correct = records["correct"]
        clean_error = 1.0 - float(correct[:, 0].double().mean())
        metrics, curves = corruption_metrics(self._errors(correct), clean_error)
        clean = percent(self.name, "clean_top1", rate(correct[:, 0]))
        return [clean, *metrics], curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        correct = records["correct"]
        errors = {
            name: {severity: wrong.double() for severity, wrong in by_severity.items()}
            for name, by_severity in self._errors(correct).items()
        }
        clean = {"clean_top1": per_image_rate(correct[:, 0])}
        return clean | error_terms(errors, (~correct[:, 0]).double())


class ReleasedCorruptionSuite(Suite):
    """Top-1 error on the released ImageNet-C files, CE and mCE; with the clean images they
    were made from in the same pass, clean accuracy and relative CE and mCE.

    Each file is one record: its centre window's prediction, its cell (corruption and
    severity, or clean) and its base image. Paired statistics take base images as the
    independent unit: every file made from one validation image belongs to one unit.
    """

    name = "corruption"
    headline = "mce"
    needs_shift = False
    description = "top-1 error on the released ImageNet-C files; CE, mCE vs AlexNet"
    Options = CorruptionOptions

    def __init__(
        self,
        geometry: Geometry,
        config: Settings,
        images: ReleasedSet | ReleasedArrays | None = None,
    ) -> None:
        super().__init__(geometry, config)
        chosen: CorruptionOptions = self.options  # type: ignore[assignment]
        self.corruptions = chosen.corruptions or ALL
        self.severities = chosen.severities
        self.images = images  # the cell and base image of each file; needed only to run

    def settings(self) -> dict:
        return {"corruptions": list(self.corruptions), "severities": list(self.severities)}

    def run(self, batch: CanvasBatch) -> Run:
        if self.images is None:
            raise ShiftbenchError("internal error: the released-files suite runs on a ReleasedSet")
        logits = yield centre_views(batch.canvases, self.geometry)
        scored = classify(logits, batch.labels)
        self.keep(
            batch.indices,
            cell=self.images.cell[batch.indices],
            base=self.images.base[batch.indices],
            pred=scored.pred,
            correct=scored.correct1,
        )

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        cell, correct = records["cell"], records["correct"]
        errors = _by_cell(cell, lambda number: ~correct[cell == number])
        clean = correct[cell == 0]
        clean_error = 1.0 - float(clean.double().mean()) if clean.numel() else None
        metrics, curves = corruption_metrics(errors, clean_error)
        if clean.numel():
            metrics.insert(0, percent(self.name, "clean_top1", rate(clean)))
        return metrics, curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        """One term per base image: a cell's error is the mean over its files, so each base
        image's share is its misses in that cell times (base images / files of the cell);
        the means of these terms are the metrics even when cells hold different images."""
        cell, correct = records["cell"], records["correct"]
        bases, unit = torch.unique(records["base"], return_inverse=True)

        def share(number: int, hits: torch.Tensor) -> torch.Tensor:
            mask = cell == number
            out = torch.zeros(len(bases), dtype=torch.float64)
            out.index_add_(0, unit[mask], hits[mask].double())
            return out * (len(bases) / int(mask.sum()))

        errors = _by_cell(cell, lambda number: share(number, ~correct))
        if not bool((cell == 0).any()):
            return error_terms(errors, None)
        clean = {"clean_top1": PerImage(share(0, correct), True)}
        return clean | error_terms(errors, share(0, ~correct))


class ReleasedArraysSuite(ReleasedCorruptionSuite):
    """Top-1 error on the released CIFAR-10-C or CIFAR-100-C arrays, per corruption and
    severity, and the mean errors; no AlexNet normaliser exists for CIFAR, so no CE or mCE."""

    headline = "mean_error"
    description = "top-1 error on the released CIFAR-C arrays; mean error (no AlexNet CE)"

    def summarise(self, records: dict[str, torch.Tensor]) -> tuple[list[Metric], list[Curve]]:
        metrics, curves = super().summarise(records)
        return [m for m in metrics if not against_alexnet(m.name)], curves

    def per_image(self, records: dict[str, torch.Tensor]) -> dict[str, PerImage]:
        return {k: v for k, v in super().per_image(records).items() if not against_alexnet(k)}


def against_alexnet(name: str) -> bool:
    """Whether a corruption metric is normalised by AlexNet's errors: CE, mCE and their
    relative forms (the errors and mean errors are not)."""
    return name in ("mce", "relative_mce") or name.startswith(("ce.", "relative_ce."))


def _by_cell(
    cell: torch.Tensor, value: Callable[[int], torch.Tensor]
) -> dict[str, dict[int, torch.Tensor]]:
    """`value(cell number)` for every corrupted cell among the records' `cell`s, by
    corruption and severity, in cell order."""
    out: dict[str, dict[int, torch.Tensor]] = {}
    for number in cell.unique().tolist():
        if number:
            name, severity = cell_name(number)
            out.setdefault(name, {})[severity] = value(number)
    return out


def error_terms(
    errors: dict[str, dict[int, torch.Tensor]], clean_error: torch.Tensor | None
) -> dict[str, PerImage]:
    """Per-image terms of the error metrics from per-image error terms of each corruption and
    severity: errors per cell are rates (each image's sign decides the sign test); CE, mCE
    and their relative forms are linear in the errors, so the scores of one image's own
    terms are its terms."""
    out = {
        f"error.{name}.{severity}": PerImage(term, True)
        for name, by_severity in errors.items()
        for severity, term in sorted(by_severity.items())
    }
    scores = score(errors, clean_error)  # type: ignore[arg-type]
    terms = {f"ce.{n}": v for n, v in scores.ce.items()}
    terms |= {f"relative_ce.{n}": v for n, v in scores.relative_ce.items()}
    for name in ("mce", "relative_mce", "mean_error"):
        if getattr(scores, name) is not None:
            terms[name] = getattr(scores, name)
    if scores.extra_mean_error is not None:
        terms["extra_error"] = scores.extra_mean_error
    return out | {key: PerImage(value, False) for key, value in terms.items()}


def corruption_metrics(
    errors: dict[str, dict[int, torch.Tensor]], clean_error: float | None
) -> tuple[list[Metric], list[Curve]]:
    """Metrics of the corruption suite from per-image misses by corruption and severity:
    errors with Wilson intervals, CE/mCE and relative forms (point values), and curves."""
    metrics: list[Metric] = []
    curves: list[Curve] = []
    for name, by_severity in errors.items():
        estimates = []
        for severity, wrong in sorted(by_severity.items()):
            estimate = rate(wrong)
            metrics.append(percent("corruption", f"error.{name}.{severity}", estimate, False))
            estimates.append(estimate)
        curves.append(
            percent_curve(
                "corruption", f"error.{name}", "severity", sorted(by_severity), estimates, False
            )
        )
    fractions = {
        name: {s: float(w.double().mean()) for s, w in by_severity.items()}
        for name, by_severity in errors.items()
    }
    scores = score(fractions, clean_error)
    count = {
        name: sum(int(w.numel()) for w in by_severity.values())
        for name, by_severity in errors.items()
    }

    def point(name: str, value: float, n: int) -> Metric:
        return Metric("corruption", name, 100 * value, math.nan, math.nan, n, False)

    for name, value in scores.ce.items():
        metrics.append(point(f"ce.{name}", value, count[name]))
    for name, value in scores.relative_ce.items():
        metrics.append(point(f"relative_ce.{name}", value, count[name]))
    benchmark_n = sum(count[n] for n in scores.ce if n in BENCHMARK)
    if scores.mce is not None:
        metrics.append(point("mce", scores.mce, benchmark_n))
    if scores.relative_mce is not None:
        metrics.append(point("relative_mce", scores.relative_mce, benchmark_n))
    if scores.mean_error is not None:
        metrics.append(point("mean_error", scores.mean_error, benchmark_n))
    if scores.extra_mean_error is not None:
        extra_n = sum(count[n] for n in scores.ce if n in EXTRA)
        metrics.append(point("extra_error", scores.extra_mean_error, extra_n))
    return metrics, curves
