"""Output folders: a new set replaces exactly the files shiftbench wrote, never a user's."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shiftbench.cli import app
from shiftbench.results.store import MANIFEST, written_files

from .helpers import TINY_OPTIONS, TINY_RESNET

runner = CliRunner()


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _eval(folder: Path, out: Path, suites: str) -> None:
    done = runner.invoke(
        app, ["eval", *TINY_RESNET, "--data", str(folder), "-s", suites, "--out", str(out)]
    )
    assert done.exit_code == 0, done.output


def test_new_results_replace_the_old_set_and_its_report_not_a_users_files(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _eval(folder, out, "all")
    reported = runner.invoke(app, ["report", str(out)])
    assert reported.exit_code == 0, reported.output
    first = _names(out)
    assert {"report.md", "plot_diagonal_top1.png", "curve_translation.worst_top1.csv"} <= first
    assert set(written_files(out)) == {"results", "report"}
    (out / "curve_mine.csv").write_text("x\n")  # the user's, named like a curve
    (out / "notes.txt").write_text("mine\n")
    _eval(folder, out, "clean")
    assert _names(out) == {
        MANIFEST, "images.csv", "metrics.csv", "records.safetensors", "results.json",
        "curve_mine.csv", "notes.txt",
    }  # fmt: skip
    assert (out / "curve_mine.csv").read_text() == "x\n"
    assert json.loads((out / MANIFEST).read_text()) == {
        "results": ["images.csv", "metrics.csv", "records.safetensors", "results.json"]
    }


def test_a_folder_written_before_manifests_is_replaced_by_its_known_names(
    folder: Path, tmp_path: Path
) -> None:
    """Without the list, the earlier set is what such a version wrote: the fixed names and
    the curves its results.json names."""
    out = tmp_path / "out"
    _eval(folder, out, "all")
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    (out / MANIFEST).unlink()
    (out / "curve_mine.csv").write_text("x\n")
    assert sorted(written_files(out)["results"]) == sorted(
        n
        for n in _names(out)
        if n.endswith((".csv", ".json", ".safetensors")) and n != "curve_mine.csv"
    )
    _eval(folder, out, "clean")
    assert _names(out) == {
        MANIFEST, "images.csv", "metrics.csv", "records.safetensors", "results.json",
        "curve_mine.csv",
    }  # fmt: skip


def test_a_comparison_with_fewer_variants_removes_the_others(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"

    def compare(antialias: str) -> None:
        args = ["compare", "test_resnet", "--antialias", antialias, *TINY_OPTIONS]
        done = runner.invoke(app, [*args, "--data", str(folder), "-s", "clean", "--out", str(out)])
        assert done.exit_code == 0, done.output

    compare("0,2,3")
    assert {"baseline", "aa2", "aa3"} <= _names(out)
    (out / "aa3" / "mine.txt").write_text("kept\n")
    compare("0,2")
    assert not (out / "aa2" / "mine.txt").exists() and (out / "aa2" / "results.json").is_file()
    assert _names(out / "aa3") == {"mine.txt"}  # only the user's file is left of it
    assert json.loads((out / "comparison.json").read_text())["variants"] == ["baseline", "aa2"]


def test_a_list_naming_files_elsewhere_removes_nothing_there(folder: Path, tmp_path: Path) -> None:
    """The list is read back from the folder: an entry edited to point outside it (or a
    curve key with a slash) is not a file of the folder and is never removed."""
    out = tmp_path / "out"
    _eval(folder, out, "clean")
    outside = tmp_path / "precious.txt"
    outside.write_text("mine\n")
    listed = json.loads((out / MANIFEST).read_text())
    listed["report"] = ["../precious.txt", str(outside), "..", "report.md"]
    (out / MANIFEST).write_text(json.dumps(listed))
    assert written_files(out)["report"] == ["report.md"]
    _eval(folder, out, "clean")
    assert outside.read_text() == "mine\n"
