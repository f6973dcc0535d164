"""shiftbench report: tables, report.md and plots from saved results alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shiftbench.cli import app

from .helpers import TINY_RESNET, write_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison folder: the baseline and a BlurPool-3 variant, all shift suites and two
    corruptions, one sub-folder each."""
    data = write_folder(tmp_path_factory.mktemp("data"))
    root = tmp_path_factory.mktemp("cmp")
    suites = ["--suite", "clean,consistency,diagonal,circular,translation,corruption"]
    suites += ["--corruptions", "contrast,fog", "--severities", "1,3"]
    for name, extra in (("baseline", []), ("aa3", ["--antialias", "3"])):
        args = [
            "eval",
            *TINY_RESNET,
            "--data",
            str(data),
            *suites,
            *extra,
            "--out",
            str(root / name),
        ]
        assert runner.invoke(app, args).exit_code == 0
    return root


def test_report_renders_every_plot_and_the_table(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", str(saved), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in (
        "plot_accuracy_consistency.png",
        "plot_diagonal_top1.png",
        "plot_translation_worst_top1.png",
        "plot_prob_true_examples.png",
        "plot_corruption_errors.png",
    ):
        with Image.open(out / name) as image:
            assert image.width > 200 and image.height > 200
            assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something was drawn
    text = (out / "report.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| metric |")]
    # separately evaluated with the same seed and settings: paired, aa3 (first) the reference
    assert table == [
        "| metric | aa3 | baseline |",
        "| metric | better | aa3 | baseline | baseline - aa3 |",
    ]
    side_by_side = text[: text.index("## Paired differences")]
    rows = {
        line.split("|")[1].strip(): line
        for line in side_by_side.splitlines()
        if line.startswith("| ")
    }
    assert "corruption.error.fog.3" in rows and "[" in rows["clean.top1"]
    assert "corruption.mce" not in rows  # only severities 1 and 3: no CE, no mCE
    assert "Rates and errors in percent, with 95% intervals." in text  # no filters.tv here
    protocol = "Windows of 32 px from a 40 px canvas (the image resized to it, `--canvas resize`)"
    assert f"{protocol}, shifts up to 8 px; seed 0.\n" in text
    assert "![Worst-case accuracy against attack radius](plot_translation_worst_top1.png)" in text
    assert "aa3" in result.stdout and "baseline" in result.stdout


def test_report_of_one_result_in_place_and_bad_input(saved: Path, tmp_path: Path) -> None:
    single = saved / "baseline"
    assert runner.invoke(app, ["report", str(single / "results.json")]).exit_code == 0
    assert (single / "report.md").is_file()  # the file names its folder, as for check
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(app, ["report", str(empty)])
    assert missing.exit_code == 2 and "no results.json" in missing.stderr


def test_tradeoff_points_and_arrows_follow_each_model() -> None:
    """Points are (accuracy, consistency) with their intervals; arrows lead from each
    model's first variant to its others; a variant without both metrics is left out."""
    from types import SimpleNamespace

    from shiftbench.results.plots import tradeoff_points
    from shiftbench.suites import Metric

    def saved(label: str, model: str, top1: float | None, consistency: float) -> object:
        metrics = [Metric("consistency", "consistency", consistency, consistency - 1,
                          consistency + 1, 10, True)]  # fmt: skip
        if top1 is not None:
            metrics.append(Metric("clean", "top1", top1, top1 - 2, top1 + 2, 10, True))
        return SimpleNamespace(label=label, model={"name": model}, metrics=metrics)

    variants = [
        saved("r18", "tv/resnet18", 69.8, 85.1),
        saved("r18 aa4", "tv/resnet18", 71.4, 88.1),
        saved("r50", "tv/resnet50", 76.1, 89.2),
        saved("no clean", "tv/resnet50", None, 90.0),
        saved("r50 aa4", "tv/resnet50", 77.0, 91.3),
        saved("r18 aa5", "tv/resnet18", 71.1, 88.5),
    ]
    points, arrows = tradeoff_points(variants)
    assert [p[0] for p in points] == ["r18", "r18 aa4", "r50", "r50 aa4", "r18 aa5"]
    assert points[3] == ("r50 aa4", (77.0, 75.0, 79.0), (91.3, 90.3, 92.3))
    assert arrows == [(0, 1), (2, 3), (0, 4)]
    assert tradeoff_points([variants[3]]) == ([], [])


def test_long_metric_names_fold_instead_of_being_cut() -> None:
    """On an 80-column terminal `error.elastic_transform.1` and `.2` must stay apart."""
    from types import SimpleNamespace

    from rich.console import Console

    from shiftbench.results.report import metrics_table
    from shiftbench.suites import Metric

    names = [f"error.elastic_transform.{s}" for s in (1, 2)] + ["relative_ce.jpeg_compression"]
    result = SimpleNamespace(
        model={"name": "m"},
        variant="baseline",
        data={"images_evaluated": 3},
        metrics=[Metric("corruption", n, 50.0, 40.0, 60.0, 3, False) for n in names],
    )
    console = Console(width=80, record=True)
    console.print(metrics_table(result))  # type: ignore[arg-type]
    text = console.export_text()
    assert "…" not in text
    assert "rates and errors in percent" in text and "filters.tv" not in text  # none shown
    folded = "".join(line.split("│")[2].strip() for line in text.splitlines() if "│" in line)
    for name in names:
        assert name in folded


def test_the_protocol_line_says_how_each_canvas_was_made() -> None:
    from types import SimpleNamespace

    from shiftbench.results.report import _protocol_lines

    def lines(variants: list[dict]) -> list[str]:  # saved results as EvalResult has them
        return _protocol_lines([SimpleNamespace(**v) for v in variants])  # type: ignore[misc]

    geometry = {"input_size": 32, "max_shift": 8, "canvas": 40, "centre_offset": 4}
    padded = {"label": "aa3", "data": {"geometry": geometry}, "config": {"canvas": "pad"}}
    resized = {"label": "base", "data": {"geometry": geometry}, "config": {"canvas": "resize"}}
    released = {"label": "c", "data": {"geometry": {**geometry, "input_size": 224},
                                       "imagenet_c": {}}, "config": {}}  # fmt: skip
    filters_only = {"label": "f", "data": {}, "config": {}}
    assert lines([padded, padded | {"label": "aa5"}, filters_only]) == [
        "Windows of 32 px from a 40 px canvas (the image at 32 px framed in black, "
        "`--canvas pad`), shifts up to 8 px; seed 0.",
        "",
    ]
    mixed = lines([resized, padded, released])
    assert [line.split(":")[0] for line in mixed[:-1]] == ["base", "aa3", "c"]
    assert mixed[2].endswith("scored on their centre 224 px window.")
    assert lines([filters_only]) == []  # the model alone: no views
