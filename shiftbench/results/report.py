"""Result files (written whole through `shiftbench.results.store`), read back, and tables."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import NamedTuple

from rich.markup import escape
from rich.table import Table

from ..errors import ShiftbenchError
from ..stats import format_value
from ..suites import Curve, Metric
from ..tensorfiles import write_tensors
from .comparison import comparison_csv, comparison_document, paired_markdown
from .paired import DEFAULT_RESAMPLES, Difference, paired_differences
from .result import EvalResult, data_kind
from .store import COMPARISON, publish, remove_written

CURVE_COLUMNS = ["x", "value", "ci_low", "ci_high", "n"]


def _curve_csv(curve: Curve) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([curve.x_name, *CURVE_COLUMNS[1:]])
    for row in zip(curve.x, curve.value, curve.ci_low, curve.ci_high, curve.n, strict=True):
        writer.writerow(row)
    return buffer.getvalue()


def _images_csv(result: EvalResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "path", "label"])
    images = result.images
    writer.writerows(
        zip(images.indices.tolist(), images.paths(), images.labels.tolist(), strict=True)
    )
    return buffer.getvalue()


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_results(result: EvalResult, out: str | Path) -> list[Path]:
    """Write metrics.csv, results.json, one CSV per curve, images.csv and records.safetensors,
    whole or not at all."""

    def write(staging: Path) -> None:
        result.metrics_frame().to_csv(staging / "metrics.csv", index=False)
        text = json.dumps(_json_safe(result.to_json()), indent=2, allow_nan=False)
        (staging / "results.json").write_text(text + "\n")
        for curve in result.curves:
            (staging / f"curve_{curve.key}.csv").write_text(_curve_csv(curve))
        (staging / "images.csv").write_text(_images_csv(result))
        records = {k: v.contiguous() for k, v in result.records.items()}
        write_tensors(records, staging / "records.safetensors")

    return publish(Path(out), write, "results")


def _saved_folders(path: Path) -> list[Path]:
    """Folders with results under `path`: itself, the variants its comparison.json lists
    (in their order, the first being the reference), or every sub-folder with results."""
    if (path / "results.json").is_file():
        return [path]
    if (path / COMPARISON).is_file():
        try:
            listed = json.loads((path / COMPARISON).read_text())["variants"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ShiftbenchError(f"{path / COMPARISON} is not readable: {exc}") from None
        folders = [path / name for name in listed]
        missing = [str(f) for f in folders if not (f / "results.json").is_file()]
        if missing:
            raise ShiftbenchError(f"{path / COMPARISON} lists missing results: {missing[0]}")
        return folders
    if path.is_dir():
        return sorted(p for p in path.iterdir() if (p / "results.json").is_file())
    return []


def saved_resamples(path: str | Path) -> int:
    """The bootstrap resamples a comparison folder was rendered with (else the default)."""
    try:
        document = json.loads((Path(path) / COMPARISON).read_text())
        return int(document["bootstrap"]["resamples"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_RESAMPLES


def read_saved(path: str | Path) -> list[EvalResult]:
    """Saved results under `path` (see `_saved_folders`), read back (`EvalResult.load`)."""
    path = Path(path)
    folders = _saved_folders(path)
    if not folders:
        raise ShiftbenchError(f"no results.json in {path} or its sub-folders")
    return [EvalResult.load(folder) for folder in folders]


def load_variants(paths: list[str | Path]) -> list[EvalResult]:
    """Saved results of every path (see `read_saved`), labelled for tables and plots: the
    variant name, with the model's when several models are shown."""
    variants = [v for path in paths for v in read_saved(path)]
    _label(variants)
    return variants


def _label(variants: list[EvalResult]) -> None:
    """Give each result the label tables and plots show: its own, else its variant (with
    the model's name when several models are shown), made distinct by its folder."""
    one_model = len({v.model["name"] for v in variants}) == 1
    for v in variants:
        v.label = v.label or (v.variant if one_model else f"{v.model['name']} ({v.variant})")
    labels = [v.label for v in variants]
    for v in variants:
        if labels.count(v.label) > 1:
            v.label = f"{v.label} [{Path(v.folder or '').name}]"


def _cell(metric: Metric | None) -> str:
    if metric is None or metric.value is None:
        return ""
    if metric.ci_low is None:
        return format_value(metric.value)
    low, high = format_value(metric.ci_low), format_value(metric.ci_high)
    return f"{format_value(metric.value)} [{low}, {high}]"


