"""PNG plots of saved results, one line (or panel) per variant."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..corruptions.tables import ALL
from ..suites import Curve
from .result import EvalResult

Saved = EvalResult  # read back by `report.read_saved`, labelled for the plots


def _curve(results: Saved, key: str) -> Curve | None:
    return next((c for c in results.curves if c.key == key), None)


def curve_plot(variants: list[Saved], key: str, title: str, path: Path) -> bool:
    """A curve (with its 95% band) for every variant that has it; False if none has."""
    drawn = False
    figure, axes = plt.subplots(figsize=(6, 4))
    for results in variants:
        curve = _curve(results, key)
        if curve is None:
            continue
        x = np.array(curve.x, dtype=float)
        low = np.array([np.nan if v is None else v for v in curve.ci_low], dtype=float)
        high = np.array([np.nan if v is None else v for v in curve.ci_high], dtype=float)
        axes.plot(x, curve.value, marker="o", markersize=3, label=results.label)
        axes.fill_between(x, low, high, alpha=0.15)
        axes.set_xlabel(curve.x_name)
        drawn = True
    if drawn:
        axes.set_ylabel(key if key.startswith("filters.") else f"{key} (%)")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    plt.close(figure)
    return drawn


def examples_plot(variants: list[Saved], path: Path, count: int = 4) -> bool:
    """True-class probability against diagonal offset for the first few images."""
    available = [v for v in variants if "diagonal.prob_true" in v.records]
    if not available:
        return False
    index = available[0].records["index"][:count].tolist()
    figure, axes = plt.subplots(1, len(index), figsize=(3.2 * len(index), 3), squeeze=False)
    for column, image in enumerate(index):
        ax = axes[0, column]
        for results in available:
            rows = (results.records["index"] == image).nonzero()
            if len(rows) == 0:
                continue
            probability = results.records["diagonal.prob_true"][int(rows[0])].numpy()
            ax.plot(range(len(probability)), 100 * probability, label=results.label)
        ax.set_title(f"image {image}")
        ax.set_xlabel("diagonal offset")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("true-class probability (%)")
    axes[0, -1].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def corruption_plot(variants: list[Saved], path: Path) -> bool:
    """Top-1 error by corruption and severity, one heat map per variant."""
    tables = []
    for results in variants:
        errors = {
            m.name: m.value
            for m in results.metrics
            if m.suite == "corruption" and m.name.startswith("error.")
        }
        if errors:
            tables.append((results.label, errors))
    if not tables:
        return False
    present = {key.split(".")[1] for _, errors in tables for key in errors}
    names = [name for name in ALL if name in present]  # the benchmark's order, extras last
    severities = sorted({int(key.split(".")[2]) for _, errors in tables for key in errors})
    figure, axes = plt.subplots(
        1,
        len(tables),
        figsize=(1.2 + 0.7 * len(severities) * len(tables), 0.35 * len(names) + 1.5),
        squeeze=False,
        sharey=True,
    )
    for ax, (label, errors) in zip(axes[0], tables, strict=True):
        grid = np.array([[errors.get(f"error.{n}.{s}", np.nan) for s in severities] for n in names])
        image = ax.imshow(grid, vmin=0, vmax=100, cmap="magma_r", aspect="auto")
        ax.set_xticks(range(len(severities)), [str(s) for s in severities])
        ax.set_yticks(range(len(names)), names)
        if ax is not axes[0, 0]:
            ax.tick_params(labelleft=False)
        ax.set_xlabel("severity")
        ax.set_title(label, fontsize="small")
    figure.colorbar(image, ax=axes[0].tolist(), label="top-1 error (%)")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return True


def _point(results: Saved, key: str) -> tuple[float, float, float] | None:
    metric = next((m for m in results.metrics if m.key == key), None)
    if metric is None or metric.value is None:
        return None
    return metric.value, metric.ci_low, metric.ci_high


Estimate = tuple[float, float, float]  # value, 95% interval


def tradeoff_points(
    variants: list[Saved],
) -> tuple[list[tuple[str, Estimate, Estimate]], list[tuple[int, int]]]:
    """(label, clean accuracy, consistency) of every variant that has both, and the arrows
    as (from, to) positions in that list: within each model, from its first variant (the
    baseline of a compare) to each of the others."""
    points, arrows, first = [], [], {}
    for results in variants:
        accuracy = _point(results, "clean.top1")
        consistency = _point(results, "consistency.consistency")
        if accuracy is None or consistency is None:
            continue
        model = results.model["name"]
        if model in first:
            arrows.append((first[model], len(points)))
        else:
            first[model] = len(points)
        points.append((results.label, accuracy, consistency))
    return points, arrows


def tradeoff_plot(variants: list[Saved], path: Path) -> bool:
    """Consistency against clean accuracy, as antialiased-cnns plots its ImageNet models:
    one point per variant with its 95% intervals on both axes, arrows from each model's
    first variant to the others. False when no variant has both metrics."""
    points, arrows = tradeoff_points(variants)
    if not points:
        return False
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for label, (x, x_low, x_high), (y, y_low, y_high) in points:
        axes.errorbar(
            x, y, xerr=[[x - x_low], [x_high - x]], yerr=[[y - y_low], [y_high - y]],
            fmt="o", capsize=3, label=label,
        )  # fmt: skip
    for start, end in arrows:
        axes.annotate(
            "", xy=(points[end][1][0], points[end][2][0]),
            xytext=(points[start][1][0], points[start][2][0]),
            arrowprops={"arrowstyle": "->", "color": "0.4", "shrinkA": 4, "shrinkB": 4},
        )  # fmt: skip
    axes.set_xlabel("clean.top1 (%)")
    axes.set_ylabel("consistency.consistency (%)")
    axes.set_title("Consistency against accuracy")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