def _metric_rows(variants: list[EvalResult]) -> list[list[str]]:
    keys: list[str] = []
    for v in variants:
        keys += [m.key for m in v.metrics if m.key not in keys]
    by_key = [{m.key: m for m in v.metrics} for v in variants]
    return [[key, *(_cell(found.get(key)) for found in by_key)] for key in keys]


def comparison_table(variants: list[EvalResult]) -> Table:
    """Metrics of every variant side by side (value and 95% interval)."""
    table = Table(title="shiftbench report", title_justify="left")
    table.add_column("metric", overflow="fold")
    for v in variants:
        table.add_column(escape(v.label or v.variant), justify="right")
    for row in _metric_rows(variants):
        table.add_row(*row)
    return table


PLOTS = {
    "plot_accuracy_consistency.png": "Consistency against accuracy (as antialiased-cnns plots it)",
    "plot_diagonal_top1.png": "Accuracy along the diagonal",
    "plot_translation_worst_top1.png": "Worst-case accuracy against attack radius",
    "plot_prob_true_examples.png": "True-class probability against shift, example images",
    "plot_corruption_errors.png": "Top-1 error by corruption and severity",
    "plot_filters_tv.png": "Filter total variation by layer (lower: smoother)",
}
# The plots of one curve per variant, by the curve they draw.
CURVE_PLOTS = {
    "plot_diagonal_top1.png": "diagonal.top1",
    "plot_translation_worst_top1.png": "translation.worst_top1",
    "plot_filters_tv.png": "filters.tv",
}


def render_report(
    variants: list[EvalResult],
    out: str | Path,
    differences: list[Difference] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> list[Path]:
    """From saved results alone (`load_variants`): report.md (runs, metrics side by side,
    paired differences when given, plots) and the PNG plots that the saved suites allow;
    with several variants also comparison.json (their order) and, with `differences`,
    comparison.csv. Written whole or not at all."""
    from . import plots

    out = Path(out)

    def write(staging: Path) -> None:
        drawn = {
            name: plots.curve_plot(variants, key, PLOTS[name], staging / name)
            for name, key in CURVE_PLOTS.items()
        }
        examples, corruption = "plot_prob_true_examples.png", "plot_corruption_errors.png"
        drawn[examples] = plots.examples_plot(variants, staging / examples)
        drawn[corruption] = plots.corruption_plot(variants, staging / corruption)
        tradeoff = "plot_accuracy_consistency.png"
        drawn[tradeoff] = plots.tradeoff_plot(variants, staging / tradeoff)
        lines = ["# shiftbench report", "", "| variant | model | source | images | data |"]
        lines.append("|---|---|---|---:|---|")
        for v in variants:
            data = v.data.get("root", "")
            lines.append(
                f"| {v.label} | {v.model['name']} | {v.model['source']} | "
                f"{v.data.get('images_evaluated', 0)} | {data} |"
            )
        lines += ["", *_protocol_lines(variants)]
        lines += [
            _units_note([m for v in variants for m in v.metrics]).capitalize()
            + ", with 95% intervals.",
            "",
        ]
        lines.append("| metric | " + " | ".join(str(v.label) for v in variants) + " |")
        lines.append("|---|" + "---:|" * len(variants))
        lines += ["| " + " | ".join(row) + " |" for row in _metric_rows(variants)]
        if differences is not None:
            lines += ["", *paired_markdown(variants, differences, resamples)]
            reference = str(variants[0].label)
            (staging / "comparison.csv").write_text(comparison_csv(differences, reference))
        if len(variants) > 1:
            document = comparison_document(variants, differences, resamples, out)
            text = json.dumps(_json_safe(document), indent=2, allow_nan=False)
            (staging / COMPARISON).write_text(text + "\n")
        for name, title in PLOTS.items():
            if drawn[name]:
                lines += ["", f"## {title}", "", f"![{title}]({name})"]
        (staging / "report.md").write_text("\n".join(lines) + "\n")

    return publish(out, write, "report")


def variant_folders(labels: list[str]) -> list[str]:
    """Path-safe, distinct folder names for variant labels."""
    folders: list[str] = []
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "variant"
        name, number = base, 2
        while name in folders:
            name, number = f"{base}_{number}", number + 1
        folders.append(name)
    return folders


class Comparison(NamedTuple):
    """Variants evaluated on the same images (the first is the reference), read back and
    labelled, and each one's paired differences to the reference."""

    variants: list[EvalResult]
    differences: list[Difference]

    @classmethod
    def load(cls, folder: str | Path) -> Comparison:
        """The comparison `write_comparison` saved in `folder`: its variants in their order
        and the differences comparison.json holds."""
        folder = Path(folder)
        if not (folder / COMPARISON).is_file():
            raise ShiftbenchError(f"no {COMPARISON} in {folder}: not a shiftbench comparison")
        variants = load_variants([folder])
        try:
            saved = json.loads((folder / COMPARISON).read_text())["differences"] or []
            differences = [
                Difference(**{k: v for k, v in d.items() if k not in ("significant", "verdict")})
                for d in saved
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ShiftbenchError(f"{folder / COMPARISON} is not readable: {exc}") from None
        return cls(variants, differences)


def write_comparison(
    results: list[EvalResult], out: str | Path, resamples: int = DEFAULT_RESAMPLES
) -> Comparison:
    """Each variant's result files in its own folder under `out`, then the paired report
    computed from those files alone (report.md, comparison.csv/json, plots): the saved
    variants and their differences to the first."""
    out = Path(out)
    labels = [r.label or r.variant for r in results]
    folders = variant_folders(labels)
    earlier = _compared_folders(out)
    for result, folder in zip(results, folders, strict=True):
        write_results(result, out / folder)
    variants = [read_saved(out / folder)[0] for folder in folders]
    _label(variants)
    differences = paired_differences(variants, resamples)
    render_report(variants, out, differences, resamples)
    for gone in sorted(set(earlier) - set(folders)):  # an earlier comparison's other variants
        remove_written(out / gone)
    return Comparison(variants, differences)


def _compared_folders(out: Path) -> list[str]:
    """The variant folders an earlier comparison in `out` listed (none if it holds none)."""
    try:
        listed = json.loads((out / COMPARISON).read_text())["variants"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [name for name in listed if isinstance(name, str) and Path(name).name == name]


def _protocol_lines(variants: list[EvalResult]) -> list[str]:
    """How the views were made, one line per distinct setting (with the variants it applies
    to when they differ): window, canvas and how the image became it, shifts, seed."""
    described: dict[str, list[str]] = {}
    for v in variants:
        geometry, config = v.data.get("geometry"), v.config
        if not geometry:
            continue
        window = geometry["input_size"]
        if data_kind(v.data) == "imagenet_c":
            line = (
                "The released ImageNet-C files at their stored size, scored on their centre "
                f"{window} px window."
            )
        else:
            how = (
                f"the image at {window} px framed in black, `--canvas pad`"
                if config.get("canvas") == "pad"
                else "the image resized to it, `--canvas resize`"
            )
            line = (
                f"Windows of {window} px from a {geometry['canvas']} px canvas ({how}), shifts "
                f"up to {geometry['max_shift']} px; seed {config.get('seed', 0)}."
            )
        described.setdefault(line, []).append(str(v.label))
    if len(described) <= 1:
        return [*described, ""] if described else []
    return [f"{', '.join(labels)}: {line}" for line, labels in described.items()] + [""]


def _units_note(metrics: list[Metric]) -> str:
    """What the numbers are measured in; the metrics that are not percentages (filters.tv,
    ImageNet-P's top-5 distances) named only where they are shown."""
    suites = {m.suite for m in metrics}
    return (
        "rates and errors in percent"
        + ("; filters.tv is a ratio" if "filters" in suites else "")
        + ("; t5d is a rank distance" if "perturbation" in suites else "")
    )


def metrics_table(result: EvalResult) -> Table:
    """The metrics as a rich table: value, 95% interval and trial count per metric."""
    count = result.data.get("images_evaluated")
    title = f"{result.model['name']} ({result.variant})" + (f" on {count} images" if count else "")
    table = Table(
        title=escape(title),
        title_justify="left",
        caption=_units_note(result.metrics),
    )
    table.add_column("suite")
    table.add_column("metric", overflow="fold")  # keys have no spaces: fold, never cut
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    table.add_column("better", justify="center")
    for m in result.metrics:
        interval = (
            f"{format_value(m.ci_low)} - {format_value(m.ci_high)}"
            if math.isfinite(m.ci_low)
            else ""
        )
        better = "higher" if m.higher_is_better else "lower"
        table.add_row(m.suite, m.name, format_value(m.value), interval, str(m.n), better)
    return table
